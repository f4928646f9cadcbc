// eliminate-dead-code: nodes, optional outputs and constants that no graph output depends
// on go away.
import IR

/// Removes nodes none of whose outputs a graph output depends on (walking back from the
/// outputs, which are the roots), then the optional outputs nothing reads of the ops in
/// `optionalOutputs` (LayerNormalization's Mean and InvStdDev, MaxPool's Indices,
/// BatchNormalization's running statistics, Dropout's mask), then constants nobody reads
/// and the types of values that no longer exist.
///
/// Requires: a verified graph (nodes in topological order).
/// Guarantees: every remaining node and constant contributes to a graph output.
/// Leaves alone: graph inputs (even unused ones), graph outputs, and the unused outputs of
/// other ops (whose output count can mean something, as Split's does).
public struct EliminateDeadCode: Pass {
    public let tag = "eliminate-dead-code"
    public let summary = "Remove nodes and constants no output depends on"

    public init() {}

    /// Ops (default domain) whose outputs after the first are optional and mean nothing
    /// by their count.
    static let optionalOutputs: Set<String> = ["LayerNormalization", "MaxPool", "BatchNormalization", "Dropout"]

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
        for i in graph.nodes.indices
        where Self.optionalOutputs.contains(graph.nodes[i].op) && ["", "ai.onnx"].contains(graph.nodes[i].domain) {
            var outputs = graph.nodes[i].outputs
            for k in outputs.indices.dropFirst() where !outputs[k].isEmpty && !live.contains(outputs[k]) {
                outputs[k] = ""
                stats.add("outputs")
            }
            while outputs.count > 1, outputs.last!.isEmpty { outputs.removeLast() }
            graph.nodes[i].outputs = outputs
        }
        for name in graph.constants.keys where !live.contains(name) {
            graph.constants[name] = nil
            stats.add("constants")
        }
        let defined = Set(graph.nodes.flatMap(\.outputs)).union(graph.inputs.map(\.name)).union(graph.outputs.map(\.name))
        for name in graph.types.keys where !defined.contains(name) { graph.types[name] = nil }
        return stats
    }
}
