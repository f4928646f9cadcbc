// MaxPool, AveragePool (count_include_pad, ceil_mode, dilations) and the global pools.
// Windows of 1 to 3 spatial dimensions run as 3-D with leading unit axes.
import IR

func pool(_ node: Node, _ inputs: [Tensor?], max isMax: Bool) throws -> [Tensor] {
    let x = try operand(node, inputs, 0)
    try requireFloat32(node, x)
    guard x.rank >= 3, x.rank <= 5 else { throw IRError("pooling supports 1 to 3 spatial dimensions, got input \(x.shape)", at: node) }
    if node.outputs.count > 1 && !node.outputs[1].isEmpty {
        throw IRError("the Indices output of MaxPool is not supported", at: node)
    }
    guard let kernel = node.ints("kernel_shape") else { throw IRError("kernel_shape is required", at: node) }
    let g = try WindowGeometry(node: node, input: Array(x.shape[2...]), kernel: kernel,
                               ceilMode: node.int("ceil_mode", default: 0) != 0)
    let includePad = node.int("count_include_pad", default: 0) != 0
    let result = Tensor(zeros: .float32, shape: Array(x.shape[0..<2]) + g.output)
    let xp = x.f32, op = result.f32
    if isMax && g.spatialRank == 2 && g.dilations == [1, 1] {
        maxPool2D(xp, op, planes: x.shape[0] * x.shape[1], g)
        return [result]
    }
    let windows = PoolWindows(g)
    parallelChunks(x.shape[0] * x.shape[1], cost: windows.outPlane * windows.kernelSize) { range in
        for plane in range {
            let src = xp + plane * windows.inPlane, dst = op + plane * windows.outPlane
            windows.forEach { o, window, padded in
                var best = -Float.infinity, sum: Float = 0
                for i in window {
                    let v = src[i]
                    if v > best || v.isNaN { best = v }
                    sum += v
                }
                let count = window.count
                dst[o] = isMax ? best : (includePad ? sum / Float(padded) : (count > 0 ? sum / Float(count) : 0))
            }
        }
    }
    return [result]
}

func globalPool(_ node: Node, _ inputs: [Tensor?], max isMax: Bool) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    try requireFloat32(node, x)
    guard x.rank >= 2 else { throw IRError("input must have rank >= 2", at: node) }
    let planes = x.shape[0] * x.shape[1], size = x.count / max(planes, 1)
    let result = Tensor(zeros: .float32, shape: Array(x.shape[0..<2]) + Array(repeating: 1, count: x.rank - 2))
    let xp = x.f32, op = result.f32
    parallelChunks(planes, cost: size) { range in
        for p in range {
            let src = xp + p * size
            if isMax {
                var m = -Float.infinity
                // As MaxPool and the vector unit's max_pool: a NaN wins.
                for i in 0..<size where src[i] > m || src[i].isNaN { m = src[i] }
                op[p] = m
            } else {
                var s: Float = 0
                for i in 0..<size { s += src[i] }
                op[p] = s / Float(size)
            }
        }
    }
    return result
}

/// A pooling's windows, spatial axes lifted to three with leading unit axes.
struct PoolWindows {
    private let inp, out, k, s, dl, pb, pe: [Int]
    let inPlane, outPlane, kernelSize: Int

    init(_ g: WindowGeometry) {
        let pad = 3 - g.spatialRank
        func lift(_ v: [Int], _ fill: Int) -> [Int] { Array(repeating: fill, count: pad) + v }
        (inp, out, k, s) = (lift(g.input, 1), lift(g.output, 1), lift(g.kernel, 1), lift(g.strides, 1))
        (dl, pb, pe) = (lift(g.dilations, 1), lift(g.padBegin, 0), lift(g.padEnd, 0))
        (inPlane, outPlane, kernelSize) = (inp.reduce(1, *), out.reduce(1, *), k.reduce(1, *))
    }

    /// Calls `body(o, window, padded)` for every output position o of a plane, in order:
    /// the window's positions inside the input plane, in scan order, and how many of its
    /// positions lie within the input or its padding (what count_include_pad divides by).
    func forEach(_ body: (Int, [Int], Int) -> Void) {
        var window: [Int] = []
        window.reserveCapacity(kernelSize)
        var o = 0
        for od in 0..<out[0] {
            for oh in 0..<out[1] {
                for ow in 0..<out[2] {
                    window.removeAll(keepingCapacity: true)
                    var padded = 0
                    for kd in 0..<k[0] {
                        let id = od * s[0] - pb[0] + kd * dl[0]
                        if id >= inp[0] + pe[0] { continue }
                        for kh in 0..<k[1] {
                            let ih = oh * s[1] - pb[1] + kh * dl[1]
                            if ih >= inp[1] + pe[1] { continue }
                            for kw in 0..<k[2] {
                                let iw = ow * s[2] - pb[2] + kw * dl[2]
                                if iw >= inp[2] + pe[2] { continue }
                                padded += 1
                                if id < 0 || ih < 0 || iw < 0 || id >= inp[0] || ih >= inp[1] || iw >= inp[2] { continue }
                                window.append((id * inp[1] + ih) * inp[2] + iw)
                            }
                        }
                    }
                    body(o, window, padded)
                    o += 1
                }
            }
        }
    }
}

/// MaxPool over 2-D planes without dilation: each window is clipped to the input once, so
/// the inner loops carry no bounds tests.
private func maxPool2D(_ xp: UnsafeMutablePointer<Float>, _ op: UnsafeMutablePointer<Float>, planes: Int, _ g: WindowGeometry) {
    let (ih, iw) = (g.input[0], g.input[1]), (oh, ow) = (g.output[0], g.output[1])
    let rowStarts = (0..<oh).map { max(0, $0 * g.strides[0] - g.padBegin[0]) }
    let rowEnds = (0..<oh).map { min(ih, $0 * g.strides[0] - g.padBegin[0] + g.kernel[0]) }
    let colStarts = (0..<ow).map { max(0, $0 * g.strides[1] - g.padBegin[1]) }
    let colEnds = (0..<ow).map { min(iw, $0 * g.strides[1] - g.padBegin[1] + g.kernel[1]) }
    parallelChunks(planes, cost: oh * ow * g.kernel[0] * g.kernel[1]) { range in
        for plane in range {
            let src = xp + plane * ih * iw, dst = op + plane * oh * ow
            for y in 0..<oh {
                for x in 0..<ow {
                    var best = -Float.infinity
                    for r in rowStarts[y]..<rowEnds[y] {
                        let line = src + r * iw
                        for c in colStarts[x]..<colEnds[x] {
                            let v = line[c]
                            if v > best || v.isNaN { best = v }
                        }
                    }
                    dst[y * ow + x] = best
                }
            }
        }
    }
}
