// A quantized IR model as a standard ONNX model onnxruntime runs: each layer's weights
// stored in their format and dequantized, its input activations rounded as the fake-quant
// interpreter rounds them, fused activations as nodes again, and no npucc attribute left.
import Formats
import IR
import Passes

public enum QDQExport {
    /// The opset the exported graph is written for (the IR's canonical forms are opset 21's).
    public static let opset = 21
    /// The ONNX IR version that opset goes with.
    public static let irVersion = 10

    /// The axis of a layer's stored weight along which its output channels run, when one
    /// axis holds them: 0 for Conv and Gemm with transB, 1 for Gemm without it and MatMul,
    /// 1 for a ConvTranspose of one group; nil for a grouped ConvTranspose, whose output
    /// channel g·M/G + m is stored at [g·C/G + c, m, ...].
    public static func outputChannelAxis(of layer: Node) -> Int? {
        switch layer.op {
        case "Conv": return 0
        case "ConvTranspose": return layer.int("group", default: 1) == 1 ? 1 : nil
        case "Gemm" where layer.int("transB", default: 0) != 0: return 0
        default: return 1
        }
    }

    /// `model` (after the quantize pass) with every npucc attribute expressed in standard
    /// ops of the default domain.
    public static func model(_ model: Model) throws -> Model {
        let source = model.graph
        var builder = QDQGraphBuilder(source)
        for node in source.nodes {
            try builder.export(node, in: source)
        }
        builder.dropUnreadConstants()
        return Model(
            irVersion: irVersion, producerName: "npucc", producerVersion: "", domain: model.domain,
            modelVersion: model.modelVersion, docString: model.docString, opsets: ["": opset],
            metadata: model.metadata, graph: builder.graph)
    }
}

/// The npucc attributes export understands; any other is an error rather than a silent loss.
private let understood: Set<String> = [
    QuantizationAttributes.activationFormat, QuantizationAttributes.activationAmax,
    QuantizationAttributes.activationScale, QuantizationAttributes.activationFormatB,
    QuantizationAttributes.weightFormat, QuantizationAttributes.weightScale,
    FusedActivationAttributes.activation, FusedActivationAttributes.alpha, FusedActivationAttributes.minimum,
    FusedActivationAttributes.maximum, PruningAttributes.sparsity,
]

extension QDQGraphBuilder {
    /// Appends `node` and what its npucc attributes ask for.
    mutating func export(_ node: Node, in source: Graph) throws {
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw IRError("cannot export an op of domain \"\(node.domain)\"", at: node)
        }
        if let unknown = node.attributes.keys.sorted().first(where: {
            $0.hasPrefix(npuccAttributePrefix) && !understood.contains($0)
        }) {
            throw IRError("cannot export the attribute \(unknown)", at: node)
        }
        var out = node
        out.domain = ""
        out.attributes = node.attributes.filter { !$0.key.hasPrefix(npuccAttributePrefix) }
        if node.op == "QuantizeLinear" || node.op == "DequantizeLinear" { dropFP8ZeroPoint(&out, in: source) }
        if let name = node.string(QuantizationAttributes.weightFormat) {
            let format = try self.format(name, node)
            out.inputs[1] = try storedWeight(
                node.inputs[1], format: format, scales: node.floats(QuantizationAttributes.weightScale) ?? [],
                axis: QDQExport.outputChannelAxis(of: node), layer: node)
        }
        var bias: String?
        if let name = node.string(QuantizationAttributes.activationFormat), let x = node.input(0) {
            let format = try self.format(name, node)
            out.inputs[0] = try roundedActivation(x, format: format, node: node, in: source)
            if let b = node.string(QuantizationAttributes.activationFormatB), let input = node.input(1) {
                out.inputs[1] = try roundedActivation(input, format: try self.format(b, node), node: node, in: source)
            }
            if format == .fp8 { bias = try separateBias(&out, in: source) }
        }
        let activation = node.string(FusedActivationAttributes.activation)
        guard bias != nil || activation != nil else {
            append(out)
            return
        }
        let result = node.outputs[0]
        out.outputs[0] = fresh("\(result)_product")
        append(out)
        var current = out.outputs[0]
        if let bias {
            let next = activation.map { fresh("\(result)_before_\($0.lowercased())") } ?? result
            let layer = node.name.isEmpty ? result : node.name
            append(Node(op: "Add", name: "\(layer)_bias", inputs: [current, bias], outputs: [next]))
            current = next
        }
        if let activation { try appendActivation(activation, of: node, input: current, output: result) }
    }

    /// Takes the bias out of an fp8 Conv, ConvTranspose or Gemm (`layer`), returning the
    /// value to add to its result, or nil when it has none. onnxruntime rewrites such a layer between a
    /// DequantizeLinear and a QuantizeLinear to quantize its float bias to int32 on the grid
    /// of the two scales' product, an int8 idea that would change an fp8 layer's results;
    /// added afterwards, the bias is added as the interpreter adds it, to the finished sum
    /// (Gemm's beta·C rounded first).
    private mutating func separateBias(_ layer: inout Node, in source: Graph) throws -> String? {
        guard ["Conv", "ConvTranspose", "Gemm"].contains(layer.op), let c = layer.input(2) else { return nil }
        layer.inputs = Array(layer.inputs.prefix(2))
        if layer.op == "Gemm" {
            let beta = layer.float("beta", default: 1)
            layer.attributes["beta"] = nil
            guard beta != 1 else { return c }
            if let t = source.constants[c], t.dtype == .float32 {
                return constant("\(c)_times_beta", Tensor(t.floats().map { beta * $0 }, shape: t.shape))
            }
            return emit("Mul", [c, constant("\(c)_beta", Tensor(scalar: beta))], "\(c)_times_beta")
        }
        guard let rank = source.type(of: layer.outputs[0])?.shape?.rank, rank >= 2 else {
            throw IRError("the \(layer.op)'s output has no known rank", at: layer)
        }
        let perChannel = [-1] + Array(repeating: 1, count: rank - 2)
        if let t = source.constants[c] { return constant("\(c)_per_channel", t.reshaped([t.count] + perChannel.dropFirst())) }
        let channels = constant("\(c)_channels", Tensor(perChannel.map(Int64.init), shape: [perChannel.count]))
        return emit("Reshape", [c, channels], "\(c)_per_channel")
    }

    /// A Q/DQ pair the model kept (import-qdq leaves those read by other ops than layers)
    /// loses its fp8 zero point, which ONNX requires to be zero: the QuantizeLinear names
    /// its type with `output_dtype` instead, out of reach of onnxruntime's Relu rewrite
    /// (see `fp8QDQ`).
    private func dropFP8ZeroPoint(_ node: inout Node, in source: Graph) {
        guard let name = node.input(2), let zero = source.constants[name],
            zero.dtype == .float8e4m3fn || zero.dtype == .float8e5m2,
            zero.bytes.allSatisfy({ $0 & 0x7F == 0 })
        else { return }
        node.inputs = Array(node.inputs.prefix(2))
        if node.op == "QuantizeLinear" { node.attributes["output_dtype"] = .int(Int(zero.dtype.rawValue)) }
    }

    private func format(_ name: String, _ node: Node) throws -> PrecisionFormat {
        guard let format = PrecisionFormat(rawValue: name) else { throw IRError("unknown format \"\(name)\"", at: node) }
        return format
    }

    /// Input `x` of `node` rounded as the interpreter rounds it on entry to the layer: the
    /// reduction axis is the channel axis of a Conv or ConvTranspose, axis 0 of a Gemm with transA, else the
    /// last; fp8 uses the layer's own scale, or amax / 448 (1 for amax 0); nvfp4 the layer's
    /// own tensor scale, or amax / (6 · 448).
    private mutating func roundedActivation(_ x: String, format: PrecisionFormat, node: Node, in source: Graph) throws
        -> String
    {
        guard let type = source.type(of: x), type.dtype == .float32, let rank = type.shape?.rank, rank >= 1 else {
            throw IRError("the quantized input \"\(x)\" needs a float32 type of known rank", at: node)
        }
        let convolution = node.op == "Conv" || node.op == "ConvTranspose"
        let axis = convolution ? 1 : (node.op == "Gemm" && node.int("transA", default: 0) != 0 ? 0 : rank - 1)
        let amax = node.float(QuantizationAttributes.activationAmax)
        if (format == .fp8 && node.float(QuantizationAttributes.activationScale) == nil || format == .nvfp4) && amax == nil {
            throw IRError("the \(format.rawValue) input \"\(x)\" has no calibrated range: give --calib", at: node)
        }
        let own = node.float(QuantizationAttributes.activationScale)
        let scale: Float
        switch format {
        case .nvfp4: scale = own ?? (amax ?? 0) / (6 * 448)
        default: scale = own ?? ((amax ?? 0) > 0 ? amax! / 448 : 1)
        }
        return try roundedActivation(x, format: format, scale: scale, axis: axis, type: type, layer: node)
    }

    /// The activation fuse-activation folded into `node`, as its own node again.
    private mutating func appendActivation(_ activation: String, of node: Node, input: String, output: String) throws {
        var inputs = [input]
        var attributes: [String: Attribute] = [:]
        switch activation {
        case "Relu":
            break
        case "LeakyRelu":
            attributes["alpha"] = .float(node.float(FusedActivationAttributes.alpha, default: 0.01))
        case "Clip":
            let lo = node.float(FusedActivationAttributes.minimum, default: -.infinity)
            let hi = node.float(FusedActivationAttributes.maximum, default: .infinity)
            inputs.append(lo.isFinite ? constant("\(output)_min", Tensor(scalar: lo)) : "")
            if hi.isFinite { inputs.append(constant("\(output)_max", Tensor(scalar: hi))) }
        default:
            throw IRError("cannot export the fused activation \"\(activation)\"", at: node)
        }
        append(
            Node(
                op: activation, name: "\(node.name.isEmpty ? output : node.name)_\(activation.lowercased())", inputs: inputs,
                outputs: [output],
                attributes: attributes))
    }
}
