// The vector unit's running sum (`vopp cumsum`), which the interpreter's CumSum also calls.

extension VectorArithmetic {
    /// `vopp cumsum` over one line of `count` elements `stride` apart, from `x` into `y`
    /// (which may be `x`): ONNX's CumSum, summed one element at a time in the order the line
    /// runs (from its end with `reverse`), each step with `add` (float32 rounding, or an
    /// integer sum wrapping around): y[first] = x[first], then y[k] = y[previous] + x[k];
    /// `exclusive`, y[first] = `zero`, then y[k] = y[previous] + x[previous].
    public static func cumulativeSum<T>(
        _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int, stride: Int = 1, exclusive: Bool,
        reverse: Bool, zero: T, add: (T, T) -> T
    ) {
        guard count > 0 else { return }
        // Element offsets in the order the sum runs.
        let (first, step) = reverse ? ((count - 1) * stride, -stride) : (0, stride)
        var previous = x[first]
        var sum = exclusive ? zero : previous
        y[first] = sum
        for at in Swift.stride(from: first + step, through: reverse ? 0 : (count - 1) * stride, by: step) {
            let value = x[at]
            sum = add(sum, exclusive ? previous : value)
            previous = value
            y[at] = sum
        }
    }
}
