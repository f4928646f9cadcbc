// Gather (negative indices), Slice (negative and clamped bounds, negative steps) and Pad
// (constant, reflect, edge, wrap). All dtypes.
import IR

func gather(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0), indices = try operand(node, inputs, 1)
    let (axis, idx) = try gatherIndices(node, x, indices)
    let shape = Array(x.shape[..<axis]) + indices.shape + Array(x.shape[(axis + 1)...])
    return taking(x, extents: x.shape, axis: axis, places: idx, shape: shape)
}

/// The slices of `x`, viewed as `extents`, at `places` along `axis`, in that order, as a
/// tensor of `shape` (Gather, Compress, Unique).
func taking(_ x: Tensor, extents: [Int], axis: Int, places: [Int], shape: [Int]) -> Tensor {
    let n = extents[axis], outer = extents[..<axis].reduce(1, *), inner = extents[(axis + 1)...].reduce(1, *)
    let out = Tensor(zeros: x.dtype, shape: shape)
    let chunk = inner * x.dtype.byteSize
    for o in 0..<outer {
        for (k, j) in places.enumerated() {
            (out.storage.base + (o * places.count + k) * chunk).copyMemory(
                from: x.storage.base + (o * n + j) * chunk, byteCount: chunk)
        }
    }
    return out
}

/// A Gather's axis, and its indices as places along it (negative ones counted from the end).
func gatherIndices(_ node: Node, _ x: Tensor, _ indices: Tensor) throws -> (axis: Int, places: [Int]) {
    let axis = try normalizedAxis(node.int("axis", default: 0), rank: x.rank, node)
    let n = x.shape[axis]
    let places = try indices.int64s().map { i -> Int in
        let j = i < 0 ? Int(i) + n : Int(i)
        guard j >= 0 && j < n else { throw IRError("index \(i) is out of range for axis \(axis) of size \(n)", at: node) }
        return j
    }
    return (axis, places)
}

func slice(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    let view = try sliceView(node, inputs, x)
    return gatherStrided(x, shape: view.shape, strides: view.strides, offset: view.offset)
}

/// The elements of `x` a Slice takes, as a strided view: its extents, and per axis the step
/// between elements and the first one's place in `x` (row-major).
func sliceView(_ node: Node, _ inputs: [Tensor?], _ x: Tensor) throws -> (shape: [Int], strides: [Int], offset: Int) {
    let starts = try operand(node, inputs, 1).int64s(), ends = try operand(node, inputs, 2).int64s()
    let axes =
        try optionalOperand(inputs, 3).map { try $0.int64s().map { try normalizedAxis(Int($0), rank: x.rank, node) } }
        ?? Array(0..<starts.count)
    let steps = optionalOperand(inputs, 4)?.int64s() ?? Array(repeating: 1, count: starts.count)
    guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
        throw IRError("starts, ends, axes and steps have different lengths", at: node)
    }
    var shape = x.shape
    var first = [Int](repeating: 0, count: x.rank)
    var step = [Int](repeating: 1, count: x.rank)
    for (k, axis) in axes.enumerated() {
        let n = Int64(x.shape[axis]), s = steps[k]
        guard s != 0 else { throw IRError("step 0 on axis \(axis)", at: node) }
        var b = starts[k], e = ends[k]
        if b < 0 { b += n }
        if e < 0 { e += n }
        if s > 0 {
            b = min(max(b, 0), n)
            e = min(max(e, 0), n)
            shape[axis] = e > b ? Int((e - b + s - 1) / s) : 0
        } else {
            b = min(max(b, -1), n - 1)
            e = min(max(e, -1), n - 1)
            shape[axis] = b > e ? Int((b - e - s - 1) / -s) : 0
        }
        first[axis] = Int(b)
        step[axis] = Int(s)
    }
    let c = contiguousStrides(x.shape)
    let offset = shape.contains(0) ? 0 : (0..<x.rank).reduce(0) { $0 + first[$1] * c[$1] }
    return (shape, (0..<x.rank).map { c[$0] * step[$0] }, offset)
}

func pad(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    let (before, shape) = try padExtents(node, inputs, x)
    let mode = node.string("mode", default: "constant")
    let out = Tensor(zeros: x.dtype, shape: shape)
    let size = x.dtype.byteSize
    if let v = optionalOperand(inputs, 2), mode == "constant", v.count > 0 {
        let fill = v.cast(to: x.dtype)
        for i in 0..<out.count { (out.storage.base + i * size).copyMemory(from: fill.storage.base, byteCount: size) }
    }
    let inStrides = contiguousStrides(x.shape), outStrides = contiguousStrides(shape)
    for i in 0..<out.count {
        var src = 0
        var inside = true
        for d in 0..<x.rank {
            var j = (i / outStrides[d]) % shape[d] - before[d]
            let n = x.shape[d]
            if j < 0 || j >= n {
                switch mode {
                case "constant": inside = false
                case "edge": j = min(max(j, 0), n - 1)
                case "reflect":
                    guard n > 1 else { j = 0; break }
                    let period = 2 * (n - 1)
                    j = ((j % period) + period) % period
                    if j >= n { j = period - j }
                case "wrap": j = ((j % n) + n) % n
                default: throw IRError("pad mode \"\(mode)\" is not supported", at: node)
                }
            }
            if !inside { break }
            src += j * inStrides[d]
        }
        if inside { (out.storage.base + i * size).copyMemory(from: x.storage.base + src * size, byteCount: size) }
    }
    return out
}

/// A Pad's elements added before each axis of `x` (negative: taken away), and the extents
/// of its output.
func padExtents(_ node: Node, _ inputs: [Tensor?], _ x: Tensor) throws -> (before: [Int], shape: [Int]) {
    let raw = try operand(node, inputs, 1).int64s().map(Int.init)
    let axes =
        try optionalOperand(inputs, 3).map { try $0.int64s().map { try normalizedAxis(Int($0), rank: x.rank, node) } }
        ?? Array(0..<x.rank)
    guard raw.count == 2 * axes.count else { throw IRError("pads has \(raw.count) values for \(axes.count) axes", at: node) }
    var before = [Int](repeating: 0, count: x.rank), after = before
    for (k, a) in axes.enumerated() { before[a] = raw[k]; after[a] = raw[k + axes.count] }
    let shape: [Int] = (0..<x.rank).map { (d: Int) -> Int in x.shape[d] + before[d] + after[d] }
    guard shape.allSatisfy({ $0 >= 0 }) else { throw IRError("pads \(raw) make a negative extent", at: node) }
    return (before, shape)
}

/// NonZero: [rank, count] int64, column j the index of the j-th element (row-major) that is
/// not zero; a scalar counts as one axis of one element, as onnxruntime takes it.
func nonZero(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    let positions = x.nonZeroPositions(), extents = x.shape.isEmpty ? [1] : x.shape
    let out = Tensor(zeros: .int64, shape: [extents.count, positions.count])
    out.withUnsafeMutableBuffer(as: Int64.self) { o in
        for (j, flat) in positions.enumerated() {
            var rest = flat
            for axis in extents.indices.reversed() {
                o[axis * positions.count + j] = Int64(rest % extents[axis])
                rest /= extents[axis]
            }
        }
    }
    return out
}

/// Compress: the slices along `axis` whose condition is true, in order (the elements of the
/// flattened input without an axis); a condition shorter than the axis keeps none past it.
func compress(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0), condition = try operand(node, inputs, 1)
    guard condition.rank == 1 else { throw IRError("condition has rank \(condition.rank), not 1", at: node) }
    let axis = try node.int("axis").map { try normalizedAxis($0, rank: x.rank, node) }
    let extents = axis == nil ? [x.count] : x.shape
    let a = axis ?? 0
    let flags = condition.int64s().map { $0 != 0 }
    if let past = flags.indices.last(where: { flags[$0] }), past >= extents[a] {
        throw IRError(Compress.beyond(past, extent: extents[a], axis: axis), at: node)
    }
    let kept = flags.indices.filter { flags[$0] }
    var shape = extents
    shape[a] = kept.count
    return taking(x, extents: extents, axis: a, places: kept, shape: shape)
}
