// The NPU vector unit's arithmetic: layer normalization and softmax over one row, and the
// unary functions it offers, each with one fixed order of float32 (or, where stated, Double)
// operations. The interpreter's kernels and the simulator both call these, so a lowered op
// and the op it came from compute the same bits (schemas/isa.md gives the order in words).
import Foundation

public enum VectorArithmetic {
    /// The unary functions of the vector unit, by their `vop` name; each is one float32
    /// function of one element.
    public static let unaryNames = [
        "neg", "abs", "relu", "sigmoid", "tanh", "exp", "log", "sqrt", "reciprocal", "erf", "floor", "ceil", "round", "sign",
        "hard_swish", "softplus", "softsign", "gelu", "gelu_tanh", "sin", "cos", "tan", "asin", "acos", "atan",
        "sinh", "cosh", "asinh", "acosh", "atanh",
    ]

    /// The unary function's name for an ONNX op (Gelu's `approximate` attribute picks its
    /// form), nil when the vector unit has none.
    public static func unaryName(onnx op: String, approximate: String = "none") -> String? {
        switch op {
        case "HardSwish": return "hard_swish"
        case "Gelu": return approximate == "tanh" ? "gelu_tanh" : "gelu"
        default: return unaryNames.contains(op.lowercased()) ? op.lowercased() : nil
        }
    }

    /// The unary function named `name` (one of `unaryNames`), nil for any other name.
    public static func unary(_ name: String) -> ((Float) -> Float)? {
        switch name {
        case "neg": return { -$0 }
        case "abs": return { $0.magnitude }
        case "relu": return { max($0, 0) }
        case "sigmoid": return { 1 / (1 + expf(-$0)) }
        case "tanh": return { tanhf($0) }
        case "exp": return { expf($0) }
        case "log": return { logf($0) }
        case "sqrt": return { sqrtf($0) }
        case "reciprocal": return { 1 / $0 }
        case "erf": return { erff($0) }
        case "floor": return { $0.rounded(.down) }
        case "ceil": return { $0.rounded(.up) }
        case "round": return { $0.rounded(.toNearestOrEven) }
        case "sign": return { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
        case "hard_swish": return { $0 * max(0, min(1, $0 / 6 + 0.5)) }
        case "softplus": return { $0 > 20 ? $0 : log1pf(expf($0)) }
        case "softsign": return { $0 / (1 + abs($0)) }
        case "gelu": return { 0.5 * $0 * (1 + erff($0 * 0.70710678118654752)) }
        case "gelu_tanh": return { 0.5 * $0 * (1 + tanhf(0.7978845608028654 * ($0 + 0.044715 * $0 * $0 * $0))) }
        case "sin": return { sinf($0) }
        case "cos": return { cosf($0) }
        case "tan": return { tanf($0) }
        case "asin": return { asinf($0) }
        case "acos": return { acosf($0) }
        case "atan": return { atanf($0) }
        case "sinh": return { sinhf($0) }
        case "cosh": return { coshf($0) }
        case "asinh": return { asinhf($0) }
        case "acosh": return { acoshf($0) }
        case "atanh": return { atanhf($0) }
        default: return nil
        }
    }

    /// Layer normalization of the `count` elements at `x` into `y` (which may be `x`):
    /// mean = (sum of Double(x[i]) in increasing i) / count; variance = (sum of
    /// (Double(x[i]) - mean)^2 in increasing i) / count; inv = 1 / sqrt(variance +
    /// Double(epsilon)), all in Double; then y[i] = Float((Double(x[i]) - mean) * inv) *
    /// scale[i], plus bias[i] when there is a bias, each in float32. Returns the mean and
    /// inv rounded to float32 (LayerNormalization's optional outputs).
    public static func layerNorm(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, scale: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, epsilon: Float
    ) -> (mean: Float, inverseDeviation: Float) {
        let (mean, inv) = moments(x, count: count, epsilon: epsilon)
        for i in 0..<count {
            let v = standardized(x[i], mean: mean, inverseDeviation: inv) * scale[i]
            y[i] = bias.map { v + $0[i] } ?? v
        }
        return (Float(mean), Float(inv))
    }

    /// Float((Double(x) - mean) * inverseDeviation): an element of a layer normalization
    /// before its scale (`vopp standardize`).
    @inline(__always)
    public static func standardized(_ x: Float, mean: Double, inverseDeviation: Double) -> Float {
        Float((Double(x) - mean) * inverseDeviation)
    }

    /// The mean of the `count` elements at `x` (the sum of Double(x[i]) in increasing i,
    /// divided by count) and 1 / sqrt(variance + Double(epsilon)), the variance being the sum
    /// of (Double(x[i]) - mean)^2 in increasing i divided by count, all in Double.
    private static func moments(_ x: UnsafePointer<Float>, count: Int, epsilon: Float) -> (mean: Double, inv: Double) {
        let mean = accumulate(.sum, x, count: count, from: 0) / Double(count)
        let sq = accumulate(.squaredDeviation, x, count: count, from: 0, center: mean)
        return (mean, inverseDeviation(squaredDeviations: sq, count: count, epsilon: epsilon))
    }

    /// 1 / sqrt(squaredDeviations / count + Double(epsilon)), in Double.
    public static func inverseDeviation(squaredDeviations: Double, count: Int, epsilon: Float) -> Double {
        1 / (squaredDeviations / Double(count) + Double(epsilon)).squareRoot()
    }

    /// Instance normalization of the `count` elements at `x` (one channel's plane) into `y`
    /// (which may be `x`): mean and inv as layer normalization's, in Double; then s =
    /// Float(inv) * scale and b = bias - Float(mean * inv) * scale, and y[i] = x[i] * s + b,
    /// each step in float32.
    public static func instanceNorm(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, scale: Float, bias: Float, epsilon: Float
    ) {
        let (mean, inv) = moments(x, count: count, epsilon: epsilon)
        let s = Float(inv) * scale, b = bias - Float(mean * inv) * scale
        for i in 0..<count { y[i] = x[i] * s + b }
    }

    /// Local response normalization across `channels` channels of `positions` positions each
    /// (x[c * stride + i], stride >= positions) into y (same layout, not x): per channel c and
    /// position i, sq = the float32 sum of x[k, i]^2 over k from max(0, c - (size - 1) / 2)
    /// to min(channels - 1, c + size - 1 - (size - 1) / 2) in increasing k, from +0; then
    /// y = x / powf(bias + alpha / Float(size) * sq, beta), each step in float32.
    public static func lrn(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels: Int, positions: Int, stride: Int,
        size: Int, alpha: Float, beta: Float, bias: Float
    ) {
        let before = (size - 1) / 2, after = size - 1 - before
        for c in 0..<channels {
            for i in 0..<positions {
                var sq: Float = 0
                for k in Swift.max(0, c - before)...Swift.min(channels - 1, c + after) {
                    let v = x[k * stride + i]
                    sq += v * v
                }
                y[c * stride + i] = x[c * stride + i] / powf(bias + alpha / Float(size) * sq, beta)
            }
        }
    }

    /// Softmax (or, with `log`, log-softmax) of the `count` elements x[0], x[stride], ...
    /// into y[0], y[stride], ... (y may be x): m = the largest element (a NaN never wins a
    /// comparison); e[k] = expf(x[k] - m); s = the Double sum of e[k] in increasing k from
    /// +0, rounded to float32 (a float32 sum over 20,000 classes strays by 3e-5); then y[k] =
    /// e[k] * (1 / s), or for log-softmax y[k] = (x[k] - m) - logf(s).
    public static func softmax(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, stride: Int = 1, log: Bool = false
    ) {
        var m = -Float.infinity
        for k in 0..<count { m = orderedMaximum(m, x[k * stride]) }
        var sum: Double = 0
        if log {
            for k in 0..<count { sum += Double(expf(x[k * stride] - m)) }
            let l = logf(Float(sum))
            for k in 0..<count { y[k * stride] = x[k * stride] - m - l }
            return
        }
        for k in 0..<count {
            let e = expf(x[k * stride] - m)
            y[k * stride] = e
            sum += Double(e)
        }
        let inv = 1 / Float(sum)
        for k in 0..<count { y[k * stride] *= inv }
    }

    /// y when y >= m, else m (`Swift.max`): a NaN y never replaces m (softmax's maximum).
    @inline(__always)
    public static func orderedMaximum(_ m: Float, _ y: Float) -> Float { Swift.max(m, y) }

    /// `vop elu`: x for x >= 0, else alpha * (expf(x) - 1).
    public static func elu(_ x: Float, alpha: Float) -> Float { x >= 0 ? x : alpha * (expf(x) - 1) }

    /// `vopp hard_sigmoid`: v = alpha * x + beta (the product rounded to float32, then the
    /// sum), then v clamped to [0, 1]: a NaN v stays v, -0 becomes +0, and the infinities
    /// become 0 and 1.
    public static func hardSigmoid(_ x: Float, alpha: Float, beta: Float) -> Float {
        let v = alpha * x + beta
        return v.isNaN ? v : Swift.min(Swift.max(v, 0), 1)
    }

    /// `vopp selu`: gamma * x for x > 0, else gamma * (alpha * expf(x) - alpha), each
    /// product and difference rounded to float32 (onnxruntime's order).
    public static func selu(_ x: Float, alpha: Float, gamma: Float) -> Float {
        x > 0 ? gamma * x : gamma * (alpha * expf(x) - alpha)
    }

    /// A bool as the vector unit holds it: float32 1 for true, +0 for false.
    @inline(__always)
    public static func mask(_ b: Bool) -> Float { b ? 1 : 0 }

    /// The mask-making `vop`s of two operands (schemas/isa.md): the float32 comparisons
    /// (false when either is NaN; +0 equals -0) and the logic of masks, where any value
    /// other than ±0 is true.
    public static let maskOps: [String: @Sendable (Float, Float) -> Float] = [
        "equal": { mask($0 == $1) }, "less": { mask($0 < $1) }, "greater": { mask($0 > $1) },
        "less_equal": { mask($0 <= $1) }, "greater_equal": { mask($0 >= $1) },
        "and": { mask($0 != 0 && $1 != 0) }, "or": { mask($0 != 0 || $1 != 0) },
    ]

    /// `vop max`: the larger of x and y; NaN (the quiet NaN 0x7fc00000) when either is NaN;
    /// of two equal operands (+0 and -0), y.
    public static func maximum(_ x: Float, _ y: Float) -> Float { x.isNaN || y.isNaN ? .nan : Swift.max(x, y) }

    /// `vop min`: the smaller of x and y; NaN (the quiet NaN 0x7fc00000) when either is NaN;
    /// of two equal operands (+0 and -0), x.
    public static func minimum(_ x: Float, _ y: Float) -> Float { x.isNaN || y.isNaN ? .nan : Swift.min(x, y) }

    /// `vop fmod`: the remainder of x / y with x's sign, as C's fmodf computes it (exact; NaN
    /// for a zero or NaN y, an infinite or NaN x).
    public static func remainder(_ x: Float, _ y: Float) -> Float { fmodf(x, y) }

    /// `vop prelu`: x < 0 ? x * slope : x (ONNX's PRelu; -0 and NaN stay as they are).
    public static func prelu(_ x: Float, _ slope: Float) -> Float { x < 0 ? x * slope : x }

    /// BatchNormalization's per-channel affine map, y = x * scale + shift: scale = gamma /
    /// sqrtf(variance + epsilon), shift = beta - mean * scale, each step in float32 (the
    /// interpreter's kernel, and the constants a lowered node multiplies and adds).
    public static func batchNormAffine(
        gamma: [Float], beta: [Float], mean: [Float], variance: [Float], epsilon: Float
    ) -> (scale: [Float], shift: [Float]) {
        let scale = gamma.indices.map { gamma[$0] / sqrtf(variance[$0] + epsilon) }
        return (scale, beta.indices.map { beta[$0] - mean[$0] * scale[$0] })
    }

    /// `vop pow`: x to the power y, as C's powf computes it.
    public static func power(_ x: Float, _ y: Float) -> Float { powf(x, y) }

    /// The reductions of the vector unit over one row, by their `vopp` name.
    public static let reductionNames = ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"]

    /// Reduces the `count` elements at `x` in increasing order, in Double: the sum from +0
    /// (reduce_mean then divides it by Double(count)); the product from 1; the maximum or minimum from -inf or
    /// +inf, where an element replaces the running value when it is larger (smaller) or NaN.
    /// The result is rounded to float32 once, at the end.
    public static func reduce(_ name: String, _ x: UnsafePointer<Float>, count: Int) -> Float {
        let kind = ReductionKind(reduction: name)!
        let acc = accumulate(kind, x, count: count, from: kind.start)
        return Float(name == "reduce_mean" ? acc / Double(count) : acc)
    }

    /// What a running reduction combines: the kinds of `vopp reduce_carry`, by their record code.
    public enum ReductionKind: Int, CaseIterable, Sendable {
        /// The sum, product, maximum and minimum of the elements; the sum of their squared
        /// deviations from a center (normalizations' second pass); their maximum by ordered
        /// comparison, a NaN never replacing it (softmax's, a float32 carried exactly).
        case sum = 0, product, maximum, minimum, squaredDeviation, orderedMaximum

        /// The kind a `vopp` reduction (reduce_mean a sum) runs; nil for other names.
        public init?(reduction name: String) {
            switch name {
            case "reduce_sum", "reduce_mean": self = .sum
            case "reduce_prod": self = .product
            case "reduce_max": self = .maximum
            case "reduce_min": self = .minimum
            default: return nil
            }
        }

        /// The running value before any element: +0, 1, -inf or +inf.
        public var start: Double {
            switch self {
            case .sum, .squaredDeviation: return 0
            case .product: return 1
            case .maximum, .orderedMaximum: return -.infinity
            case .minimum: return .infinity
            }
        }
    }

    /// The running value of a reduction of `kind` after the `count` elements at `x`, taken
    /// in increasing order in Double from `start` (`reduce`'s arithmetic; a row reduced in
    /// pieces, each piece's result the next one's start, gives the whole row's value).
    /// Squared deviations add (Double(x[i]) - center)^2; the ordered maximum runs in float32
    /// from the running value, which it keeps exact as a Double.
    public static func accumulate(
        _ kind: ReductionKind, _ x: UnsafePointer<Float>, count: Int, from start: Double, center: Double = 0
    ) -> Double {
        var acc = start
        switch kind {
        case .maximum, .minimum:
            let larger = kind == .maximum
            for i in 0..<count {
                let v = Double(x[i])
                if (larger ? v > acc : v < acc) || v.isNaN { acc = v }
            }
        case .product:
            for i in 0..<count { acc *= Double(x[i]) }
        case .sum:
            for i in 0..<count { acc += Double(x[i]) }
        case .squaredDeviation:
            for i in 0..<count {
                let d = Double(x[i]) - center
                acc += d * d
            }
        case .orderedMaximum:
            var m = Float(acc)
            for i in 0..<count { m = orderedMaximum(m, x[i]) }
            acc = Double(m)
        }
        return acc
    }

    /// One axis of a linear resampling: per output index, the lower and upper source index
    /// and the upper's weight f.
    public typealias ResizeAxis = (lower: [Int], upper: [Int], weight: [Float])

    /// Linear resampling of one [D, H, W] volume at `x` into [OD, OH, OW] at `y` (the axes'
    /// tables give each output index's sources). Each output: acc = +0, then for the eight
    /// corners in order, corner k taking the upper index on the depth axis when bit 0 of k is
    /// set, on the rows bit 1, on the columns bit 2, skipping a corner that takes an upper
    /// index whose f is 0: w = (a * b) * c with each factor f (upper) or 1 - f (lower), and
    /// when w != 0, acc = acc + w * x[corner], each step in float32. With one depth index of
    /// weight 0 this is bilinear resampling of [H, W] planes (a factor of 1 changes nothing).
    public static func resizeVolume(
        _ x: UnsafePointer<Float>, height: Int, width: Int, _ y: UnsafeMutablePointer<Float>,
        depth: ResizeAxis, rows: ResizeAxis, columns: ResizeAxis
    ) {
        let (outHeight, outWidth) = (rows.lower.count, columns.lower.count)
        var at = 0
        for k in 0..<depth.lower.count {
            let fd = depth.weight[k]
            for i in 0..<outHeight {
                let fr = rows.weight[i]
                for j in 0..<outWidth {
                    let fc = columns.weight[j]
                    var acc: Float = 0
                    for corner in 0..<8 {
                        let upperDepth = corner & 1 == 1, upperRow = corner & 2 == 2, upperColumn = corner & 4 == 4
                        if upperDepth && fd == 0 || upperRow && fr == 0 || upperColumn && fc == 0 { continue }
                        let w = (upperDepth ? fd : 1 - fd) * (upperRow ? fr : 1 - fr) * (upperColumn ? fc : 1 - fc)
                        let plane = upperDepth ? depth.upper[k] : depth.lower[k]
                        let row = upperRow ? rows.upper[i] : rows.lower[i]
                        let column = upperColumn ? columns.upper[j] : columns.lower[j]
                        if w != 0 { acc += w * x[(plane * height + row) * width + column] }
                    }
                    y[at] = acc
                    at += 1
                }
            }
        }
    }

    /// One axis of a cubic resampling: per output index, four source indices and their
    /// weights, `4 * o + k` for tap k of output index o; a weight of 0 is no tap.
    public typealias CubicAxis = (index: [Int], weight: [Float])

    /// Cubic resampling of one [H, W] plane at `x` into [OH, OW] at `y`. Each output (i, j):
    /// acc = +0, then for the row taps k and, within each, the column taps l (each skipped
    /// when its weight is 0), acc = acc + (wr_k * wc_l) * x[row_k, column_l], each step in
    /// float32: ONNX's cubic Resize of the last two axes, term by term in the interpreter's
    /// order.
    public static func resizeCubicPlane(
        _ x: UnsafePointer<Float>, height: Int, width: Int, _ y: UnsafeMutablePointer<Float>,
        rows: CubicAxis, columns: CubicAxis
    ) {
        let (outHeight, outWidth) = (rows.index.count / 4, columns.index.count / 4)
        for i in 0..<outHeight {
            for j in 0..<outWidth {
                var acc: Float = 0
                for k in 0..<4 {
                    let wr = rows.weight[4 * i + k]
                    if wr == 0 { continue }
                    let row = x + rows.index[4 * i + k] * width
                    for l in 0..<4 {
                        let wc = columns.weight[4 * j + l]
                        if wc == 0 { continue }
                        acc += (wr * wc) * row[columns.index[4 * j + l]]
                    }
                }
                y[i * outWidth + j] = acc
            }
        }
    }
}
