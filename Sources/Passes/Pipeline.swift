// Pipelines: passes run in order with the verifier and IR printing between them, and the
// registry of every pass by tag.
import IR

public struct Pipeline: Sendable {
    public var passes: [any Pass]
    /// Repeat the whole list until no pass changes anything (at most this many rounds).
    public var maxRounds: Int

    public init(_ passes: [any Pass], maxRounds: Int = 1) {
        self.passes = passes
        self.maxRounds = maxRounds
    }

    /// Runs the passes; returns each pass's statistics, summed over rounds.
    @discardableResult
    public func run(_ graph: inout Graph, _ context: PassContext) throws -> [(tag: String, statistics: PassStatistics)] {
        var totals: [(tag: String, statistics: PassStatistics)] = passes.map { ($0.tag, PassStatistics()) }
        for _ in 0..<maxRounds {
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
                if !stats.isEmpty { changed = true }
            }
            if !changed { break }
        }
        return totals
    }

    /// Canonicalization, run on every model after import. Identity removal first so
    /// folding sees through renames; shapes before folding because Shape and Size fold
    /// from types; shapes again after folding, since folded shape operands (Reshape,
    /// Expand, Slice) make more dims known; dead code last. Repeated until stable.
    public static let canonicalize = Pipeline([
        RemoveIdentity(),
        InferShapes(),
        FoldConstants(),
        InferShapes(),
        EliminateDeadCode(),
    ], maxRounds: 8)
}

public enum PassRegistry {
    /// Every pass, by tag.
    public static let all: [any Pass] = [
        InferShapes(), FoldConstants(), RemoveIdentity(), EliminateDeadCode(), FoldBatchNorm(), Prune24(), QuantizeLayers(),
    ]

    public static func pass(_ tag: String) -> (any Pass)? { all.first { $0.tag == tag } }
}
