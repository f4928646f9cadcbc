// ReduceMean/Sum/Max/Min/Prod over an axes input (keepdims, noop_with_empty_axes) and
// ArgMax/ArgMin, and TopK. Reductions accumulate in Double.
import Formats
import IR

func reduce(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    let keep = node.int("keepdims", default: 1) != 0
    var axes =
        try optionalOperand(inputs, 1).map { try $0.int64s().map { try normalizedAxis(Int($0), rank: x.rank, node) } } ?? []
    if let attr = node.ints("axes") { axes = try attr.map { try normalizedAxis($0, rank: x.rank, node) } }
    if axes.isEmpty {
        if node.int("noop_with_empty_axes", default: 0) != 0 { return x }
        axes = Array(0..<x.rank)
    }
    let reduced = Set(axes)
    var outShape: [Int] = []
    for (i, d) in x.shape.enumerated() {
        if reduced.contains(i) { if keep { outShape.append(1) } } else { outShape.append(d) }
    }
    let keptShape = x.shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
    let outCount = keptShape.reduce(1, *)
    // Reducing the trailing axes of float32 values: each output one row, through the vector
    // unit's reduction (the same Double arithmetic as the general loop below).
    if x.dtype == .float32, reduced == Set((x.rank - reduced.count)..<x.rank), x.count > 0 {
        let row = x.count / outCount, name = "reduce_" + node.op.dropFirst("Reduce".count).lowercased()
        let xp = x.f32
        return makeFloat(outShape) { op in
            for r in 0..<outCount { op[r] = VectorArithmetic.reduce(name, xp + r * row, count: row) }
        }
    }
    // Signed integers: the vector unit's exact reductions (VectorArithmetic.integerReductions),
    // the sum wrapping around; a wrapping sum is the same in any order.
    if x.dtype.isInteger && x.dtype != .uint64,
        let rule = VectorArithmetic.integerReductions["reduce_" + node.op.dropFirst("Reduce".count).lowercased()]
    {
        var acc = [Int64](repeating: rule.start, count: outCount)
        let outStrides = contiguousStrides(keptShape), inStrides = contiguousStrides(x.shape)
        for i in 0..<x.count {
            var o = 0
            for d in 0..<x.rank where !reduced.contains(d) { o += ((i / inStrides[d]) % x.shape[d]) * outStrides[d] }
            acc[o] = rule.step(acc[o], x.int64(at: i))
        }
        return Tensor(acc, shape: outShape).cast(to: x.dtype)
    }
    let initial: Double
    // A bool's maximum over no elements is false and its minimum true (the identities of or
    // and and), not the infinities cast.
    switch node.op {
    case "ReduceMax": initial = x.dtype == .bool ? 0 : -.infinity
    case "ReduceMin": initial = x.dtype == .bool ? 1 : .infinity
    case "ReduceProd": initial = 1
    default: initial = 0
    }
    var acc = [Double](repeating: initial, count: outCount)
    let outStrides = contiguousStrides(keptShape)
    let inStrides = contiguousStrides(x.shape)
    let values = x.dtype == .float32 ? x.withUnsafeBuffer(as: Float.self) { $0.map(Double.init) } : x.doubles()
    for i in 0..<x.count {
        var o = 0
        for d in 0..<x.rank where !reduced.contains(d) { o += ((i / inStrides[d]) % x.shape[d]) * outStrides[d] }
        let v = values[i]
        switch node.op {
        case "ReduceMax": if v > acc[o] || v.isNaN { acc[o] = v }
        case "ReduceMin": if v < acc[o] || v.isNaN { acc[o] = v }
        case "ReduceProd": acc[o] *= v
        default: acc[o] += v
        }
    }
    if node.op == "ReduceMean" {
        let n = Double(x.count / max(outCount, 1))
        acc = acc.map { $0 / n }
    }
    return Tensor(acc, shape: outShape).cast(to: x.dtype)
}

func argExtreme(_ node: Node, _ inputs: [Tensor?], max isMax: Bool) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    let axis = try normalizedAxis(node.int("axis", default: 0), rank: x.rank, node)
    let keep = node.int("keepdims", default: 1) != 0, last = node.int("select_last_index", default: 0) != 0
    let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
    var result = [Int64](repeating: 0, count: outer * inner)
    // The vector unit's rule (VectorArithmetic.argExtreme); integers compare exactly.
    for o in 0..<outer {
        for i in 0..<inner {
            let at = { (k: Int) in (o * n + k) * inner + i }
            result[o * inner + i] =
                x.dtype.isInteger && x.dtype != .uint64
                ? VectorArithmetic.argExtreme(count: n, largest: isMax, last: last) { x.int64(at: at($0)) }
                : VectorArithmetic.argExtreme(count: n, largest: isMax, last: last) { x.double(at: at($0)) }
        }
    }
    var shape = x.shape
    if keep { shape[axis] = 1 } else { shape.remove(at: axis) }
    return Tensor(result, shape: shape)
}

/// TopK: the K first elements along `axis` in `VectorArithmetic.topK`'s order (largest or
/// smallest first, ties by position), their values and their int64 positions. Integers
/// (which the vector unit does not select) are ordered as integers, ties by position.
func topK(_ node: Node, _ inputs: [Tensor?]) throws -> [Tensor] {
    let x = try operand(node, inputs, 0), kTensor = try operand(node, inputs, 1)
    guard x.dtype == .float32 || x.dtype.isInteger && !x.dtype.isPackedFourBit else {
        throw IRError("TopK of \(x.dtype.name) is not supported (float32 and integers only)", at: node)
    }
    let axis = try normalizedAxis(node.int("axis", default: -1), rank: x.rank, node)
    let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
    guard kTensor.count == 1, case let k = Int(kTensor.int64(at: 0)), (0...n).contains(k) else {
        throw IRError("K \(kTensor.int64s()) is out of range for axis \(axis) of \(x.shape)", at: node)
    }
    let largest = node.int("largest", default: 1) != 0
    if x.dtype.isInteger { return integerTopK(x, k: k, axis: axis, largest: largest) }
    let values = x.floats()
    var chosen = [Float](repeating: 0, count: outer * k * inner), indices = [Int64](repeating: 0, count: chosen.count)
    for o in 0..<outer {
        for i in 0..<inner {
            let at = { (j: Int) in (o * n + j) * inner + i }
            for (rank, j) in VectorArithmetic.topK(count: n, k: k, largest: largest, { values[at($0)] }).enumerated() {
                let out = (o * k + rank) * inner + i
                (chosen[out], indices[out]) = (values[at(j)], Int64(j))
            }
        }
    }
    var shape = x.shape
    shape[axis] = k
    return [Tensor(chosen, shape: shape), Tensor(indices, shape: shape)]
}

/// TopK of integers: the K first along `axis`, largest or smallest first, ties by position
/// (uint64 compared as unsigned).
private func integerTopK(_ x: Tensor, k: Int, axis: Int, largest: Bool) -> [Tensor] {
    let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
    let values = x.int64s(), unsigned = x.dtype == .uint64
    func less(_ a: Int64, _ b: Int64) -> Bool { unsigned ? UInt64(bitPattern: a) < UInt64(bitPattern: b) : a < b }
    var chosen = [Int64](repeating: 0, count: outer * k * inner), indices = [Int64](repeating: 0, count: chosen.count)
    for o in 0..<outer {
        for i in 0..<inner {
            let at = { (j: Int) in (o * n + j) * inner + i }
            let order = (0..<n).sorted { p, q in
                let (a, b) = (values[at(p)], values[at(q)])
                if a != b { return largest ? less(b, a) : less(a, b) }
                return p < q
            }
            for (rank, j) in order.prefix(k).enumerated() {
                let out = (o * k + rank) * inner + i
                (chosen[out], indices[out]) = (values[at(j)], Int64(j))
            }
        }
    }
    var shape = x.shape
    shape[axis] = k
    return [Tensor(chosen, shape: shape).cast(to: x.dtype), Tensor(indices, shape: shape)]
}
