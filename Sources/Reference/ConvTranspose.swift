// ConvTranspose as sgemm (weights transposed against the input) then col2im, which
// scatters each column into the strided, dilated output window; a quantized one as the
// convolution it equals, in the NPU's order, as the backend lowers it.
import IR

func convTranspose(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0), w = try operand(node, inputs, 1)
    try requireFloat32(node, x)
    try requireFloat32(node, w, "weight")
    guard x.rank >= 3, w.rank == x.rank else { throw IRError("input and weight ranks do not fit", at: node) }
    let group = node.int("group", default: 1)
    let n = x.shape[0], c = x.shape[1]
    guard group > 0, c == w.shape[0], c % group == 0 else {
        throw IRError("input has \(c) channels but the weight has \(w.shape[0])", at: node)
    }
    let mg = w.shape[1], m = mg * group, cg = c / group
    let kernel = Array(w.shape[2...]), input = Array(x.shape[2...])
    let r = input.count
    let g = try ConvTransposeGeometry(node: node, input: input, kernel: kernel)
    if node.followsNPUArithmetic { return try convTransposeAsConvolution(node, x, w, inputs, g, group: group) }
    let (strides, dilations, output) = (g.strides, g.dilations, g.output)
    let pads = g.padBegin + g.padEnd
    let kSize = kernel.reduce(1, *), inPlane = input.reduce(1, *), outPlane = output.reduce(1, *)
    let rows = mg * kSize
    var columns = [Float](repeating: 0, count: rows * inPlane)
    let out = Tensor(zeros: .float32, shape: [n, m] + output)
    let xp = x.f32, wp = w.f32, op = out.f32
    let inStrides = contiguousStrides(input), outStrides = contiguousStrides(output)
    for image in 0..<n {
        for gi in 0..<group {
            let src = xp + (image * c + gi * cg) * inPlane
            let weights = wp + gi * cg * rows
            columns.withUnsafeMutableBufferPointer { col in
                sgemm(
                    transA: true, m: rows, n: inPlane, k: cg, a: weights, lda: rows, b: src, ldb: inPlane,
                    c: col.baseAddress!, ldc: inPlane)
                let dstBase = op + (image * m + gi * mg) * outPlane
                parallelChunks(mg, cost: kSize * inPlane) { channels in
                    var kIndex = [Int](repeating: 0, count: r)
                    for ch in channels {
                        let dst = dstBase + ch * outPlane
                        for k in 0..<kSize {
                            var kk = k
                            for d in stride(from: r - 1, through: 0, by: -1) { kIndex[d] = kk % kernel[d]; kk /= kernel[d] }
                            let colRow = col.baseAddress! + (ch * kSize + k) * inPlane
                            for p in 0..<inPlane {
                                var offset = 0
                                var inside = true
                                for d in 0..<r {
                                    let i = (p / inStrides[d]) % input[d]
                                    let o = i * strides[d] - pads[d] + kIndex[d] * dilations[d]
                                    if o < 0 || o >= output[d] { inside = false; break }
                                    offset += o * outStrides[d]
                                }
                                if inside { dst[offset] += colRow[p] }
                            }
                        }
                    }
                }
            }
        }
    }
    if let bias = optionalOperand(inputs, 2) {
        guard bias.count == m else { throw IRError("bias has \(bias.count) values for \(m) channels", at: node) }
        let b = bias.cast(to: .float32).f32
        for image in 0..<n {
            for ch in 0..<m {
                let row = op + (image * m + ch) * outPlane
                for i in 0..<outPlane { row[i] += b[ch] }
            }
        }
    }
    return out
}

/// A quantized ConvTranspose: the equivalent convolution (`ConvTransposeGeometry`) over the
/// spread input with the flipped weight, its products added in the NPU's order. The
/// spread input's zeros add zero products, which never change a sum that starts at +0.
private func convTransposeAsConvolution(
    _ node: Node, _ x: Tensor, _ w: Tensor, _ inputs: [Tensor?], _ g: ConvTransposeGeometry, group: Int
) throws -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1])
    let spread = Tensor(zeros: .float32, shape: [n, c] + g.spreadInput)
    let (inImage, outImage) = (c * g.input.reduce(1, *), c * g.spreadInput.reduce(1, *))
    for image in 0..<n { g.spread(x.f32 + image * inImage, channels: c, into: spread.f32 + image * outImage) }
    let weight = Tensor(
        ConvTransposeGeometry.convolutionWeight(w.floats(), shape: w.shape, groups: group),
        shape: [w.shape[1] * group, c / group] + g.kernel)
    var conv = Node(op: "Conv", name: node.name, inputs: node.inputs, outputs: node.outputs)
    conv.attributes = ["dilations": .ints(g.dilations), "group": .int(group)]
    conv.attributes[QuantizationAttributes.weightFormat] = node.attributes[QuantizationAttributes.weightFormat]
    return try convolution(conv, [spread, weight, optionalOperand(inputs, 2)])
}
