// remove-identity: Identity and inference-mode Dropout disappear; their users read the
// input directly.
import IR

/// Removes Identity nodes and Dropout nodes (inference: identity; an unused mask output
/// only). Requires a verified graph. Guarantees no Identity or Dropout remains, except
/// where the output is a graph output fed by a graph input or constant, which keeps the
/// output's name (graph output names never change). A Dropout whose mask is used stays.
public struct RemoveIdentity: Pass {
    public let tag = "remove-identity"
    public let summary = "Remove Identity and Dropout"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        let outputs = Set(graph.outputs.map(\.name))
        let used = Set(graph.nodes.flatMap(\.inputs)).union(outputs)
        let producers = graph.producers()
        var rename: [String: String] = [:]
        var renameProducer: [Int: (from: String, to: String)] = [:]
        var removed = Set<Int>()
        for (i, node) in graph.nodes.enumerated() where node.op == "Identity" || node.op == "Dropout" {
            guard let x = node.input(0), let y = node.outputs.first, !y.isEmpty else { continue }
            if node.outputs.count > 1 && used.contains(node.outputs[1]) { continue }
            let source = rename[x] ?? x
            if outputs.contains(y) {
                // Keep the graph output's name: rename the producer of x to y instead,
                // when x has no other reader and is not itself an output.
                guard let p = producers[source], !outputs.contains(source),
                      graph.nodes.filter({ $0.inputs.contains(source) }).count == 1 else { continue }
                renameProducer[p] = (source, y)
            } else {
                rename[y] = source
            }
            removed.insert(i)
            stats.add("removed")
        }
        var nodes: [Node] = []
        for (i, var node) in graph.nodes.enumerated() where !removed.contains(i) {
            node.inputs = node.inputs.map { rename[$0] ?? $0 }
            if let r = renameProducer[i] {
                node.outputs = node.outputs.map { $0 == r.from ? r.to : $0 }
                graph.types[r.to] = graph.types[r.from] ?? graph.types[r.to]
            }
            nodes.append(node)
        }
        graph.nodes = nodes
        return stats
    }
}
