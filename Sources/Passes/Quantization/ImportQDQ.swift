// import-qdq: the QuantizeLinear / DequantizeLinear nodes of a model exported from
// quantization-aware training become float tensors, and the fp8 scales they carry become
// the layer attributes that `quantize` and the interpreter read.
import Formats
import IR
import Reference

/// Reads a QDQ model's quantization into the IR's terms. Runs before fold-constants, which
/// would otherwise fold the weights' DequantizeLinear away with their scales.
///
/// Weights: a DequantizeLinear of a constant (or of a QuantizeLinear of constants) becomes
/// a float32 constant of its dequantized values, exactly what the nodes computed. When the
/// codes are fp8 E4M3 and the value is input 1 of a Conv, Gemm or MatMul, with one scale or
/// one per output channel, that layer carries `npucc.weight_format = "fp8"` and
/// `npucc.weight_scale` (the model's scales), which `quantize` keeps. So for NVFP4: FLOAT4E2M1
/// codes dequantized in blocks of 16 along the layer's reduction by a DequantizeLinear of
/// E4M3 block-scale codes by one float32 scale g give `npucc.weight_format = "nvfp4"` and
/// `npucc.weight_scale = [g]` (the packer finds the block scales again), also for a layer
/// reading them through a Transpose of their two axes. Any other tensor is
/// dequantized with a warning: int8, uint8, int16, uint16, fp8 E5M2 (the NPU has none of
/// them), E4M3 scales along the reduction axis, E4M3 constants no layer reads as its
/// weight; INT4, UINT4 and FLOAT4E2M1 codes and blocked scales (block_size: a weight-only
/// 4-bit export, or NVFP4 weights with fp8 block scales, themselves a DequantizeLinear of
/// fp8 codes by a float32 scale, which goes without a warning of its own) are dequantized
/// exactly and quantized again by npucc with its own scales. An int32 tensor read only as the
/// bias of Conv or Gemm (how int8 exporters store biases) is dequantized without one: biases
/// stay float32 on the NPU.
///
/// Activations: a QuantizeLinear read only by DequantizeLinears with its own scale and
/// zero point is a fake-quantization pair. When it is fp8 E4M3 (zero point or
/// `output_dtype`), per tensor and saturating, each Conv, Gemm and MatMul reading the pair
/// as input 0 reads the float tensor instead and carries `npucc.activation_format = "fp8"`,
/// `npucc.activation_amax = 448 * scale` and `npucc.activation_scale = scale`, with which
/// the interpreter rounds exactly as the pair did; other readers keep the pair. A pair of
/// any other format (or a per-axis or non-saturating E4M3 one) is removed for every
/// reader, with a warning, and (but fp8 without saturation) leaves a clamp to the values it
/// can give, (least code − zero point) · scale to (greatest − zero point) · scale, in its
/// QuantizeLinear's place: the Relu a quantizer folds into an int8 zero point. Per tensor
/// the clamp is a Clip; per axis a Max and a Min by channel, the bounds shaped along the axis.
///
/// DequantizeLinears of one QuantizeLinear with the same scale, zero point and axis are
/// merged first into one (under the graph output's name when one of them is a graph output).
///
/// Requires: a verified graph with types (infer-shapes). Guarantees: no DequantizeLinear
/// reads a constant, and no Conv, Gemm or MatMul reads a fake-quantization pair as input
/// 0; every value is computed as before except where a warning says otherwise.
/// Leaves alone: graphs without QuantizeLinear or DequantizeLinear; E4M3 pairs read by
/// other ops; blocked activation pairs (the interpreter runs them; the NPU has no lowering
/// for them); a QuantizeLinear that anything but a matching DequantizeLinear reads, or
/// whose scale or zero point is not constant; pairs whose output is a graph output.
public struct ImportQDQ: Pass {
    public let tag = "import-qdq"
    public let summary = "Read QuantizeLinear/DequantizeLinear as float tensors, keeping fp8 scales on the layers"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        guard graph.nodes.contains(where: { $0.isQuantizationOp || $0.isFP4DynamicQuantize }) else { return stats }
        var rewrite = QDQRewrite(graph: graph)
        rewrite.mergeDuplicateDequantizers(&stats)
        try rewrite.importWeights(&stats)
        rewrite.importFP4Activations(&stats)
        try rewrite.importActivations(&stats)
        graph = rewrite.finished()
        return stats
    }
}

/// The layers whose weights and input activations the NPU quantizes.
private let layerOps: Set<String> = ["Conv", "Gemm", "MatMul"]

private extension Node {
    var isDefaultDomain: Bool { domain.isEmpty || domain == "ai.onnx" }
    var isQuantizationOp: Bool { isDefaultDomain && (op == "QuantizeLinear" || op == "DequantizeLinear") }
    var isFP4DynamicQuantize: Bool { domain == "trt" && op == "TRT_FP4DynamicQuantize" }
}

/// How warnings name a quantized element type.
private func formatName(_ dtype: DType) -> String {
    switch dtype {
    case .float8e4m3fn: return "fp8 e4m3"
    case .float8e5m2: return "fp8 e5m2"
    case .float4e2m1: return "fp4 e2m1"
    default: return dtype.onnxName.lowercased()
    }
}

private func recalibrated(_ dtype: DType) -> String {
    "dequantized: the NPU has no \(formatName(dtype)); this tensor will be recalibrated"
}

/// The graph being rewritten: nodes are removed and inserted at the end, so indices stay valid.
private struct QDQRewrite {
    var graph: Graph
    var removed = Set<Int>()
    /// Nodes to place right after the node at an index (a per-axis clamp's second half).
    var insertions: [(after: Int, node: Node)] = []
    let graphOutputs: Set<String>
    /// Values that are E4M3 codes dequantized by one float32 scale (that scale): the block
    /// scales of an NVFP4 weight when a FLOAT4E2M1 DequantizeLinear reads them.
    var blockScaleSources: [String: Float] = [:]

    init(graph: Graph) {
        self.graph = graph
        graphOutputs = Set(graph.outputs.map(\.name))
    }

    func finished() -> Graph {
        var g = graph
        g.nodes = graph.nodes.enumerated().flatMap { i, node in
            (removed.contains(i) ? [] : [node]) + insertions.filter { $0.after == i }.map(\.node)
        }
        let given = Set(g.nodes.flatMap(\.outputs))
        for i in removed {
            for o in graph.nodes[i].outputs where g.constants[o] == nil && !given.contains(o) { g.types[o] = nil }
        }
        return g
    }

    // MARK: Weights

    mutating func importWeights(_ stats: inout PassStatistics) throws {
        let users = graph.users(), producers = graph.producers()
        var quantizers = Set<Int>()
        for (i, dq) in graph.nodes.enumerated() where dq.op == "DequantizeLinear" && dq.isDefaultDomain {
            guard dq.outputs.count == 1, let out = dq.outputs.first, !out.isEmpty, let x = dq.input(0),
                let parameters = constantOperands(dq, from: 1)
            else { continue }
            var codes = graph.constants[x]
            if codes == nil, let p = producers[x], graph.nodes[p].op == "QuantizeLinear", graph.nodes[p].isDefaultDomain,
                let inputs = constantOperands(graph.nodes[p], from: 0)
            {
                codes = try Kernels.evaluate(graph.nodes[p], inputs).first
                quantizers.insert(p)
            }
            guard let codes, let scale = parameters[0] else { continue }
            graph.constants[out] = try Kernels.evaluate(dq, [codes] + parameters)[0]
            graph.types[out] = nil
            removed.insert(i)
            // E4M3 codes times one float32 scale: an NVFP4 weight's block scales, perhaps.
            if codes.dtype == .float8e4m3fn, dq.int("block_size", default: 0) == 0, scale.count == 1,
                scale.dtype == .float32, parameters[1].map({ $0.floats().allSatisfy { $0 == 0 } }) ?? true
            {
                blockScaleSources[out] = scale.floats()[0]
            }
            classify(dq, codes: codes, scale: scale, readers: (users[out] ?? []).map { graph.nodes[$0] }, &stats)
        }
        // A QuantizeLinear of constants goes when the weights it fed are all constants now.
        for p in quantizers {
            let out = graph.nodes[p].outputs[0]
            if !graphOutputs.contains(out), (users[out] ?? []).allSatisfy(removed.contains) { removed.insert(p) }
        }
    }

    /// Whether FLOAT4E2M1 weight codes `codes` that `dq` dequantizes in blocks go into
    /// `layer` (`transposed`: through a Transpose of their two axes) as NVFP4 blocks: 16
    /// along the reduction axis (K of a MatMul's [K, N], of a Gemm's B as transB lays it
    /// out, or the input channels of a 1x1 Conv), so that each output channel's reduction
    /// is cut into blocks as NVFP4 cuts it.
    private static func blocksRunAlongReduction(_ dq: Node, codes: Tensor, layer: Node, transposed: Bool) -> Bool {
        guard dq.int("block_size", default: 0) == NVFP4Matrix.blockSize else { return false }
        let rank = codes.rank, given = dq.int("axis", default: 1)
        var axis = given < 0 ? given + rank : given
        if transposed {
            guard rank == 2, layer.op != "Conv" else { return false }
            axis = 1 - axis
        }
        switch layer.op {
        case "MatMul": return rank == 2 && axis == 0
        case "Gemm": return rank == 2 && axis == (layer.int("transB", default: 0) != 0 ? 1 : 0)
        case "Conv": return rank >= 3 && axis == 1 && codes.shape[2...].allSatisfy { $0 == 1 }
        default: return false
        }
    }

    /// Marks the layers an fp8 E4M3 weight feeds, or warns that the tensor was dequantized.
    private mutating func classify(
        _ dq: Node, codes: Tensor, scale: Tensor, readers: [Node],
        _ stats: inout PassStatistics
    ) {
        let out = dq.outputs[0]
        let layers = readers.filter { layerOps.contains($0.op) && $0.isDefaultDomain && $0.input(1) == out && $0.input(0) != out }
        let isBias = { (n: Node) in
            (n.op == "Conv" || n.op == "Gemm") && n.input(2) == out && n.input(0) != out && n.input(1) != out
        }
        if codes.dtype == .int32, !readers.isEmpty, readers.allSatisfy(isBias) {
            stats.add("dequantized")
            return
        }
        // The scales of another DequantizeLinear (two-level scaling: fp8 block scales times
        // a float32 one): that one's warning says what became of them.
        let isScale = { (n: Node) in n.op == "DequantizeLinear" && n.isDefaultDomain && n.input(1) == out && n.input(0) != out }
        if !readers.isEmpty, readers.allSatisfy(isScale) {
            stats.add("dequantized")
            return
        }
        let block = dq.int("block_size", default: 0)
        if codes.dtype == .float4e2m1, let global = dq.input(1).flatMap({ blockScaleSources[$0] }) {
            // The layers reading the weight, and those reading it through a Transpose of its
            // two axes (how an exporter writes a Linear layer's [out, in] weight into a MatMul).
            let transposes = readers.filter {
                $0.op == "Transpose" && $0.isDefaultDomain && codes.rank == 2 && $0.outputs.count == 1
                    && ($0.ints("perm") ?? [1, 0]) == [1, 0]
            }
            let transposed = transposes.flatMap { t in
                graph.nodes.filter { n in
                    layerOps.contains(n.op) && n.isDefaultDomain && n.input(1) == t.outputs[0] && n.input(0) != t.outputs[0]
                }
            }
            var marked = 0
            for (layer, swapped) in layers.map({ ($0, false) }) + transposed.map({ ($0, true) })
            where Self.blocksRunAlongReduction(dq, codes: codes, layer: layer, transposed: swapped) {
                mark(layer) { node in
                    node.attributes[QuantizationAttributes.weightFormat] = .string(PrecisionFormat.nvfp4.rawValue)
                    node.attributes[QuantizationAttributes.weightScale] = .floats([global])
                }
                stats.add("nvfp4-weights")
                marked += 1
            }
            if marked > 0 && marked == layers.count + transposed.count && readers.count == layers.count + transposes.count {
                return
            }
        }
        if codes.dtype.isPackedFourBit || block > 0 {
            stats.add("dequantized")
            let blocks = block > 0 ? " in blocks of \(block) along axis \(dq.int("axis", default: 1))" : ""
            stats.warn(
                "\(dq.label): \(formatName(codes.dtype)) \(layers.isEmpty ? "tensor" : "weight")\(blocks) dequantized exactly; "
                    + "npucc rounds it again with scales of its own, not the model's")
            return
        }
        guard codes.dtype == .float8e4m3fn else {
            stats.add("dequantized")
            stats.warn(
                "\(dq.label): \(formatName(codes.dtype)) \(layers.isEmpty ? "tensor" : "weight") "
                    + "\(recalibrated(codes.dtype))")
            return
        }
        guard !layers.isEmpty else {
            stats.add("dequantized")
            stats.warn(
                "\(dq.label): fp8 e4m3 tensor dequantized: it is not the weight of a Conv, Gemm or MatMul, "
                    + "so it stays float32")
            return
        }
        for layer in layers {
            guard let scales = weightScales(dq, codes: codes, scale: scale, layer: layer) else {
                stats.add("dequantized")
                stats.warn(
                    "\(dq.label): fp8 e4m3 weight dequantized: its scales are not per output channel of \(layer.label); "
                        + "this tensor will be recalibrated")
                continue
            }
            mark(layer) { node in
                node.attributes[QuantizationAttributes.weightFormat] = .string(PrecisionFormat.fp8.rawValue)
                node.attributes[QuantizationAttributes.weightScale] = .floats(scales)
            }
            stats.add("fp8-weights")
        }
    }

    /// One scale for the tensor, or one per output channel of `layer` (Conv's axis 0, Gemm's
    /// N axis, MatMul's last axis); nil when the scales run along another axis.
    private func weightScales(_ dq: Node, codes: Tensor, scale: Tensor, layer: Node) -> [Float]? {
        let scales = scale.floats()
        if scales.count == 1 { return scales }
        let axis = dq.int("axis", default: 1), rank = codes.rank
        let outputAxis = layer.op == "Conv" || (layer.op == "Gemm" && layer.int("transB", default: 0) != 0) ? 0 : rank - 1
        return (axis < 0 ? axis + rank : axis) == outputAxis ? scales : nil
    }

    // MARK: Activations

    /// NVFP4 activations as NVIDIA's quantization tools export them: TRT_FP4DynamicQuantize
    /// of x by a constant tensor scale g (blocks of 16 along the reduction axis: the last
    /// of a MatMul's or Gemm's input, a Conv's channels), its scale codes dequantized by the
    /// same g, and its codes dequantized in blocks by those scales. Each layer reading the
    /// result as input 0 reads x instead and carries `npucc.activation_format = "nvfp4"`,
    /// `npucc.activation_scale = g` (the tensor scale its rounding uses as it is: the
    /// rounding npucc's nvfp4 activations do is then the op's) and the range it stands for,
    /// 6 · 448 · g, as `npucc.activation_amax` (what reports and the analysis read). The
    /// chain goes once nothing else reads it.
    mutating func importFP4Activations(_ stats: inout PassStatistics) {
        let users = graph.users()
        for (ti, t) in graph.nodes.enumerated() where t.isFP4DynamicQuantize && !removed.contains(ti) {
            guard t.outputs.count == 2, let x = t.input(0), let rank = graph.type(of: x)?.shape?.rank, rank > 0,
                let g = t.input(1).flatMap({ graph.constants[$0] }), g.dtype == .float32, g.count == 1,
                t.int("block_size", default: 16) == NVFP4Matrix.blockSize,
                case let amax = g.floats()[0] * (6 * 448), amax > 0, amax.isFinite
            else { continue }
            let given = t.int("axis", default: -1), axis = given < 0 ? given + rank : given
            let (codes, scaleCodes) = (t.outputs[0], t.outputs[1])
            // The one DequantizeLinear of the scale codes, by g, and the one of the codes by those.
            guard let d1 = users[scaleCodes], d1.count == 1, let d2 = users[codes], d2.count == 1 else { continue }
            let (scales, values) = (graph.nodes[d1[0]], graph.nodes[d2[0]])
            guard scales.op == "DequantizeLinear", scales.isDefaultDomain, scales.input(0) == scaleCodes,
                scales.int("block_size", default: 0) == 0, scales.input(2) == nil,
                let g2 = scales.input(1).flatMap({ graph.constants[$0] }), g2.count == 1, g2.bitwiseEqual(g),
                let scaleUsers = users[scales.outputs[0]], scaleUsers == d2,
                values.op == "DequantizeLinear", values.isDefaultDomain, values.input(0) == codes,
                values.input(1) == scales.outputs[0], values.input(2) == nil,
                values.int("block_size", default: 0) == NVFP4Matrix.blockSize,
                (values.int("axis", default: 1) + rank) % rank == axis
            else { continue }
            let out = values.outputs[0]
            var rewired = 0
            for k in users[out] ?? [] where !removed.contains(k) {
                let layer = graph.nodes[k]
                guard layer.isDefaultDomain, layer.input(0) == out, !layer.inputs.dropFirst().contains(out),
                    layer.attributes[QuantizationAttributes.activationFormat] == nil
                else { continue }
                let reduction: Int
                switch layer.op {
                case "MatMul": reduction = rank - 1
                case "Gemm" where layer.int("transA", default: 0) == 0: reduction = rank - 1
                case "Conv": reduction = 1
                default: continue
                }
                guard reduction == axis else { continue }
                graph.nodes[k].inputs[0] = x
                graph.nodes[k].attributes[QuantizationAttributes.activationFormat] = .string(PrecisionFormat.nvfp4.rawValue)
                graph.nodes[k].attributes[QuantizationAttributes.activationAmax] = .float(amax)
                graph.nodes[k].attributes[QuantizationAttributes.activationScale] = .float(g.floats()[0])
                rewired += 1
            }
            guard rewired > 0 else { continue }
            stats.add("nvfp4-activations", rewired)
            if !isRead(out) { removed.formUnion([ti, d1[0], d2[0]]) }
        }
    }

    /// Makes each QuantizeLinear read by at most one DequantizeLinear of each scale, zero
    /// point and axis: a model that keeps a rounded tensor as a graph output and reads it again
    /// (a feature map returned beside the head that uses it) dequantizes the same codes twice.
    /// The first such DequantizeLinear stays, under the graph output's name when one of them
    /// gives one; the others' readers read it, and a second graph output is an Identity of it.
    mutating func mergeDuplicateDequantizers(_ stats: inout PassStatistics) {
        let users = graph.users()
        for q in graph.nodes where q.op == "QuantizeLinear" && q.isDefaultDomain {
            guard let x = q.input(0), graph.constants[x] == nil, q.outputs.count == 1, let codes = q.outputs.first,
                !graphOutputs.contains(codes)
            else { continue }
            var groups: [[Int]] = []
            for d in Set(users[codes] ?? []).sorted() {
                let dq = graph.nodes[d]
                guard dq.op == "DequantizeLinear", dq.isDefaultDomain, dq.input(0) == codes, dq.outputs.count == 1,
                    let own = constantOperands(dq, from: 1)
                else { continue }
                let k = groups.firstIndex { group in
                    let other = graph.nodes[group[0]]
                    guard let theirs = constantOperands(other, from: 1), theirs.count == own.count,
                        other.int("axis", default: 1) == dq.int("axis", default: 1),
                        other.int("block_size", default: 0) == dq.int("block_size", default: 0)
                    else { return false }
                    return zip(own, theirs).allSatisfy { a, b in a.map { b?.bitwiseEqual($0) ?? false } ?? (b == nil) }
                }
                if let k { groups[k].append(d) } else { groups.append([d]) }
            }
            for group in groups where group.count > 1 {
                let keeper = group[0]
                let outputs = group.map { graph.nodes[$0].outputs[0] }.filter(graphOutputs.contains)
                var kept = graph.nodes[keeper].outputs[0]
                if let first = outputs.first, first != kept {
                    // The kept node takes the graph output's name; the node that gave it goes.
                    rename(kept, to: first)
                    kept = first
                }
                for d in group.dropFirst() {
                    let out = graph.nodes[d].outputs[0]
                    if out == kept {
                        removed.insert(d)
                    } else if graphOutputs.contains(out) {
                        let dq = graph.nodes[d]
                        graph.nodes[d] = Node(op: "Identity", name: dq.name, inputs: [kept], outputs: [out])
                    } else {
                        for k in graph.nodes.indices where !removed.contains(k) && graph.nodes[k].inputs.contains(out) {
                            graph.nodes[k].inputs = graph.nodes[k].inputs.map { $0 == out ? kept : $0 }
                        }
                        graph.types[out] = nil
                        removed.insert(d)
                    }
                    stats.add("merged-dequantizers")
                }
            }
        }
    }

    /// Renames the value `old` (a node output, not a graph output) to `new` everywhere.
    private mutating func rename(_ old: String, to new: String) {
        for k in graph.nodes.indices {
            graph.nodes[k].inputs = graph.nodes[k].inputs.map { $0 == old ? new : $0 }
            graph.nodes[k].outputs = graph.nodes[k].outputs.map { $0 == old ? new : $0 }
        }
        graph.types[old] = nil
    }

    mutating func importActivations(_ stats: inout PassStatistics) throws {
        let users = graph.users()
        for (qi, q) in graph.nodes.enumerated() where q.op == "QuantizeLinear" && q.isDefaultDomain && !removed.contains(qi) {
            guard let x = q.input(0), graph.constants[x] == nil, q.outputs.count == 1, let qOut = q.outputs.first,
                !graphOutputs.contains(qOut), let parameters = constantOperands(q, from: 1), let scale = parameters[0]
            else { continue }
            let readers = users[qOut] ?? []
            // A blocked pair stays as it is: the interpreter runs it, the compile names it.
            guard q.int("block_size", default: 0) == 0, !readers.isEmpty,
                readers.allSatisfy({ pairs(q, parameters, graph.nodes[$0], x: x) })
            else { continue }
            let format = try QuantizedTypes.quantizeLinearOutput(q, zeroPoint: parameters[1]?.dtype)
            let what = "\(q.label): \(formatName(format)) activation \"\(x)\" dequantized"
            var reason: String?
            if format != .float8e4m3fn {
                reason = "\(what): the NPU has no \(formatName(format)); this tensor will be recalibrated"
            } else if scale.count != 1 {
                reason =
                    "\(what): its scale is per axis, the NPU's activation scales are per tensor; "
                    + "this tensor will be recalibrated"
            } else if q.int("saturate", default: 1) == 0 {
                reason =
                    "\(what): saturate = 0 gives NaN beyond 448 * scale, the NPU saturates; "
                    + "this tensor will be recalibrated"
            }
            let s = scale.floats()[0]
            // A removed pair still clamps to its type's range, which a quantizer uses for the
            // activation it folds into a zero point (a Relu before an int8 pair of zero point
            // -128): readers read that Clip of x in its place.
            var source = x
            if reason != nil, let range = clampRange(q, x: x, format: format, scale: scale, zeroPoint: parameters[1]) {
                let lo = graph.addConstant("\(qOut)_range_min", range.lo)
                let hi = graph.addConstant("\(qOut)_range_max", range.hi)
                source = graph.unusedName("\(qOut)_range")
                let name = graph.unusedName("\(q.name.isEmpty ? qOut : q.name)/range")
                if range.lo.count == 1 {
                    graph.nodes[qi] = Node(op: "Clip", name: name, inputs: [x, lo, hi], outputs: [source])
                } else {
                    // Per axis: Clip takes one bound, so a Max and a Min by channel.
                    let raised = graph.unusedName("\(qOut)_range_low")
                    graph.nodes[qi] = Node(op: "Max", name: name + "_low", inputs: [x, lo], outputs: [raised])
                    insertions.append((qi, Node(op: "Min", name: name, inputs: [raised, hi], outputs: [source])))
                }
            }
            var rewired = 0
            for d in readers {
                let changed = rewire(graph.nodes[d].outputs[0], to: source, layersOnly: reason == nil) { node in
                    node.attributes[QuantizationAttributes.activationFormat] = .string(PrecisionFormat.fp8.rawValue)
                    node.attributes[QuantizationAttributes.activationAmax] = .float(s * 448)
                    node.attributes[QuantizationAttributes.activationScale] = .float(s)
                }
                if changed > 0 && !isRead(graph.nodes[d].outputs[0]) { removed.insert(d) }
                rewired += changed
            }
            guard rewired > 0 else { continue }
            if source == x, readers.allSatisfy(removed.contains) { removed.insert(qi) }
            if let reason {
                stats.add("removed-pairs")
                stats.warn(reason)
            } else {
                stats.add("fp8-activations", rewired)
            }
        }
    }

    /// The values a pair of `format` can give, (code − zero point) · scale for the type's
    /// least and greatest codes, as DequantizeLinear computes them: scalars for a per-tensor
    /// pair, for a per-axis one a value per channel shaped to broadcast along `axis` of `x`
    /// (nil when x's rank is unknown); nil for fp8 without saturation (it gives NaN past its
    /// range).
    private func clampRange(
        _ q: Node, x: String, format: DType, scale: Tensor, zeroPoint: Tensor?
    ) -> (lo: Tensor, hi: Tensor)? {
        let scales = scale.floats()
        var lo: [Float], hi: [Float]
        if let fp8 = format.miniFloatFormat {
            guard q.int("saturate", default: 1) != 0 else { return nil }
            (lo, hi) = (scales.map { -fp8.maxFinite * $0 }, scales.map { fp8.maxFinite * $0 })
        } else {
            guard let codes = format.quantizedCodeRange else { return nil }
            let zeros = zeroPoint?.int64s() ?? [Int64](repeating: 0, count: scales.count)
            guard zeros.count == scales.count else { return nil }
            lo = zip(scales, zeros).map { Float(codes.0 - $1) * $0 }
            hi = zip(scales, zeros).map { Float(codes.1 - $1) * $0 }
        }
        guard scales.count > 1 else { return (Tensor(scalar: lo[0]), Tensor(scalar: hi[0])) }
        guard let rank = graph.type(of: x)?.shape?.rank, rank > 0 else { return nil }
        let given = q.int("axis", default: 1), axis = given < 0 ? given + rank : given
        guard (0..<rank).contains(axis) else { return nil }
        let shape = (0..<rank).map { $0 == axis ? scales.count : 1 }
        return (Tensor(lo, shape: shape), Tensor(hi, shape: shape))
    }

    /// True when `dq` dequantizes QuantizeLinear `q`'s output with q's own scale, zero point
    /// and axis, into x's element type, and is not a graph output.
    private func pairs(_ q: Node, _ parameters: [Tensor?], _ dq: Node, x: String) -> Bool {
        guard dq.op == "DequantizeLinear", dq.isDefaultDomain, dq.input(0) == q.outputs[0], dq.outputs.count == 1,
            dq.int("block_size", default: 0) == 0,
            !graphOutputs.contains(dq.outputs[0]), let own = constantOperands(dq, from: 1),
            own.count == parameters.count, let scale = own[0], let qScale = parameters[0],
            scale.bitwiseEqual(qScale), scale.dtype == graph.type(of: x)?.dtype
        else { return false }
        if let zero = own[1] { guard let qZero = parameters[1], zero.bitwiseEqual(qZero) else { return false } }
        guard scale.count > 1 else { return true }
        let rank = graph.type(of: x)?.shape?.rank ?? 0
        func normalized(_ a: Int) -> Int { a < 0 ? a + rank : a }
        return normalized(q.int("axis", default: 1)) == normalized(dq.int("axis", default: 1))
    }

    /// Readers of `value` read `source` instead: only Conv, Gemm and MatMul reading it as
    /// input 0 (marked by `mark`) when `layersOnly`, else every reader. Returns how many
    /// nodes changed.
    private mutating func rewire(_ value: String, to source: String, layersOnly: Bool, mark: (inout Node) -> Void) -> Int {
        var count = 0
        for (k, node) in graph.nodes.enumerated() where !removed.contains(k) && node.inputs.contains(value) {
            if layersOnly {
                guard layerOps.contains(node.op), node.isDefaultDomain, node.inputs[0] == value,
                    !node.inputs.dropFirst().contains(value)
                else { continue }
                graph.nodes[k].inputs[0] = source
                mark(&graph.nodes[k])
            } else {
                graph.nodes[k].inputs = node.inputs.map { $0 == value ? source : $0 }
            }
            count += 1
        }
        return count
    }

    // MARK: Shared

    /// Inputs `from...` of `node` as constants (nil where omitted); nil when one is not constant.
    private func constantOperands(_ node: Node, from start: Int) -> [Tensor?]? {
        var out: [Tensor?] = []
        for i in start..<max(node.inputs.count, start + 2) {
            guard let name = node.input(i) else { out.append(nil); continue }
            guard let t = graph.constants[name] else { return nil }
            out.append(t)
        }
        return out
    }

    private func isRead(_ value: String) -> Bool {
        graphOutputs.contains(value)
            || graph.nodes.enumerated().contains { !removed.contains($0.offset) && $0.element.inputs.contains(value) }
    }

    private mutating func mark(_ layer: Node, _ body: (inout Node) -> Void) {
        for k in graph.nodes.indices where graph.nodes[k].outputs == layer.outputs { body(&graph.nodes[k]) }
    }
}
