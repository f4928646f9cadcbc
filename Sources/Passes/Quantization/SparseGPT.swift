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

    /// `weights` [rows, K] row-major pruned 2:4 along K with `hessian` ([K, K], symmetric,
    /// float32), the kept weights updated. Every group of 4 columns keeps 2 weights per row,
    /// those whose removal costs least: w² / [H⁻¹]ⱼⱼ, with H⁻¹ updated as columns are fixed.
    static func prune(_ weights: [Float], rows: Int, columns k: Int, hessian: UnsafeBufferPointer<Float>) throws -> [Float] {
        precondition(k % 4 == 0 && weights.count == rows * k && hessian.count == k * k)
        var w = weights
        // J·H·J in LAPACK's column-major order (`upperCholeskyOfInverse`), in double.
        var a = reversedLower(hessian, k)
        // A column no sample ever reached carries no information: prune it to zero freely.
        // H's diagonal element j is J·H·J's element k − 1 − j.
        let meanDiagonal = (0..<k).reduce(0.0) { $0 + a[(k - 1 - $1) * (k + 1)] } / Double(k)
        for j in 0..<k where a[(k - 1 - j) * (k + 1)] == 0 {
            a[(k - 1 - j) * (k + 1)] = 1
            for r in 0..<rows { w[r * k + j] = 0 }
        }
        let damp = dampening * (meanDiagonal > 0 ? meanDiagonal : 1)
        for j in 0..<k { a[j * (k + 1)] += damp }
        try invertReversedFactor(&a, k)
        let uf = upperFactor(a, k, as: Float.self)
        w.withUnsafeMutableBufferPointer { wp in
            uf.withUnsafeBufferPointer { up in pruneColumns(wp.baseAddress!, rows: rows, columns: k, u: up.baseAddress!) }
        }
        // Exact zeros where pruned: later updates never touch finished columns.
        return w
    }

    /// The column walk on `w` ([rows, k]) with U (`upperCholeskyOfInverse`, float32).
    private static func pruneColumns(_ w: UnsafeMutablePointer<Float>, rows: Int, columns k: Int, u: UnsafePointer<Float>) {
        var block = [Float](repeating: 0, count: rows * blockSize), errors = block
        var pruned = [Bool](repeating: false, count: rows * 4)
        for start in stride(from: 0, to: k, by: blockSize) {
            let end = min(start + blockSize, k), n = end - start
            block.withUnsafeMutableBufferPointer { bp in
                errors.withUnsafeMutableBufferPointer { ep in
                    let b = bp.baseAddress!, e = ep.baseAddress!
                    e.update(repeating: 0, count: rows * n)
                    for r in 0..<rows { (b + r * n).update(from: w + r * k + start, count: n) }
                    for i in 0..<n {
                        let column = start + i
                        if i % 4 == 0 {
                            // Choose each row's 2 of these 4 columns to prune, by w² / d².
                            // The two least by (score, column): a column whose rank among the four is 0 or 1.
                            for r in 0..<rows {
                                var scores: SIMD4<Float> = .zero
                                for j in 0..<4 {
                                    let d = u[(column + j) * k + column + j]
                                    scores[j] = b[r * n + i + j] * b[r * n + i + j] / (d * d)
                                }
                                for j in 0..<4 {
                                    var rank = 0
                                    for m in 0..<4 where scores[m] < scores[j] || (scores[m] == scores[j] && m < j) { rank += 1 }
                                    pruned[r * 4 + j] = rank < 2
                                }
                            }
                        }
                        let d = u[column * k + column], uRow = u + column * k + start
                        for r in 0..<rows where pruned[r * 4 + i % 4] {
                            let row = b + r * n
                            let err = row[i] / d
                            row[i] = 0
                            e[r * n + i] = err
                            for j in (i + 1)..<n { row[j] -= err * uRow[j] }
                        }
                    }
                    for r in 0..<rows { (w + r * k + start).update(from: b + r * n, count: n) }
                    if end < k {
                        // W[:, end...] -= E · U[start..<end, end...]
                        cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(k - end), Int32(n), -1,
                            e, Int32(n), u + start * k + end, Int32(k), 1, w + end, Int32(k))
                    }
                }
            }
        }
    }

    /// U upper triangular with UᵀU = H⁻¹, row-major. With J the reversal of the index order,
    /// J·H·J = L·Lᵀ (L lower) makes H = R·Rᵀ with R = J·L·J upper, so H⁻¹ = (R⁻¹)ᵀ·R⁻¹ and
    /// U = R⁻¹ = J·L⁻¹·J: one factorisation and one triangular inverse, where inverting H
    /// and factorising H⁻¹ again would take twice the work. J·H·J is H's elements in
    /// reverse order; LAPACK works column-major, where that symmetric matrix is the same.
    static func upperCholeskyOfInverse(_ h: [Double], _ k: Int) throws -> [Double] {
        var a = Array(h.reversed())
        try invertReversedFactor(&a, k)
        return upperFactor(a, k, as: Double.self)
    }

    /// J·H·J's lower triangle in LAPACK's column-major order, in double, from the float32
    /// symmetric `h` ([k, k] row-major): column c, row r ≥ c is H[k−1−c][k−1−r], read along
    /// H's row k−1−c. The strict upper triangle is left zero (LAPACK reads the lower one).
    private static func reversedLower(_ h: UnsafeBufferPointer<Float>, _ k: Int) -> [Double] {
        var a = [Double](repeating: 0, count: k * k)
        a.withUnsafeMutableBufferPointer { ap in
            for c in 0..<k {
                let column = ap.baseAddress! + c * k, row = h.baseAddress! + (k - 1 - c) * k
                for r in c..<k { column[r] = Double(row[k - 1 - r]) }
            }
        }
        return a
    }

    /// Factorises J·H·J = L·Lᵀ (its lower triangle, column-major, in `a`) and inverts L in place.
    private static func invertReversedFactor(_ a: inout [Double], _ k: Int) throws {
        var n = Int32(k), lda = Int32(k), info: Int32 = 0
        var lower = Int8(UInt8(ascii: "L")), nonUnit = Int8(UInt8(ascii: "N"))
        dpotrf_(&lower, &n, &a, &lda, &info)
        guard info == 0 else { throw Failure.notPositiveDefinite }
        dtrtri_(&lower, &nonUnit, &n, &a, &lda, &info)
        guard info == 0 else { throw Failure.notPositiveDefinite }
    }

    /// U = J·L⁻¹·J row-major from L⁻¹ (lower, column-major, in `a`): U[i][j] = L⁻¹[k−1−i][k−1−j]
    /// = a[(k−1−j)·k + k−1−i] for i ≤ j, zero below the diagonal. Copied in tiles, so reads
    /// and writes both stay in cache.
    private static func upperFactor<T: BinaryFloatingPoint>(_ a: [Double], _ k: Int, as: T.Type) -> [T] {
        var u = [T](repeating: 0, count: k * k)
        let tile = 32
        u.withUnsafeMutableBufferPointer { up in
            a.withUnsafeBufferPointer { ap in
                for i0 in stride(from: 0, to: k, by: tile) {
                    for j0 in stride(from: i0, to: k, by: tile) {
                        for i in i0..<min(i0 + tile, k) {
                            let row = up.baseAddress! + i * k, column = ap.baseAddress! + (k - 1 - i)
                            for j in max(j0, i)..<min(j0 + tile, k) { row[j] = T(column[(k - 1 - j) * k]) }
                        }
                    }
                }
            }
        }
        return u
    }
}
