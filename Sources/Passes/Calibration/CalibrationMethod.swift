// How an activation's clipping range (amax) is chosen from its histogram: minmax,
// percentile, entropy (KL divergence, as TensorRT's calibrator) or mse (the range with the
// least expected quantization error in the target format).

import Formats
import Foundation

public enum CalibrationMethod: Sendable, Equatable {
    case minmax
    case percentile(Double)
    case entropy
    case mse

    /// Parses `minmax`, `percentile` (99.99), `percentile:99.9`, `entropy`, `mse`; nil for
    /// anything else (`parse` says why).
    public init?(_ text: String) {
        guard let method = try? Self.parse(text) else { return nil }
        self = method
    }

    /// `text` as a method, or an error saying why it is none: a name no method has, a
    /// parameter given to a method that takes none, a percentile outside (0, 100].
    public static func parse(_ text: String) throws(CalibrationMethodError) -> CalibrationMethod {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let methods: [String: CalibrationMethod] = ["minmax": .minmax, "entropy": .entropy, "mse": .mse]
        if parts[0] == "percentile" {
            guard parts.count > 1 else { return .percentile(99.99) }
            guard let p = Double(parts[1]), p > 0, p <= 100 else {
                throw CalibrationMethodError(
                    "\"\(text)\": the percentile P of percentile:P is a number above 0 and at most 100, not \"\(parts[1])\"")
            }
            return .percentile(p)
        }
        guard let method = methods[parts[0]] else {
            throw CalibrationMethodError(
                "unknown calibration method \"\(text)\" (minmax, percentile, percentile:P, entropy, mse)")
        }
        guard parts.count == 1 else {
            throw CalibrationMethodError("\"\(text)\": \(parts[0]) takes no parameter (only percentile:P does)")
        }
        return method
    }

    /// The amax this method picks for `h`.
    public func amax(_ h: ActivationHistogram) -> Float {
        guard h.absMax > 0 else { return 0 }
        switch self {
        case .minmax: return h.absMax
        case .percentile(let p): return h.percentile(p)
        case .entropy: return entropyThreshold(h)
        case .mse: return mseThreshold(h)
        }
    }

    /// TensorRT's entropy calibration: for each candidate threshold (bin edge from 128 bins
    /// up), clip the histogram there, fold the tail into the last bin, quantize the kept bins
    /// to 128 levels, expand back, and keep the threshold with the least KL(P || Q).
    private func entropyThreshold(_ h: ActivationHistogram) -> Float {
        let bins = h.bins, levels = 128
        let used = (bins.lastIndex { $0 > 0 } ?? 0) + 1
        // Few bins in use (values far below the bins' least range): the top of the last
        // one, but no more than the values reach.
        guard used > levels else { return min(Float(used) * h.range / Float(bins.count), h.absMax) }
        var bestKL = Double.infinity, best = used
        for edge in stride(from: levels, through: used, by: max(1, (used - levels) / 256)) {
            var p = Array(bins[0..<edge])
            p[edge - 1] += bins[edge...].reduce(0, +)
            var q = [Double](repeating: 0, count: edge)
            let width = Double(edge) / Double(levels)
            for level in 0..<levels {
                let start = Int(Double(level) * width), end = max(start + 1, Int(Double(level + 1) * width))
                let slice = bins[start..<min(end, edge)]
                let total = slice.reduce(0, +)
                let nonzero = slice.filter { $0 > 0 }.count
                for i in start..<min(end, edge) where bins[i] > 0 { q[i] = total / Double(nonzero) }
            }
            let sp = p.reduce(0, +), sq = q.reduce(0, +)
            var kl = 0.0
            for i in 0..<edge where p[i] > 0 {
                let pi = p[i] / sp, qi = max(q[i] / sq, 1e-12)
                kl += pi * log(pi / qi)
            }
            if kl < bestKL { bestKL = kl; best = edge }
        }
        return min(Float(best) * h.range / Float(bins.count), h.absMax)
    }

    /// The amax minimising the histogram's expected squared error when values are scaled
    /// so that amax maps to E4M3's 448 and rounded (values beyond amax clip).
    private func mseThreshold(_ h: ActivationHistogram) -> Float {
        let width = h.range / Float(h.bins.count)
        let centers = (0..<h.bins.count).map { (Float($0) + 0.5) * width }
        var best = h.absMax, bestError = Double.infinity
        for step in 1...64 {
            let amax = h.absMax * Float(step) / 64
            let scale = amax / 448
            var error = 0.0
            for (i, c) in h.bins.enumerated() where c > 0 {
                let x = min(centers[i], amax)
                let q = MiniFloatFormat.e4m3.decode(MiniFloatFormat.e4m3.encode(x / scale, saturating: true)) * scale
                let d = Double(centers[i] - q)
                error += c * d * d
            }
            if error < bestError { bestError = error; best = amax }
        }
        return best
    }
}

/// Why a `--calib-method` text names no method.
public struct CalibrationMethodError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
