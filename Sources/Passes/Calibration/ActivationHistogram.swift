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
    /// The values counted (NaNs and infinities left out).
    public var count: Int { Int(bins.reduce(0, +)) }

    public init() {}

    public var absMax: Float { max(maximum.magnitude, minimum.magnitude) }

    /// Adds every element of `values`; NaNs and infinities (a mask's -inf) are skipped, so
    /// they neither stretch the range nor count.
    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        var (low, high) = Self.extremes(values, low: minimum, high: maximum)
        if !low.isFinite || !high.isFinite {
            // Rare: an infinity among the values. The same rule over the finite ones alone.
            (low, high) = (minimum, maximum)
            for v in values where v.isFinite {
                if v < low { low = v }
                if v >= high { high = v }
            }
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
            for v in values where v.isFinite {
                counts[min(Int(v.magnitude * scale), last)] += 1
            }
        }
    }

    /// What `low = min(low, v); high = max(high, v)` over the values leaves (NaNs skipped),
    /// found in eight lanes at once. The loop keeps the first of equal least values and
    /// takes the last of equal greatest ones, which only tells -0 from +0 apart: a zero
    /// extreme is looked up in the values in that order.
    static func extremes(_ values: UnsafeBufferPointer<Float>, low: Float, high: Float) -> (low: Float, high: Float) {
        var lanesLow = SIMD8<Float>(repeating: .infinity), lanesHigh = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        if let base = values.baseAddress {
            // A NaN compares false: it never enters a lane.
            while i + 8 <= values.count {
                let v = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD8<Float>.self)
                lanesLow.replace(with: v, where: v .< lanesLow)
                lanesHigh.replace(with: v, where: v .> lanesHigh)
                i += 8
            }
        }
        var least = lanesLow.min(), greatest = lanesHigh.max()
        for v in values[i...] {
            if v < least { least = v }
            if v > greatest { greatest = v }
        }
        var result = (low: low, high: high)
        if least < low { result.low = least == 0 ? values.first(where: { $0 == 0 }) ?? least : least }
        if greatest >= high { result.high = greatest == 0 ? values.last(where: { $0 == 0 }) ?? greatest : greatest }
        return result
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
