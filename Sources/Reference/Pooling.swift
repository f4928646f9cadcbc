// MaxPool, AveragePool (count_include_pad, ceil_mode, dilations) and the global pools.
// Windows of 1 to 3 spatial dimensions run as 3-D with leading unit axes.
import IR

func pool(_ node: Node, _ inputs: [Tensor?], max isMax: Bool) throws -> [Tensor] {
    let x = try operand(node, inputs, 0)
    try requireFloat32(node, x)
    guard x.rank >= 3, x.rank <= 5 else {
        throw IRError("pooling supports 1 to 3 spatial dimensions, got input \(x.shape)", at: node)
    }
    guard let kernel = node.ints("kernel_shape") else { throw IRError("kernel_shape is required", at: node) }
    let g = try WindowGeometry(
        node: node, input: Array(x.shape[2...]), kernel: kernel,
        ceilMode: node.int("ceil_mode", default: 0) != 0)
    let includePad = node.int("count_include_pad", default: 0) != 0
    let result = Tensor(zeros: .float32, shape: Array(x.shape[0..<2]) + g.output)
    let xp = x.f32, op = result.f32
    if isMax && node.outputs.count > 1 && !node.outputs[1].isEmpty {
        return [result, try maxPoolIndices(node, xp, op, shape: Array(x.shape[0..<2]) + g.output, g)]
    }
    if isMax && g.spatialRank == 2 && g.dilations == [1, 1] {
        maxPool2D(xp, op, planes: x.shape[0] * x.shape[1], g)
        return [result]
    }
    let windows = PoolWindows(g)
    parallelChunks(x.shape[0] * x.shape[1], cost: windows.outPlane * windows.kernelSize) { range in
        for plane in range {
            let src = xp + plane * windows.inPlane, dst = op + plane * windows.outPlane
            windows.forEach { o, window in
                if isMax {
                    dst[o] = window.maximum(in: src).value
                    return
                }
                var sum: Float = 0
                window.forEachPosition { sum += src[$0] }
                let count = window.count
                dst[o] = includePad ? sum / Float(window.padded) : (count > 0 ? sum / Float(count) : 0)
            }
        }
    }
    return [result]
}

/// MaxPool with its Indices output: each window's maximum into `op`, as the other paths
/// choose it (the first largest value; a NaN wins), and where it is in the input, flattened
/// over all of it ([0, N·C·D1···Dn)): row-major, or with `storage_order` 1 column-major over
/// the spatial axes (1 or 2 of them).
private func maxPoolIndices(
    _ node: Node, _ xp: UnsafeMutablePointer<Float>, _ op: UnsafeMutablePointer<Float>, shape: [Int], _ g: WindowGeometry
) throws -> Tensor {
    let order = node.int("storage_order", default: 0), columnMajor = order == 1
    guard order == 0 || columnMajor else { throw IRError("storage_order \(order) is neither 0 nor 1", at: node) }
    guard !columnMajor || g.spatialRank <= 2 else {
        throw IRError("storage_order 1 (column-major indices) over 3 spatial axes is not supported", at: node)
    }
    let windows = PoolWindows(g)
    let indices = Tensor(zeros: .int64, shape: shape), planes = shape[0] * shape[1]
    let ip = indices.storage.base.assumingMemoryBound(to: Int64.self)
    let (height, width) = g.spatialRank == 2 ? (g.input[0], g.input[1]) : (1, g.input.last!)
    parallelChunks(planes, cost: windows.outPlane * windows.kernelSize) { range in
        for plane in range {
            let src = xp + plane * windows.inPlane
            windows.forEach { o, window in
                let (best, at) = window.maximum(in: src)
                op[plane * windows.outPlane + o] = best
                let spatial = columnMajor ? at / width + at % width * height : at
                ip[plane * windows.outPlane + o] = at < 0 ? -1 : Int64(plane * windows.inPlane + spatial)
            }
        }
    }
    return indices
}

/// MaxUnpool: zeros of `output_shape` (or of the shape the attributes give), each input
/// value written where its index (flattened over the whole output) points; of two at one
/// place, the later one.
func maxUnpool(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0), indices = try operand(node, inputs, 1)
    try requireFloat32(node, x)
    guard let kernel = node.ints("kernel_shape"), x.rank == kernel.count + 2 else {
        throw IRError("kernel_shape must give one extent per spatial axis of the input \(x.shape)", at: node)
    }
    let r = kernel.count
    let strides = node.ints("strides") ?? Array(repeating: 1, count: r)
    let pads = node.ints("pads") ?? Array(repeating: 0, count: 2 * r)
    guard strides.count == r, pads.count == 2 * r else {
        throw IRError("strides \(strides) and pads \(pads) must give \(r) and \(2 * r) values", at: node)
    }
    var shape = Array(x.shape[0..<2]) + (0..<r).map { (x.shape[$0 + 2] - 1) * strides[$0] + kernel[$0] - pads[$0] - pads[$0 + r] }
    if inputs.count > 2, let given = inputs[2] { shape = given.int64s().map(Int.init) }
    guard shape.count == x.rank, shape.allSatisfy({ $0 >= 0 }) else {
        throw IRError("the output shape \(shape) is not a shape of rank \(x.rank)", at: node)
    }
    guard indices.dtype == .int64, indices.shape == x.shape else {
        throw IRError("Indices (\(indices.dtype) \(indices.shape)) must be int64 of the input's shape \(x.shape)", at: node)
    }
    let result = Tensor(zeros: .float32, shape: shape)
    let (xp, op) = (x.f32, result.f32)
    for (j, index) in indices.int64s().enumerated() {
        guard index >= 0 && Int(index) < result.count else {
            throw IRError("index \(index) is outside the output of \(result.count) elements \(shape)", at: node)
        }
        op[Int(index)] = xp[j]
    }
    return result
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

/// A pooling's windows, spatial axes lifted to three with leading unit axes. A window is
/// the product of one run of input indices per axis, so each axis's runs are found once.
struct PoolWindows {
    /// Per axis, per output index: the input indices the window reads (inside the input),
    /// and how many of its positions lie within the input or its padding.
    private let taps: [[[Int]]], padded: [[Int]]
    private let inp, out: [Int]
    let inPlane, outPlane, kernelSize: Int

    /// One window: its input positions, in scan order, and how many of its positions lie
    /// within the input or its padding (what count_include_pad divides by).
    struct Window {
        let depth, rows, columns: ArraySlice<Int>
        let rowLength, planeLength: Int
        let padded: Int
        var count: Int { depth.count * rows.count * columns.count }

        /// The window's maximum in the plane at `src` and its position: the first largest
        /// value, a NaN winning (the last NaN); the first position when every value is -inf,
        /// -1 when the window holds none.
        @inline(__always) func maximum(in src: UnsafeMutablePointer<Float>) -> (value: Float, at: Int) {
            var best = -Float.infinity, at = -1
            forEachPosition { i in
                if at < 0 { at = i }
                let v = src[i]
                if v > best || v.isNaN { (best, at) = (v, i) }
            }
            return (best, at)
        }

        @inline(__always) func forEachPosition(_ body: (Int) -> Void) {
            for d in depth {
                for r in rows {
                    let line = d * planeLength + r * rowLength
                    for c in columns { body(line + c) }
                }
            }
        }
    }

    init(_ g: WindowGeometry) {
        let pad = 3 - g.spatialRank
        func lift(_ v: [Int], _ fill: Int) -> [Int] { Array(repeating: fill, count: pad) + v }
        let (inp, out, k, s) = (lift(g.input, 1), lift(g.output, 1), lift(g.kernel, 1), lift(g.strides, 1))
        let (dl, pb, pe) = (lift(g.dilations, 1), lift(g.padBegin, 0), lift(g.padEnd, 0))
        var taps: [[[Int]]] = [], padded: [[Int]] = []
        for d in 0..<3 {
            let reach = (0..<out[d]).map { o in
                (0..<k[d]).map { o * s[d] - pb[d] + $0 * dl[d] }.filter { $0 < inp[d] + pe[d] }
            }
            taps.append(reach.map { $0.filter { $0 >= 0 && $0 < inp[d] } })
            padded.append(reach.map(\.count))
        }
        (self.taps, self.padded, self.inp, self.out) = (taps, padded, inp, out)
        (inPlane, outPlane, kernelSize) = (inp.reduce(1, *), out.reduce(1, *), k.reduce(1, *))
    }

    /// Calls `body(o, window)` for every output position o of a plane, in order.
    func forEach(_ body: (Int, Window) -> Void) {
        var o = 0
        for od in 0..<out[0] {
            for oh in 0..<out[1] {
                for ow in 0..<out[2] {
                    body(
                        o,
                        Window(
                            depth: taps[0][od][...], rows: taps[1][oh][...], columns: taps[2][ow][...], rowLength: inp[2],
                            planeLength: inp[1] * inp[2], padded: padded[0][od] * padded[1][oh] * padded[2][ow]))
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
