// The vector unit's running sum and product (`vopp cumsum`, `cumprod`), which the
// interpreter's CumSum and CumProd also call.

extension VectorArithmetic {
    /// `vopp cumsum` or `cumprod` over one line of `count` elements `stride` apart, from `x`
    /// into `y` (which may be `x`): ONNX's CumSum or CumProd, combined one element at a time in
    /// the order the line runs (from its end with `reverse`), each step with `combine` (a
    /// float32 sum or product, or an integer one wrapping around): y[first] = x[first], then
    /// y[k] = combine(y[previous], x[k]); `exclusive`, y[first] = `identity` (0 for a sum, 1
    /// for a product), then y[k] = combine(y[previous], x[previous]).
    public static func scan<T>(
        _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int, stride: Int = 1, exclusive: Bool,
        reverse: Bool, identity: T, combine: (T, T) -> T
    ) {
        guard count > 0 else { return }
        // Element offsets in the order the sum runs.
        let (first, step) = reverse ? ((count - 1) * stride, -stride) : (0, stride)
        var previous = x[first]
        var total = exclusive ? identity : previous
        y[first] = total
        for at in Swift.stride(from: first + step, through: reverse ? 0 : (count - 1) * stride, by: step) {
            let value = x[at]
            total = combine(total, exclusive ? previous : value)
            previous = value
            y[at] = total
        }
    }
}
