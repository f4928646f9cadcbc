// A quantized layer's input activation rounded in standard ONNX ops, computing what the
// fake-quant interpreter computes (Formats/FakeQuantization.swift) value for value.
import Formats
import IR

extension QDQGraphBuilder {
    /// `x` rounded to `format` for `layer`: fp16 as Cast to FLOAT16 and back; fp8 as
    /// QuantizeLinear / DequantizeLinear to FLOAT8E4M3FN with the per-tensor `scale`
    /// (saturating, as the interpreter's E4M3 encoding: overflow and infinities become
    /// +-448); nvfp4 by `nvfp4Activations` with `scale` as its tensor scale. Returns the
    /// rounded value, the same one for every layer that rounds `x` alike.
    mutating func roundedActivation(
        _ x: String, format: PrecisionFormat, scale: Float, axis: Int, type: TensorType, layer: Node
    ) throws -> String {
        let how: String
        switch format {
        case .fp32, .fp16: how = ""
        case .fp8: how = "\(scale.bitPattern)"
        case .nvfp4: how = "\(scale.bitPattern) \(axis)"
        }
        let key = "\(x) \(format) \(how)"
        if let done = roundings[key] { return done }
        let rounded = try newRounding(x, format: format, scale: scale, axis: axis, type: type, layer: layer)
        roundings[key] = rounded
        return rounded
    }

    private mutating func newRounding(
        _ x: String, format: PrecisionFormat, scale: Float, axis: Int, type: TensorType, layer: Node
    ) throws -> String {
        switch format {
        case .fp32:
            return x
        case .fp16:
            let half = emit("Cast", [x], "\(x)_fp16", attributes: ["to": .int(Int(DType.float16.rawValue))])
            return emit("Cast", [half], "\(x)_fp16_float", attributes: ["to": .int(Int(DType.float32.rawValue))])
        case .fp8:
            return fp8QDQ(x, scale: constant("\(x)_scale", Tensor(scalar: scale)), base: "\(x)_fp8")
        case .nvfp4:
            return try nvfp4Activations(x, global: scale, axis: axis, type: type, layer: layer)
        }
    }

    /// QuantizeLinear to FLOAT8E4M3FN (saturate = 1) and DequantizeLinear back with the
    /// float32 scale named `scale`. The type is set by `output_dtype`, not by a zero point:
    /// onnxruntime's Relu-into-QuantizeLinear rewrite, meant for int8, drops a Relu before a
    /// QuantizeLinear with a zero point whatever its type, and would do so for fp8 too.
    mutating func fp8QDQ(_ x: String, scale: String, base: String) -> String {
        let q = emit(
            "QuantizeLinear", [x, scale], "\(base)_q",
            attributes: ["saturate": .int(1), "output_dtype": .int(Int(DType.float8e4m3fn.rawValue))])
        return emit("DequantizeLinear", [q, scale], base)
    }

    /// nvfp4 activations as the interpreter rounds them with the tensor scale `global` (g:
    /// amax / 2688, 6 x 448, or the layer's own); blocks of 16 along `axis` (the last one shorter, as padding with zeros
    /// leaves each block's maximum alone); each block's scale s = E4M3(max|x| / 6 / g) x g,
    /// the E4M3 rounding done by QuantizeLinear with scale 1 and DequantizeLinear with
    /// scale g; every element x / s rounded to E2M1 ({0, 0.5, 1, 1.5, 2, 3, 4, 6}, ties
    /// to even, saturating at 6) with Round (half to even) on the grid's three spacings,
    /// times s; a block whose scale is 0 gives zeros.
    mutating func nvfp4Activations(_ x: String, global: Float, axis: Int, type: TensorType, layer: Node) throws -> String {
        guard let shape = type.shape, axis < shape.rank, let n = shape.dims[axis].value else {
            throw IRError("nvfp4 activation \"\(x)\" of type \(type) needs a known extent along axis \(axis)", at: layer)
        }
        let rank = shape.rank
        guard global > 0 else {
            let shapeOf = emit("Shape", [x], "\(x)_shape")
            return emit(
                "ConstantOfShape", [shapeOf], "\(x)_nvfp4", attributes: ["value": .tensor(Tensor([Float(0)], shape: [1]))])
        }
        let blocks = (n + 15) / 16, padded = blocks * 16
        var source = x
        if padded != n {
            var pads = [Int64](repeating: 0, count: 2 * rank)
            pads[rank + axis] = Int64(padded - n)
            source = emit("Pad", [x, constant("\(x)_block_pads", Tensor(pads, shape: [2 * rank]))], "\(x)_padded")
        }
        let blockShape = [Int64](repeating: 0, count: axis) + [Int64(blocks), 16] + (axis < rank - 1 ? [-1] : [])
        let shapeName = constant("\(x)_block_shape", Tensor(blockShape, shape: [blockShape.count]))
        let blocked = emit("Reshape", [source, shapeName], "\(x)_blocks")
        let magnitude = emit("Abs", [blocked], "\(x)_abs")
        let axes = constant("\(x)_block_axis", Tensor([Int64(axis + 1)], shape: [1]))
        let blockMax = emit("ReduceMax", [magnitude, axes], "\(x)_block_max", attributes: ["keepdims": .int(1)])
        let six = scalar(6)
        let globalName = constant("\(x)_nvfp4_scale", Tensor(scalar: global))
        let ratio = emit("Div", [emit("Div", [blockMax, six], "\(x)_block_max_6"), globalName], "\(x)_block_ratio")
        let code = emit(
            "QuantizeLinear", [ratio, scalar(1)], "\(x)_block_e4m3",
            attributes: ["saturate": .int(1), "output_dtype": .int(Int(DType.float8e4m3fn.rawValue))])
        let blockScale = emit("DequantizeLinear", [code, globalName], "\(x)_block_scale")
        let y = emit("Div", [blocked, blockScale], "\(x)_scaled")
        let rounded = e2m1Rounded(y, base: x)
        let value = emit("Mul", [rounded, blockScale], "\(x)_e2m1_value")
        let positive = emit("Greater", [blockScale, scalar(0)], "\(x)_block_nonzero")
        let kept = emit("Where", [positive, value, scalar(0)], "\(x)_nvfp4_blocks")
        let back = emit("Reshape", [kept, emit("Shape", [source], "\(x)_padded_shape")], "\(x)_nvfp4_padded")
        guard padded != n else { return back }
        return emit(
            "Slice",
            [
                back, constant("\(x)_slice_start", Tensor([Int64(0)], shape: [1])),
                constant("\(x)_slice_end", Tensor([Int64(n)], shape: [1])),
                constant("\(x)_slice_axis", Tensor([Int64(axis)], shape: [1])),
            ], "\(x)_nvfp4")
    }

    /// y rounded to the nearest E2M1 value, ties to even, saturating at +-6: |y| clipped to
    /// 6 is rounded in steps of 0.5 below 2, of 1 below 4 and of 2 above (each step's ties
    /// fall on the even code), and takes y's sign.
    private mutating func e2m1Rounded(_ y: String, base: String) -> String {
        let (two, four, six, half) = (scalar(2), scalar(4), scalar(6), scalar(0.5))
        let clipped = emit("Min", [emit("Abs", [y], "\(base)_scaled_abs"), six], "\(base)_scaled_clipped")
        let fine = emit(
            "Mul", [emit("Round", [emit("Mul", [clipped, two], "\(base)_halves")], "\(base)_halves_rounded"), half],
            "\(base)_e2m1_fine")
        let middle = emit("Round", [clipped], "\(base)_e2m1_middle")
        let coarse = emit(
            "Mul", [emit("Round", [emit("Mul", [clipped, half], "\(base)_twos")], "\(base)_twos_rounded"), two],
            "\(base)_e2m1_coarse")
        let upper = emit("Where", [emit("Less", [clipped, four], "\(base)_below_4"), middle, coarse], "\(base)_e2m1_upper")
        let magnitude = emit("Where", [emit("Less", [clipped, two], "\(base)_below_2"), fine, upper], "\(base)_e2m1")
        return emit("Mul", [magnitude, emit("Sign", [y], "\(base)_scaled_sign")], "\(base)_e2m1_signed")
    }
}
