// Quantization ops: QuantizeLinear and DequantizeLinear, per tensor, per axis or per block
// along an axis (block_size > 0); the element types are those in QuantizedTypes.
// Dynamic quantization as onnxruntime's quantize_dynamic writes it: DynamicQuantizeLinear
// (uint8 codes of a tensor, with the scale and zero point its range gives), MatMulInteger and
// ConvInteger (products of 8-bit codes less their zero points, summed into int32).

let quantizationOps: [OpSchema] = [
    OpSchema(
        "QuantizeLinear", since: 21, inputs: 2...3,
        attributes: [.int("axis", 1), .int("block_size", 0), .int("output_dtype", 0), .int("saturate", 1)]
    ) { r in
        try r.quantizationParameters()
        if r.isPresent(2) && r.type(2) == nil { return [r.result(nil, r.dims(0))] }
        return [r.result(try QuantizedTypes.quantizeLinearOutput(r.node, zeroPoint: r.type(2)?.dtype), r.dims(0))]
    },
    OpSchema("DynamicQuantizeLinear", since: 11, inputs: 1...1, outputs: 3...3) { r in
        if let x = r.dtype, x != .float32 { throw r.fail("DynamicQuantizeLinear reads f32, not \(x.name)") }
        return [
            TensorType(.uint8, r.dims(0).map(Shape.init)), TensorType(.float32, Shape([Dim]())),
            TensorType(.uint8, Shape([Dim]())),
        ]
    },
    OpSchema("MatMulInteger", since: 10, inputs: 2...4) { r in
        try r.eightBitOperands()
        return try r.matMul(integer: true)
    },
    OpSchema(
        "ConvInteger", since: 10, inputs: 2...4,
        attributes: [
            .string("auto_pad", "NOTSET"), .ints("dilations"), .int("group", 1), .ints("kernel_shape"), .ints("pads"),
            .ints("strides"),
        ]
    ) { r in
        try r.eightBitOperands()
        return try r.convolution(integer: true)
    },
    // TensorRT's NVFP4 activation quantizer (domain "trt"): E2M1 codes and E4M3 block scales.
    OpSchema(
        "TRT_FP4DynamicQuantize", domain: "trt", since: 1, inputs: 2...2, outputs: 2...2,
        attributes: [.int("axis", -1), .int("block_size", 16), .int("scale_type", 17)]
    ) { r in
        if let x = r.dtype, x != .float32 { throw r.fail("TRT_FP4DynamicQuantize reads f32, not \(x.name)") }
        guard r.int("scale_type") ?? 17 == Int(DType.float8e4m3fn.rawValue) else {
            throw r.fail("scale_type \(r.int("scale_type")!) is not 17 (FLOAT8E4M3FN), the only block scale it writes")
        }
        let block = r.int("block_size") ?? 16
        guard block > 0 else { throw r.fail("block_size \(block) is not positive") }
        guard let x = r.dims(0) else { return [TensorType(.float4e2m1, nil), TensorType(.float8e4m3fn, nil)] }
        let a = try r.axis(r.int("axis") ?? -1, rank: x.count)
        var scales = x
        scales[a] = x[a].value.map { .known(($0 + block - 1) / block) } ?? .unknown
        return [TensorType(.float4e2m1, Shape(x)), TensorType(.float8e4m3fn, Shape(scales))]
    },
    OpSchema("DequantizeLinear", since: 21, inputs: 2...3, attributes: [.int("axis", 1), .int("block_size", 0)]) { r in
        try r.requireSameType([0, 2])
        if let x = r.type(0)?.dtype, !QuantizedTypes.dequantizable.contains(x) {
            throw r.fail("DequantizeLinear reads \(QuantizedTypes.names(QuantizedTypes.dequantizable)), not \(x.name)")
        }
        if let s = r.type(1)?.dtype, ![.float32, .float16, .bfloat16].contains(s) {
            throw r.fail("the scale is \(s.name); DequantizeLinear scales are f32, f16 or bf16")
        }
        try r.quantizationParameters()
        // The output has the scale's element type.
        return [r.result(r.type(1)?.dtype, r.dims(0))]
    },
]

/// The element types the quantization ops produce and read.
public enum QuantizedTypes {
    /// What QuantizeLinear produces (and DequantizeLinear reads).
    public static let quantized: [DType] = [.int8, .uint8, .int16, .uint16, .float8e4m3fn, .float8e5m2]
    /// What DequantizeLinear reads: the quantized types, int32 (a quantized bias) and the
    /// 4-bit types (weights stored as INT4, UINT4 or FLOAT4E2M1 codes).
    public static let dequantizable: [DType] = quantized + [.int32, .int4, .uint4, .float4e2m1]

    /// The element type QuantizeLinear `node` produces: its zero point's (`zeroPoint`, nil
    /// when the node has none), else `output_dtype`, else uint8. A zero point and an
    /// `output_dtype` that disagree, or a type not in `quantized`, are errors naming the node.
    public static func quantizeLinearOutput(_ node: Node, zeroPoint: DType?) throws -> DType {
        let code = node.int("output_dtype", default: 0)
        var requested: DType?
        if code != 0 {
            guard let t = DType(rawValue: Int32(truncatingIfNeeded: code)), quantized.contains(t) else {
                throw IRError("output_dtype \(code) is not one of \(names(quantized))", at: node)
            }
            requested = t
        }
        if let zeroPoint {
            if let requested, requested != zeroPoint {
                throw IRError("output_dtype \(requested.name) differs from the zero point's type \(zeroPoint.name)", at: node)
            }
            guard quantized.contains(zeroPoint) else {
                throw IRError("the zero point is \(zeroPoint.name); QuantizeLinear produces \(names(quantized))", at: node)
            }
            return zeroPoint
        }
        return requested ?? .uint8
    }

    static func names(_ types: [DType]) -> String { types.map(\.name).joined(separator: ", ") }
}

extension ShapeRule {
    /// The scale (input 1) and zero point (input 2) of QuantizeLinear / DequantizeLinear:
    /// one value (a scalar, or 1-D of one element: per tensor) or a 1-D tensor of one value
    /// per slice of x along `axis` (per axis); the zero point has the scale's shape, or is
    /// one value (either form) beside one scale.
    func quantizationParameters() throws {
        let block = int("block_size") ?? 0
        guard block >= 0 else { throw fail("block_size \(block) is negative") }
        guard let scale = dims(1) else { return }
        if block > 0 {
            // Blocked: the scale (and zero point) has x's shape but along the axis, where it
            // has one value per block.
            if let zero = dims(2), let s = Shape(scale).concrete, let z = Shape(zero).concrete, s != z {
                throw fail("the zero point \(Shape(zero)) and the scale \(Shape(scale)) differ in shape")
            }
            guard let x = dims(0) else { return }
            guard scale.count == x.count else {
                throw fail("a blocked scale has the input's rank \(x.count), not \(scale.count)")
            }
            let a = try axis(int("axis") ?? 1, rank: x.count)
            for (d, (n, c)) in zip(scale, x).enumerated() {
                guard let n = n.value, let c = c.value else { continue }
                let want = d == a ? (c + block - 1) / block : c
                if n != want {
                    throw fail(
                        "the scale \(Shape(scale)) does not give one value per block of \(block) along axis \(a) of the input \(Shape(x))"
                    )
                }
            }
            return
        }
        // One value each is per tensor however it is shaped (onnxruntime's quantizer writes a
        // scalar zero point beside a scale of shape [1]).
        if let zero = dims(2), let s = Shape(scale).concrete, let z = Shape(zero).concrete, s != z,
            s.reduce(1, *) != 1 || z.reduce(1, *) != 1 || s.count > 1 || z.count > 1
        {
            throw fail("the zero point \(Shape(zero)) and the scale \(Shape(scale)) differ in shape")
        }
        if scale.isEmpty || scale == [.known(1)] { return }
        guard scale.count == 1 else {
            throw fail("the scale \(Shape(scale)) is neither a scalar (per tensor) nor 1-D (per axis)")
        }
        guard let x = dims(0) else { return }
        let a = try axis(int("axis") ?? 1, rank: x.count)
        if let n = scale[0].value, let c = x[a].value, n != c {
            throw fail("the scale has \(n) values but axis \(a) of the input \(Shape(x)) has \(c)")
        }
    }
}

extension ShapeRule {
    /// MatMulInteger's and ConvInteger's operands: int8 or uint8 each, a zero point (inputs 2
    /// and 3) of its operand's type.
    func eightBitOperands() throws {
        for (operand, zero) in [(0, 2), (1, 3)] {
            guard let t = type(operand)?.dtype else { continue }
            guard t == .int8 || t == .uint8 else { throw fail("\(node.op) multiplies int8 or uint8, not \(t.name)") }
            if let z = type(zero)?.dtype, z != t {
                throw fail("zero point \(node.inputs[zero]) is \(z.name), its operand \(t.name)")
            }
        }
    }
}
