// Streaming statistics of one activation: min, max and a histogram of |x| whose range, a
// power of two, doubles (merging bin pairs) when a larger value arrives, so one pass over
// the calibration set suffices, no activation is kept, and the bins are the same however
// the values are batched or ordered.

public struct ActivationHistogram: Sendable {
    public static let binCount = 2048
    public private(set) var minimum = Float.infinity
    public private(set) var maximum = -Float.infinity
    /// Bins over [0, range): bin i counts |x| in [i, i+1) * range / binCount.
    public private(set) var bins = [Double](repeating: 0, count: binCount)
    /// A power of two; 0 until a nonzero value arrives.
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
        // Zeros alone leave the range unset (they count in bin 0 whatever it becomes).
        if top > 0 {
            let needed = Self.range(above: top)
            if range == 0 { range = needed }
            while range < needed { grow() }
        }
        let scale = range > 0 ? Float(Self.binCount) / range : 0
        // Counted in 32-bit integers, a chunk of values at a time, then added to the bins.
        var counts = [UInt32](repeating: 0, count: Self.binCount + 1)
        counts.withUnsafeMutableBufferPointer { counts in
            for start in stride(from: 0, to: values.count, by: Self.chunk) {
                let chunk = UnsafeBufferPointer(rebasing: values[start..<min(values.count, start + Self.chunk)])
                Self.count(chunk, scale: scale, into: counts.baseAddress!)
                for i in 0..<Self.binCount {
                    bins[i] += Double(counts[i])
                    counts[i] = 0
                }
            }
        }
    }

    /// The smallest range the bins cover: binCount / range stays finite (a range of 1e-37
    /// made it infinity, and a zero times it a NaN with no bin).
    static let leastRange: Float = 0x1p-100

    /// The largest range: twice it is no float.
    static let greatestRange: Float = 0x1p127

    /// The range that holds |x| up to `top`: the least power of two above it, within
    /// [leastRange, greatestRange]. A power of two makes the bins independent of the order
    /// and batching of the values: |x| · binCount / range is exact, and bin i of one range
    /// is bin i / 2 of the next.
    static func range(above top: Float) -> Float {
        guard top >= leastRange else { return leastRange }
        guard top < greatestRange else { return greatestRange }
        return Float(sign: .plus, exponent: top.exponent + 1, significand: 1)
    }

    /// Values counted between two additions to the bins: fewer than a 32-bit count holds.
    static let chunk = 1 << 30

    /// Adds one to `counts[i]` for each finite value, i = min(⌊|v| · scale⌋, binCount - 1),
    /// and one to `counts[binCount]` for each NaN or infinity. Eight values at a time: the
    /// bin is found in vector lanes (its floor from the float's bits: x + 2²³ has x rounded
    /// to an integer in its low bits, one less when that rounded up), then counted.
    static func count(_ values: UnsafeBufferPointer<Float>, scale: Float, into counts: UnsafeMutablePointer<UInt32>) {
        var i = 0
        if let base = values.baseAddress, values.count >= 8 {
            let last = SIMD8<Float>(repeating: Float(binCount - 1)), magic = SIMD8<Float>(repeating: 0x1p23)
            let skipped = SIMD8<Int32>(repeating: Int32(binCount))
            let lanes = UnsafeMutablePointer<Int32>.allocate(capacity: 8)
            defer { lanes.deallocate() }
            while i + 8 <= values.count {
                let bits = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD8<UInt32>.self)
                let magnitude = unsafeBitCast(bits & 0x7FFF_FFFF, to: SIMD8<Float>.self)
                var x = magnitude * SIMD8(repeating: scale)
                x.replace(with: last, where: x .> last)
                let rounded = x + magic
                var bin = unsafeBitCast(rounded, to: SIMD8<Int32>.self) &- 0x4B00_0000
                bin.replace(with: bin &- 1, where: rounded - magic .> x)
                // A NaN or infinity (all exponent bits set: adding one to the exponent carries
                // into the sign bit) counts in the last slot. Found from the bits: a comparison
                // with infinity compiled into a loop through the stack on baseline x86-64.
                let nonFinite = unsafeBitCast(0 &- (((bits & 0x7F80_0000) &+ 0x0080_0000) &>> 31), to: SIMD8<Int32>.self)
                let slot = (bin & ~nonFinite) | (skipped & nonFinite)
                UnsafeMutableRawPointer(lanes).storeBytes(of: slot, as: SIMD8<Int32>.self)
                for k in 0..<8 { counts[Int(lanes[k])] &+= 1 }
                i += 8
            }
        }
        for v in values[i...] {
            counts[v.isFinite ? min(Int(v.magnitude * scale), binCount - 1) : binCount] &+= 1
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
