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
        let order = reverse ? Array((0..<count).reversed()) : Array(0..<count)
        var sum = exclusive ? zero : x[order[0] * stride]
        var previous = x[order[0] * stride]
        y[order[0] * stride] = sum
        for k in order.dropFirst() {
            let value = x[k * stride]
            sum = add(sum, exclusive ? previous : value)
            previous = value
            y[k * stride] = sum
        }
    }
}
