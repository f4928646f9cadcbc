// The error measures of the sensitivity analysis: the model's output error (KL divergence
// of a classifier's softmaxed outputs, relative MSE otherwise) and a layer's relative
// output error, each accumulated one sample at a time.
import Foundation
import IR

/// Mean KL(softmax(reference) ‖ softmax(changed)) over rows for [N, classes] outputs;
/// relative MSE otherwise. Accumulated one sample at a time.
struct OutputError {
    private var divergence = 0.0, rows = 0
    private var signal = 0.0, noise = 0.0

    /// A classifier's output: [N, classes] logits, whose error is the KL divergence of their softmax.
    static func isClassifier(_ output: Tensor) -> Bool { output.rank == 2 }

    mutating func add(reference r: Tensor, changed q: Tensor) {
        let a = r.floats(), b = q.floats()
        if Self.isClassifier(r) {
            let classes = r.shape[1]
            for row in 0..<r.shape[0] {
                let p = Self.softmax(a[(row * classes)..<((row + 1) * classes)])
                let s = Self.softmax(b[(row * classes)..<((row + 1) * classes)])
                divergence += zip(p, s).reduce(0) { $0 + ($1.0 > 0 ? $1.0 * log($1.0 / max($1.1, 1e-30)) : 0) }
                rows += 1
            }
        } else {
            for (x, y) in zip(a, b) {
                signal += Double(x) * Double(x)
                noise += Double(x - y) * Double(x - y)
            }
        }
    }

    var value: Double { rows > 0 ? divergence / Double(rows) : (signal > 0 ? noise / signal : noise) }

    static func softmax(_ x: ArraySlice<Float>) -> [Double] {
        let m = Double(x.max() ?? 0)
        let e = x.map { exp(Double($0) - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}

/// Σ‖changed − reference‖² / Σ‖reference‖², accumulated one sample at a time.
struct RelativeError {
    private var signal = 0.0, noise = 0.0

    mutating func add(reference r: Tensor, changed q: Tensor) {
        r.withUnsafeBuffer(as: Float.self) { a in
            q.withUnsafeBuffer(as: Float.self) { b in
                var s: Float = 0, n: Float = 0
                for k in 0..<min(a.count, b.count) {
                    s += a[k] * a[k]
                    n += (a[k] - b[k]) * (a[k] - b[k])
                    // Partial sums in float, folded into doubles every 4096 terms.
                    if k & 4095 == 4095 {
                        signal += Double(s)
                        noise += Double(n)
                        s = 0
                        n = 0
                    }
                }
                signal += Double(s)
                noise += Double(n)
            }
        }
    }

    var value: Double { signal > 0 ? noise / signal : (noise > 0 ? .infinity : 0) }
}
