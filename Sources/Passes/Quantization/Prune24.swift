// prune-2-4: of every 4 consecutive weights along a layer's reduction axis, keep 2, chosen
// by magnitude or by Wanda's |w| x input norm; before quantization.
import Formats
import IR
import Reference

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
    /// Weights this method already pruned, per layer output name, as [rows, columns]
    /// matrices (`LayerWeight.matrix()`), used as they are: the sensitivity analysis hands
    /// on the ones it made.
    public var pruned: [String: [Float]] = [:]

    public init(
        method: PruningMethod, inputNorms: [String: [Float]] = [:], hessians: [String: LayerHessian] = [:],
        layers: Set<String>? = nil
    ) {
        self.method = method
        self.inputNorms = inputNorms
        self.hessians = hessians
        self.layers = layers
    }
}

/// Requires `context.sparsity` and constant weights. Guarantees that every Conv, ConvTranspose, Gemm and
/// MatMul whose reduction length is a multiple of 4 has at most 2 nonzero weights in each
/// group of 4 consecutive reduction elements and carries `npucc.sparsity = "2:4"`. Layers whose reduction length is not a
/// multiple of 4 stay dense and are counted as "dense". For Conv the reduction axis is the
/// flattened [C, kh, kw] of each output channel (for ConvTranspose that of the convolution
/// it equals, the kernel flipped: `LayerWeight`), and Wanda uses the norm of input channel c
/// (of the row's group) for all its kernel positions. SparseGPT also changes the kept weights; a layer without a
/// Hessian (a Gemm with transA) is pruned by magnitude and counted so. A layer whose weight
/// format a QDQ model fixed keeps its weights ("kept-imported"). Layers that read one weight
/// in one layout (an unrolled recurrence's steps) prune it once and all read the result:
/// SparseGPT with their Hessians summed, Wanda with their input norms combined.
public struct Prune24: Pass {
    public let tag = "prune-2-4"
    public let summary = "Keep 2 of every 4 weights along the reduction axis"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        guard let plan = context.sparsity else { return stats }
        // What each layer gets, in node order; the pruned weights (SparseGPT's are costly) are
        // computed for all layers at once, in parallel, and applied in node order.
        var steps: [(index: Int, weight: LayerWeight?, stat: String)] = []
        for (i, node) in graph.nodes.enumerated() {
            if let chosen = plan.layers, !chosen.contains(node.outputs.first ?? "") { continue }
            guard let weight = LayerWeight(node, graph) else { continue }
            guard node.attributes[QuantizationAttributes.weightFormat] == nil else {
                steps.append((i, nil, "kept-imported"))
                continue
            }
            steps.append(weight.columns % 4 == 0 ? (i, weight, "") : (i, nil, "dense"))
        }
        // Layers that read one weight in one layout (an unrolled recurrence's steps) prune it
        // once, for all of them: SparseGPT with their Hessians summed, Wanda with their input
        // norms combined (the norm over every input the weight meets). The first computes.
        var leader: [Int] = Array(steps.indices), members: [[Int]] = steps.indices.map { [$0] }
        var first: [String: Int] = [:]
        for (k, step) in steps.enumerated() {
            guard let w = step.weight else { continue }
            let key = "\(w.name) \(w.rows)x\(w.columns) \(w.layout)"
            if let f = first[key] {
                leader[k] = f
                members[f].append(k)
                members[k] = []
            } else {
                first[key] = k
            }
        }
        let nodes = graph.nodes
        let outputs = steps.map { nodes[$0.index].outputs.first ?? "" }
        let inputs = steps.map { nodes[$0.index].input(0) ?? "" }
        var results = [Result<(values: [Float]?, stat: String), Error>](repeating: .success((nil, "")), count: steps.count)
        // Largest first (SparseGPT's cost grows as columns³), so no thread is left with a big one at the end.
        let order = steps.indices.sorted {
            let a = steps[$0].weight.map { $0.columns * $0.columns * ($0.columns + $0.rows) } ?? 0
            let b = steps[$1].weight.map { $0.columns * $0.columns * ($0.columns + $0.rows) } ?? 0
            return (a, $1) > (b, $0)
        }
        let label = "pruning 2:4 (\(plan.method.rawValue))"
        context.progress(label, steps.count, 0)
        results.withUnsafeMutableBufferPointer { out in
            parallelTasks(steps.count) { t in
                let k = order[t]
                defer { context.progress(label, steps.count, 1) }
                guard let weight = steps[k].weight, leader[k] == k else { return }
                let group = members[k]
                let hessian =
                    group.count == 1
                    ? plan.hessians[outputs[k]] : LayerHessian.sum(group.compactMap { plan.hessians[outputs[$0]] })
                let norms: [Float]?
                if group.count == 1 {
                    norms = plan.inputNorms[inputs[k]]
                } else {
                    let all = group.compactMap { plan.inputNorms[inputs[$0]] }
                    norms =
                        all.count == group.count && Set(all.map(\.count)).count == 1
                        ? (0..<all[0].count).map { c in all.reduce(Float(0)) { $0 + $1[c] * $1[c] }.squareRoot() } : nil
                }
                out[k] = Result { try Self.pruned(nodes[steps[k].index], weight, plan, hessian: hessian, norms: norms) }
            }
        }
        for (k, step) in steps.enumerated() {
            let (values, stat) = try results[leader[k]].get()
            stats.add(step.weight == nil ? step.stat : stat)
            // Fewer calibration vectors than the reduction is long: the Hessian is singular,
            // and SparseGPT fits the samples (its predicted error is far below the real one).
            let vectors = members[k].compactMap { plan.hessians[outputs[$0]]?.vectors }.reduce(0, +)
            if plan.method == .sparsegpt, values != nil, leader[k] == k, let hessian = plan.hessians[outputs[k]],
                vectors < hessian.columns
            {
                stats.warn(
                    "\(nodes[step.index].label): SparseGPT pruned it from \(vectors) calibration vectors for a "
                        + "reduction of \(hessian.columns); with fewer vectors than that it fits the samples given: "
                        + Self.moreSamples(vectors: vectors, samples: hessian.samples, columns: hessian.columns)
                        + " or prune it with --prune wanda")
            }
            if let values, let weight = step.weight {
                let name = "\(weight.name)_2of4"
                graph.constants[name] = weight.tensor(from: values)
                graph.nodes[step.index].inputs[1] = name
                graph.nodes[step.index].attributes[PruningAttributes.sparsity] = .string("2:4")
            }
        }
        return stats
    }

    /// The advice for a layer whose `samples` calibration samples gave it `vectors` vectors,
    /// fewer than its reduction of `columns`: how many samples give as many vectors.
    static func moreSamples(vectors: Int, samples: Int, columns: Int) -> String {
        guard vectors > 0, samples > 0 else { return "give more calibration samples" }
        let needed = (columns * samples + vectors - 1) / vectors
        let perSample = vectors / samples
        let each = vectors % samples == 0 ? " (each makes \(perSample) vector\(perSample == 1 ? "" : "s"))" : ""
        return "give at least \(needed) calibration samples\(each)"
    }

    /// One layer's weights as `plan` prunes them ([rows, columns]), and the statistic it
    /// counts under; nil values leave the layer dense.
    /// `hessian` and `norms` are the layer's (or its weight's, summed over the layers that
    /// read it) calibration statistics.
    private static func pruned(
        _ node: Node, _ weight: LayerWeight, _ plan: SparsityPlan, hessian: LayerHessian?, norms: [Float]?
    ) throws -> (values: [Float]?, stat: String) {
        let (rows, columns) = (weight.rows, weight.columns)
        if let done = plan.pruned[node.outputs.first ?? ""], done.count == rows * columns { return (done, "pruned") }
        let values = weight.matrix()
        if plan.method == .sparsegpt {
            guard let h = hessian else {
                return (try magnitude(values, rows, columns), "magnitude, no Hessian")
            }
            return (try sparseGPT(values, rows, h, node), "pruned")
        }
        var scores = values.map(\.magnitude)
        if plan.method == .wanda, let norms {
            guard norms.count == weight.inputChannels, rows % weight.groups == 0 else {
                throw IRError(
                    "Wanda's input norms have \(norms.count) channels; the weight reads \(weight.inputChannels)", at: node)
            }
            for k in scores.indices { scores[k] *= norms[weight.inputChannel(row: k / columns, column: k % columns)] }
        }
        let mask = try Sparsity24.magnitudeMask(scores, rows: rows, columns: columns)
        return (Sparsity24.masked(values, mask), "pruned")
    }

    private static func magnitude(_ values: [Float], _ rows: Int, _ columns: Int) throws -> [Float] {
        // The mask compares magnitudes itself.
        let mask = try Sparsity24.magnitudeMask(values, rows: rows, columns: columns)
        return Sparsity24.masked(values, mask)
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
                out += try h.withBlock(g) { try SparseGPT.prune(slice, rows: perGroup, columns: k, hessian: $0) }
            } catch SparseGPT.Failure.underflow(let mean) {
                throw IRError(
                    "SparseGPT: the layer's calibration Hessian is too small for float32 (mean diagonal "
                        + "\(Float(mean)): its inputs reach about \(Float(mean.squareRoot()))); prune with --prune wanda or "
                        + "magnitude", at: node)
            } catch {
                throw IRError(
                    "SparseGPT: the layer's calibration Hessian is not positive definite after dampening; prune with "
                        + "--prune wanda or magnitude", at: node)
            }
        }
        return out
    }
}
