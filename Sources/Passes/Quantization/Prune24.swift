// prune-2-4: of every 4 consecutive weights along a layer's reduction axis, keep 2, chosen
// by magnitude or by Wanda's |w| x input norm; before quantization.
import Formats
import IR

/// How to choose the kept weights.
public enum PruningMethod: String, Sendable, CaseIterable {
    /// The two largest |w| of each group.
    case magnitude
    /// The two largest |w| * ||x_j||, x_j the calibration inputs feeding weight column j
    /// (Sun et al., "A Simple and Effective Pruning Approach for Large Language Models").
    case wanda
}

/// What `prune-2-4` applies: the method and, for Wanda, each layer input's L2 norm per
/// channel of its reduction axis (from calibration).
public struct SparsityPlan: Sendable {
    public var method: PruningMethod
    public var inputNorms: [String: [Float]]
    /// The layers to prune, by output name; nil prunes every layer that can be.
    public var layers: Set<String>?

    public init(method: PruningMethod, inputNorms: [String: [Float]] = [:], layers: Set<String>? = nil) {
        self.method = method
        self.inputNorms = inputNorms
        self.layers = layers
    }
}

/// Requires `context.sparsity` and constant weights. Guarantees that every Conv, Gemm and
/// MatMul whose reduction length is a multiple of 4 has at most 2 nonzero weights in each
/// group of 4 consecutive reduction elements and carries `npucc.sparsity = "2:4"`. Layers whose reduction length is not a
/// multiple of 4 stay dense and are counted as "dense". For Conv the reduction axis is the
/// flattened [C, kh, kw] of each output channel, and Wanda uses the norm of input channel c
/// for all its kernel positions.
public struct Prune24: Pass {
    public let tag = "prune-2-4"
    public let summary = "Keep 2 of every 4 weights along the reduction axis"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        guard let plan = context.sparsity else { return stats }
        for (i, node) in graph.nodes.enumerated() {
            if let chosen = plan.layers, !chosen.contains(node.outputs.first ?? "") { continue }
            guard let weight = LayerWeight(node, graph) else { continue }
            let (rows, columns) = (weight.rows, weight.columns)
            guard columns % 4 == 0 else { stats.add("dense"); continue }
            let values = weight.matrix()
            var scores = values.map(\.magnitude)
            if plan.method == .wanda, let x = node.input(0), let norms = plan.inputNorms[x] {
                let perChannel = node.op == "Conv" ? columns / max(norms.count, 1) : 1
                guard norms.count * perChannel == columns else { stats.add("dense"); continue }
                for k in scores.indices { scores[k] *= norms[(k % columns) / perChannel] }
            }
            let mask = try Sparsity24.magnitudeMask(scores, rows: rows, columns: columns)
            let name = "\(weight.name)_2of4"
            graph.constants[name] = weight.tensor(from: zip(values, mask).map { $1 ? $0 : 0 })
            var q = node
            q.inputs[1] = name
            q.attributes["npucc.sparsity"] = .string("2:4")
            graph.nodes[i] = q
            stats.add("pruned")
        }
        return stats
    }
}
