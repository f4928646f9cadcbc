// How a scatter combines a row with the values already at its place: ONNX's `reduction` of
// ScatterND and ScatterElements. The interpreter's ScatterND and the simulator's `scatter`
// both call these, so the two combine every pair of values the same way.

public enum ScatterReduction: String, CaseIterable, Sendable {
    case none, add, mul, max, min

    /// `new` combined with `old`, the value already there: the sum or product rounded to
    /// float32, or the larger (smaller), as onnxruntime picks it: `old` when it compares
    /// greater (less) than `new`, else `new`, so a NaN on either side comes from `new` (a
    /// NaN `old` is replaced, a NaN `new` kept) and of +0 and -0 `new` stays; `none` replaces.
    @inline(__always)
    public func combined(_ old: Float, _ new: Float) -> Float {
        switch self {
        case .none: return new
        case .add: return old + new
        case .mul: return old * new
        case .max: return old > new ? old : new
        case .min: return old < new ? old : new
        }
    }

    /// As for floats, on 64-bit two's-complement integers: sums and products wrap around.
    @inline(__always)
    public func combined(_ old: Int64, _ new: Int64) -> Int64 {
        switch self {
        case .none: return new
        case .add: return old &+ new
        case .mul: return old &* new
        case .max: return Swift.max(old, new)
        case .min: return Swift.min(old, new)
        }
    }
}
