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
    /// The factor SparseGPT walks: U upper triangular, positive diagonal, UᵀU·H = I.
    func testUpperCholeskyOfInverseInvertsH() throws {
        var rng = SeededRandom(seed: 23)
        let k = 37
        // H = AᵀA + I, symmetric positive definite.
        let a = (0..<(k * k)).map { _ in Double.random(in: -1...1, using: &rng) }
        var h = [Double](repeating: 0, count: k * k)
        for i in 0..<k {
            for j in 0..<k {
                h[i * k + j] = (0..<k).reduce(0) { $0 + a[$1 * k + i] * a[$1 * k + j] } + (i == j ? 1 : 0)
            }
        }
        let u = try SparseGPT.upperCholeskyOfInverse(h, k)
        for i in 0..<k {
            XCTAssertGreaterThan(u[i * k + i], 0)
            for j in 0..<i { XCTAssertEqual(u[i * k + j], 0) }
        }
        for i in 0..<k {
            for j in 0..<k {
                // (UᵀU·H)[i][j] = Σ_p Σ_q U[p][i]·U[p][q]·H[q][j]
                var sum = 0.0
                for p in 0..<k {
                    let upi = u[p * k + i]
                    guard upi != 0 else { continue }
                    sum += upi * (0..<k).reduce(0) { $0 + u[p * k + $1] * h[$1 * k + j] }
                }
                XCTAssertEqual(sum, i == j ? 1 : 0, accuracy: 1e-9, "(\(i), \(j))")
            }
        }
        var notDefinite = h
        notDefinite[0] = -1
        XCTAssertThrowsError(try SparseGPT.upperCholeskyOfInverse(notDefinite, k))
    }
}
