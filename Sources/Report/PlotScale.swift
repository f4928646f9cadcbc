// A value axis: linear or logarithmic, its range widened to round ticks, and the mapping
// from values to pixels along it.
import Foundation

public struct PlotScale: Sendable {
    public enum Kind: Sendable { case linear, logarithmic }

    public let kind: Kind
    /// The range shown, after widening to ticks (for a log scale, positive).
    public let lower: Double
    public let upper: Double
    public let ticks: [Double]

    /// A scale covering `values` (non-finite ones ignored; for a log scale, non-positive
    /// ones too). A linear scale starts at 0 when `includeZero` and every value is positive.
    public init(_ kind: Kind, covering values: [Double], includeZero: Bool = true) {
        self.kind = kind
        switch kind {
        case .linear:
            let finite = values.filter(\.isFinite)
            var lo = finite.min() ?? 0, hi = finite.max() ?? 1
            if includeZero { lo = min(lo, 0); hi = max(hi, 0) }
            if hi - lo <= 0 { (lo, hi) = lo == 0 ? (0, 1) : (lo - abs(lo) / 2, hi + abs(hi) / 2) }
            let step = Self.niceStep((hi - lo) / 5)
            let first = (lo / step).rounded(.down) * step, last = (hi / step).rounded(.up) * step
            let count = Int(((last - first) / step).rounded())
            lower = first
            upper = last
            ticks = (0...count).map { first + Double($0) * step }
        case .logarithmic:
            let positive = values.filter { $0.isFinite && $0 > 0 }
            var lo = floor(log10(positive.min() ?? 1)), hi = ceil(log10(positive.max() ?? 10))
            if hi <= lo { hi = lo + 1 }
            // Keep at most about eight labelled decades.
            let stride = max(1, Int(((hi - lo) / 8).rounded(.up)))
            lo = (lo / Double(stride)).rounded(.down) * Double(stride)
            lower = pow(10, lo)
            upper = pow(10, hi)
            ticks = Swift.stride(from: Int(lo), through: Int(hi), by: stride).map { pow(10, Double($0)) }
        }
    }

    /// 1, 2 or 5 times a power of ten, at least `raw`.
    static func niceStep(_ raw: Double) -> Double {
        let base = pow(10, floor(log10(raw)))
        for m in [1.0, 2, 5, 10] where m * base >= raw * (1 - 1e-9) { return m * base }
        return 10 * base
    }

    /// Where `value` falls between 0 (lower) and 1 (upper), clamped.
    public func fraction(_ value: Double) -> Double {
        let f: Double
        switch kind {
        case .linear: f = (value - lower) / (upper - lower)
        case .logarithmic: f = value > 0 ? (log10(value) - log10(lower)) / (log10(upper) - log10(lower)) : 0
        }
        return min(max(f.isFinite ? f : 0, 0), 1)
    }
}
