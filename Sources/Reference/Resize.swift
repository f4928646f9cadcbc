// Resize: nearest (four rounding modes; a copy of the element each output index names) and
// N-linear (up to three changed axes as the vector unit computes them), with the coordinate transformation modes of ONNX, from scales or sizes
// (IR's ResizeGeometry says where each output reads).
import Formats
import Foundation
import IR

func resize(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    try requireFloat32(node, x)
    let sizes = optionalOperand(inputs, 3).map { $0.int64s().map(Int.init) }
    let g = try ResizeGeometry(
        node, inputShape: x.shape, roi: optionalOperand(inputs, 1)?.floats(), scales: optionalOperand(inputs, 2)?.floats(),
        sizes: sizes)
    let (shape, lo, hi, weight, rank) = (g.outputShape, g.lower, g.upper, g.weight, x.rank)
    let inStrides = contiguousStrides(x.shape), outStrides = contiguousStrides(shape)
    if g.nearest {
        // A copy of the element each output index names.
        let xp = x.f32
        return makeFloat(shape) { op in
            parallelChunks(shape.reduce(1, *), cost: rank) { range in
                for i in range {
                    var offset = 0
                    for d in 0..<rank { offset += lo[d][(i / outStrides[d]) % shape[d]] * inStrides[d] }
                    op[i] = xp[offset]
                }
            }
        }
    }
    if let v = g.linearVolume(inputShape: x.shape) {
        // Volumes of up to three changed axes: the vector unit's arithmetic
        // (VectorArithmetic.resizeVolume), the same operations as the general loop below.
        let xp = x.f32, inCount = v.dims.reduce(1, *), outCount = v.outputDims.reduce(1, *)
        let axes = (0..<3).map { (v.lower[$0], v.upper[$0], v.weight[$0]) }
        return makeFloat(shape) { op in
            parallelChunks(v.planes, cost: outCount * 8) { range in
                for plane in range {
                    VectorArithmetic.resizeVolume(
                        xp + plane * inCount, height: v.dims[1], width: v.dims[2], op + plane * outCount, depth: axes[0],
                        rows: axes[1], columns: axes[2])
                }
            }
        }
    }
    let xp = x.f32
    let corners = 1 << rank
    return makeFloat(shape) { op in
        let total = shape.reduce(1, *)
        parallelChunks(total, cost: corners) { range in
            var index = [Int](repeating: 0, count: rank)
            for i in range {
                for d in 0..<rank { index[d] = (i / outStrides[d]) % shape[d] }
                var acc: Float = 0
                for corner in 0..<corners {
                    var w: Float = 1, offset = 0
                    for d in 0..<rank {
                        let upper = (corner >> d) & 1 == 1
                        let f = weight[d][index[d]]
                        if upper && f == 0 { w = 0; break }
                        w *= upper ? f : 1 - f
                        offset += (upper ? hi[d][index[d]] : lo[d][index[d]]) * inStrides[d]
                    }
                    if w != 0 { acc += w * xp[offset] }
                }
                op[i] = acc
            }
        }
    }
}
