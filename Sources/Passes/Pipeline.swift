// Pipelines: passes run in order, with the verifier and IR printing around each one.
import IR

/// A list of passes run in order, optionally repeated until none changes anything.
public struct Pipeline: Sendable {
    public var passes: [any Pass]
    /// Repeat the whole list until no pass reports a change, at most this many rounds.
    public var maxRounds: Int

    public init(_ passes: [any Pass], maxRounds: Int = 1) {
        self.passes = passes
        self.maxRounds = maxRounds
    }

    /// Runs the passes on `graph`. Before a pass whose tag is in `context.printIRBefore`
    /// (or when it holds "all") and after one in `context.printIRAfter`, the IR goes to
    /// `context.emit`. With `context.verify`, the verifier runs after every pass and an
    /// error names the pass that broke the IR. Returns each pass's statistics, summed over
    /// the rounds (warnings collected, each once), in pipeline order.
    @discardableResult
    public func run(_ graph: inout Graph, _ context: PassContext) throws -> [(tag: String, statistics: PassStatistics)] {
        var totals: [(tag: String, statistics: PassStatistics)] = passes.map { ($0.tag, PassStatistics()) }
        for _ in 0..<max(1, maxRounds) {
            var changed = false
            for (i, pass) in passes.enumerated() {
                if context.printIRBefore.contains(pass.tag) || context.printIRBefore.contains("all") {
                    context.emit("// IR before \(pass.tag)\n" + IRPrinter().print(graph))
                }
                let stats = try pass.run(&graph, context)
                if context.verify {
                    do { try Verifier.verify(graph) } catch let e as IRError {
                        throw IRError("after pass \(pass.tag): \(e.message)", node: e.node)
                    }
                }
                if context.printIRAfter.contains(pass.tag) || context.printIRAfter.contains("all") {
                    context.emit("// IR after \(pass.tag)\n" + IRPrinter().print(graph))
                }
                for (name, value) in stats.counters { totals[i].statistics.add(name, value) }
                for warning in stats.warnings { totals[i].statistics.warn(warning) }
                if !stats.isEmpty { changed = true }
            }
            if !changed { break }
        }
        return totals
    }
}
