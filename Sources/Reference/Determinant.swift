// Det: the determinant of each square matrix of the last two axes, by Gaussian elimination
// with partial pivoting (the pivot of largest magnitude in its column, the first of equal
// ones), in float64 and rounded once to the input's type: the product of the pivots, its
// sign flipped for each row swap. A matrix with a zero column before its end is singular:
// its determinant is 0 (or NaN when a NaN reached a pivot).
import IR

func determinant(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    guard [.float16, .bfloat16, .float32, .float64].contains(x.dtype) else {
        throw IRError("Det input of type \(x.dtype.name) is not supported (a floating-point type)", at: node)
    }
    guard x.rank >= 2, x.shape[x.rank - 1] == x.shape[x.rank - 2] else {
        throw IRError("Det needs square matrices on the last two axes, not \(x.shape)", at: node)
    }
    let n = x.shape[x.rank - 1]
    let batch = Array(x.shape.dropLast(2))
    let count = batch.reduce(1, *)
    let values = x.doubles()
    var results = [Double](repeating: 1, count: count)
    for k in 0..<count where n > 0 {
        var a = Array(values[(k * n * n)..<((k + 1) * n * n)])
        var det = 1.0
        for column in 0..<n {
            var pivot = column
            for row in (column + 1)..<n where abs(a[row * n + column]) > abs(a[pivot * n + column]) { pivot = row }
            let p = a[pivot * n + column]
            if pivot != column {
                for j in column..<n { a.swapAt(column * n + j, pivot * n + j) }
                det = -det
            }
            det *= p
            guard p != 0 else { break }
            for row in (column + 1)..<n {
                let factor = a[row * n + column] / p
                guard factor != 0 else { continue }
                for j in (column + 1)..<n { a[row * n + j] -= factor * a[column * n + j] }
            }
        }
        results[k] = det
    }
    return Tensor(results, shape: batch).cast(to: x.dtype)
}
