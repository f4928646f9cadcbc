// Synchronizing a lowered program's queues. Requires a program without `signal` or `wait`,
// correct in program order. Guarantees: every dependence between instructions on different
// queues (`DependenceWalk`: read after write, write after read, write after write on a
// common byte) is ordered by a `signal` right after the earlier instruction and a `wait`
// right before the later one, unless queue order and earlier waits already order it
// (directly or through other queues, as `HappensBefore` tracks); so every order the
// semaphores allow gives the program-order result. Each queue signals its own semaphore
// (its number in `Units`), so a wait for count k means that queue's k-th signal. Leaves
// every other instruction as it was, in its order. Deterministic.
import Foundation
import ISA
import Reference

public enum Synchronization {
    /// `program` with its signals and waits, and where each old instruction's block (its
    /// waits, itself, its signal) starts in it: `starts[old]`, `starts[count]` the end.
    public struct Synchronized: Sendable {
        public var program: Program
        public var starts: [Int]
    }

    public static func synchronize(_ program: Program, units: Units) throws -> Synchronized {
        guard units.count <= InstructionSet.semaphores else {
            throw ISAError("\(units.count) queues need a semaphore each; the ISA has \(InstructionSet.semaphores)")
        }
        let n = program.instructions.count
        let (unitOf, walks) = try dependences(of: program, units: units)
        var order = HappensBefore(units: units.count)
        var versionAt = [Int](repeating: 0, count: n)
        var needed = [Bool](repeating: false, count: n)
        var taken = [Int32](repeating: -1, count: units.count)
        // The waits, in order: before instruction `at`, for instruction `on` of queue `unit`.
        var waits: [(at: Int, unit: Int, on: Int)] = []
        for index in 0..<n where unitOf[index] >= 0 {
            let unit = Int(unitOf[index])
            forEachLatest(walks, index, &taken) { d in
                guard !order.ordered(Int(d.unit), Int(d.index), before: unit) else { return }
                order.join(
                    unit, HappensBefore.Snapshot(unit: Int(d.unit), index: Int(d.index), version: versionAt[Int(d.index)]))
                waits.append((index, Int(d.unit), Int(d.index)))
                needed[Int(d.index)] = true
            }
            versionAt[index] = order.version[unit]
            order.issue(unit, index)
        }
        // Each needed instruction's signal is its queue's k-th.
        var rank = [Int32](repeating: 0, count: n), signalled = [Int32](repeating: 0, count: units.count)
        for index in 0..<n where needed[index] {
            signalled[Int(unitOf[index])] += 1
            rank[index] = signalled[Int(unitOf[index])]
        }
        var out = Program(descriptors: program.descriptors)
        out.instructions.reserveCapacity(n + 2 * waits.count)
        var starts: [Int] = []
        starts.reserveCapacity(n + 1)
        var next = 0
        for (index, instruction) in program.instructions.enumerated() {
            starts.append(out.instructions.count)
            while next < waits.count && waits[next].at == index {
                let w = waits[next]
                out.instructions.append(
                    try Instruction.wait(Int(unitOf[index]), of: units, sem: w.unit, count: Int(rank[w.on])))
                next += 1
            }
            out.instructions.append(instruction)
            if needed[index] {
                out.instructions.append(
                    try Instruction.signal(after: Int(unitOf[index]), of: units, sem: Int(unitOf[index])))
            }
        }
        starts.append(out.instructions.count)
        return Synchronized(program: out, starts: starts)
    }

    /// Per instruction, its queue (-1 for the control queue's and from `halt` on) and, per
    /// other queue, the latest earlier instruction it depends on, the latest first
    /// (`DependenceWalk`): one walk of every memory instance, or with two threads two walks,
    /// each of the accesses of half of them (`halves`); per queue the later of the two
    /// walks' is the walk of all of them (`forEachLatest`), so the result is the same either way.
    private static func dependences(of program: Program, units: Units) throws -> Walked {
        let operands = try Operands(program, units: units)
        guard Parallelism.threadCount > 1 else {
            return (operands.unit, [try walk(program, units: units, operands: operands, memories: nil)])
        }
        let (firstHalf, secondHalf) = halves(program, units: units, operands: operands)
        // Its own thread, not a worker of a pool the caller may be running on already.
        let other = WalkResult()
        let thread = Thread {
            other.value = Result { try walk(program, units: units, operands: operands, memories: secondHalf) }
            other.done.signal()
        }
        thread.start()
        let first = Result { try walk(program, units: units, operands: operands, memories: firstHalf) }
        other.done.wait()
        return (operands.unit, [try first.get(), try other.value!.get()])
    }

    /// Instruction `index`'s dependences as one walk of every memory instance finds them,
    /// from `walks` of a partition of them: per queue the latest of the walks', the latest
    /// first. `taken` (per queue, the last index it was taken for) keeps a queue found by
    /// both walks to its later one.
    private static func forEachLatest(
        _ walks: [Found], _ index: Int, _ taken: inout [Int32], _ body: ((unit: Int32, index: Int32)) -> Void
    ) {
        guard walks.count == 2 else {
            for k in walks[0].range(of: index) { body(walks[0].dependences[k]) }
            return
        }
        let (a, b) = (walks[0], walks[1])
        var (i, j) = (a.range(of: index), b.range(of: index))
        while !i.isEmpty || !j.isEmpty {
            let d: (unit: Int32, index: Int32)
            if j.isEmpty || (!i.isEmpty && a.dependences[i.lowerBound].index > b.dependences[j.lowerBound].index) {
                d = a.dependences[i.lowerBound]
                i = i.dropFirst()
            } else {
                d = b.dependences[j.lowerBound]
                j = j.dropFirst()
            }
            guard taken[Int(d.unit)] != Int32(index) else { continue }
            taken[Int(d.unit)] = Int32(index)
            body(d)
        }
    }

    /// One walk's findings: instruction i's dependences, the latest first, are
    /// `dependences[start[i]..<start[i + 1]]` (every instruction before `halt` has its range).
    struct Found {
        var start: [Int32] = [0]
        var dependences: [(unit: Int32, index: Int32)] = []

        func range(of index: Int) -> Range<Int> {
            index + 1 < start.count ? Int(start[index])..<Int(start[index + 1]) : 0..<0
        }
    }

    /// Per instruction its queue, and the dependences of one walk or of two (`halves`).
    typealias Walked = (unitOf: [Int32], walks: [Found])

    /// Per instruction before `halt`, its queue (-1: the control queue) and the descriptors it
    /// reads and writes (`Instruction.operandAccess`), worked out once for both walks:
    /// instruction i's are `reads[readStart[i]..<readStart[i + 1]]`, and so for writes.
    struct Operands {
        var unit: [Int32]
        var reads: [UInt64] = [], writes: [UInt64] = []
        var readStart: [Int32] = [0], writeStart: [Int32] = [0]
        /// The instructions before `halt`.
        var count = 0

        private static let (halt, signal, wait) = (opcode("halt"), opcode("signal"), opcode("wait"))
        private static func opcode(_ mnemonic: String) -> UInt8 { InstructionSet.spec(mnemonic: mnemonic)!.opcode }

        init(_ program: Program, units: Units) throws {
            let n = program.instructions.count
            unit = [Int32](repeating: -1, count: n)
            readStart.reserveCapacity(n + 1)
            writeStart.reserveCapacity(n + 1)
            for (index, instruction) in program.instructions.enumerated() {
                let opcode = instruction.opcode
                if opcode == Self.halt { break }
                guard opcode != Self.signal && opcode != Self.wait else {
                    throw ISAError(
                        "instruction \(index) (\(instruction.spec.mnemonic)): the program synchronizes its queues already")
                }
                if let u = try units.unit(of: instruction, in: program) {
                    unit[index] = Int32(u)
                    instruction.appendOperands(program.descriptors, reads: &reads, writes: &writes)
                }
                readStart.append(Int32(reads.count))
                writeStart.append(Int32(writes.count))
                count += 1
            }
        }
    }

    /// What an access costs the walk besides its runs and blocks, in blocks: each operand is
    /// looked up and its table entries found however few blocks it touches. Measured on the
    /// ResNet-50-sized model's programs, an access of a tile's SRAM (most of them a product's
    /// few blocks) cost the walk about 0.5 us and a block about 8 ns.
    private static let accessWork = 64

    /// Per memory instance, the walk's work over the operands there: per access
    /// `accessWork`, its runs and its 64-byte blocks (a descriptor's runs counted as its
    /// dimensions that are not contiguous give them, its blocks over the dimensions that
    /// move: one of stride 0 reads the same bytes again).
    private static func work(_ program: Program, units: Units, operands: Operands) -> [Int] {
        let cost = program.descriptors.map { d -> (memory: Int, work: Int) in
            guard let memory = try? units.memory(of: d), d.count > 0 else { return (-1, 0) }
            let moving = zip(d.dims, d.strides).filter { $0.0 > 1 && $0.1 != 0 }
            let elements = moving.reduce(1) { $0 * $1.0 }
            var contiguous = 1, runs = elements
            for (n, s) in moving.reversed() {
                guard s == contiguous else { break }
                contiguous *= n
                runs /= n
            }
            return (memory, accessWork + min(runs, TensorDescriptor.maxRuns) + elements * d.element.addressBytes / 64)
        }
        var work = [Int](repeating: 0, count: 4 + units.clusters + units.tiles)
        for k in [operands.reads, operands.writes].joined() where Int(k) < cost.count && cost[Int(k)].memory >= 0 {
            work[cost[Int(k)].memory] += cost[Int(k)].work
        }
        return work
    }

    /// The memory instances split in two of about equal `work` for the walk, dealt the
    /// costliest first, each to the half with less so far.
    private static func halves(_ program: Program, units: Units, operands: Operands) -> (Set<Int>, Set<Int>) {
        let work = work(program, units: units, operands: operands)
        var halves: (Set<Int>, Set<Int>) = ([], [])
        var sums = (0, 0)
        for m in work.indices.sorted(by: { (work[$0], $1) > (work[$1], $0) }) {
            if sums.0 <= sums.1 {
                halves.0.insert(m)
                sums.0 += work[m]
            } else {
                halves.1.insert(m)
                sums.1 += work[m]
            }
        }
        return halves
    }

    /// The dependences `dependences(of:units:)` finds through `memories` (nil: all).
    private static func walk(
        _ program: Program, units: Units, operands: Operands, memories: Set<Int>?
    ) throws -> Found {
        var walk = DependenceWalk(units: units, program: program, memories: memories)
        var found = Found()
        found.start.reserveCapacity(operands.count + 1)
        try operands.reads.withUnsafeBufferPointer { reads in
            try operands.writes.withUnsafeBufferPointer { writes in
                for index in 0..<operands.count {
                    if operands.unit[index] >= 0 {
                        let r = UnsafeBufferPointer(
                            rebasing: reads[Int(operands.readStart[index])..<Int(operands.readStart[index + 1])])
                        let w = UnsafeBufferPointer(
                            rebasing: writes[Int(operands.writeStart[index])..<Int(operands.writeStart[index + 1])])
                        for d in try walk.step(index, unit: Int(operands.unit[index]), reads: r, writes: w, in: program) {
                            found.dependences.append((Int32(d.unit), Int32(d.index)))
                        }
                    }
                    found.start.append(Int32(found.dependences.count))
                }
            }
        }
        return found
    }
}

/// The second thread's walk, handed back.
private final class WalkResult: @unchecked Sendable {
    var value: Result<Synchronization.Found, Error>?
    let done = DispatchSemaphore(value: 0)
}
