// Streaming statistics of one activation: min, max and a histogram of |x| whose range
// doubles (merging bin pairs) when a larger value arrives, so one pass over the
// calibration set suffices and no activation is kept.

public struct ActivationHistogram: Sendable {
    public static let binCount = 2048
    public private(set) var minimum = Float.infinity
    public private(set) var maximum = -Float.infinity
    /// Bins over [0, range): bin i counts |x| in [i, i+1) * range / binCount.
    public private(set) var bins = [Double](repeating: 0, count: binCount)
    public private(set) var range: Float = 0
    public private(set) var count = 0

    public init() {}

    public var absMax: Float { max(maximum.magnitude, minimum.magnitude) }

    /// Adds every element of `values`; NaNs are skipped.
    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        var low = minimum, high = maximum
        for v in values where !v.isNaN {
            low = min(low, v)
            high = max(high, v)
        }
        guard low <= high else { return }
        minimum = low
        maximum = high
        let top = max(low.magnitude, high.magnitude)
        if range == 0 { range = top > 0 ? top : 1 }
        while top >= range && range.isFinite { grow() }
        let scale = Float(Self.binCount) / range
        let last = Self.binCount - 1
        bins.withUnsafeMutableBufferPointer { counts in
            for v in values where !v.isNaN {
                counts[min(Int(v.magnitude * scale), last)] += 1
            }
        }
        count += values.count
    }

    /// Doubles the range: bin pairs merge into the lower half.
    private mutating func grow() {
        for i in 0..<(Self.binCount / 2) { bins[i] = bins[2 * i] + bins[2 * i + 1] }
        for i in (Self.binCount / 2)..<Self.binCount { bins[i] = 0 }
        range *= 2
    }

    /// The |x| below which `percent` of the values lie (the upper edge of that bin).
    public func percentile(_ percent: Double) -> Float {
        let total = bins.reduce(0, +)
        guard total > 0 else { return 0 }
        var seen = 0.0
        for (i, c) in bins.enumerated() {
            seen += c
            if seen >= total * percent / 100 { return min(Float(i + 1) * range / Float(Self.binCount), absMax) }
        }
        return absMax
    }
}
