// Ops that only move or reinterpret data: Reshape, Flatten, Squeeze, Unsqueeze,
// Transpose, Concat, Split, Expand, Tile, Shape, Range, ConstantOfShape, Cast. All dtypes.
import IR

func reshape(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0), spec = try operand(node, inputs, 1).int64s().map(Int.init)
    let allowZero = node.int("allowzero", default: 0) != 0
    var shape = spec
    var inferred: Int?
    for (i, d) in spec.enumerated() {
        if d == 0 && !allowZero {
            guard i < x.rank else {
                throw IRError("shape \(spec) copies axis \(i), but the input \(x.shape) has rank \(x.rank)", at: node)
            }
            shape[i] = x.shape[i]
        } else if d == -1 {
            guard inferred == nil else { throw IRError("shape \(spec) has more than one -1", at: node) }
            inferred = i
        } else if d < -1 {
            throw IRError("shape \(spec) has invalid dimension \(d)", at: node)
        }
    }
    if let i = inferred {
        let known = shape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
        guard known > 0, x.count % known == 0 else { throw IRError("cannot reshape \(x.shape) to \(spec)", at: node) }
        shape[i] = x.count / known
    }
    guard shape.reduce(1, *) == x.count else {
        throw IRError("cannot reshape \(x.shape) (\(x.count) elements) to \(spec)", at: node)
    }
    return x.reshaped(shape)
}

func flatten(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    var axis = node.int("axis", default: 1)
    if axis < 0 { axis += x.rank }
    guard axis >= 0 && axis <= x.rank else { throw IRError("axis \(axis) is out of range for rank \(x.rank)", at: node) }
    return x.reshaped([x.shape[..<axis].reduce(1, *), x.shape[axis...].reduce(1, *)])
}

func squeeze(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    if let axesTensor = optionalOperand(inputs, 1) {
        let axes = Set(try axesTensor.int64s().map { try normalizedAxis(Int($0), rank: x.rank, node) })
        for a in axes where x.shape[a] != 1 { throw IRError("cannot squeeze axis \(a) of size \(x.shape[a])", at: node) }
        return x.reshaped(x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element))
    }
    return x.reshaped(x.shape.filter { $0 != 1 })
}

func unsqueeze(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0), raw = try operand(node, inputs, 1).int64s()
    let rank = x.rank + raw.count
    let axes = Set(try raw.map { try normalizedAxis(Int($0), rank: rank, node) })
    guard axes.count == raw.count else { throw IRError("axes \(raw) repeat an axis", at: node) }
    var shape: [Int] = []
    var it = x.shape.makeIterator()
    for i in 0..<rank { shape.append(axes.contains(i) ? 1 : it.next()!) }
    return x.reshaped(shape)
}

/// Copies `x` into a new tensor of `shape`, reading element `i` at `x` strides `strides`.
func gatherStrided(_ x: Tensor, shape: [Int], strides: [Int], offset: Int = 0) -> Tensor {
    let out = Tensor(zeros: x.dtype, shape: shape)
    let size = x.dtype.byteSize, n = out.count
    guard n > 0 else { return out }
    let src = x.storage.base, dst = out.storage.base
    let rank = shape.count
    let last = rank > 0 ? shape[rank - 1] : 1, lastStride = rank > 0 ? strides[rank - 1] : 0
    let rows = n / last
    if size == 4 && rank >= 2 && strides[rank - 2] == 1 && lastStride != 1 && last > 1 && shape[rank - 2] > 1 {
        gatherTransposed(src, dst, shape: shape, strides: strides, offset: offset)
        return out
    }
    parallelChunks(rows, cost: last) { range in
        for row in range {
            var r = row, base = offset
            for d in stride(from: rank - 2, through: 0, by: -1) {
                base += (r % shape[d]) * strides[d]
                r /= shape[d]
            }
            let o = dst + row * last * size
            if size == 4 {
                let s = (src + base * 4).assumingMemoryBound(to: UInt32.self), d = o.assumingMemoryBound(to: UInt32.self)
                for j in 0..<last { d[j] = s[j * lastStride] }
            } else if size == 8 {
                let s = (src + base * 8).assumingMemoryBound(to: UInt64.self), d = o.assumingMemoryBound(to: UInt64.self)
                for j in 0..<last { d[j] = s[j * lastStride] }
            } else if lastStride == 1 {
                o.copyMemory(from: src + base * size, byteCount: last * size)
            } else {
                for j in 0..<last { (o + j * size).copyMemory(from: src + (base + j * lastStride) * size, byteCount: size) }
            }
        }
    }
    return out
}

/// `gatherStrided` of 4-byte elements whose last two axes run across memory the other way
/// (the one before last at stride 1): square blocks of them at a time, so that the lines
/// the block reads stay in cache while all of it is written.
private func gatherTransposed(
    _ src: UnsafeMutableRawPointer, _ dst: UnsafeMutableRawPointer, shape: [Int], strides: [Int], offset: Int
) {
    let block = 32, rank = shape.count
    let (rows, columns, columnStride) = (shape[rank - 2], shape[rank - 1], strides[rank - 1])
    let planes = shape.reduce(1, *) / (rows * columns), bands = (rows + block - 1) / block
    let from = src.assumingMemoryBound(to: UInt32.self), to = dst.assumingMemoryBound(to: UInt32.self)
    parallelChunks(planes * bands, cost: block * columns) { range in
        for task in range {
            let (plane, band) = task.quotientAndRemainder(dividingBy: bands)
            var r = plane, base = offset
            for d in stride(from: rank - 3, through: 0, by: -1) {
                base += (r % shape[d]) * strides[d]
                r /= shape[d]
            }
            let firstRow = band * block, lastRow = min(rows, firstRow + block)
            for firstColumn in stride(from: 0, to: columns, by: block) {
                let lastColumn = min(columns, firstColumn + block)
                for row in firstRow..<lastRow {
                    let out = to + (plane * rows + row) * columns, inp = from + base + row
                    for column in firstColumn..<lastColumn { out[column] = inp[column * columnStride] }
                }
            }
        }
    }
}

func transpose(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    let perm = node.ints("perm") ?? Array((0..<x.rank).reversed())
    guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else {
        throw IRError("perm \(perm) is not a permutation of \(x.rank) axes", at: node)
    }
    let strides = contiguousStrides(x.shape)
    return gatherStrided(x, shape: perm.map { x.shape[$0] }, strides: perm.map { strides[$0] })
}

/// Broadcasts `x` to `shape` (numpy rules, `x` may have lower rank).
func expandTo(_ x: Tensor, _ shape: [Int], _ node: Node) throws -> Tensor {
    guard let target = broadcastShape([x.shape, shape]), target == shape else {
        throw IRError("shape \(x.shape) does not broadcast to \(shape)", at: node)
    }
    if x.shape == shape { return x }
    let padded = Array(repeating: 1, count: shape.count - x.rank) + x.shape
    let c = contiguousStrides(padded)
    return gatherStrided(x, shape: shape, strides: (0..<shape.count).map { padded[$0] == 1 ? 0 : c[$0] })
}

func expand(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0), spec = try operand(node, inputs, 1).int64s().map(Int.init)
    guard let shape = broadcastShape([x.shape, spec]) else { throw IRError("cannot expand \(x.shape) to \(spec)", at: node) }
    return try expandTo(x, shape, node)
}

func tile(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0), repeats = try operand(node, inputs, 1).int64s().map(Int.init)
    guard repeats.count == x.rank, repeats.allSatisfy({ $0 >= 0 }) else {
        throw IRError("repeats \(repeats) must give one non-negative count per axis of \(x.shape)", at: node)
    }
    // View as [r0, d0, r1, d1, ...] with zero strides on the repeat axes.
    let c = contiguousStrides(x.shape)
    var shape: [Int] = [], strides: [Int] = []
    for i in 0..<x.rank { shape += [repeats[i], x.shape[i]]; strides += [0, c[i]] }
    return gatherStrided(x, shape: shape, strides: strides).reshaped(zip(repeats, x.shape).map { $0 * $1 })
}

func concat(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let parts = inputs.compactMap { $0 }
    guard let first = parts.first else { throw IRError("needs at least one input", at: node) }
    guard let axisAttr = node.int("axis") else { throw IRError("axis is required", at: node) }
    let axis = try normalizedAxis(axisAttr, rank: first.rank, node)
    var shape = first.shape
    shape[axis] = 0
    for p in parts {
        guard p.rank == first.rank, p.dtype == first.dtype,
            p.shape.enumerated().allSatisfy({ $0.offset == axis || $0.element == first.shape[$0.offset] })
        else {
            throw IRError(
                "input of shape \(p.shape) (\(p.dtype.name)) does not concatenate with \(first.shape) (\(first.dtype.name)) on axis \(axis)",
                at: node)
        }
        shape[axis] += p.shape[axis]
    }
    let out = Tensor(zeros: first.dtype, shape: shape)
    let size = first.dtype.byteSize
    let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
    var offset = 0
    for p in parts {
        let chunk = p.shape[axis] * inner * size
        for o in 0..<outer {
            (out.storage.base + (o * shape[axis] * inner * size + offset)).copyMemory(
                from: p.storage.base + o * chunk, byteCount: chunk)
        }
        offset += chunk
    }
    return out
}

func split(_ node: Node, _ inputs: [Tensor?]) throws -> [Tensor] {
    let x = try operand(node, inputs, 0)
    let axis = try normalizedAxis(node.int("axis", default: 0), rank: x.rank, node)
    let parts = node.outputs.count
    var sizes: [Int]
    if let s = optionalOperand(inputs, 1) {
        sizes = s.int64s().map(Int.init)
    } else {
        let n = x.shape[axis], each = (n + parts - 1) / parts
        sizes = (0..<parts).map { min(each, max(0, n - $0 * each)) }
    }
    guard sizes.count == parts, sizes.reduce(0, +) == x.shape[axis], sizes.allSatisfy({ $0 >= 0 }) else {
        throw IRError("split sizes \(sizes) do not divide axis \(axis) of \(x.shape) into \(parts) outputs", at: node)
    }
    let strides = contiguousStrides(x.shape)
    var start = 0
    return sizes.map { size in
        var shape = x.shape
        shape[axis] = size
        defer { start += size }
        return gatherStrided(x, shape: shape, strides: strides, offset: start * strides[axis])
    }
}

func shapeOf(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    let dims = x.shape.map(Int64.init)
    func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + dims.count : v, 0), dims.count) }
    let start = clamp(node.int("start", default: 0)), end = clamp(node.int("end", default: dims.count))
    let slice = start < end ? Array(dims[start..<end]) : []
    return Tensor(slice, shape: [slice.count])
}

func range(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let start = try operand(node, inputs, 0), limit = try operand(node, inputs, 1), delta = try operand(node, inputs, 2)
    if start.dtype.isFloatingPoint {
        let s = start.double(at: 0), l = limit.double(at: 0), d = delta.double(at: 0)
        guard d != 0 else { throw IRError("delta is zero", at: node) }
        let n = max(0, Int(((l - s) / d).rounded(.up)))
        return Tensor((0..<n).map { s + Double($0) * d }, shape: [n]).cast(to: start.dtype)
    }
    let s = start.int64(at: 0), l = limit.int64(at: 0), d = delta.int64(at: 0)
    guard d != 0 else { throw IRError("delta is zero", at: node) }
    let n = max(0, Int((Double(l - s) / Double(d)).rounded(.up)))
    return Tensor((0..<n).map { s + Int64($0) * d }, shape: [n]).cast(to: start.dtype)
}

func constantOfShape(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let shape = try operand(node, inputs, 0).int64s().map(Int.init)
    guard shape.allSatisfy({ $0 >= 0 }) else { throw IRError("shape \(shape) has a negative dimension", at: node) }
    let value = node.tensor("value") ?? Tensor([Float(0)], shape: [1])
    let out = Tensor(zeros: value.dtype, shape: shape)
    let size = value.dtype.byteSize
    for i in 0..<out.count { (out.storage.base + i * size).copyMemory(from: value.storage.base, byteCount: size) }
    return out
}

func cast(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    guard let code = node.int("to"), let target = DType(rawValue: Int32(code)) else {
        throw IRError("Cast target type \(node.int("to").map(String.init) ?? "(missing)") is not supported", at: node)
    }
    return x.cast(to: target, saturate: node.int("saturate", default: 1) != 0)
}

/// BitCast (opset 26): the input's bytes read as another element type of the same width
/// (ONNX's shape rule checks the widths). A bool must come out 0 or 1.
func bitCast(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    guard let code = node.int("to"), let target = DType(rawValue: Int32(truncatingIfNeeded: code)),
        target.byteSize == x.dtype.byteSize, !target.isPackedFourBit, !x.dtype.isPackedFourBit
    else {
        throw IRError("BitCast of \(x.dtype.name) to ONNX element type \(node.int("to") ?? -1) is not supported", at: node)
    }
    let out = Tensor(zeros: target, shape: x.shape)
    out.storage.base.copyMemory(from: x.storage.base, byteCount: x.count * x.dtype.byteSize)
    if target == .bool {
        let bytes = UnsafeBufferPointer(start: out.storage.base.assumingMemoryBound(to: UInt8.self), count: x.count)
        if let i = bytes.firstIndex(where: { $0 > 1 }) {
            throw IRError("BitCast to bool of a byte \(bytes[i]) (at \(i)): a bool is 0 or 1", at: node)
        }
    }
    return out
}
