// Single-precision GEMM split across cores by output columns (or rows, when there are
// few columns). OpenBLAS itself runs single-threaded: its worker threads spin between
// calls and would steal the cores from the interpreter's other loops.
import CBLAS

/// C[m, n] = alpha * op(A) * op(B) + beta * C, row-major, split across
/// `Parallelism.loopThreads` threads when the product is large enough.
func sgemm(
    transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    func call(rows: Range<Int>, columns: Range<Int>) {
        let aStart = transA ? a + rows.lowerBound : a + rows.lowerBound * lda
        let bStart = transB ? b + columns.lowerBound * ldb : b + columns.lowerBound
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(rows.count), Int32(columns.count), Int32(k), alpha, aStart, Int32(lda), bStart, Int32(ldb),
            beta, c + rows.lowerBound * ldc + columns.lowerBound, Int32(ldc))
    }
    let threads = Parallelism.loopThreads
    let minimum = 32
    guard threads > 1, m * n * k >= 1 << 18, max(m, n) >= 2 * minimum else {
        call(rows: 0..<m, columns: 0..<n)
        return
    }
    let byColumns = n >= threads * minimum || n >= m
    let extent = byColumns ? n : m
    let parts = min(threads, extent / minimum)
    parallelChunks(parts, cost: 1 << 20) { range in
        for p in range {
            let slice = (extent * p / parts)..<(extent * (p + 1) / parts)
            if byColumns { call(rows: 0..<m, columns: slice) } else { call(rows: slice, columns: 0..<n) }
        }
    }
}
