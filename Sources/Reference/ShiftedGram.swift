// The Gram matrix of a 3x3 convolution's windows (stride 1, dilation 1, one pixel of zero
// padding on every side, one group) without the windows: block (k, k') of H, for kernel
// positions k and k', is Σ x(q)·x(q + k' − k)ᵀ over the input pixels q the output grid
// shifted by k covers. Over all pixels that sum depends only on the shift d = k' − k, so 13
// products of the zero-padded image with itself shifted (d and −d are each other's
// transposes) give every block, less the pixels a shifted grid misses: the last row for
// ky = 0 and the first for ky = 2 (likewise columns for kx), which only count when both
// positions share that row (dy = 0) or column (dx = 0), and a corner pixel when both do.
// That is about a third of im2col's 81/2 products per channel pair, and no im2col.
import CBLAS
import IR

public enum ShiftedGram {
    /// Whether a Conv `node` with weight `weightShape` over input `shape` ([N, C, H, W])
    /// qualifies: 3x3, stride 1, dilation 1, pads 1, one group; and enough channels for
    /// the products to be worth their setup (smaller layers take im2col).
    public static func applies(_ node: Node, input shape: [Int], weightShape: [Int]) -> Bool {
        guard node.op == "Conv", shape.count == 4, weightShape.count == 4, weightShape[2] == 3, weightShape[3] == 3,
            node.int("group", default: 1) == 1, weightShape[1] == shape[1], shape[1] >= minimumChannels, shape[2] > 0,
            shape[3] > 0,
            node.string("auto_pad", default: "NOTSET") == "NOTSET",
            (node.ints("strides") ?? [1, 1]) == [1, 1], (node.ints("dilations") ?? [1, 1]) == [1, 1],
            (node.ints("pads") ?? [0, 0, 0, 0]) == [1, 1, 1, 1]
        else { return false }
        return true
    }

    /// Below this many input channels im2col's one product is as cheap.
    public static let minimumChannels = 32

    /// The shifts (dy, dx) computed: dy > 0, or dy = 0 and dx ≥ 0.
    static let shifts: [(Int, Int)] = (-2...2).flatMap { dy in (-2...2).map { (dy, $0) } }.filter {
        $0.0 > 0 || ($0.0 == 0 && $0.1 >= 0)
    }

    /// Floats an accumulator for `channels` holds: the 13 shift products, the rows' and
    /// columns' products at shifts 0, 1 and 2 (last and first row, last and first column),
    /// and the four corners', each channels x channels.
    public static func accumulatorSize(channels c: Int) -> Int { (13 + 12 + 4) * c * c }

    /// Adds the images of `x` ([N, C, H, W], float32) into `acc` (`accumulatorSize`, zeroed
    /// before the first). Returns the windows added: N·H·W.
    public static func accumulate(_ x: Tensor, into acc: UnsafeMutablePointer<Float>) -> Int {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (hp, wp) = (h + 2, w + 2), plane = hp * wp, cc = c * c
        // The image with its zero border, and a column of it (with its border) at a time.
        var padded = [Float](repeating: 0, count: c * plane)
        var column = [Float](repeating: 0, count: c * hp)
        let ld = Int32(plane)
        padded.withUnsafeMutableBufferPointer { pb in
            column.withUnsafeMutableBufferPointer { cb in
                let p = pb.baseAddress!, col = cb.baseAddress!
                func product(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, length: Int, lda: Int32, into out: Int) {
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(c), Int32(c), Int32(length), 1, a, lda, b, lda, 1,
                        acc + out * cc, Int32(c))
                }
                for image in 0..<n {
                    let src = x.f32 + image * c * h * w
                    for ch in 0..<c {
                        for y in 0..<h { (p + ch * plane + (y + 1) * wp + 1).update(from: src + (ch * h + y) * w, count: w) }
                    }
                    for (k, (dy, dx)) in shifts.enumerated() {
                        let s = dy * wp + dx
                        product(p, p + s, length: plane - s, lda: ld, into: k)
                    }
                    // Rows: the last (index 0..2 by shift) and the first (3..5).
                    for (r, row) in [h, 1].enumerated() {
                        for dx in 0...2 {
                            product(p + row * wp, p + row * wp + dx, length: wp - dx, lda: ld, into: 13 + 3 * r + dx)
                        }
                    }
                    // Columns: the last and the first, gathered with their border.
                    for (r, x) in [w, 1].enumerated() {
                        for ch in 0..<c {
                            for y in 0..<hp { col[ch * hp + y] = p[ch * plane + y * wp + x] }
                        }
                        for dy in 0...2 {
                            product(col, col + dy, length: hp - dy, lda: Int32(hp), into: 19 + 3 * r + dy)
                        }
                    }
                    // Corners: (last row, last column), (last, first), (first, last), (first, first).
                    for (k, (y, x)) in [(h, w), (h, 1), (1, w), (1, 1)].enumerated() {
                        product(p + y * wp + x, p + y * wp + x, length: 1, lda: ld, into: 25 + k)
                    }
                }
            }
        }
        return n * h * w
    }

    /// Adds the Gram matrix `acc` sums to the upper triangle of `gram` ([K, K], K = 9C in
    /// the weight's [channel, ky, kx] order).
    public static func assemble(_ acc: UnsafePointer<Float>, channels c: Int, into gram: UnsafeMutablePointer<Float>) {
        let k = 9 * c, cc = c * c
        // Per ordered pair (a, b) of kernel positions, the C x C blocks of `acc` it sums, at
        // most four: Q(d) (or Q(−d) transposed), a missed row's and column's products, a corner's.
        var terms = [(slot: Int, transposed: Bool, sign: Float)](repeating: (0, false, 0), count: 81 * 4)
        var counts = [Int](repeating: 0, count: 81)
        var shiftIndex: [Int: Int] = [:]
        for (i, (dy, dx)) in shifts.enumerated() { shiftIndex[dy * 5 + dx] = i }
        for a in 0..<9 {
            let (ay, ax) = (a / 3, a % 3)
            for b in 0..<9 {
                let (by, bx) = (b / 3, b % 3), (dy, dx) = (by - ay, bx - ax), pair = a * 9 + b
                func add(_ slot: Int, _ transposed: Bool, _ sign: Float) {
                    terms[pair * 4 + counts[pair]] = (slot, transposed, sign)
                    counts[pair] += 1
                }
                let forward = shiftIndex[dy * 5 + dx]
                add(forward ?? shiftIndex[-dy * 5 - dx]!, forward == nil, 1)
                // The row the shifted grid misses: the last for ky = 0, the first for ky = 2.
                if ay == by && ay != 1 { add(13 + 3 * (ay == 0 ? 0 : 1) + abs(dx), dx < 0, -1) }
                if ax == bx && ax != 1 { add(19 + 3 * (ax == 0 ? 0 : 1) + abs(dy), dy < 0, -1) }
                if a == b && ay != 1 && ax != 1 { add(25 + (ay == 0 ? 0 : 2) + (ax == 0 ? 0 : 1), false, 1) }
            }
        }
        for ci in 0..<c {
            for a in 0..<9 {
                let row = gram + (ci * 9 + a) * k
                // The upper triangle: columns cj·9 + b at or right of the diagonal, each
                // term a run over cj (a row of its block, or a column when transposed).
                for b in 0..<9 {
                    let pair = a * 9 + b, first = b >= a ? ci : ci + 1
                    guard first < c else { continue }
                    let out = row + b
                    for t in (pair * 4)..<(pair * 4 + counts[pair]) {
                        let (slot, transposed, sign) = terms[t]
                        let m = acc + slot * cc
                        if transposed {
                            for cj in first..<c { out[cj * 9] += sign * m[cj * c + ci] }
                        } else {
                            let r = m + ci * c
                            for cj in first..<c { out[cj * 9] += sign * r[cj] }
                        }
                    }
                }
            }
        }
    }
}
