// The proof that a program's queues are synchronized: every dependence between two
// instructions on different queues (`DependenceWalk`) is ordered by queue order and
// signal-to-wait steps (`HappensBefore`), so every order of execution the semaphores allow
// gives the program-order result (schemas/isa.md, "Semantics").

/// What a synchronized program holds.
public struct SynchronizationSummary: Sendable, Equatable {
    /// Dependences between instructions on different queues, each ordered.
    public var dependences = 0
    public var signals = 0
    public var waits = 0

    public init(dependences: Int = 0, signals: Int = 0, waits: Int = 0) {
        (self.dependences, self.signals, self.waits) = (dependences, signals, waits)
    }
}

extension Program {
    /// Checks that the semaphores order every dependence between queues of a machine of
    /// `units`, up to the first `halt`; `limits` bounds each memory space's bytes. The
    /// first dependence they leave unordered is an error naming both instructions.
    public func checkSynchronization(units: Units, limits: [MemorySpace: Int] = [:]) throws -> SynchronizationSummary {
        var walk = DependenceWalk(units: units, program: self, limits: limits)
        var order = HappensBefore(units: units.count)
        var summary = SynchronizationSummary()
        // Signals of each semaphore so far in program order: a wait for more deadlocks.
        var signalled: [Int: Int] = [:]
        for (index, i) in instructions.enumerated() {
            do {
                switch i.spec.mnemonic {
                case "halt": return summary
                case "signal":
                    order.signal(try units.unit(queue: Int(i["after"]), at: Place(raw: i["unit"])), Int(i["sem"]))
                    signalled[Int(i["sem"]), default: 0] += 1
                    summary.signals += 1
                case "wait":
                    let (sem, count) = (Int(i["sem"]), Int(i["count"]))
                    guard signalled[sem, default: 0] >= count else {
                        throw ISAError(
                            "waits for s\(sem) to reach \(count), but in program order it is \(signalled[sem, default: 0]): "
                                + "the program deadlocks")
                    }
                    order.wait(
                        try units.unit(queue: Int(i["queue"]), at: Place(raw: i["unit"])), Int(i["sem"]), count: Int(i["count"]))
                    summary.waits += 1
                default:
                    guard let (unit, dependences) = try walk.step(index, in: self) else { continue }
                    for d in dependences {
                        guard order.ordered(d.unit, d.index, before: unit) else {
                            throw ISAError(race(d, index, unit, units))
                        }
                        summary.dependences += 1
                    }
                    order.issue(unit, index)
                }
            } catch let e as ISAError {
                throw ISAError("instruction \(index) (\(i.spec.mnemonic)): \(e)")
            }
        }
        return summary
    }

    private func race(_ d: Dependence, _ index: Int, _ unit: Int, _ units: Units) -> String {
        let (later, earlier) = d.kind.verbs
        return "on \(units.text(unit)), it \(later) \(units.memoryText(d.memory)) byte \(d.address), which instruction "
            + "\(d.index) (\(instructions[d.index].spec.mnemonic) on \(units.text(d.unit))) \(earlier), and no signal "
            + "and wait order the two"
    }
}
