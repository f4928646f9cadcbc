// Conv as im2col + OpenBLAS sgemm per image and group (1x1 stride-1 convolutions skip
// im2col), for any number of spatial dimensions.
import IR

func convolution(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0), w = try operand(node, inputs, 1)
    try requireFloat32(node, x)
    try requireFloat32(node, w, "weight")
    guard x.rank >= 3, w.rank == x.rank else {
        throw IRError("input rank \(x.rank) and weight rank \(w.rank) do not fit a convolution", at: node)
    }
    let group = node.int("group", default: 1)
    let n = x.shape[0], c = x.shape[1], m = w.shape[0]
    guard group > 0, c % group == 0, m % group == 0, w.shape[1] == c / group else {
        throw IRError(
            "input has \(c) channels but the weight \(w.shape) expects \(w.shape[1] * group) (group \(group))", at: node)
    }
    let kernel = Array(w.shape[2...])
    if let k = node.ints("kernel_shape"), k != kernel {
        throw IRError("kernel_shape \(k) differs from the weight's \(kernel)", at: node)
    }
    let g = try WindowGeometry(node: node, input: Array(x.shape[2...]), kernel: kernel)
    let bias = optionalOperand(inputs, 2)
    if let bias { guard bias.count == m else { throw IRError("bias has \(bias.count) values for \(m) channels", at: node) } }
    let cg = c / group, mg = m / group
    let kSize = kernel.reduce(1, *), inPlane = g.input.reduce(1, *), outPlane = g.output.reduce(1, *)
    let rows = cg * kSize
    let out = Tensor(zeros: .float32, shape: [n, m] + g.output)
    let direct = g.isPointwise
    var columns = direct ? [] : [Float](repeating: 0, count: rows * outPlane)
    let xp = x.f32, wp = w.f32, op = out.f32
    for image in 0..<n {
        for gi in 0..<group {
            let src = xp + (image * c + gi * cg) * inPlane
            let dst = op + (image * m + gi * mg) * outPlane
            let weights = wp + gi * mg * rows
            let product = node.followsNPUArithmetic ? orderedGemm : sgemm
            if direct {
                product(false, false, mg, outPlane, rows, 1, weights, rows, src, outPlane, 0, dst, outPlane)
            } else {
                columns.withUnsafeMutableBufferPointer { col in
                    im2col(src, channels: cg, g, into: col.baseAddress!)
                    product(false, false, mg, outPlane, rows, 1, weights, rows, col.baseAddress!, outPlane, 0, dst, outPlane)
                }
            }
        }
        if let bias {
            let b = bias.cast(to: .float32)
            let bp = b.f32
            parallelChunks(m, cost: outPlane) { r in
                for ch in r {
                    let row = op + (image * m + ch) * outPlane
                    let v = bp[ch]
                    for i in 0..<outPlane { row[i] += v }
                }
            }
        }
    }
    return out
}

/// The input lines a convolution's windows read, shared by im2col and its adjoint: for one
/// kernel offset, each run of output positions along the last axis (`outer` numbers the
/// runs) reads one line of the input plane, or lies in the padding.
struct WindowLines {
    let g: WindowGeometry
    let kSize, outPlane, inPlane, outLast, inLast, outerCount: Int
    /// Per kernel offset k, the offset of the input line each run reads (-1 in the padding):
    /// `lineTable[k * outerCount + outer]`, worked out once for every channel and use.
    private let lineTable: [Int]

    init(_ g: WindowGeometry) {
        let r = g.spatialRank
        self.g = g
        kSize = g.kernel.reduce(1, *)
        outPlane = g.output.reduce(1, *)
        inPlane = g.input.reduce(1, *)
        outLast = g.output[r - 1]
        inLast = g.input[r - 1]
        outerCount = outPlane / outLast
        let inStrides = contiguousStrides(g.input)
        var table = [Int](repeating: -1, count: kSize * outerCount)
        var kIndex = [Int](repeating: 0, count: r)
        for k in 0..<kSize {
            var rest = k
            for d in stride(from: r - 1, through: 0, by: -1) {
                kIndex[d] = rest % g.kernel[d]
                rest /= g.kernel[d]
            }
            for outer in 0..<outerCount {
                var o = outer, base = 0, inside = true
                for d in stride(from: r - 2, through: 0, by: -1) {
                    let i = (o % g.output[d]) * g.strides[d] - g.padBegin[d] + kIndex[d] * g.dilations[d]
                    o /= g.output[d]
                    if i < 0 || i >= g.input[d] { inside = false }
                    base += i * inStrides[d]
                }
                if inside { table[k * outerCount + outer] = base }
            }
        }
        lineTable = table
    }

    /// The positions j of a line whose input index j·step + first lies in 0..<inLast.
    @inline(__always)
    func inside(first: Int, step: Int) -> Range<Int> {
        let low = first >= 0 ? 0 : (step - 1 - first) / step
        let high = first >= inLast ? 0 : min(outLast, (inLast - first + step - 1) / step)
        return min(low, high)..<high
    }

    /// Calls `body(outer, line, first, step)` for every run of kernel offset `k`: `line`, the
    /// offset of the input line the run reads (nil in the padding); output position j of
    /// the run reads the line's element first + j·step, which may fall outside it.
    func forEach(kernelOffset k: Int, _ body: (Int, Int?, Int, Int) -> Void) {
        let r = g.spatialRank
        let first = (k % g.kernel[r - 1]) * g.dilations[r - 1] - g.padBegin[r - 1], step = g.strides[r - 1]
        lineTable.withUnsafeBufferPointer { table in
            for outer in 0..<outerCount {
                let line = table[k * outerCount + outer]
                body(outer, line >= 0 ? line : nil, first, step)
            }
        }
    }
}

/// Unfolds `channels` planes of `src` into `col` rows (channel, kernel offset) by output
/// positions; positions in the padding read zero.
func im2col(_ src: UnsafePointer<Float>, channels: Int, _ g: WindowGeometry, into col: UnsafeMutablePointer<Float>) {
    let lines = WindowLines(g)
    let (kSize, outPlane, inPlane, outLast) = (lines.kSize, lines.outPlane, lines.inPlane, lines.outLast)
    parallelChunks(channels * kSize, cost: outPlane) { rowRange in
        for row in rowRange {
            let plane = src + (row / kSize) * inPlane
            let dstRow = col + row * outPlane
            lines.forEach(kernelOffset: row % kSize) { outer, line, first, step in
                let dst = dstRow + outer * outLast
                guard let line else {
                    for j in 0..<outLast { dst[j] = 0 }
                    return
                }
                let source = plane + line
                let inside = lines.inside(first: first, step: step)
                for j in 0..<inside.lowerBound { dst[j] = 0 }
                if step == 1 {
                    for j in inside { dst[j] = source[first + j] }
                } else {
                    for j in inside { dst[j] = source[j * step + first] }
                }
                for j in inside.upperBound..<outLast { dst[j] = 0 }
            }
        }
    }
}

/// Adds the rows of `col` (channel, kernel offset) by output positions back into the
/// `channels` planes at `dst`: the adjoint of `im2col`.
func col2im(_ col: UnsafePointer<Float>, channels: Int, _ g: WindowGeometry, into dst: UnsafeMutablePointer<Float>) {
    let lines = WindowLines(g)
    let (kSize, outPlane, inPlane, outLast) = (lines.kSize, lines.outPlane, lines.inPlane, lines.outLast)
    // By channel: each channel's rows add into its own plane only.
    parallelChunks(channels, cost: kSize * outPlane) { channelRange in
        for ch in channelRange {
            let plane = dst + ch * inPlane
            for k in 0..<kSize {
                let srcRow = col + (ch * kSize + k) * outPlane
                lines.forEach(kernelOffset: k) { outer, line, first, step in
                    guard let line else { return }
                    let target = plane + line, src = srcRow + outer * outLast
                    for j in lines.inside(first: first, step: step) { target[j * step + first] += src[j] }
                }
            }
        }
    }
}
