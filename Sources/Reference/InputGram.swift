// The Gram matrix of the vectors a layer's weight meets: for Conv each image's im2col
// columns (for ConvTranspose those of the convolution it equals), for Gemm and MatMul each row of the input. Calibration sums it into the
// layer-wise Hessian H = X·Xᵀ that SparseGPT and the layer error use.
import CBLAS
import IR

public enum InputGram {
    /// Adds Σ v·vᵀ over every reduction vector v of `x` to the upper triangle of `gram`,
    /// one K x K block per group (K = the weight's reduction length, ordered as the weight's
    /// [channel, kernel...] flattening). Returns how many vectors each group added.
    /// `weightShape` is the layer's weight as stored; `node` is a Conv, a Gemm without
    /// transA, or a MatMul with a 2-D weight; for ConvTranspose K is ordered as the
    /// equivalent convolution's flipped weight (`ConvTransposeGeometry`).
    public static func accumulate(
        _ node: Node, input x: Tensor, weightShape: [Int],
        into gram: UnsafeMutablePointer<Float>
    ) throws -> Int {
        try requireFloat32(node, x)
        switch node.op {
        case "Conv":
            let group = node.int("group", default: 1)
            guard x.rank >= 3, weightShape.count == x.rank, x.shape[1] == weightShape[1] * group else {
                throw IRError("input \(x.shape) does not fit the weight \(weightShape)", at: node)
            }
            let cg = weightShape[1], kernel = Array(weightShape[2...])
            let g = try WindowGeometry(node: node, input: Array(x.shape[2...]), kernel: kernel)
            let rows = cg * kernel.reduce(1, *), positions = g.output.reduce(1, *), plane = g.input.reduce(1, *)
            // A 1x1 convolution of stride 1 without padding reads the image as it is.
            var columns = [Float](repeating: 0, count: g.isPointwise ? 0 : rows * positions)
            for image in 0..<x.shape[0] {
                for gi in 0..<group {
                    let src = x.f32 + (image * x.shape[1] + gi * cg) * plane
                    columns.withUnsafeMutableBufferPointer { col in
                        let windows = UnsafePointer(g.isPointwise ? src : col.baseAddress!)
                        if !g.isPointwise { im2col(src, channels: cg, g, into: col.baseAddress!) }
                        cblas_ssyrk(
                            CblasRowMajor, CblasUpper, CblasNoTrans, Int32(rows), Int32(positions), 1, windows,
                            Int32(positions), 1, gram + gi * rows * rows, Int32(rows))
                    }
                }
            }
            return x.shape[0] * positions
        case "ConvTranspose":
            // The equivalent convolution's windows over the spread input (ConvTransposeGeometry),
            // in the order of its flipped weight's [channel, kernel...] flattening.
            let group = node.int("group", default: 1)
            guard x.rank >= 3, weightShape.count == x.rank, x.shape[1] == weightShape[0], x.shape[1] % group == 0 else {
                throw IRError("input \(x.shape) does not fit the weight \(weightShape)", at: node)
            }
            let c = x.shape[1], cg = c / group, kernel = Array(weightShape[2...])
            let t = try ConvTransposeGeometry(node: node, input: Array(x.shape[2...]), kernel: kernel)
            let g = WindowGeometry(input: t.spreadInput, kernel: kernel, dilations: t.dilations)
            let rows = cg * kernel.reduce(1, *), positions = g.output.reduce(1, *), plane = g.input.reduce(1, *)
            var spread = [Float](repeating: 0, count: c * plane), columns = [Float](repeating: 0, count: rows * positions)
            for image in 0..<x.shape[0] {
                spread.withUnsafeMutableBufferPointer { s in
                    s.update(repeating: 0)
                    t.spread(x.f32 + image * c * t.input.reduce(1, *), channels: c, into: s.baseAddress!)
                }
                for gi in 0..<group {
                    columns.withUnsafeMutableBufferPointer { col in
                        spread.withUnsafeBufferPointer { s in
                            im2col(s.baseAddress! + gi * cg * plane, channels: cg, g, into: col.baseAddress!)
                        }
                        cblas_ssyrk(
                            CblasRowMajor, CblasUpper, CblasNoTrans, Int32(rows), Int32(positions), 1,
                            col.baseAddress!, Int32(positions), 1, gram + gi * rows * rows, Int32(rows))
                    }
                }
            }
            return x.shape[0] * positions
        case "Gemm", "MatMul":
            let k = x.shape.last ?? 0
            let expected = node.op == "Gemm" && node.int("transB", default: 0) != 0 ? weightShape[1] : weightShape[0]
            guard x.rank >= 2, k == expected, node.int("transA", default: 0) == 0 else {
                throw IRError("input \(x.shape) does not fit the weight \(weightShape)", at: node)
            }
            let vectors = x.count / max(k, 1)
            cblas_ssyrk(
                CblasRowMajor, CblasUpper, CblasTrans, Int32(k), Int32(vectors), 1, x.f32, Int32(k), 1,
                gram, Int32(k))
            return vectors
        default:
            throw IRError("\(node.op) has no layer weight", at: node)
        }
    }
}
