// Trilu: the upper or lower triangle of each matrix of the last two axes, the rest zero;
// the kept elements copied as they are (any element type).
import IR

/// The columns row `i` of an `n`-column matrix keeps: j >= i + k (upper), j <= i + k (lower).
public func keptColumns(row i: Int, columns n: Int, k: Int, upper: Bool) -> Range<Int> {
    upper ? min(n, max(0, i + k))..<n : 0..<max(0, min(n, i + k + 1))
}

func triangle(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    guard x.rank >= 2 else { throw IRError("Trilu needs at least two axes, not \(x.shape)", at: node) }
    var k = 0
    if let kTensor = optionalOperand(inputs, 1) {
        guard kTensor.count == 1, kTensor.dtype == .int64 else {
            throw IRError("k must be one int64 value, not \(kTensor.dtype.name)\(kTensor.shape)", at: node)
        }
        k = Int(kTensor.int64(at: 0))
    }
    let upper = node.int("upper", default: 1) != 0
    let (m, n) = (x.shape[x.rank - 2], x.shape[x.rank - 1]), size = x.dtype.byteSize
    let out = Tensor(zeros: x.dtype, shape: x.shape)
    let matrices = m * n == 0 ? 0 : x.count / (m * n)
    for matrix in 0..<matrices {
        for i in 0..<m {
            let kept = keptColumns(row: i, columns: n, k: k, upper: upper)
            guard !kept.isEmpty else { continue }
            let at = ((matrix * m + i) * n + kept.lowerBound) * size
            (out.storage.base + at).copyMemory(from: x.storage.base + at, byteCount: kept.count * size)
        }
    }
    return out
}
