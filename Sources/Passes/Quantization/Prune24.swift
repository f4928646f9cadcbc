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
    /// Optimal brain surgeon per column with the layer Hessian from calibration, the kept
    /// weights updated to compensate (Frantar & Alistarh, "SparseGPT").
    case sparsegpt

    /// True when the method reads calibration statistics.
    public var needsCalibration: Bool { self != .magnitude }
}

/// What `prune-2-4` applies: the method and, from calibration, for Wanda each layer
/// input's L2 norm per channel of its reduction axis, for SparseGPT each layer's Hessian.
public struct SparsityPlan: Sendable {
    public var method: PruningMethod
    public var inputNorms: [String: [Float]]
    /// Per layer output name.
    public var hessians: [String: LayerHessian]
    /// The layers to prune, by output name; nil prunes every layer that can be.
    public var layers: Set<String>?

    public init(method: PruningMethod, inputNorms: [String: [Float]] = [:], hessians: [String: LayerHessian] = [:],
                layers: Set<String>? = nil) {
        self.method = method
        self.inputNorms = inputNorms
        self.hessians = hessians
        self.layers = layers
    }
}

/// Requires `context.sparsity` and constant weights. Guarantees that every Conv, Gemm and
/// MatMul whose reduction length is a multiple of 4 has at most 2 nonzero weights in each
/// group of 4 consecutive reduction elements and carries `npucc.sparsity = "2:4"`. Layers whose reduction length is not a
/// multiple of 4 stay dense and are counted as "dense". For Conv the reduction axis is the
/// flattened [C, kh, kw] of each output channel, and Wanda uses the norm of input channel c
/// for all its kernel positions. SparseGPT also changes the kept weights; a layer without a
/// Hessian (a Gemm with transA) is pruned by magnitude and counted so. A layer whose weight
/// format a QDQ model fixed keeps its weights ("kept-imported").
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
            guard node.attributes[QuantizationAttributes.weightFormat] == nil else { stats.add("kept-imported"); continue }
            let (rows, columns) = (weight.rows, weight.columns)
            guard columns % 4 == 0 else { stats.add("dense"); continue }
            let values = weight.matrix()
            if plan.method == .sparsegpt {
                guard let h = plan.hessians[node.outputs.first ?? ""] else {
                    try replace(&graph, i, weight, try Self.magnitude(values, rows, columns))
                    stats.add("magnitude, no Hessian")
                    continue
                }
                try replace(&graph, i, weight, try Self.sparseGPT(values, rows, h, node))
                stats.add("pruned")
                continue
            }
            var scores = values.map(\.magnitude)
            if plan.method == .wanda, let x = node.input(0), let norms = plan.inputNorms[x] {
                let perChannel = node.op == "Conv" ? columns / max(norms.count, 1) : 1
                guard norms.count * perChannel == columns else { stats.add("dense"); continue }
                for k in scores.indices { scores[k] *= norms[(k % columns) / perChannel] }
            }
            let mask = try Sparsity24.magnitudeMask(scores, rows: rows, columns: columns)
            try replace(&graph, i, weight, zip(values, mask).map { $1 ? $0 : 0 })
            stats.add("pruned")
        }
        return stats
    }

    private func replace(_ graph: inout Graph, _ i: Int, _ weight: LayerWeight, _ pruned: [Float]) throws {
        let name = "\(weight.name)_2of4"
        graph.constants[name] = weight.tensor(from: pruned)
        graph.nodes[i].inputs[1] = name
        graph.nodes[i].attributes["npucc.sparsity"] = .string("2:4")
    }

    private static func magnitude(_ values: [Float], _ rows: Int, _ columns: Int) throws -> [Float] {
        let mask = try Sparsity24.magnitudeMask(values.map(\.magnitude), rows: rows, columns: columns)
        return zip(values, mask).map { $1 ? $0 : 0 }
    }

    /// Each group's rows pruned with that group's Hessian block.
    private static func sparseGPT(_ values: [Float], _ rows: Int, _ h: LayerHessian, _ node: Node) throws -> [Float] {
        let k = h.columns, perGroup = rows / h.groups
        guard values.count == rows * k, rows % h.groups == 0 else {
            throw IRError("the calibration Hessian (\(h.groups) x \(k) x \(k)) does not fit the weight", at: node)
        }
        var out = [Float]()
        out.reserveCapacity(values.count)
        for g in 0..<h.groups {
            let slice = Array(values[(g * perGroup * k)..<((g + 1) * perGroup * k)])
            do {
                out += try SparseGPT.prune(slice, rows: perGroup, columns: k, hessian: h.block(g))
            } catch {
                throw IRError("SparseGPT: the layer's calibration Hessian is not positive definite after dampening", at: node)
            }
        }
        return out
    }
}
