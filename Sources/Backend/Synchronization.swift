// Synchronizing a lowered program's queues. Requires a program without `signal` or `wait`,
// correct in program order. Guarantees: every dependence between instructions on different
// queues (`DependenceWalk`: read after write, write after read, write after write on a
// common byte) is ordered by a `signal` right after the earlier instruction and a `wait`
// right before the later one, unless queue order and earlier waits already order it
// (directly or through other queues, as `HappensBefore` tracks); so every order the
// semaphores allow gives the program-order result. Each queue signals its own semaphore
// (its number in `Units`), so a wait for count k means that queue's k-th signal. Leaves
// every other instruction as it was, in its order. Deterministic.
import ISA

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
        var walk = DependenceWalk(units: units, program: program)
        var order = HappensBefore(units: units.count)
        var unitOf = [Int32](repeating: -1, count: n), versionAt = [Int](repeating: 0, count: n)
        var needed = [Bool](repeating: false, count: n)
        // The waits, in order: before instruction `at`, for instruction `on` of queue `unit`.
        var waits: [(at: Int, unit: Int, on: Int)] = []
        for index in 0..<n {
            let mnemonic = program.instructions[index].spec.mnemonic
            if mnemonic == "halt" { break }
            guard mnemonic != "signal" && mnemonic != "wait" else {
                throw ISAError("instruction \(index) (\(mnemonic)): the program synchronizes its queues already")
            }
            guard let (unit, dependences) = try walk.step(index, in: program) else { continue }
            for d in dependences where !order.ordered(d.unit, d.index, before: unit) {
                order.join(unit, HappensBefore.Snapshot(unit: d.unit, index: d.index, version: versionAt[d.index]))
                waits.append((index, d.unit, d.index))
                needed[d.index] = true
            }
            unitOf[index] = Int32(unit)
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
}
