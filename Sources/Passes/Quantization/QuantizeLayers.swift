// quantize: Conv, ConvTranspose, Gemm and MatMul with constant weights get their weights rounded to the
// chosen format and their input activation marked for rounding at run time.
import Formats
import IR
import Reference

/// What `quantize` applies: a format for weights and activations of every quantizable
/// layer (or per layer, keyed by the layer's output name), and the calibrated amax of each
/// activation.
public struct QuantizationPlan: Sendable {
    public var format: PrecisionFormat
    public var perLayer: [String: PrecisionFormat]
    public var activationAmax: [String: Float]
    /// Per layer input, the calibration mean of each channel of its reduction axis: when
    /// given, each quantized layer's bias absorbs the expected shift its weight error causes.
    public var inputMeans: [String: [Float]]

    public init(
        format: PrecisionFormat, perLayer: [String: PrecisionFormat] = [:], activationAmax: [String: Float],
        inputMeans: [String: [Float]] = [:]
    ) {
        self.format = format
        self.perLayer = perLayer
        self.activationAmax = activationAmax
        self.inputMeans = inputMeans
    }

    /// The format of the layer producing `output`.
    public func format(of output: String) -> PrecisionFormat { perLayer[output] ?? format }
}

/// Requires `context.quantization` and constant weights (canonicalize first). Guarantees
/// every Conv, ConvTranspose, Gemm and MatMul with a constant weight has its weight replaced by the
/// format's fake-quantized values (per output channel along the reduction axis) and carries
/// `npucc.weight_format`, `npucc.activation_format` and `npucc.activation_amax` for the
/// interpreter; when the plan quantizes any layer, every MatMul of two activations (or of
/// an activation and a constant that is no [K, N] right operand) carries
/// `npucc.activation_format` and `npucc.activation_format_b` = fp16 (both operands rounded
/// to fp16, the product in the NPU's order). Leaves alone biases (fp32, as the NPU
/// accumulates). What a QDQ model fixed (import-qdq) wins over the plan: a layer that
/// already carries `npucc.weight_format` keeps its weights, scales and format, and an
/// existing activation format and amax are not replaced by calibration's. Warns about
/// each fp16 layer whose weights or calibrated input fp16 cannot hold (beyond its largest
/// finite value, or all below its smallest normal). Does nothing without a plan.
public struct QuantizeLayers: Pass {
    public let tag = "quantize"
    public let summary = "Round weights to the chosen format and mark activations for fake quantization"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        guard let plan = context.quantization else { return stats }
        let quantizes = plan.format != .fp32 || plan.perLayer.values.contains { $0 != .fp32 }
        for (i, node) in graph.nodes.enumerated() {
            if quantizes && isProductOfActivations(node, graph) {
                graph.nodes[i].attributes[QuantizationAttributes.activationFormat] = .string(PrecisionFormat.fp16.rawValue)
                graph.nodes[i].attributes[QuantizationAttributes.activationFormatB] = .string(PrecisionFormat.fp16.rawValue)
                stats.add("activation-products")
                continue
            }
            let format = plan.format(of: node.outputs.first ?? "")
            guard format != .fp32, let weight = LayerWeight(node, graph), let x = node.input(0) else { continue }
            var q = node
            if node.attributes[QuantizationAttributes.weightFormat] != nil {
                stats.add("kept-imported")
            } else {
                let original = weight.matrix()
                let (rounded, scales) = try FakeQuantization.scaledWeights(
                    original, rows: weight.rows,
                    columns: weight.columns, format: format)
                if !scales.isEmpty { q.attributes[QuantizationAttributes.weightScale] = .floats(scales) }
                let name = "\(weight.name)_\(format.rawValue)"
                graph.constants[name] = weight.tensor(from: rounded)
                q.inputs[1] = name
                if let means = plan.inputMeans[x], node.op != "MatMul",
                    let corrected = correctedBias(node, weight, rounded, means, graph)
                {
                    let biasName = "\(node.input(2) ?? weight.name + "_bias")_corrected"
                    graph.constants[biasName] = corrected
                    q.inputs = Array(q.inputs.prefix(2)) + [biasName]
                    if node.op == "Gemm" && node.input(2) == nil { q.attributes["beta"] = .float(1) }
                    stats.add("bias-corrected")
                }
                q.attributes[QuantizationAttributes.weightFormat] = .string(format.rawValue)
                stats.add("quantized")
                if format == .fp16 {
                    let overflowing = zip(original, rounded).count { $0.isFinite && !$1.isFinite }
                    if overflowing > 0 {
                        stats.warn(
                            "\(node.op) \"\(node.name)\": \(overflowing) weight\(overflowing == 1 ? "" : "s") of \"\(weight.name)\" "
                                + "beyond fp16's largest finite value 65504 \(overflowing == 1 ? "rounds" : "round") to "
                                + "infinity at fp16 (fp8 and nvfp4 scale each output channel's weights)")
                    }
                }
            }
            if q.attributes[QuantizationAttributes.activationFormat] == nil {
                q.attributes[QuantizationAttributes.activationFormat] = .string(format.rawValue)
                if let amax = plan.activationAmax[x] {
                    q.attributes[QuantizationAttributes.activationAmax] = .float(amax)
                    if format == .fp16, let problem = Self.fp16RangeProblem(amax: amax) {
                        stats.warn("\(node.op) \"\(node.name)\" reads \"\(x)\", which \(problem)")
                    }
                }
            }
            graph.nodes[i] = q
        }
        return stats
    }

    /// What goes wrong when an activation whose calibrated largest magnitude is `amax` is
    /// rounded to fp16, which has no scale: values beyond 65504 become infinities, and values
    /// below 2^-14 (fp16's smallest normal) are subnormal, with fewer significant bits the
    /// smaller they are; nil when neither happens (or calibration saw only zeros).
    static func fp16RangeProblem(amax: Float) -> String? {
        // From 65520, halfway between 65504 and the next step, values round to infinity.
        let (overflow, smallestNormal): (Float, Float) = (65520, 0x1p-14)
        let value = "\(amax)"
        if amax >= overflow {
            return "reached \(value) in calibration: beyond fp16's largest finite value 65504, such values round to "
                + "infinity at fp16 (choose fp8 or nvfp4 for this layer, whose scales follow the range)"
        }
        if amax > 0 && amax < smallestNormal {
            return "reached at most \(value) in calibration: at fp16 all its values are subnormal (below 6.1e-05) "
                + "and keep fewer significant bits (choose fp8 or nvfp4 for this layer, whose scales follow the range)"
        }
        return nil
    }

    /// A MatMul with no layer weight: of two computed values, or with a constant that is no
    /// [K, N] right operand (per-head keys [H, K, N], constant queries on the left). It runs
    /// on the matrix unit with both operands at fp16, the widest operand format, since
    /// neither has a calibrated scale.
    private func isProductOfActivations(_ node: Node, _ graph: Graph) -> Bool {
        node.op == "MatMul" && node.inputs.count == 2 && !node.inputs.allSatisfy { graph.constants[$0] != nil }
            && LayerWeight(node, graph) == nil && node.attributes[QuantizationAttributes.weightFormat] == nil
    }

    /// b + (W - Wq) E[x] per output channel, with E[x] the calibration mean of each input
    /// channel (for Conv, shared by the channel's kernel positions; zero padding ignored).
    private func correctedBias(
        _ node: Node, _ weight: LayerWeight, _ rounded: [Float], _ means: [Float],
        _ graph: Graph
    ) -> Tensor? {
        guard means.count == weight.inputChannels, weight.rows % weight.groups == 0 else { return nil }
        if node.op == "Gemm" && (node.int("transA", default: 0) != 0 || node.float("beta", default: 1) != 1) { return nil }
        var bias = [Float](repeating: 0, count: weight.rows)
        if let b = node.input(2) {
            guard let t = graph.constants[b], t.count == weight.rows else { return nil }
            bias = t.floats()
        }
        let original = weight.matrix()
        for r in 0..<weight.rows {
            var shift = 0.0
            for k in 0..<weight.columns {
                shift +=
                    Double(original[r * weight.columns + k] - rounded[r * weight.columns + k])
                    * Double(means[weight.inputChannel(row: r, column: k)])
            }
            bias[r] += Float(shift)
        }
        return Tensor(bias, shape: [weight.rows])
    }
}
