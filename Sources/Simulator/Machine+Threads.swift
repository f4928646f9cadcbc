// A program run on two threads. The queues are split between them by the parity of their
// tile (a cluster's own DMA queue by its cluster's); each thread runs its queues'
// instructions in program order, and a `wait` whose semaphore the other thread's queues
// signal holds its thread until the other has passed the signal that satisfies it. Every
// order this allows is one the program's semaphores allow, so a correct program
// (schemas/isa.md) gives what program order gives, bit for bit. The first failing
// instruction in program order is the one reported: a thread that fails stops the other at
// that instruction, and the earliest failure wins.
import Foundation
import ISA
import Synchronization

/// Which thread runs each instruction, and what each `wait` waits for.
struct ThreadPlan {
    /// Per instruction: the thread (bit 0) and, for a wait the other thread must satisfy,
    /// 1 + the index of the last signal it needs from that thread (the other bits).
    var steps: [Int32]
    /// Where the run stops: the first `halt`, a `wait` that program order cannot satisfy,
    /// or the end.
    var end: Int
    /// The error of the wait at `end`, when it is one.
    var deadlock: SimulatorError?

    /// The plan for `program`, or nil when an instruction names a queue the machine does
    /// not have (the program then runs in program order, which reports it).
    init?(_ program: Program, units: Units) {
        guard program.instructions.count < 1 << 30 else { return nil }
        // Per descriptor: 1 + its tile (sram), -1 - its cluster (l2), else 0.
        let places = program.descriptors.map { d in
            d.space == .sram ? 1 + d.cluster * units.tilesPerCluster + d.tile : d.space == .l2 ? -1 - d.cluster : 0
        }
        var steps = [Int32](repeating: 0, count: program.instructions.count)
        var (end, deadlock) = (program.instructions.count, SimulatorError?.none)
        let placed = program.instructions.withUnsafeBufferPointer { code in
            places.withUnsafeBufferPointer { places in
                steps.withUnsafeMutableBufferPointer { steps in
                    Self.plan(code, places, units, into: steps, end: &end, deadlock: &deadlock)
                }
            }
        }
        guard placed else { return nil }
        (self.steps, self.end, self.deadlock) = (steps, end, deadlock)
    }

    /// Fills `steps`, `end` and `deadlock` for the instructions `code`, their descriptors
    /// being at `places`; false when an instruction names a queue the machine does not have.
    private static func plan(
        _ code: UnsafeBufferPointer<Instruction>, _ places: UnsafeBufferPointer<Int>, _ units: Units,
        into steps: UnsafeMutableBufferPointer<Int32>, end: inout Int, deadlock: inout SimulatorError?
    ) -> Bool {
        func thread(queue: UInt64, place raw: UInt64) -> Int32? {
            let place = Place(raw: raw)
            guard (try? units.unit(queue: Int(queue), at: place)) != nil else { return nil }
            return Int32((place.tile.map { place.cluster * units.tilesPerCluster + $0 } ?? place.cluster) & 1)
        }
        typealias L = FieldLayout
        let (nop, halt, signal, wait) = (L.nop, L.halt, L.signal, L.wait)
        // Per semaphore, per signal in program order: the index of the last signal so far
        // that each thread runs (-1 for none).
        var signals = [[SIMD2<Int32>]](repeating: [], count: InstructionSet.semaphores)
        for index in code.indices {
            let i = code[index], opcode = i.opcode
            if opcode == nop { continue }
            if opcode == halt {
                end = index
                return true
            }
            if opcode == signal.opcode {
                guard let t = thread(queue: i.value(signal.after), place: i.value(signal.unit)) else { return false }
                steps[index] = t
                let sem = Int(i.value(signal.sem))
                var last = signals[sem].last ?? SIMD2(-1, -1)
                last[Int(t)] = Int32(index)
                signals[sem].append(last)
            } else if opcode == wait.opcode {
                guard let t = thread(queue: i.value(wait.queue), place: i.value(wait.unit)) else { return false }
                let (sem, count) = (Int(i.value(wait.sem)), Int(i.value(wait.count)))
                guard signals[sem].count >= count else {
                    end = index
                    deadlock = SimulatorError(
                        "instruction \(index) (wait): waits for s\(sem) to reach \(count), but in program order it is "
                            + "\(signals[sem].count): the program deadlocks")
                    return true
                }
                // 1 + the last of the first `count` signals that the other thread runs.
                let needed = count == 0 ? 0 : signals[sem][count - 1][Int(1 - t)] + 1
                steps[index] = t | needed << 1
            } else {
                // The first tile the fields name, else the first cluster, else cluster 0
                // (refused when executed, by thread 0, if the ISA has no such instruction).
                let fields = placeFields[Int(opcode)]
                var (tile, cluster) = (0, 0)
                for k in 0..<Int(fields[3]) {
                    let p = places[Int(i.bits(Int(fields[k]), descriptorBits))]
                    if p > 0 {
                        tile = p
                        break
                    }
                    if p < 0 && cluster == 0 { cluster = p }
                }
                if fields[4] == 0 && tile == 0 && fields[3] > 0 { return false }  // mma or vector op outside SRAM
                steps[index] = Int32((tile > 0 ? tile - 1 : cluster < 0 ? -1 - cluster : 0) & 1)
            }
        }
        return true
    }

    /// Per opcode, the first bits of the descriptor fields that place an instruction
    /// (schemas/isa.md, "Placement"), their number, and 1 for the DMA queue: `out` or `dst`
    /// for the matrix and vector queues, `dst`, `src` and `idx` (those it has) for the DMA
    /// queue; none for control instructions.
    private static let placeFields: [SIMD8<Int32>] = (0..<256).map { opcode in
        guard let spec = InstructionSet.spec(opcode: UInt8(opcode)), spec.queue != .control else { return .zero }
        let names = spec.queue == .matrix ? ["out"] : spec.queue == .vector ? ["dst"] : ["dst", "src", "idx"]
        let fields = names.compactMap { spec.index(of: $0) }
        precondition(fields.allSatisfy { spec.fields[$0].bits == descriptorBits }, "descriptor fields are 24 bits")
        var packed = SIMD8<Int32>.zero
        for (k, f) in fields.enumerated() { packed[k] = Int32(spec.fieldStarts[f]) }
        packed[3] = Int32(fields.count)
        packed[4] = spec.queue == .dma ? 1 : 0
        return packed
    }

    /// The width of a descriptor field.
    private static let descriptorBits = 24
}

/// What the two threads share while they run: how far each has come (every instruction of
/// its own before that index has completed, published after each signal), and the earliest
/// failure. Each counter has a cache line of its own, so that one thread's stores do not
/// slow the other's loads.
final class ThreadProgress: Sendable {
    final class Counter: Sendable {
        let value: Atomic<Int>
        private let padding: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) = (
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        )
        init(_ value: Int) { self.value = Atomic(value) }
    }

    private let counters = [Counter(0), Counter(0)]
    /// The index of the earliest failing instruction so far (the plan's end at first).
    private let earliest: Counter

    init(limit: Int) { earliest = Counter(limit) }

    var limit: Int { earliest.value.load(ordering: .relaxed) }

    func done(_ thread: Int) -> Int { counters[thread].value.load(ordering: .acquiring) }

    func finish(_ thread: Int, upTo index: Int) { counters[thread].value.store(index, ordering: .releasing) }

    /// Records a failure at `index`; runs stop there.
    func fail(at index: Int) {
        var current = earliest.value.load(ordering: .relaxed)
        while index < current {
            let (exchanged, original) = earliest.value.compareExchange(expected: current, desired: index, ordering: .relaxed)
            if exchanged { break }
            current = original
        }
    }
}

extension Machine {
    /// Runs `program` on two threads. Both resolve every descriptor first, in chunks taken
    /// in turn (after which the threads only read the table), this one once it has made the
    /// plan; false, having run nothing, when the program has no plan. The caller has reset
    /// the run's state.
    mutating func runOnTwoThreads(_ program: Program) throws -> Bool {
        nonisolated(unsafe) var second = worker()
        nonisolated(unsafe) var secondFailure: (Int, any Error)?
        let planned = PlanHandoff()
        let (resolvedAll, planMade, finished) = (
            DispatchSemaphore(value: 0), DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)
        )
        let chunks = ThreadProgress.Counter(0)
        let thread = Thread {
            second.resolveAll(program, taking: chunks)
            resolvedAll.signal()
            planMade.wait()
            if let (plan, progress) = planned.value { secondFailure = second.runThread(1, program, plan, progress) }
            finished.signal()
        }
        thread.stackSize = 16 << 20
        thread.start()
        let plan = ThreadPlan(program, units: Units(clusters: shape.clusters, tilesPerCluster: shape.tilesPerCluster))
        let progress = ThreadProgress(limit: plan?.end ?? 0)
        planned.value = plan.map { ($0, progress) }
        // Each thread resolves its chunks before it lets the other run (`planMade`,
        // `resolvedAll`), so that neither reads a view the other is still writing.
        resolveAll(program, taking: chunks)
        planMade.signal()
        resolvedAll.wait()
        guard let plan else {
            finished.wait()
            return false
        }
        var first = worker()
        let firstFailure = first.runThread(0, program, plan, progress)
        finished.wait()
        let failures = [firstFailure, secondFailure].compactMap { $0 }
        if let (index, error) = failures.min(by: { $0.0 < $1.0 }) {
            guard let e = error as? SimulatorError else { throw error }
            throw SimulatorError(at: index, of: program, e)
        }
        if let deadlock = plan.deadlock { throw deadlock }
        return true
    }

    /// Resolves the descriptors of `program` in chunks of consecutive ones, each taken from
    /// `next` (shared by the threads, so each chunk is resolved once), until none is left.
    /// Errors are kept for the access that meets them, as on a first access.
    private func resolveAll(_ program: Program, taking next: ThreadProgress.Counter) {
        let chunk = 2048
        program.descriptors.withUnsafeBufferPointer { table in
            while true {
                let first = next.value.add(chunk, ordering: .relaxed).oldValue
                guard first < table.count else { return }
                for k in first..<min(first + chunk, table.count) {
                    _ = try? runs(DescriptorRef(index: k, table: table.baseAddress!))
                }
            }
        }
    }

    /// A machine sharing this one's memories and resolved descriptors, with buffers,
    /// decoded tiles and a decoded view of its own.
    private func worker() -> Machine {
        var w = self
        w.buffers = OperandBuffers()
        w.decodedTiles = DecodedTiles()
        w.decodedView = DecodedView()
        w.splitsProducts = false
        return w
    }

    /// Runs thread `t`'s instructions of `plan` in program order; the first failure, if any.
    private mutating func runThread(
        _ t: Int, _ program: Program, _ plan: ThreadPlan, _ progress: ThreadProgress
    ) -> (Int, any Error)? {
        program.descriptors.withUnsafeBufferPointer { table in
            program.instructions.withUnsafeBufferPointer { code in
                plan.steps.withUnsafeBufferPointer { steps in
                    defer { progress.finish(t, upTo: Int.max) }
                    typealias L = FieldLayout
                    for index in 0..<plan.end where Int(steps[index] & 1) == t {
                        guard index < progress.limit else { return nil }
                        let opcode = code[index].opcode
                        if opcode == L.wait.opcode {
                            let needed = Int(steps[index] >> 1)
                            guard needed > 0 else { continue }
                            // Spin a little (the other thread is often just short of the
                            // signal), then sleep in short steps, leaving the core to it.
                            var spins = 0
                            while progress.done(1 - t) < needed {
                                guard index < progress.limit else { return nil }
                                spins += 1
                                if spins > 1000 { usleep(20) }
                            }
                            continue
                        }
                        if opcode == L.signal.opcode {
                            progress.finish(t, upTo: index + 1)
                            continue
                        }
                        do {
                            _ = try execute(code[index], table)
                        } catch {
                            progress.fail(at: index)
                            return (index, error)
                        }
                    }
                    return nil
                }
            }
        }
    }
}

/// The plan the first thread makes, handed to the second (which reads it after `planMade`).
private final class PlanHandoff: @unchecked Sendable {
    var value: (ThreadPlan, ThreadProgress)?
}
