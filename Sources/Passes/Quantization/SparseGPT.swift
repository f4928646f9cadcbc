// SparseGPT's 2:4 pruning (Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be
// Accurately Pruned in One-Shot", 2023): optimal brain surgeon one column at a time. Each
// pruned weight's error is spread over the columns not yet visited through the inverse
// layer Hessian, so the kept weights absorb what the pruned ones did on the calibration
// inputs.
import CBLAS

enum SparseGPT {
    /// Columns processed together before their error is pushed to the rest with one gemm.
    static let blockSize = 128
    /// Added to H's diagonal, as a fraction of its mean, so the inverse exists.
    static let dampening = 0.01

    enum Failure: Error { case notPositiveDefinite }

    /// `weights` [rows, K] row-major pruned 2:4 along K with `hessian` ([K, K], symmetric),
    /// the kept weights updated. Every group of 4 columns keeps 2 weights per row, those
    /// whose removal costs least: w² / [H⁻¹]ⱼⱼ, with H⁻¹ updated as columns are fixed.
    static func prune(_ weights: [Float], rows: Int, columns k: Int, hessian: [Double]) throws -> [Float] {
        precondition(k % 4 == 0 && weights.count == rows * k && hessian.count == k * k)
        var w = weights
        var h = hessian
        // A column no sample ever reached carries no information: prune it to zero freely.
        let meanDiagonal = (0..<k).reduce(0.0) { $0 + h[$1 * k + $1] } / Double(k)
        for j in 0..<k where h[j * k + j] == 0 {
            h[j * k + j] = 1
            for r in 0..<rows { w[r * k + j] = 0 }
        }
        let damp = dampening * (meanDiagonal > 0 ? meanDiagonal : 1)
        for j in 0..<k { h[j * k + j] += damp }
        let u = try upperCholeskyOfInverse(h, k)
        let uf = u.map(Float.init)

        var block = [Float](), errors = [Float]()
        var pruned = [Bool](repeating: false, count: rows * 4)
        for start in stride(from: 0, to: k, by: blockSize) {
            let end = min(start + blockSize, k), n = end - start
            block = [Float](repeating: 0, count: rows * n)
            errors = [Float](repeating: 0, count: rows * n)
            for r in 0..<rows { for i in 0..<n { block[r * n + i] = w[r * k + start + i] } }
            for i in 0..<n {
                let column = start + i
                if i % 4 == 0 {
                    // Choose each row's 2 of these 4 columns to prune, by w² / d².
                    // The two least by (score, column): a column whose rank among the four is 0 or 1.
                    for r in 0..<rows {
                        var scores: SIMD4<Float> = .zero
                        for j in 0..<4 {
                            let d = uf[(column + j) * k + column + j]
                            scores[j] = block[r * n + i + j] * block[r * n + i + j] / (d * d)
                        }
                        for j in 0..<4 {
                            var rank = 0
                            for m in 0..<4 where scores[m] < scores[j] || (scores[m] == scores[j] && m < j) { rank += 1 }
                            pruned[r * 4 + j] = rank < 2
                        }
                    }
                }
                let d = uf[column * k + column]
                for r in 0..<rows {
                    let value = block[r * n + i]
                    guard pruned[r * 4 + i % 4] else { continue }
                    let e = value / d
                    block[r * n + i] = 0
                    errors[r * n + i] = e
                    for j in (i + 1)..<n { block[r * n + j] -= e * uf[column * k + start + j] }
                }
            }
            for r in 0..<rows { for i in 0..<n { w[r * k + start + i] = block[r * n + i] } }
            if end < k {
                // W[:, end...] -= E · U[start..<end, end...]
                errors.withUnsafeBufferPointer { e in
                    uf.withUnsafeBufferPointer { up in
                        w.withUnsafeMutableBufferPointer { wp in
                            cblas_sgemm(
                                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(k - end), Int32(n), -1,
                                e.baseAddress!, Int32(n), up.baseAddress! + start * k + end, Int32(k), 1,
                                wp.baseAddress! + end, Int32(k))
                        }
                    }
                }
            }
        }
        // Exact zeros where pruned: later updates never touch finished columns.
        return w
    }

    /// U upper triangular with UᵀU = H⁻¹, row-major. With J the reversal of the index order,
    /// J·H·J = L·Lᵀ (L lower) makes H = R·Rᵀ with R = J·L·J upper, so H⁻¹ = (R⁻¹)ᵀ·R⁻¹ and
    /// U = R⁻¹ = J·L⁻¹·J: one factorisation and one triangular inverse, where inverting H
    /// and factorising H⁻¹ again would take twice the work. J·H·J is H's elements in
    /// reverse order; LAPACK works column-major, where that symmetric matrix is the same.
    static func upperCholeskyOfInverse(_ h: [Double], _ k: Int) throws -> [Double] {
        var a = Array(h.reversed())
        var n = Int32(k), lda = Int32(k), info: Int32 = 0
        var lower = Int8(UInt8(ascii: "L")), nonUnit = Int8(UInt8(ascii: "N"))
        dpotrf_(&lower, &n, &a, &lda, &info)
        guard info == 0 else { throw Failure.notPositiveDefinite }
        dtrtri_(&lower, &nonUnit, &n, &a, &lda, &info)
        guard info == 0 else { throw Failure.notPositiveDefinite }
        // L⁻¹[i][j] is a[j·k + i] (column-major); U[i][j] = L⁻¹[k-1-i][k-1-j] for i <= j.
        var u = [Double](repeating: 0, count: k * k)
        for i in 0..<k { for j in i..<k { u[i * k + j] = a[(k - 1 - j) * k + (k - 1 - i)] } }
        return u
    }
}
