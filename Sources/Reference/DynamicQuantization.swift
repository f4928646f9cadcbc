// Dynamic quantization as onnxruntime's quantize_dynamic writes it: DynamicQuantizeLinear
// (a float32 tensor's uint8 codes, with the scale and zero point its range gives) and
// MatMulInteger and ConvInteger (8-bit codes less their zero points, multiplied and summed
// into int32).
import IR

/// DynamicQuantizeLinear: range [min(0, min x), max(0, max x)], scale = range / 255, zero
/// point = clamp(round(−min / scale), 0, 255), codes = clamp(round(x / scale) + zero point,
/// 0, 255), each in float32, rounding half to even. A tensor of zeros has scale 0 and codes 0.
func dynamicQuantizeLinear(_ node: Node, _ inputs: [Tensor?]) throws -> [Tensor] {
    let x = try operand(node, inputs, 0)
    guard x.dtype == .float32 else { throw IRError("DynamicQuantizeLinear reads float32, not \(x.dtype.name)", at: node) }
    let values = x.floats()
    let low = min(0, values.min() ?? 0), high = max(0, values.max() ?? 0)
    let scale = (high - low) / 255
    func code(_ v: Float) -> UInt8 { v.isNaN ? 0 : UInt8(min(max(v.rounded(.toNearestOrEven), 0), 255)) }
    let zero = scale > 0 ? code(-low / scale) : 0
    let codes = scale > 0 ? values.map { code(($0 / scale).rounded(.toNearestOrEven) + Float(zero)) } : values.map { _ in 0 }
    return [Tensor(codes, shape: x.shape), Tensor(scalar: scale), Tensor(scalar: zero)]
}

/// MatMulInteger and ConvInteger (`convolution`): A less its zero point (one value) times B
/// less its (one value, or one per column of B or output channel of the kernel), summed into
/// int32. The float32 kernels compute it exactly: B's shifted codes (within ±255) split as
/// 16 · high + low (low 0 to 15), each product's terms and partial sums are integers below
/// 2^24 while the reduction is under 4,112 long, and the two results combine in Int64.
func integerProduct(_ node: Node, _ inputs: [Tensor?], convolution: Bool) throws -> Tensor {
    let a = try operand(node, inputs, 0), b = try operand(node, inputs, 1)
    for t in [a, b] where t.dtype != .int8 && t.dtype != .uint8 {
        throw IRError("\(node.op) multiplies int8 or uint8, not \(t.dtype.name)", at: node)
    }
    let aZero = optionalOperand(inputs, 2)?.int64s() ?? [0], bZero = optionalOperand(inputs, 3)?.int64s() ?? [0]
    guard aZero.count == 1 else {
        throw IRError("a_zero_point of \(aZero.count) values is not supported (one for the whole of A)", at: node)
    }
    // B's zero points along its output axis: a convolution kernel's first, a matrix's last.
    let outputs = convolution ? b.shape[0] : (b.shape.last ?? 1)
    guard bZero.count == 1 || bZero.count == outputs else {
        throw IRError("b_zero_point has \(bZero.count) values for \(outputs) outputs", at: node)
    }
    let reduction = convolution ? b.shape.dropFirst().reduce(1, *) : (b.rank >= 2 ? b.shape[b.rank - 2] : b.count)
    guard reduction < 4112 else {
        throw IRError("a reduction of \(reduction) is longer than the int32 sums are computed exactly for (4,111)", at: node)
    }
    let aShifted = Tensor(a.int64s().map { Float($0 - aZero[0]) }, shape: a.shape)
    let bCodes = b.int64s(), inner = convolution ? b.count / max(outputs, 1) : 1
    var high = [Float](repeating: 0, count: b.count), low = high
    for i in 0..<b.count {
        let column = bZero.count == 1 ? 0 : (convolution ? i / inner : i % outputs)
        let v = bCodes[i] - bZero[column]
        (high[i], low[i]) = (Float(v >> 4), Float(v & 15))
    }
    var product = Node(op: convolution ? "Conv" : "MatMul", name: node.name, inputs: ["a", "b"], outputs: ["y"])
    product.attributes = node.attributes
    let run = { (part: [Float]) -> Tensor in
        let operands = [aShifted, Tensor(part, shape: b.shape)]
        return convolution ? try Reference.convolution(product, operands) : try matMul(product, operands)
    }
    let (upper, lower) = (try run(high).floats(), try run(low).floats())
    let sums = zip(upper, lower).map { Int32(truncatingIfNeeded: 16 * Int64($0) + Int64($1)) }
    return Tensor(sums, shape: try run(low).shape)
}
