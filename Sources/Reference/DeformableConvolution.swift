// DeformConv: a 2-D convolution whose every tap reads X at its place moved by the `offset`
// input (per output position, tap and offset group), bilinearly with zeros outside the
// image, weighted by `mask` when given. Computed as the matrix of those samples ([C/G·kh·kw,
// OH·OW] per image and group, channel-major as the weights) times the weights, plus the bias.
import IR

func deformableConvolution(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0).cast(to: .float32), w = try operand(node, inputs, 1).cast(to: .float32)
    let offset = try operand(node, inputs, 2).cast(to: .float32)
    let bias = optionalOperand(inputs, 3)?.cast(to: .float32).floats()
    let mask = optionalOperand(inputs, 4)?.cast(to: .float32).floats()
    guard x.rank == 4, w.rank == 4 else { throw IRError("DeformConv is supported over two spatial axes only", at: node) }
    let (n, c, h, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (m, group, offsetGroup) = (w.shape[0], node.int("group", default: 1), node.int("offset_group", default: 1))
    let (kh, kw) = (w.shape[2], w.shape[3])
    let strides = node.ints("strides") ?? [1, 1], dilations = node.ints("dilations") ?? [1, 1]
    let pads = node.ints("pads") ?? [0, 0, 0, 0]
    guard strides.count == 2, dilations.count == 2, pads.count == 4, (strides + dilations).allSatisfy({ $0 >= 1 }),
        pads.allSatisfy({ $0 >= 0 }), group >= 1, offsetGroup >= 1
    else {
        throw IRError("strides \(strides), dilations \(dilations) or pads \(pads) are not a 2-D convolution's", at: node)
    }
    let oh = (h + pads[0] + pads[2] - (kh - 1) * dilations[0] - 1) / strides[0] + 1
    let ow = (width + pads[1] + pads[3] - (kw - 1) * dilations[1] - 1) / strides[1] + 1
    guard c == w.shape[1] * group, m % group == 0, c % offsetGroup == 0, oh > 0, ow > 0,
        offset.shape == [n, offsetGroup * kh * kw * 2, oh, ow],
        mask.map({ $0.count == n * offsetGroup * kh * kw * oh * ow }) ?? true, bias.map({ $0.count == m }) ?? true
    else {
        throw IRError(
            "X \(x.shape), W \(w.shape), offset \(offset.shape), group \(group) and offset_group \(offsetGroup) "
                + "do not make a deformable convolution", at: node)
    }
    let (cg, mg, positions, taps) = (c / group, m / group, oh * ow, kh * kw)
    let (values, moves, weights) = (x.floats(), offset.floats(), w.floats())
    var out = [Float](repeating: 0, count: n * m * positions)
    var columns = [Float](repeating: 0, count: cg * taps * positions)
    for image in 0..<n {
        for g in 0..<group {
            // The samples: row (channel, ky, kx), column (oy, ox).
            for cc in 0..<cg {
                let channel = g * cg + cc, og = channel / (c / offsetGroup)
                let plane = (image * c + channel) * h * width
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        let tap = ky * kw + kx, row = (cc * taps + tap) * positions
                        let move = ((image * offsetGroup + og) * taps + tap) * 2 * positions
                        let weighting = ((image * offsetGroup + og) * taps + tap) * positions
                        for p in 0..<positions {
                            let (oy, ox) = (p / ow, p % ow)
                            let y = Float(oy * strides[0] - pads[0] + ky * dilations[0]) + moves[move + p]
                            let xx = Float(ox * strides[1] - pads[1] + kx * dilations[1]) + moves[move + positions + p]
                            var v = bilinear(values, plane, y, xx, height: h, width: width)
                            if let mask { v *= mask[weighting + p] }
                            columns[row + p] = v
                        }
                    }
                }
            }
            // Output channels g·M/G ..< (g + 1)·M/G: their weights [M/G, C/G·kh·kw] times the samples.
            weights.withUnsafeBufferPointer { wp in
                columns.withUnsafeBufferPointer { cp in
                    out.withUnsafeMutableBufferPointer { op in
                        sgemm(
                            m: mg, n: positions, k: cg * taps, a: wp.baseAddress! + g * mg * cg * taps, lda: cg * taps,
                            b: cp.baseAddress!, ldb: positions, c: op.baseAddress! + (image * m + g * mg) * positions,
                            ldc: positions)
                    }
                }
            }
        }
        if let bias {
            for o in 0..<m { for p in 0..<positions { out[(image * m + o) * positions + p] += bias[o] } }
        }
    }
    return Tensor(out, shape: [n, m, oh, ow])
}

/// X's plane at `plane` sampled at (y, x): bilinear over the four pixels around it, those
/// outside the image counting as 0.
private func bilinear(_ values: [Float], _ plane: Int, _ y: Float, _ x: Float, height: Int, width: Int) -> Float {
    guard y > -1, y < Float(height), x > -1, x < Float(width) else { return 0 }
    let (y0, x0) = (Int(y.rounded(.down)), Int(x.rounded(.down)))
    let (ly, lx) = (y - Float(y0), x - Float(x0))
    func at(_ r: Int, _ c: Int) -> Float { r >= 0 && r < height && c >= 0 && c < width ? values[plane + r * width + c] : 0 }
    return (1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x0 + 1) + ly * (1 - lx) * at(y0 + 1, x0)
        + ly * lx * at(y0 + 1, x0 + 1)
}
