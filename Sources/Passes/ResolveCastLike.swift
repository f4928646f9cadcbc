// resolve-cast-like: CastLike becomes the Cast it stands for once the type it copies is
// known, so that everything after canonicalization reads one form.
import IR

/// Rewrites CastLike(x, like) into Cast(x, to = like's element type), keeping `saturate`,
/// where the graph knows like's type (a constant, a typed input, an inferred value).
///
/// Requires: a verified graph with types inferred.
/// Guarantees: each rewritten node computes the same output as before; the second input is
/// no longer read by it (dead-code elimination may then drop its producer).
/// Leaves alone: CastLike nodes whose second input has no known type (the lowering names
/// them).
public struct ResolveCastLike: Pass {
    public let tag = "resolve-cast-like"
    public let summary = "Replace CastLike by the Cast it stands for"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        for i in graph.nodes.indices {
            let node = graph.nodes[i]
            guard node.op == "CastLike", node.domain.isEmpty || node.domain == "ai.onnx", node.inputs.count == 2,
                let like = node.input(1), let dtype = graph.constants[like]?.dtype ?? graph.type(of: like)?.dtype
            else { continue }
            graph.nodes[i].op = "Cast"
            graph.nodes[i].inputs = [node.inputs[0]]
            graph.nodes[i].attributes["to"] = .int(Int(dtype.rawValue))
            stats.add(dtype.name)
        }
        return stats
    }
}
