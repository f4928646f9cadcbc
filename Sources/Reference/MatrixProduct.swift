// MatMul (numpy semantics: 1-D operands, broadcast batch axes) and Gemm, on OpenBLAS, or in
// the NPU's order for quantized layers (OrderedProduct.swift).
import IR

func matMul(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    var a = try operand(node, inputs, 0), b = try operand(node, inputs, 1)
    try requireFloat32(node, a)
    try requireFloat32(node, b)
    let aVector = a.rank == 1, bVector = b.rank == 1
    if aVector { a = a.reshaped([1, a.count]) }
    if bVector { b = b.reshaped([b.count, 1]) }
    guard a.rank >= 2, b.rank >= 2 else { throw IRError("MatMul needs operands of rank >= 1", at: node) }
    let out = try batchedProduct(a, b, node: node, ordered: node.followsNPUArithmetic)
    var outShape = out.shape
    if aVector { outShape.remove(at: outShape.count - 2) }
    if bVector { outShape.removeLast() }
    return out.reshaped(outShape)
}

/// The matrix products of float32 `a` and `b` (rank 2 or more, each matrix read transposed
/// when asked), their batch axes broadcast: [batch..., m, n]. `ordered`: in the NPU's order
/// (OrderedProduct.swift), else on OpenBLAS.
func batchedProduct(
    _ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false, node: Node, ordered: Bool = false
) throws -> Tensor {
    let (ra, ca) = (a.shape[a.rank - 2], a.shape[a.rank - 1]), (rb, cb) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let (m, k) = transposeA ? (ca, ra) : (ra, ca), (kb, n) = transposeB ? (cb, rb) : (rb, cb)
    guard kb == k else {
        throw IRError("inner dimensions \(k) and \(kb) differ (\(a.shape) x \(b.shape))", at: node)
    }
    let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
    guard let batch = broadcastShape([aBatch, bBatch]) else {
        throw IRError("batch dimensions \(aBatch) and \(bBatch) do not broadcast", at: node)
    }
    let out = Tensor(zeros: .float32, shape: batch + [m, n])
    let aStrides = batchStrides(aBatch, in: batch), bStrides = batchStrides(bBatch, in: batch)
    let ap = a.f32, bp = b.f32, op = out.f32
    let product = ordered ? orderedGemm : sgemm
    for i in 0..<batch.reduce(1, *) {
        var r = i, aIndex = 0, bIndex = 0
        for d in stride(from: batch.count - 1, through: 0, by: -1) {
            let x = r % batch[d]
            r /= batch[d]
            aIndex += x * aStrides[d]
            bIndex += x * bStrides[d]
        }
        product(transposeA, transposeB, m, n, k, 1, ap + aIndex * m * k, ca, bp + bIndex * k * n, cb, 0, op + i * m * n, n)
    }
    return out
}

/// Strides (in matrices) of an operand's batch axes within the broadcast batch shape;
/// 0 on broadcast axes.
private func batchStrides(_ shape: [Int], in batch: [Int]) -> [Int] {
    let padded = Array(repeating: 1, count: batch.count - shape.count) + shape
    let c = contiguousStrides(padded)
    return (0..<batch.count).map { padded[$0] == 1 ? 0 : c[$0] }
}

func gemm(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let a = try operand(node, inputs, 0), b = try operand(node, inputs, 1)
    try requireFloat32(node, a)
    try requireFloat32(node, b)
    guard a.rank == 2, b.rank == 2 else { throw IRError("Gemm needs 2-D operands, got \(a.shape) and \(b.shape)", at: node) }
    let transA = node.int("transA", default: 0) != 0, transB = node.int("transB", default: 0) != 0
    let alpha = node.float("alpha", default: 1), beta = node.float("beta", default: 1)
    let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
    let n = transB ? b.shape[0] : b.shape[1], kb = transB ? b.shape[1] : b.shape[0]
    guard k == kb else { throw IRError("inner dimensions \(k) and \(kb) differ", at: node) }
    let out = Tensor(zeros: .float32, shape: [m, n])
    var betaUsed: Float = 0
    if let c = optionalOperand(inputs, 2), beta != 0 {
        guard let shape = broadcastShape([c.shape, [m, n]]), shape == [m, n] else {
            throw IRError("C of shape \(c.shape) does not broadcast to [\(m), \(n)]", at: node)
        }
        let expanded = try expandTo(c.cast(to: .float32), [m, n], node)
        out.f32.update(from: expanded.f32, count: m * n)
        betaUsed = beta
    }
    let product = node.followsNPUArithmetic ? orderedGemm : sgemm
    product(transA, transB, m, n, k, alpha, a.f32, a.shape[1], b.f32, b.shape[1], betaUsed, out.f32, n)
    return out
}
