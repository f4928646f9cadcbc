// SparseGPT's 2:4 pruning (Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be
// Accurately Pruned in One-Shot", 2023): optimal brain surgeon one column at a time. Each
// pruned weight's error is spread over the columns not yet visited through the inverse
// layer Hessian, so the kept weights absorb what the pruned ones did on the calibration
// inputs.
import CBLAS

enum SparseGPT {
    /// Columns fixed together: a block's states are brought up to date with one gemm.
    static let blockSize = 128
    /// Added to H's diagonal, as a fraction of its mean, so the inverse exists.
    static let dampening = 0.01

    enum Failure: Error {
        case notPositiveDefinite
        /// H's mean diagonal, too small for float32 to hold its products: inputs of about
        /// 1e-15 or less, whose squares are subnormal.
        case underflow(meanDiagonal: Double)
    }

    /// The least mean diagonal a Hessian may have: below it, its entries are within a few
    /// bits of float32's subnormals and its factorisation means nothing.
    static let leastMeanDiagonal = 1e-30

    /// `weights` [rows, K] row-major pruned 2:4 along K with `hessian` ([K, K], symmetric,
    /// float32), the kept weights updated. Every group of 4 columns keeps 2 weights per row,
    /// those whose removal costs least: w² / [H⁻¹]ⱼⱼ, with H⁻¹ updated as columns are fixed.
    static func prune(_ weights: [Float], rows: Int, columns k: Int, hessian: UnsafeBufferPointer<Float>) throws -> [Float] {
        precondition(k % 4 == 0 && weights.count == rows * k && hessian.count == k * k)
        var w = weights
        var a = reversedLower(hessian, k)
        // A column no sample ever reached carries no information: prune it to zero freely.
        // H's diagonal element j is J·H·J's element k − 1 − j.
        let meanDiagonal = (0..<k).reduce(0.0) { $0 + Double(a[(k - 1 - $1) * (k + 1)]) } / Double(k)
        if meanDiagonal > 0 && meanDiagonal < leastMeanDiagonal { throw Failure.underflow(meanDiagonal: meanDiagonal) }
        for j in 0..<k where a[(k - 1 - j) * (k + 1)] == 0 {
            a[(k - 1 - j) * (k + 1)] = 1
            for r in 0..<rows { w[r * k + j] = 0 }
        }
        let damp = Float(dampening * (meanDiagonal > 0 ? meanDiagonal : 1))
        for j in 0..<k { a[j * (k + 1)] += damp }
        let rt = try factorReversed(&a, k)
        w.withUnsafeMutableBufferPointer { wp in
            rt.withUnsafeBufferPointer { rp in pruneColumns(wp.baseAddress!, rows: rows, columns: k, rt: rp.baseAddress!) }
        }
        // Exact zeros where pruned: later columns' states never touch finished ones.
        return w
    }

    /// The column walk on `w` ([rows, k]) with `rt` (Rᵀ, `transposedUpperFactor`).
    ///
    /// With U = R⁻¹ (upper, UᵀU = H⁻¹), optimal brain surgeon takes column j's state, prunes
    /// some of its rows (err = w / Uⱼⱼ) and subtracts err · Uⱼ,ⱼ₊₁… from the later columns:
    /// the weights end as V = W − E·U. Then V·R = W·R − E (R upper, so column c of either
    /// side sums over columns m ≤ c only), and a block B of columns starting at s has, before
    /// any of its own columns is fixed, the state W_B + (D·R[..<s, B])·R_BB⁻¹ with D = W − V
    /// over the finished columns. Only R and each block's diagonal inverse are needed, not
    /// U whole, whose triangular inverse would cost k³/3 operations more.
    private static func pruneColumns(_ w: UnsafeMutablePointer<Float>, rows: Int, columns k: Int, rt: UnsafePointer<Float>) {
        let original = Array(UnsafeBufferPointer(start: w, count: rows * k))
        var change = [Float](repeating: 0, count: rows * k)
        var block = [Float](repeating: 0, count: rows * blockSize), product = block
        var inverse = [Float](repeating: 0, count: blockSize * blockSize)
        for start in stride(from: 0, to: k, by: blockSize) {
            let end = min(start + blockSize, k), n = end - start
            blockInverse(rt, k, start, n, into: &inverse)
            block.withUnsafeMutableBufferPointer { bp in
                inverse.withUnsafeBufferPointer { up in
                    let b = bp.baseAddress!, u = up.baseAddress!
                    for r in 0..<rows { (b + r * n).update(from: w + r * k + start, count: n) }
                    if start > 0 {
                        change.withUnsafeBufferPointer { dp in
                            product.withUnsafeMutableBufferPointer { pp in
                                // P = D[:, ..<start] · R[..<start, B], then the block += P · R_BB⁻¹.
                                cblas_sgemm(
                                    CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(n), Int32(start), 1,
                                    dp.baseAddress!, Int32(k), rt + start * k, Int32(k), 0, pp.baseAddress!, Int32(n))
                                cblas_sgemm(
                                    CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(n), Int32(n), 1,
                                    pp.baseAddress!, Int32(n), u, Int32(n), 1, b, Int32(n))
                            }
                        }
                    }
                    // Rows are independent: each is walked through the block's columns in turn,
                    // in cache, with the block's inverse shared.
                    for r in 0..<rows {
                        let row = b + r * n
                        for i in stride(from: 0, to: n, by: 4) {
                            // Choose the row's 2 of these 4 columns to prune, by w² / d²: the two
                            // least by (score, column), a column whose rank among the four is 0 or 1.
                            var scores: SIMD4<Float> = .zero
                            for j in 0..<4 {
                                let d = u[(i + j) * n + i + j]
                                scores[j] = row[i + j] * row[i + j] / (d * d)
                            }
                            for j in 0..<4 {
                                var rank = 0
                                for m in 0..<4 where scores[m] < scores[j] || (scores[m] == scores[j] && m < j) { rank += 1 }
                                guard rank < 2 else { continue }
                                let c = i + j, uRow = u + c * n
                                let err = row[c] / u[c * n + c]
                                row[c] = 0
                                for m in (c + 1)..<n { row[m] -= err * uRow[m] }
                            }
                        }
                    }
                    for r in 0..<rows {
                        (w + r * k + start).update(from: b + r * n, count: n)
                        for j in 0..<n { change[r * k + start + j] = original[r * k + start + j] - b[r * n + j] }
                    }
                }
            }
        }
    }

    /// R_BB⁻¹ row-major ([n, n], upper) for the diagonal block of R at columns start..<start+n:
    /// the diagonal block of U = R⁻¹. Row-major R_BB read column-major is R_BBᵀ, lower, whose
    /// inverse read row-major again is R_BB⁻¹.
    private static func blockInverse(_ rt: UnsafePointer<Float>, _ k: Int, _ start: Int, _ n: Int, into out: inout [Float]) {
        out.withUnsafeMutableBufferPointer { op in
            let o = op.baseAddress!
            o.update(repeating: 0, count: n * n)
            // R[start + i][start + j] = Rᵀ[start + j][start + i].
            for i in 0..<n { for j in i..<n { o[i * n + j] = rt[(start + j) * k + start + i] } }
        }
        var size = Int32(n), lda = Int32(n), info: Int32 = 0
        var lower = Int8(UInt8(ascii: "L")), nonUnit = Int8(UInt8(ascii: "N"))
        strtri_(&lower, &nonUnit, &size, &out, &lda, &info)
        // A factor with a positive diagonal is invertible.
        precondition(info == 0, "strtri: \(info)")
    }

    /// Rᵀ row-major ([k, k], lower) for R upper with a positive diagonal and R·Rᵀ = H (`h`,
    /// [k, k] row-major, symmetric positive definite). With J the reversal of the index
    /// order, J·H·J = L·Lᵀ (L lower) gives R = J·L·J; J·H·J is H's elements in reverse order,
    /// and LAPACK's column-major L read backwards is R column-major, Rᵀ row-major.
    static func transposedUpperFactor(_ h: UnsafeBufferPointer<Float>, _ k: Int) throws -> [Float] {
        var a = reversedLower(h, k)
        return try factorReversed(&a, k)
    }

    /// J·H·J's lower triangle in LAPACK's column-major order from the symmetric `h` ([k, k]
    /// row-major): column c, row r ≥ c is H[k−1−c][k−1−r], read along H's row k−1−c. The
    /// strict upper triangle is left zero (LAPACK reads the lower one).
    private static func reversedLower(_ h: UnsafeBufferPointer<Float>, _ k: Int) -> [Float] {
        var a = [Float](repeating: 0, count: k * k)
        a.withUnsafeMutableBufferPointer { ap in
            for c in 0..<k {
                let column = ap.baseAddress! + c * k, row = h.baseAddress! + (k - 1 - c) * k
                for r in c..<k { column[r] = row[k - 1 - r] }
            }
        }
        return a
    }

    /// Factorises J·H·J = L·Lᵀ (its lower triangle, column-major, in `a`); returns Rᵀ row-major.
    private static func factorReversed(_ a: inout [Float], _ k: Int) throws -> [Float] {
        var n = Int32(k), lda = Int32(k), info: Int32 = 0
        var lower = Int8(UInt8(ascii: "L"))
        spotrf_(&lower, &n, &a, &lda, &info)
        guard info == 0 else { throw Failure.notPositiveDefinite }
        a.reverse()
        return a
    }
}
