// TensorRT's TRT_FP4DynamicQuantize (domain "trt"), the op NVIDIA's quantization tools
// export for NVFP4 activations: each block of an axis takes a scale from its own largest
// magnitude, as npucc's nvfp4 activations do.
import Formats
import IR

/// Along `axis` (default -1), blocks of `block_size` (16) elements, the last one perhaps
/// short; g is input 1, one positive float32. Each block's scale code is
/// E4M3((block amax / 6) / g), saturating and ties to even, and each element's code is
/// E2M1(x / (E4M3 value · g)), ties to even and saturating at 6 (0 in a block whose scale
/// is 0). Outputs: the codes (f4e2m1, x's shape) and the scale codes (f8e4m3, x's shape
/// with the axis cut to its blocks), which DequantizeLinear by g, then blocked by those
/// scales, turns back into values. `scale_type` must be 17 (FLOAT8E4M3FN). Non-finite
/// inputs are an error naming the node.
func fp4DynamicQuantize(_ node: Node, _ inputs: [Tensor?]) throws -> [Tensor] {
    let x = try operand(node, inputs, 0), g = try operand(node, inputs, 1)
    guard g.count == 1, let global = g.floats().first, global > 0, global.isFinite else {
        throw IRError("the global scale (input 1) must be one positive finite value", at: node)
    }
    guard x.rank > 0 else { throw IRError("quantizes blocks of an axis: the input has none", at: node) }
    let axis = try normalizedAxis(node.int("axis", default: -1), rank: x.rank, node)
    let block = node.int("block_size", default: 16)
    guard block > 0 else { throw IRError("block_size \(block) is not positive", at: node) }
    let values = x.floats()
    guard values.allSatisfy(\.isFinite) else {
        throw IRError("quantizes finite values; the input holds NaN or an infinity", at: node)
    }
    let n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *), outer = x.shape[..<axis].reduce(1, *)
    let blocks = (n + block - 1) / block
    var scaleShape = x.shape
    scaleShape[axis] = blocks
    let codes = Tensor(zeros: .float4e2m1, shape: x.shape), scales = Tensor(zeros: .float8e4m3fn, shape: scaleShape)
    let e2m1 = MiniFloatFormat.e2m1()
    codes.withUnsafeMutableBuffer(as: UInt8.self) { c in
        scales.withUnsafeMutableBuffer(as: UInt8.self) { s in
            for o in 0..<outer {
                for b in 0..<blocks {
                    for i in 0..<inner {
                        // The block's elements, `inner` apart.
                        let positions = stride(
                            from: (o * n + b * block) * inner + i, to: (o * n + min(n, (b + 1) * block)) * inner, by: inner)
                        let largest = positions.reduce(Float(0)) { max($0, values[$1].magnitude) }
                        let code = MiniFloatFormat.e4m3.encode((largest / 6) / global, saturating: true)
                        s[(o * blocks + b) * inner + i] = code
                        let scale = MiniFloatFormat.e4m3.decode(code) * global
                        guard scale > 0 else { continue }
                        for p in positions { c[p] = e2m1.encode(values[p] / scale, saturating: true) }
                    }
                }
            }
        }
    }
    return [codes, scales]
}
