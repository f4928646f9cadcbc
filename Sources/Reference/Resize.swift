// Resize: nearest (four rounding modes; a copy of the element each output index names),
// N-linear (up to three changed axes as the vector unit computes them), N-cubic and
// antialiased (the axes' taps combined), with the coordinate transformation modes of ONNX, from scales or sizes
// (IR's ResizeGeometry says where each output reads).
import Formats
import Foundation
import IR

func resize(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    try requireFloat32(node, x)
    let g = try resizeGeometry(node, inputs, x.shape)
    let (shape, lo, rank) = (g.outputShape, g.lower, x.rank)
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
    if let c = g.cubicPlanes(inputShape: x.shape) {
        // Planes of the last two axes: the vector unit's arithmetic
        // (VectorArithmetic.resizeCubicPlane), the general loop's terms in its order.
        let xp = x.f32, (inCount, outCount) = (c.height * c.width, c.outputHeight * c.outputWidth)
        let (rows, columns) = ((c.rowIndex, c.rowWeight), (c.columnIndex, c.columnWeight))
        return makeFloat(shape) { op in
            parallelChunks(c.planes, cost: outCount * 16) { range in
                for plane in range {
                    VectorArithmetic.resizeCubicPlane(
                        xp + plane * inCount, height: c.height, width: c.width, op + plane * outCount, rows: rows,
                        columns: columns)
                }
            }
        }
    }
    let xp = x.f32
    let taps = ResizeTaps(g, inputShape: x.shape)
    return makeFloat(shape) { op in
        parallelChunks(shape.reduce(1, *), cost: 1 << rank) { range in
            var index = [Int](repeating: 0, count: rank)
            for i in range {
                var acc: Float = 0
                taps.forEach(output: i, &index) { offset, w in acc += w * xp[offset] }
                op[i] = acc
            }
        }
    }
}

/// Where a Resize node's outputs read in an input of `shape`, from its roi, scales and sizes.
func resizeGeometry(_ node: Node, _ inputs: [Tensor?], _ shape: [Int]) throws -> ResizeGeometry {
    try ResizeGeometry(
        node, inputShape: shape, roi: optionalOperand(inputs, 1)?.floats(), scales: optionalOperand(inputs, 2)?.floats(),
        sizes: optionalOperand(inputs, 3).map { $0.int64s().map(Int.init) })
}

/// Where each output element of a Resize reads: the element a nearest resize copies
/// (weight 1), or a linear one's corners with their weights, those of weight zero left out.
/// The interpreter sums them; the reverse mode adds back along them.
struct ResizeTaps {
    private let g: ResizeGeometry
    private let inStrides, outStrides, shape: [Int]

    init(_ g: ResizeGeometry, inputShape: [Int]) {
        self.g = g
        shape = g.outputShape
        inStrides = contiguousStrides(inputShape)
        outStrides = contiguousStrides(g.outputShape)
    }

    /// `body(input offset, weight)` for each tap of output element `i`; `index` is scratch
    /// of the tensor's rank.
    @inline(__always) func forEach(output i: Int, _ index: inout [Int], _ body: (Int, Float) -> Void) {
        let rank = shape.count
        for d in 0..<rank { index[d] = (i / outStrides[d]) % shape[d] }
        if g.nearest {
            var offset = 0
            for d in 0..<rank { offset += g.lower[d][index[d]] * inStrides[d] }
            body(offset, 1)
            return
        }
        if g.tapped {
            // Every combination of the axes' taps, the last axis's fastest.
            for d in 0..<rank where g.tapIndex[d][index[d]].isEmpty { return }
            var tap = [Int](repeating: 0, count: rank)
            while true {
                var w: Float = 1, offset = 0
                for d in 0..<rank {
                    w *= g.tapWeight[d][index[d]][tap[d]]
                    offset += g.tapIndex[d][index[d]][tap[d]] * inStrides[d]
                }
                body(offset, w)
                var d = rank - 1
                while d >= 0 {
                    tap[d] += 1
                    if tap[d] < g.tapIndex[d][index[d]].count { break }
                    tap[d] = 0
                    d -= 1
                }
                if d < 0 { return }
            }
        }
        for corner in 0..<(1 << rank) {
            var w: Float = 1, offset = 0
            for d in 0..<rank {
                let upper = (corner >> d) & 1 == 1
                let f = g.weight[d][index[d]]
                if upper && f == 0 {
                    w = 0
                    break
                }
                w *= upper ? f : 1 - f
                offset += (upper ? g.upper[d][index[d]] : g.lower[d][index[d]]) * inStrides[d]
            }
            if w != 0 { body(offset, w) }
        }
    }
}
