// eliminate-dead-code: nodes and constants that no graph output depends on go away.
import IR

/// Removes nodes none of whose outputs reach a graph output, then constants and types of
/// values nobody reads. Requires a verified graph. Guarantees every remaining node and
/// constant contributes to an output. Leaves graph inputs alone, even unused ones.
public struct EliminateDeadCode: Pass {
    public let tag = "eliminate-dead-code"
    public let summary = "Remove nodes and constants no output depends on"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        var live = Set(graph.outputs.map(\.name))
        var keep = [Bool](repeating: false, count: graph.nodes.count)
        for i in stride(from: graph.nodes.count - 1, through: 0, by: -1) {
            let node = graph.nodes[i]
            if node.outputs.contains(where: live.contains) {
                keep[i] = true
                live.formUnion(node.inputs.filter { !$0.isEmpty })
            }
        }
        let before = graph.nodes.count
        graph.nodes = graph.nodes.enumerated().filter { keep[$0.offset] }.map(\.element)
        stats.add("nodes", before - graph.nodes.count)
        for name in graph.constants.keys where !live.contains(name) {
            graph.constants[name] = nil
            stats.add("constants")
        }
        let defined = Set(graph.nodes.flatMap(\.outputs)).union(graph.inputs.map(\.name)).union(graph.outputs.map(\.name))
        for name in graph.types.keys where !defined.contains(name) { graph.types[name] = nil }
        return stats
    }
}
