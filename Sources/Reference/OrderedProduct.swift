// The NPU's matrix arithmetic, which quantized layers follow so that a simulator of the
// NPU can reproduce them bit for bit (schemas/formats.md, "Matrix arithmetic"): each output
// element starts from +0 and adds its products in increasing reduction index k, every
// product rounded to float32 before the addition (no fused multiply-add); then alpha and
// beta·C (Gemm) or the bias (Conv) are applied, each operation rounded.
//
// Zero products never change the sum (it starts at +0 and round-to-nearest never makes
// -0 from a sum of finite values unless both are -0), so hardware that skips the pruned
// weights of a 2:4 layer computes the same bits. A sum that is NaN is the matrix unit's one
// NaN (MatrixArithmetic), whichever NaN its additions ended in.
import Formats
import IR

extension Node {
    /// True for a layer the quantize pass marked (`npucc.weight_format` on a layer with a
    /// constant weight, `npucc.activation_format_b` on a MatMul of two activations): it runs
    /// with the NPU's arithmetic.
    var followsNPUArithmetic: Bool { attributes[QuantizationAttributes.weightFormat] != nil || attributes[QuantizationAttributes.activationFormatB] != nil }
}

/// C = alpha·(op(A)·op(B)) + beta·C in the NPU's order, with the same arguments as `sgemm`.
/// Rows of C are spread over threads; each element's order does not depend on it.
func orderedGemm(
    transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    // B as [k, n] rows, so the innermost loop runs along contiguous memory.
    var rowsOfB: [Float] = []
    if transB {
        rowsOfB = [Float](repeating: 0, count: k * n)
        for j in 0..<n { for p in 0..<k { rowsOfB[p * n + j] = b[j * ldb + p] } }
    }
    rowsOfB.withUnsafeBufferPointer { transposed in
        let bRows = transB ? transposed.baseAddress! : b
        let bStride = transB ? n : ldb
        // Rows of C in groups of four share each row of B as it streams past; every element
        // still adds its products in increasing k.
        parallelChunks((m + 3) / 4, cost: 4 * n * k) { groups in
            var acc = [Float](repeating: 0, count: 4 * n)
            acc.withUnsafeMutableBufferPointer { acc in
                let s = acc.baseAddress!
                for g in groups {
                    let first = 4 * g, count = min(4, m - first)
                    s.update(repeating: 0, count: 4 * n)
                    for p in 0..<k {
                        let row = bRows + p * bStride
                        for r in 0..<count {
                            let i = first + r
                            let x = transA ? a[p * lda + i] : a[i * lda + p]
                            let sr = s + r * n
                            for j in 0..<n {
                                let product = x * row[j]
                                sr[j] = sr[j] + product
                            }
                        }
                    }
                    for r in 0..<count {
                        let out = c + (first + r) * ldc, sr = s + r * n
                        for j in 0..<n {
                            let sum = sr[j].isNaN ? MatrixArithmetic.canonicalNaN : sr[j]
                            let scaled = alpha == 1 ? sum : alpha * sum
                            out[j] = beta == 0 ? scaled : scaled + (beta == 1 ? out[j] : beta * out[j])
                        }
                    }
                }
            }
        }
    }
}
