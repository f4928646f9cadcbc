// compose-transposes: a Transpose of a Transpose reads the first one's input through the
// two permutations composed (attention exports transpose K to split its heads, then again
// for Q·Kᵀ); a permutation that restores the order is an Identity, and one that moves only
// axes of extent 1 is a Reshape, which the NPU reads in place instead of copying.
import IR

/// Rewrites each Transpose whose permutation is known (its `perm`, or with a known rank the
/// reversal it defaults to): reading another Transpose, it reads that one's input through
/// the composed permutation (the first one stays while something else reads it); then an
/// identity permutation becomes Identity, and one whose input shape is known and keeps the
/// axes of extent other than 1 in their order becomes a Reshape to its output's shape.
///
/// Requires: a verified graph.
/// Guarantees: each rewritten node keeps its name and output, and gives the same elements in
/// the same places.
/// Leaves alone: Transposes of unknown rank without `perm`, other domains, other nodes.
public struct ComposeTransposes: Pass {
    public let tag = "compose-transposes"
    public let summary = "Compose consecutive Transposes; those that move nothing become Identity or Reshape"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        // Per Transpose output (as rewritten): the value it permutes and the permutation.
        var transposed: [String: (source: String, perm: [Int])] = [:]
        var nodes: [Node] = []
        for var node in graph.nodes {
            guard node.op == "Transpose", node.domain.isEmpty || node.domain == "ai.onnx", let x = node.input(0),
                let y = node.outputs.first, !y.isEmpty,
                var perm = node.ints("perm")
                    ?? graph.type(of: x)?.shape.map({ Array((0..<$0.rank).reversed()) }),
                perm.sorted() == Array(0..<perm.count)
            else {
                nodes.append(node)
                continue
            }
            var source = x
            if let inner = transposed[x], inner.perm.count == perm.count {
                (source, perm) = (inner.source, perm.map { inner.perm[$0] })
                node.inputs = [source]
                node.attributes = ["perm": .ints(perm)]
                stats.add("composed")
            }
            transposed[y] = (source, perm)
            if perm == Array(0..<perm.count) {
                node.op = "Identity"
                node.attributes = [:]
                stats.add("identity")
            } else if let dims = graph.type(of: source)?.shape?.concrete, dims.count == perm.count, !dims.contains(0),
                perm.filter({ dims[$0] != 1 }) == (0..<dims.count).filter({ dims[$0] != 1 })
            {
                let shape = perm.map { Int64(dims[$0]) }
                node.op = "Reshape"
                node.attributes = [:]
                node.inputs = [source, graph.addConstant("\(y)_shape", Tensor(shape, shape: [shape.count]))]
                stats.add("reshape")
            }
            nodes.append(node)
        }
        graph.nodes = nodes
        return stats
    }
}
