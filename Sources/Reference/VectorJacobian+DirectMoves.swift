// Cotangents of moving ops found directly: Reshape and its kin, Transpose, Slice, Concat and
// constant Pad take each input element to at most one output element, so its cotangent is
// that one's, or zero, moved straight back; Gather adds each output element's cotangent
// where it came from, in output order. The rule for every moving op (`VectorJacobian.moved`)
// reaches the same sums by running the op on the elements' positions and adding each
// output's cotangent into a zeroed sum, in output order; the sum of zero and −0 is +0, so the
// direct ways add to zero as well, and both give the same bits.
import IR

extension VectorJacobian {
    /// The cotangents of a moving op's inputs (nil for those that are not data), from its one
    /// output's cotangent `g`; nil for the ops `moved` works out: those that repeat elements
    /// in other ways, move several outputs, or lack their data input.
    static func movedDirectly(_ node: Node, _ inputs: [Tensor?], _ g: Tensor, others: ArraySlice<Tensor?>) throws -> [Tensor?]? {
        guard others.allSatisfy({ $0 == nil }), g.dtype == .float32, let x = inputs.first.flatMap({ $0 }) else {
            return nil
        }
        var result = [Tensor?](repeating: nil, count: inputs.count)
        switch node.op {
        case "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity":
            guard g.count == x.count else { throw IRError("a cotangent of \(g.shape) for a value of \(x.shape)", at: node) }
            result[0] = addedToZero(gatherStrided(g, shape: x.shape, strides: contiguousStrides(x.shape)))
        case "Transpose":
            let perm = node.ints("perm") ?? Array((0..<x.rank).reversed())
            guard perm.count == x.rank, Set(perm) == Set(0..<x.rank), g.shape == perm.map({ x.shape[$0] }) else {
                throw IRError("a cotangent of \(g.shape) for a transpose of \(x.shape) by \(perm)", at: node)
            }
            // Output axis i is input axis perm[i]: input axis a is output axis back[a].
            var back = [Int](repeating: 0, count: perm.count)
            for (i, a) in perm.enumerated() { back[a] = i }
            let strides = contiguousStrides(g.shape)
            result[0] = addedToZero(gatherStrided(g, shape: x.shape, strides: back.map { strides[$0] }))
        case "Slice":
            let view = try sliceView(node, inputs, x)
            guard g.shape == view.shape else {
                throw IRError("a cotangent of \(g.shape) for a slice of shape \(view.shape)", at: node)
            }
            let sum = Tensor(zeros: .float32, shape: x.shape)
            scatterSum(g, into: sum, strides: view.strides, offset: view.offset)
            result[0] = sum
        case "Pad":
            let (before, shape) = try padExtents(node, inputs, x)
            // A pad that takes elements away, or fills with some of them, is moved's.
            guard node.string("mode", default: "constant") == "constant", before.allSatisfy({ $0 >= 0 }),
                shape.indices.allSatisfy({ shape[$0] >= x.shape[$0] + before[$0] })
            else { return nil }
            guard g.shape == shape else { throw IRError("a cotangent of \(g.shape) for a pad to \(shape)", at: node) }
            let strides = contiguousStrides(shape)
            let offset = zip(before, strides).reduce(0) { $0 + $1.0 * $1.1 }
            result[0] = addedToZero(gatherStrided(g, shape: x.shape, strides: strides, offset: offset))
        case "Gather":
            guard let indices = inputs.count > 1 ? inputs[1] : nil else { return nil }
            let (axis, places) = try gatherIndices(node, x, indices)
            let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
            guard g.count == outer * places.count * inner else {
                throw IRError("a cotangent of \(g.shape) for a gather of \(places.count) from \(x.shape)", at: node)
            }
            let sum = Tensor(zeros: .float32, shape: x.shape)
            let (src, dst) = (g.f32, sum.f32)
            for o in 0..<outer {
                for (k, j) in places.enumerated() {
                    let from = src + (o * places.count + k) * inner, to = dst + (o * n + j) * inner
                    for i in 0..<inner { to[i] += from[i] }
                }
            }
            result[0] = sum
        case "Concat":
            guard let attribute = node.int("axis") else { throw IRError("axis is required", at: node) }
            let axis = try normalizedAxis(attribute, rank: g.rank, node)
            let strides = contiguousStrides(g.shape)
            var start = 0
            for (i, part) in inputs.enumerated() {
                guard let part else { continue }
                guard part.rank == g.rank, start + part.shape[axis] <= g.shape[axis] else {
                    throw IRError("a cotangent of \(g.shape) for a concatenation with \(part.shape)", at: node)
                }
                result[i] = addedToZero(gatherStrided(g, shape: part.shape, strides: strides, offset: start * strides[axis]))
                start += part.shape[axis]
            }
        default:
            return nil
        }
        return result
    }

    /// `t` (float32, its own) with each element added to zero: −0 becomes +0.
    private static func addedToZero(_ t: Tensor) -> Tensor {
        let p = t.f32
        for i in 0..<t.count { p[i] += 0 }
        return t
    }

    /// Adds each element of `g` to zero and stores it in `sum` at the place a strided view of
    /// `sum` with `g`'s extents, `strides` and `offset` has it; the view's places are distinct.
    private static func scatterSum(_ g: Tensor, into sum: Tensor, strides: [Int], offset: Int) {
        let shape = g.shape, rank = shape.count, n = g.count
        guard n > 0 else { return }
        let last = rank > 0 ? shape[rank - 1] : 1, lastStride = rank > 0 ? strides[rank - 1] : 0
        let src = g.f32, dst = sum.f32
        for row in 0..<(n / last) {
            var r = row, base = offset
            for d in stride(from: rank - 2, through: 0, by: -1) {
                base += (r % shape[d]) * strides[d]
                r /= shape[d]
            }
            let s = src + row * last
            for j in 0..<last { dst[base + j * lastStride] = s[j] + 0 }
        }
    }
}
