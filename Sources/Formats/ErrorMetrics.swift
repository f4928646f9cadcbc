// How far a quantized tensor is from its original: MSE, SQNR, max absolute and relative
// error. Sensitivity analysis ranks layers by these.
import Foundation

public struct ErrorMetrics: Sendable, Equatable {
    /// Mean of (x - q)^2.
    public var mse: Double
    /// 10 log10(sum x^2 / sum (x - q)^2) in dB; +infinity when q == x; -infinity when x is
    /// all zero and q is not.
    public var sqnr: Double
    /// max |x - q|.
    public var maxAbsolute: Double
    /// max |x - q| / |x| over the elements where x != 0 (zeros are covered by maxAbsolute).
    public var maxRelative: Double

    public init(original x: [Float], quantized q: [Float]) {
        precondition(x.count == q.count, "metrics of tensors of different sizes")
        var signal = 0.0, noise = 0.0, maxAbs = 0.0, maxRel = 0.0
        for i in 0..<x.count {
            let a = Double(x[i]), d = Double(x[i]) - Double(q[i])
            signal += a * a
            noise += d * d
            maxAbs = max(maxAbs, d.magnitude)
            if a != 0 { maxRel = max(maxRel, d.magnitude / a.magnitude) }
        }
        mse = x.isEmpty ? 0 : noise / Double(x.count)
        sqnr = Self.sqnr(signal: signal, noise: noise)
        maxAbsolute = maxAbs
        maxRelative = maxRel
    }

    /// Σ x², summed in double in element order (as `init` sums the signal).
    public static func energy(_ x: [Float]) -> Double {
        x.reduce(0.0) { $0 + Double($1) * Double($1) }
    }

    /// `ErrorMetrics(original: x, quantized: q).sqnr`, with `signal` = `energy(x)`: the noise
    /// summed in the same order, and nothing else worked out.
    public static func sqnr(signal: Double, original x: [Float], quantized q: [Float]) -> Double {
        precondition(x.count == q.count, "metrics of tensors of different sizes")
        var noise = 0.0
        for i in 0..<x.count {
            let d = Double(x[i]) - Double(q[i])
            noise += d * d
        }
        return sqnr(signal: signal, noise: noise)
    }

    private static func sqnr(signal: Double, noise: Double) -> Double {
        noise == 0 ? .infinity : (signal == 0 ? -.infinity : 10 * (signal / noise).log10)
    }
}

private extension Double {
    var log10: Double { Foundation.log10(self) }
}
