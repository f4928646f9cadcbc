// Selection along a row: `vopp topk` and `topk_index` (schemas/isa.md) and the interpreter's
// TopK share this order, so a bundle picks the elements the interpreter picks.
extension VectorArithmetic {
    /// The positions of the `k` first elements of a row of `count` float32 values
    /// (`value(j)` the j-th) in TopK's order: largest first (smallest first unless
    /// `largest`), equal values by increasing position (-0 equals +0). A NaN counts as
    /// larger than every number, so the largest come NaNs first and the smallest NaNs last,
    /// as torch.topk orders them; NaNs among themselves by position.
    public static func topK(count: Int, k: Int, largest: Bool, _ value: (Int) -> Float) -> [Int] {
        let k = min(max(k, 0), count)
        guard k > 0 else { return [] }
        let values = (0..<count).map(value)
        /// True when the element at i comes before the one at j.
        func before(_ i: Int, _ j: Int) -> Bool {
            let (a, b) = (values[i], values[j])
            if a.isNaN || b.isNaN {
                if a.isNaN && b.isNaN { return i < j }
                return largest == a.isNaN
            }
            if a != b { return largest ? a > b : a < b }
            return i < j
        }
        // A total order (ties broken by position), so any sort gives the same selection.
        if k == 1 { return [(1..<count).reduce(0) { before($1, $0) ? $1 : $0 }] }
        return Array((0..<count).sorted(by: before).prefix(k))
    }
}
