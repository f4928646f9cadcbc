// SparseGPT's 2:4 pruning: exactly 2 of 4 kept, the same choice as magnitude when the
// inputs are uncorrelated and equally scaled (no weight has anything to compensate), and
// a smaller layer output error than magnitude and Wanda when they are correlated.
import IR
import Reference
import TestSupport
import XCTest

@testable import Passes

final class SparseGPTTests: XCTestCase {
    /// y = x · wᵀ for x [rows, 16], w [6, 16].
    private func layer(_ w: Tensor, rows: Int) -> Graph {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(rows), .known(16)])
        b.constant("w", w)
        b.node("Gemm", ["x", "w"], ["transB": .int(1)], outputs: ["y"], name: "fc")
        b.output("y")
        return b.graph
    }

    private func prune(_ graph: Graph, _ method: PruningMethod, _ samples: [Tensor]) throws -> [Float] {
        var calibrator = try Calibrator(graph: graph, collectHessians: true)
        for x in samples { try calibrator.observe(["x": x]) }
        var context = PassContext()
        context.sparsity = SparsityPlan(
            method: method, inputNorms: calibrator.inputNorms(),
            hessians: calibrator.layerHessians())
        var g = graph
        let stats = try Prune24().run(&g, context)
        XCTAssertEqual(stats["pruned"], 1)
        XCTAssertEqual(g.nodes[0].string("npucc.sparsity"), "2:4")
        let w = try XCTUnwrap(g.constants[g.nodes[0].inputs[1]]).floats()
        for row in 0..<6 {
            for group in 0..<4 {
                let kept = (0..<4).filter { w[row * 16 + group * 4 + $0] != 0 }.count
                XCTAssertLessThanOrEqual(kept, 2, "\(method) row \(row) group \(group)")
            }
        }
        return w
    }

    func testUncorrelatedInputsGiveMagnitudePruning() throws {
        var rng = SeededRandom(seed: 21)
        let w = Tensor((0..<96).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [6, 16])
        // The 16 unit vectors, each twice: H = 2I.
        var rows = [Float](repeating: 0, count: 32 * 16)
        for i in 0..<32 { rows[i * 16 + i % 16] = 1 }
        let samples = [Tensor(rows, shape: [32, 16])]
        let graph = layer(w, rows: 32)
        XCTAssertEqual(try prune(graph, .sparsegpt, samples), try prune(graph, .magnitude, samples))
    }

    /// Inputs of about 1e-22 (a randomly initialized network whose activations die away)
    /// square to float32 subnormals: SparseGPT refuses the layer by name and says which
    /// methods still prune it, instead of failing on the factorisation or zeroing it.
    func testAHessianTooSmallForFloat32IsRefusedNamingTheOtherMethods() throws {
        var rng = SeededRandom(seed: 23)
        let w = Tensor((0..<96).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [6, 16])
        let samples = [Tensor((0..<(32 * 16)).map { _ in Float.random(in: -1...1, using: &rng) * 1e-22 }, shape: [32, 16])]
        let graph = layer(w, rows: 32)
        XCTAssertThrowsError(try prune(graph, .sparsegpt, samples)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("node Gemm \"fc\"") && message.contains("too small for float32"), message)
            XCTAssertTrue(message.contains("--prune wanda or magnitude"), message)
        }
        XCTAssertNoThrow(try prune(graph, .wanda, samples))
    }

    func testCorrelatedInputsPruneWithLessOutputErrorThanMagnitudeAndWanda() throws {
        var rng = SeededRandom(seed: 22)
        let w = Tensor((0..<96).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [6, 16])
        // x = z · A: 16 features mixed from 6 latent ones plus a little noise.
        let mix = (0..<(6 * 16)).map { _ in Float.random(in: -1...1, using: &rng) }
        let samples = (0..<4).map { _ -> Tensor in
            var x = [Float](repeating: 0, count: 64 * 16)
            for r in 0..<64 {
                let z = (0..<6).map { _ in Float.random(in: -1...1, using: &rng) }
                for j in 0..<16 {
                    x[r * 16 + j] =
                        (0..<6).reduce(0) { $0 + z[$1] * mix[$1 * 16 + j] } + Float.random(in: -0.05...0.05, using: &rng)
                }
            }
            return Tensor(x, shape: [64, 16])
        }
        let graph = layer(w, rows: 64)
        let errors = try [PruningMethod.magnitude, .wanda, .sparsegpt].map {
            try relativeOutputChange(
                graph, replacing: "w", with: Tensor(try prune(graph, $0, samples), shape: [6, 16]),
                samples: samples)
        }
        XCTAssertLessThan(errors[2], errors[0] / 2, "SparseGPT \(errors[2]) vs magnitude \(errors[0])")
        XCTAssertLessThan(errors[2], errors[1] / 2, "SparseGPT \(errors[2]) vs Wanda \(errors[1])")
    }
}

final class SparseGPTFactorTests: XCTestCase {
    /// H = AᵀA + I ([k, k] row-major) for A [m, k]: symmetric positive definite, its
    /// columns correlated when m < k.
    private func spd(_ k: Int, m: Int, seed: UInt64) -> [Double] {
        var rng = SeededRandom(seed: seed)
        let a = (0..<(m * k)).map { _ in Double.random(in: -1...1, using: &rng) }
        var h = [Double](repeating: 0, count: k * k)
        for i in 0..<k {
            for j in 0..<k {
                h[i * k + j] = (0..<m).reduce(0) { $0 + a[$1 * k + i] * a[$1 * k + j] } + (i == j ? 1 : 0)
            }
        }
        return h
    }

    /// The factor SparseGPT walks: Rᵀ lower triangular with a positive diagonal, R·Rᵀ = H.
    func testTransposedUpperFactorRebuildsH() throws {
        let k = 37
        let h = spd(k, m: k, seed: 23)
        let hf = h.map { Float($0) }
        let rt = try hf.withUnsafeBufferPointer { try SparseGPT.transposedUpperFactor($0, k) }
        for i in 0..<k {
            XCTAssertGreaterThan(rt[i * k + i], 0)
            for j in (i + 1)..<k { XCTAssertEqual(rt[i * k + j], 0) }
        }
        for i in 0..<k {
            for j in 0..<k {
                // (R·Rᵀ)[i][j] = Σ_p R[i][p]·R[j][p] = Σ_p Rᵀ[p][i]·Rᵀ[p][j]
                let sum = (0..<k).reduce(0.0) { $0 + Double(rt[$1 * k + i]) * Double(rt[$1 * k + j]) }
                XCTAssertEqual(sum, h[i * k + j], accuracy: 1e-4 * h[i * k + i], "(\(i), \(j))")
            }
        }
        var notDefinite = hf
        notDefinite[0] = -1
        XCTAssertThrowsError(try notDefinite.withUnsafeBufferPointer { try SparseGPT.transposedUpperFactor($0, k) })
    }

    /// The blocked walk prunes as optimal brain surgeon does one column at a time with U, the
    /// upper Cholesky factor of H⁻¹, worked out here in double the long way: H⁻¹ by
    /// Gauss-Jordan, then U from it. Two blocks of columns, the second one short.
    func testBlockedWalkMatchesTheColumnByColumnSurgeon() throws {
        let (rows, k) = (6, SparseGPT.blockSize + 44)
        var h = spd(k, m: 48, seed: 24)
        var rng = SeededRandom(seed: 25)
        let weights = (0..<(rows * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let hf = h.map { Float($0) }
        let got = try hf.withUnsafeBufferPointer { try SparseGPT.prune(weights, rows: rows, columns: k, hessian: $0) }

        let mean = (0..<k).reduce(0.0) { $0 + Double(hf[$1 * k + $1]) } / Double(k)
        for j in 0..<k { h[j * k + j] = Double(hf[j * k + j]) + Double(Float(SparseGPT.dampening * mean)) }
        let u = upperCholesky(inverse(h, k), k)
        var w = weights.map { Double($0) }
        for c in stride(from: 0, to: k, by: 4) {
            for r in 0..<rows {
                let scores = (0..<4).map {
                    w[r * k + c + $0] * w[r * k + c + $0] / (u[(c + $0) * k + c + $0] * u[(c + $0) * k + c + $0])
                }
                let order = (0..<4).sorted { (scores[$0], $0) < (scores[$1], $1) }
                // The walk visits the group's columns in order: prune, spread, go on.
                for column in c..<(c + 4) where order.prefix(2).contains(column - c) {
                    let err = w[r * k + column] / u[column * k + column]
                    for j in column..<k { w[r * k + j] -= err * u[column * k + j] }
                    w[r * k + column] = 0
                }
            }
        }
        var differing = 0.0
        for i in 0..<(rows * k) {
            XCTAssertEqual(got[i] == 0, w[i] == 0, "weight \(i): \(got[i]) against \(w[i])")
            differing = max(differing, abs(Double(got[i]) - w[i]))
        }
        XCTAssertLessThan(differing, 1e-3, "largest difference from the double-precision walk")
    }

    /// A⁻¹ by Gauss-Jordan elimination with partial pivoting.
    private func inverse(_ a: [Double], _ k: Int) -> [Double] {
        var m = a, out = [Double](repeating: 0, count: k * k)
        for i in 0..<k { out[i * k + i] = 1 }
        for c in 0..<k {
            let p = (c..<k).max { abs(m[$0 * k + c]) < abs(m[$1 * k + c]) }!
            for j in 0..<k {
                m.swapAt(c * k + j, p * k + j)
                out.swapAt(c * k + j, p * k + j)
            }
            let pivot = m[c * k + c]
            for j in 0..<k {
                m[c * k + j] /= pivot
                out[c * k + j] /= pivot
            }
            for r in 0..<k where r != c {
                let f = m[r * k + c]
                guard f != 0 else { continue }
                for j in 0..<k {
                    m[r * k + j] -= f * m[c * k + j]
                    out[r * k + j] -= f * out[c * k + j]
                }
            }
        }
        return out
    }

    /// U upper with UᵀU = `a` (symmetric positive definite), row-major.
    private func upperCholesky(_ a: [Double], _ k: Int) -> [Double] {
        var u = [Double](repeating: 0, count: k * k)
        for i in 0..<k {
            let d = a[i * k + i] - (0..<i).reduce(0) { $0 + u[$1 * k + i] * u[$1 * k + i] }
            u[i * k + i] = d.squareRoot()
            for j in (i + 1)..<k {
                u[i * k + j] = (a[i * k + j] - (0..<i).reduce(0) { $0 + u[$1 * k + i] * u[$1 * k + j] }) / u[i * k + i]
            }
        }
        return u
    }
}
