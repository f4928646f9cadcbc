// The interpreter's dispatch table: one entry per op, from canonical node and concrete
// input tensors to output tensors.
import Formats
import IR

public enum Kernels {
    typealias Kernel = @Sendable (Node, [Tensor?]) throws -> [Tensor]

    /// Evaluates one canonical node. `inputs[i]` is nil for an omitted optional input.
    public static func evaluate(_ node: Node, _ inputs: [Tensor?]) throws -> [Tensor] {
        guard let kernel = table[node.op] else {
            throw IRError("the interpreter has no kernel for \(node.op)", at: node)
        }
        let results: [Tensor]
        if let format = node.string(QuantizationAttributes.activationFormat) {
            results = try kernel(node, try fakeQuantizedInput(node, inputs, format: format))
        } else {
            results = try kernel(node, inputs)
        }
        if let activation = node.string(FusedActivationAttributes.activation), let first = results.first {
            return [try fusedActivation(node, activation, first)] + results.dropFirst()
        }
        return results
    }

    /// Input 0 of `node` as its kernel reads it: rounded as `npucc.activation_format` asks
    /// (`evaluate` does this on entry), or as it is. A node without the attribute, or whose
    /// kernel also rounds input 1 (`npucc.activation_format_b`), gets nil: `evaluate` it.
    /// With the attribute removed, `evaluate` on the rounded input gives `evaluate`'s result
    /// on the input as it was, so several changes of a layer's weights can share one rounding.
    public static func roundedInput(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor? {
        guard let format = node.string(QuantizationAttributes.activationFormat),
            node.string(QuantizationAttributes.activationFormatB) == nil
        else { return nil }
        return try fakeQuantizedInput(node, inputs, format: format).first ?? nil
    }

    /// The activation fuse-activation recorded on `node`, applied to its float32 result:
    /// Relu max(x, 0); LeakyRelu x < 0 ? alpha·x : x; Clip min(max(x, lo), hi).
    private static func fusedActivation(_ node: Node, _ activation: String, _ t: Tensor) throws -> Tensor {
        try requireFloat32(node, t, "output")
        // The matrix kernels return a tensor of their own: changed in place.
        let p = t.f32, n = t.count
        switch activation {
        case "Relu":
            for i in 0..<n { p[i] = max(p[i], 0) }
        case "LeakyRelu":
            let alpha = node.float(FusedActivationAttributes.alpha, default: 0.01)
            for i in 0..<n where p[i] < 0 { p[i] *= alpha }
        case "Clip":
            let lo = node.float(FusedActivationAttributes.minimum, default: -.infinity)
            let hi = node.float(FusedActivationAttributes.maximum, default: .infinity)
            for i in 0..<n { p[i] = min(max(p[i], lo), hi) }
        default:
            throw IRError("unknown fused activation \"\(activation)\"", at: node)
        }
        return t
    }

    /// True when the interpreter can run `op`.
    public static func supports(_ op: String) -> Bool { table[op] != nil }

    static let table: [String: Kernel] = {
        var t: [String: Kernel] = [:]
        for op in UnaryOp.allNames { t[op] = { n, i in [try unary(n, i)] } }
        for op in BinaryOp.allNames { t[op] = { n, i in [try binary(n, i)] } }
        for op in BitwiseOp.binaryNames + ["BitwiseNot"] { t[op] = { n, i in [try bitwise(n, i)] } }
        for op in ["Sum", "Max", "Min", "Mean"] { t[op] = { n, i in [try variadic(n, i)] } }
        t["Where"] = { n, i in [try whereOp(n, i)] }
        t["Clip"] = { n, i in [try clip(n, i)] }
        t["Conv"] = { n, i in [try convolution(n, i)] }
        t["ConvTranspose"] = { n, i in [try convTranspose(n, i)] }
        t["MatMul"] = { n, i in [try matMul(n, i)] }
        t["Gemm"] = { n, i in [try gemm(n, i)] }
        t["MaxPool"] = { n, i in try pool(n, i, max: true) }
        t["AveragePool"] = { n, i in try pool(n, i, max: false) }
        t["MaxUnpool"] = { n, i in [try maxUnpool(n, i)] }
        t["GlobalAveragePool"] = { n, i in [try globalPool(n, i, max: false)] }
        t["GlobalMaxPool"] = { n, i in [try globalPool(n, i, max: true)] }
        t["BatchNormalization"] = { n, i in try batchNormalization(n, i) }
        t["InstanceNormalization"] = { n, i in [try instanceNormalization(n, i)] }
        t["LayerNormalization"] = { n, i in try layerNormalization(n, i) }
        t["LRN"] = { n, i in [try lrn(n, i)] }
        t["Softmax"] = { n, i in [try softmax(n, i, log: false)] }
        t["LogSoftmax"] = { n, i in [try softmax(n, i, log: true)] }
        for op in ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"] { t[op] = { n, i in [try reduce(n, i)] } }
        t["ArgMax"] = { n, i in [try argExtreme(n, i, max: true)] }
        t["ArgMin"] = { n, i in [try argExtreme(n, i, max: false)] }
        t["TopK"] = { n, i in try topK(n, i) }
        t["CumSum"] = { n, i in [try cumulative(n, i, product: false)] }
        t["CumProd"] = { n, i in [try cumulative(n, i, product: true)] }
        t["Trilu"] = { n, i in [try triangle(n, i)] }
        t["Reshape"] = { n, i in [try reshape(n, i)] }
        t["Flatten"] = { n, i in [try flatten(n, i)] }
        t["Squeeze"] = { n, i in [try squeeze(n, i)] }
        t["Unsqueeze"] = { n, i in [try unsqueeze(n, i)] }
        t["Transpose"] = { n, i in [try transpose(n, i)] }
        t["Concat"] = { n, i in [try concat(n, i)] }
        t["Split"] = { n, i in try split(n, i) }
        t["Slice"] = { n, i in [try slice(n, i)] }
        t["Gather"] = { n, i in [try gather(n, i)] }
        t["NonZero"] = { n, i in [try nonZero(n, i)] }
        t["Compress"] = { n, i in [try compress(n, i)] }
        t["NonMaxSuppression"] = { n, i in [try nonMaxSuppression(n, i)] }
        t["RoiAlign"] = { n, i in [try roiAlign(n, i)] }
        t["MaxRoiPool"] = { n, i in [try maxRoiPool(n, i)] }
        t["Unique"] = { n, i in try unique(n, i) }
        t["Det"] = { n, i in [try determinant(n, i)] }
        t["NegativeLogLikelihoodLoss"] = { n, i in try classLoss(n, i, softmax: false) }
        t["SoftmaxCrossEntropyLoss"] = { n, i in try classLoss(n, i, softmax: true) }
        t["ScatterND"] = { n, i in [try scatterND(n, i)] }
        t["Pad"] = { n, i in [try pad(n, i)] }
        t["Tile"] = { n, i in [try tile(n, i)] }
        t["Expand"] = { n, i in [try expand(n, i)] }
        t["Resize"] = { n, i in [try resize(n, i)] }
        t["Shape"] = { n, i in [try shapeOf(n, i)] }
        t["Size"] = { n, i in [Tensor(scalar: Int64(try operand(n, i, 0).count))] }
        t["Range"] = { n, i in [try range(n, i)] }
        t["ConstantOfShape"] = { n, i in [try constantOfShape(n, i)] }
        t["Cast"] = { n, i in [try cast(n, i)] }
        t["BitCast"] = { n, i in [try bitCast(n, i)] }
        t["CastLike"] = { n, i in
            [try operand(n, i, 0).cast(to: try operand(n, i, 1).dtype, saturate: n.int("saturate", default: 1) != 0)]
        }
        t["QuantizeLinear"] = { n, i in [try quantizeLinear(n, i)] }
        t["DynamicQuantizeLinear"] = { n, i in try dynamicQuantizeLinear(n, i) }
        t["MatMulInteger"] = { n, i in [try integerProduct(n, i, convolution: false)] }
        t["ConvInteger"] = { n, i in [try integerProduct(n, i, convolution: true)] }
        t["DequantizeLinear"] = { n, i in [try dequantizeLinear(n, i)] }
        t["TRT_FP4DynamicQuantize"] = { n, i in try fp4DynamicQuantize(n, i) }
        t["Identity"] = { n, i in [try operand(n, i, 0)] }
        t["Dropout"] = { n, i in
            let x = try operand(n, i, 0)
            return n.outputs.count > 1 ? [x, Tensor(bools: Array(repeating: true, count: x.count), shape: x.shape)] : [x]
        }
        return t
    }()
}

/// Input `index` of `node`, which must be present.
func operand(_ node: Node, _ inputs: [Tensor?], _ index: Int) throws -> Tensor {
    guard index < inputs.count, let t = inputs[index] else {
        throw IRError("input \(index) is required", at: node)
    }
    return t
}

/// Input `index` if present.
func optionalOperand(_ inputs: [Tensor?], _ index: Int) -> Tensor? {
    index < inputs.count ? inputs[index] : nil
}

/// A float32 view requirement: the kernel computes in float32 only.
func requireFloat32(_ node: Node, _ t: Tensor, _ what: String = "input") throws {
    guard t.dtype == .float32 else {
        throw IRError("\(node.op) \(what) of type \(t.dtype.name) is not supported (float32 only)", at: node)
    }
}

/// Row-major strides of `shape`, in elements.
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

/// A new float32 tensor filled by `body`.
@inline(__always)
func makeFloat(_ shape: [Int], _ body: (UnsafeMutablePointer<Float>) -> Void) -> Tensor {
    let t = Tensor(zeros: .float32, shape: shape)
    body(t.storage.base.assumingMemoryBound(to: Float.self))
    return t
}

extension Tensor {
    /// The float32 elements (the tensor must be float32).
    @inline(__always) var f32: UnsafeMutablePointer<Float> { storage.base.assumingMemoryBound(to: Float.self) }
}

/// A quantized layer's inputs with input 0 rounded as the NPU rounds activations; the
/// reduction axis is the channel axis for Conv and ConvTranspose and the last axis for Gemm and MatMul. Input 1
/// of a MatMul of two activations is rounded to fp16 (`npucc.activation_format_b`). An
/// fp8 layer with `npucc.activation_scale` (a QDQ model's own scale) uses that scale
/// exactly, an nvfp4 one it as the tensor scale; otherwise the scale follows from
/// `npucc.activation_amax`.
private func fakeQuantizedInput(_ node: Node, _ inputs: [Tensor?], format name: String) throws -> [Tensor?] {
    guard let format = PrecisionFormat(rawValue: name) else {
        throw IRError("unknown activation format \"\(name)\"", at: node)
    }
    guard let x = inputs.first ?? nil, x.dtype == .float32, x.rank >= 1 else { return inputs }
    let axis =
        node.op == "Conv" || node.op == "ConvTranspose"
        ? 1 : (node.op == "Gemm" && node.int("transA", default: 0) != 0 ? 0 : x.rank - 1)
    guard axis < x.rank else { return inputs }
    var out = inputs
    if let name = node.string(QuantizationAttributes.activationFormatB) {
        guard name == PrecisionFormat.fp16.rawValue, node.op == "MatMul" else {
            throw IRError("npucc.activation_format_b is fp16 on a MatMul only, not \(name) on \(node.op)", at: node)
        }
        if inputs.count > 1, let b = inputs[1], b.dtype == .float32 {
            out[1] = Tensor(
                FakeQuantization.activations(b.floats(), shape: b.shape, reductionAxis: 0, format: .fp16, amax: 0),
                shape: b.shape)
        }
    }
    if format == .fp8, let scale = node.float(QuantizationAttributes.activationScale) {
        out[0] = Tensor(FakeQuantization.fp8Activations(x.floats(), scale: scale), shape: x.shape)
        return out
    }
    let amax = node.float(QuantizationAttributes.activationAmax) ?? x.floats().map(\.magnitude).max() ?? 0
    // An nvfp4 layer's own tensor scale (an exported model's), used as it is.
    let scale = format == .nvfp4 ? node.float(QuantizationAttributes.activationScale) : nil
    out[0] = Tensor(
        FakeQuantization.activations(x.floats(), shape: x.shape, reductionAxis: axis, format: format, amax: amax, scale: scale),
        shape: x.shape)
    return out
}
