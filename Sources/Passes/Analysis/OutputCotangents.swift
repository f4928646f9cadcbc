// Cotangents of the model's output for the estimated sensitivity: vectors v with weights w
// such that Σ w·(vᵀ·d)² is, in expectation, the second-order output error of a small
// change d of the output (the error measures of OutputError.swift). Backpropagated, the
// same vectors give every layer's share at once: (vᵀ·J·δ)² for a change δ of its output.
import Foundation
import IR

struct OutputCotangents {
    var vectors: [Tensor]
    /// The weight of each vector's squared product.
    var weight: Double

    /// Outputs of at most this many values use every direction, exactly; larger ones draw
    /// `random` vectors.
    static let exactLimit = 64

    /// For one sample's unchanged output `z`. A classifier ([N, classes]) gets KL's second
    /// order, ½·dᵀF·d per row averaged over rows, with F = diag(p) − p·pᵀ the softmax's
    /// Fisher matrix: exactly from the vectors √p_c·(e_c − p), or from v = √p⊙ε − p·(√p·ε),
    /// ε ~ N(0, I), whose covariance is F. Any other output gets the squared error ‖d‖²
    /// (the caller divides by ‖z‖²): exactly from the unit vectors, or from v ~ N(0, I).
    static func make(for z: Tensor, random count: Int, seed: UInt64) -> OutputCotangents {
        var random = SeededRandom(seed: seed)
        let values = z.floats()
        if OutputError.isClassifier(z) {
            let (rows, classes) = (z.shape[0], z.shape[1])
            let p = (0..<rows).map { OutputError.softmax(values[($0 * classes)..<(($0 + 1) * classes)]) }
            func vector(_ fill: (Int, inout ArraySlice<Float>) -> Void) -> Tensor {
                var v = [Float](repeating: 0, count: z.count)
                for r in 0..<rows { fill(r, &v[(r * classes)..<((r + 1) * classes)]) }
                return Tensor(v, shape: z.shape)
            }
            if z.count <= exactLimit {
                var vectors: [Tensor] = []
                for r in 0..<rows {
                    for c in 0..<classes {
                        vectors.append(
                            vector { row, v in
                                guard row == r else { return }
                                let root = p[r][c].squareRoot()
                                for k in 0..<classes { v[v.startIndex + k] = Float(root * ((k == c ? 1 : 0) - p[r][k])) }
                            })
                    }
                }
                return OutputCotangents(vectors: vectors, weight: 0.5 / Double(rows))
            }
            let vectors = (0..<count).map { _ in
                vector { r, v in
                    let e = (0..<classes).map { _ in random.normal() }
                    let projected = zip(p[r], e).reduce(0) { $0 + $1.0.squareRoot() * $1.1 }
                    for k in 0..<classes { v[v.startIndex + k] = Float(p[r][k].squareRoot() * e[k] - p[r][k] * projected) }
                }
            }
            return OutputCotangents(vectors: vectors, weight: 0.5 / Double(rows * count))
        }
        if z.count <= exactLimit {
            let vectors = (0..<z.count).map { i in
                Tensor((0..<z.count).map { Float($0 == i ? 1 : 0) }, shape: z.shape)
            }
            return OutputCotangents(vectors: vectors, weight: 1)
        }
        let vectors = (0..<count).map { _ in Tensor((0..<z.count).map { _ in Float(random.normal()) }, shape: z.shape) }
        return OutputCotangents(vectors: vectors, weight: 1 / Double(count))
    }
}
