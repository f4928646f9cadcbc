// QuantizeLinear and DequantizeLinear as ONNX defines them (opset 21), per tensor, per
// axis or per block along an axis, for int8, uint8, int16, uint16 and the fp8 types
// (DequantizeLinear also int32 and the 4-bit types).
import Formats
import IR

/// y = saturate(round(x / scale) + zero_point). Integers: x / scale in float32, rounded
/// half to even, plus the zero point, clamped to the type's range (2.5 -> 2, 3.5 -> 4,
/// 300 -> 127 for int8; NaN gives the zero point, which ONNX leaves undefined). fp8: x /
/// scale encoded ties-to-even; with `saturate` (the default) overflow and infinities
/// become +-448 (E4M3) or +-57344 (E5M2), without it E4M3 gives NaN and E5M2 infinity, as
/// ONNX's Cast tables say. An fp8 zero point must be zero (ONNX adds nothing for fp8).
/// Inputs of other float types (and int32) are computed in float32.
func quantizeLinear(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    let zero = optionalOperand(inputs, 2)
    let target = try QuantizedTypes.quantizeLinearOutput(node, zeroPoint: zero?.dtype)
    let grid = try QuantizationGrid(node, x: x, scale: try operand(node, inputs, 1), zeroPoint: zero)
    let values = x.floats()
    var scaled = [Float](repeating: 0, count: values.count)
    for i in values.indices { scaled[i] = values[i] / grid.scale(i) }
    let out = Tensor(zeros: target, shape: x.shape)
    if let format = target.miniFloatFormat {
        try grid.requireZeroPoints(for: target)
        let codes = scaled.withUnsafeBufferPointer { format.encode($0, saturating: node.int("saturate", default: 1) != 0) }
        out.withUnsafeMutableBuffer(as: UInt8.self) { o in for i in codes.indices { o[i] = codes[i] } }
        return out
    }
    guard let (low, high) = target.quantizedCodeRange else {
        throw IRError("QuantizeLinear to \(target.name) is not supported", at: node)
    }
    let base = out.storage.base
    for i in scaled.indices {
        let q = scaled[i].isNaN ? 0 : Double(scaled[i].rounded(.toNearestOrEven))
        let v = Int64(min(max(q + Double(grid.zeroPoint(i)), Double(low)), Double(high)))
        switch target {
        case .int8: base.storeBytes(of: Int8(v), toByteOffset: i, as: Int8.self)
        case .uint8: base.storeBytes(of: UInt8(v), toByteOffset: i, as: UInt8.self)
        case .int16: base.storeBytes(of: Int16(v), toByteOffset: i * 2, as: Int16.self)
        default: base.storeBytes(of: UInt16(v), toByteOffset: i * 2, as: UInt16.self)
        }
    }
    return out
}

/// y = (x - zero_point) * scale, in float32 (the difference taken exactly in integers),
/// then in the scale's element type. fp8 codes decode exactly (NaN and infinities
/// included), and their zero point must be zero.
func dequantizeLinear(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0), scale = try operand(node, inputs, 1)
    let zero = optionalOperand(inputs, 2)
    guard QuantizedTypes.dequantizable.contains(x.dtype) else {
        throw IRError("DequantizeLinear of \(x.dtype.name) is not supported", at: node)
    }
    if let zero, zero.dtype != x.dtype {
        throw IRError("the zero point is \(zero.dtype.name) but the input is \(x.dtype.name)", at: node)
    }
    let grid = try QuantizationGrid(node, x: x, scale: scale, zeroPoint: zero)
    var values = [Float](repeating: 0, count: x.count)
    if let format = x.dtype.miniFloatFormat {
        try grid.requireZeroPoints(for: x.dtype)
        let decoded = x.withUnsafeBuffer(as: UInt8.self) { format.decode($0) }
        for i in values.indices { values[i] = decoded[i] * grid.scale(i) }
    } else {
        for i in values.indices { values[i] = Float(x.int64(at: i) - grid.zeroPoint(i)) * grid.scale(i) }
    }
    let out = Tensor(values, shape: x.shape)
    return scale.dtype == .float32 ? out : out.cast(to: scale.dtype)
}

/// The scale and zero point of each element: one pair for the tensor, one per slice along
/// the axis, or one per block of the axis (blocked quantization).
private struct QuantizationGrid {
    let node: Node
    let scales: [Float]
    let zeroPoints: [Int64]
    let fp8ZeroPoints: [Float]
    /// Per axis: the extent of the axis and the element count of one step along it.
    let extent: Int
    let stride: Int
    /// Blocked quantization's block length along the axis and the blocks the axis holds; 0
    /// per tensor or per axis.
    var block = 0, blocks = 0

    init(_ node: Node, x: Tensor, scale: Tensor, zeroPoint: Tensor?) throws {
        self.node = node
        let block = node.int("block_size", default: 0)
        scales = scale.floats()
        if let zeroPoint {
            let perTensor = zeroPoint.count == 1 && scale.count == 1 && zeroPoint.rank <= 1 && scale.rank <= 1
            guard zeroPoint.shape == scale.shape || perTensor else {
                throw IRError("the zero point \(zeroPoint.shape) and the scale \(scale.shape) differ in shape", at: node)
            }
        }
        let isFP8 = zeroPoint?.dtype.miniFloatFormat != nil
        zeroPoints = zeroPoint.map { isFP8 ? [] : $0.int64s() } ?? []
        fp8ZeroPoints = zeroPoint.map { isFP8 ? $0.floats() : [] } ?? []
        if block > 0 {
            // Blocked: the scale has x's shape but along the axis, where it has one value per
            // block of `block` elements (the last block may be short).
            let axis = try normalizedAxis(node.int("axis", default: 1), rank: x.rank, node)
            var expected = x.shape
            expected[axis] = (x.shape[axis] + block - 1) / block
            guard scale.shape == expected else {
                throw IRError(
                    "the scale \(scale.shape) does not give one value per block of \(block) along axis \(axis) of the input \(x.shape) (\(expected))",
                    at: node)
            }
            (extent, stride, self.block, blocks) = (x.shape[axis], x.shape[(axis + 1)...].reduce(1, *), block, expected[axis])
            return
        }
        if scales.count == 1 && scale.rank <= 1 {
            (extent, stride) = (1, 1)
            return
        }
        guard scale.rank == 1 else {
            throw IRError("the scale \(scale.shape) is neither a scalar (per tensor) nor 1-D (per axis)", at: node)
        }
        let axis = try normalizedAxis(node.int("axis", default: 1), rank: x.rank, node)
        guard x.shape[axis] == scales.count else {
            throw IRError(
                "the scale has \(scales.count) values but axis \(axis) of the input \(x.shape) has \(x.shape[axis])",
                at: node)
        }
        extent = scales.count
        stride = x.shape[(axis + 1)...].reduce(1, *)
    }

    @inline(__always) private func slot(_ i: Int) -> Int {
        if block > 0 {
            // The same position with the axis index divided by the block.
            let along = (i / stride) % extent, outer = i / (stride * extent)
            return (outer * blocks + along / block) * stride + i % stride
        }
        return extent == 1 ? 0 : (i / stride) % extent
    }
    @inline(__always) func scale(_ i: Int) -> Float { scales[slot(i)] }
    @inline(__always) func zeroPoint(_ i: Int) -> Int64 { zeroPoints.isEmpty ? 0 : zeroPoints[slot(i)] }

    /// ONNX defines fp8 quantization without a zero point: one given must be all zeros.
    func requireZeroPoints(for dtype: DType) throws {
        if fp8ZeroPoints.contains(where: { $0 != 0 }) {
            throw IRError("the \(dtype.name) zero point must be zero: ONNX quantizes to fp8 without one", at: node)
        }
    }
}
