// ScatterND: the data, with the slabs its index tuples address replaced by (or combined
// with: add, mul, max, min) the update rows, in order. All dtypes for `none`; float32 and
// the integers for the reductions (integers wrap as numpy's do).
import Formats
import IR

func scatterND(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let data = try operand(node, inputs, 0), indices = try operand(node, inputs, 1), updates = try operand(node, inputs, 2)
    let offsets = try scatterOffsets(node, dataShape: data.shape, indices: indices)
    let slab = data.shape[(indices.shape.last ?? 0)...].reduce(1, *)
    guard updates.dtype == data.dtype, updates.count == offsets.count * slab else {
        throw IRError(
            "updates \(updates.dtype.name)\(updates.shape) do not give \(offsets.count) rows of \(slab) \(data.dtype.name)",
            at: node)
    }
    let out = Tensor(zeros: data.dtype, shape: data.shape)
    out.storage.base.copyMemory(from: data.storage.base, byteCount: data.count * data.dtype.byteSize)
    guard let reduction = ScatterReduction(rawValue: node.string("reduction", default: "none")) else {
        throw IRError("reduction \"\(node.string("reduction", default: ""))\" is not none, add, mul, max or min", at: node)
    }
    if reduction == .none {
        let bytes = slab * data.dtype.byteSize
        for (row, offset) in offsets.enumerated() {
            (out.storage.base + offset * data.dtype.byteSize).copyMemory(
                from: updates.storage.base + row * bytes, byteCount: bytes)
        }
        return out
    }
    func combined<T>(_ values: [T], _ rows: [T], _ f: (T, T) -> T) -> [T] {
        var values = values
        for (row, offset) in offsets.enumerated() {
            for i in 0..<slab { values[offset + i] = f(values[offset + i], rows[row * slab + i]) }
        }
        return values
    }
    if data.dtype == .float32 {
        return Tensor(combined(data.floats(), updates.floats(), reduction.combined), shape: data.shape)
    }
    guard data.dtype.isInteger else { throw IRError("ScatterND reduces float32 or integers, not \(data.dtype.name)", at: node) }
    return Tensor(combined(data.int64s(), updates.int64s(), reduction.combined), shape: data.shape).cast(to: data.dtype)
}

/// The element offset in data of `shape` of each index tuple of `indices` (the last axis,
/// of k ≤ rank values; negative values count from the end), in order.
public func scatterOffsets(_ node: Node, dataShape shape: [Int], indices: Tensor) throws -> [Int] {
    guard let k = indices.shape.last, k >= 1, k <= shape.count, indices.dtype == .int64 else {
        throw IRError(
            "indices \(indices.dtype.name)\(indices.shape) are not int64 tuples of 1 to \(shape.count) values", at: node)
    }
    var strides = [Int](repeating: 1, count: shape.count)
    for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
    let values = indices.int64s()
    return try stride(from: 0, to: values.count, by: k).map { t in
        try (0..<k).reduce(0) { offset, j in
            let n = shape[j], i = values[t + j] < 0 ? Int(values[t + j]) + n : Int(values[t + j])
            guard (0..<n).contains(i) else {
                throw IRError("index \(values[t + j]) is out of range for axis \(j) of size \(n)", at: node)
            }
            return offset + i * strides[j]
        }
    }
}
