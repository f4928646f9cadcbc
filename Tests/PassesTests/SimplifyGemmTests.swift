// simplify-gemm, Before and Expected side by side: alpha, beta and transA go into the
// operands, and the interpreter's outputs stay what they were (to float32 rounding).
import IR
import Passes
import Reference
import TestSupport
import XCTest

final class SimplifyGemmTests: XCTestCase {
    func testAlphaAndBetaScaleTheConstantsAndBetaZeroDropsC() throws {
        let (after, statistics) = try apply(
            SimplifyGemm(),
            to: """
                graph main(%x: f32[1,2]) -> (%y: f32[*], %z: f32[*]) {
                  const %w: f32[2,2] = [1.0, 2.0, 3.0, 4.0]
                  const %b: f32[2] = [1.0, -1.0]
                  %y = Gemm(%x, %w, %b) {alpha=0.5, beta=3.0}
                  %z = Gemm(%x, %w, %b) {beta=0.0, transB=1}
                  return %y, %z
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[1,2]) -> (%y: f32[*], %z: f32[*]) {
              const %b: f32[2] = [1.0, -1.0]
              const %b_beta: f32[2] = [3.0, -3.0]
              const %w: f32[2,2] = [1.0, 2.0, 3.0, 4.0]
              const %w_alpha: f32[2,2] = [0.5, 1.0, 1.5, 2.0]
              %y = Gemm(%x, %w_alpha, %b_beta)
              %z = Gemm(%x, %w) {transB=1}
              return %y, %z
            }
            """)
        XCTAssertEqual(statistics["alpha"], 1)
        XCTAssertEqual(statistics["beta"], 1)
        XCTAssertEqual(statistics["C dropped"], 1)
    }

    func testTransAOfAnActivationReadsThroughATranspose() throws {
        let (after, statistics) = try apply(
            SimplifyGemm(),
            to: """
                graph main(%x: f32[3,1]) -> (%y: f32[*]) {
                  const %w: f32[3,2] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
                  %y = Gemm(%x, %w) {transA=1}
                  return %y
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[3,1]) -> (%y: f32[*]) {
              const %w: f32[3,2] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
              %x_transposed: f32[1,3] = Transpose(%x) {perm=[1, 0]} name="y_transpose_a"
              %y = Gemm(%x_transposed, %w)
              return %y
            }
            """)
        XCTAssertEqual(statistics["transA"], 1)
    }

    /// Every combination of alpha, beta, transA (A constant or not) and transB computes
    /// what it did, after the whole canonicalization.
    func testTheOutputsAreUnchanged() throws {
        var rng = SeededRandom(seed: 7)
        func random(_ shape: [Int]) -> Tensor {
            Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: shape)
        }
        var cases: [(alpha: Float, beta: Float, transA: Int, transB: Int, constantA: Bool)] = []
        for alpha: Float in [1, 0.25, -3] {
            for beta: Float in [1, 0, 2.5] {
                for transA in [0, 1] {
                    for transB in [0, 1] {
                        for constantA in [false, true] { cases.append((alpha, beta, transA, transB, constantA)) }
                    }
                }
            }
        }
        for (alpha, beta, transA, transB, constantA) in cases {
            let (m, k, n) = (3, 5, 4)
            var b = GraphBuilder()
            let a = random(transA == 1 ? [k, m] : [m, k])
            if constantA { b.constant("a", a) } else { b.input("a", .float32, a.shape.map { Dim.known($0) }) }
            b.input("x", .float32, [Dim.known(1)])
            b.constant("w", random(transB == 1 ? [n, k] : [k, n]))
            b.constant("c", random([n]))
            b.node(
                "Gemm", ["a", "w", "c"],
                ["alpha": .float(alpha), "beta": .float(beta), "transA": .int(transA), "transB": .int(transB)],
                outputs: ["g"])
            b.node("Mul", ["g", "x"], outputs: ["y"])
            b.output("y")
            var simplified = b.graph
            try Pipeline.canonicalize.run(&simplified, PassContext())
            XCTAssertFalse(
                simplified.nodes.contains {
                    $0.attributes["alpha"] != nil || $0.attributes["beta"] != nil || $0.attributes["transA"] != nil
                })
            let feeds = (constantA ? [:] : ["a": a]).merging(["x": Tensor([Float(1)], shape: [1])]) { $1 }
            let before = try XCTUnwrap(try Interpreter(graph: b.graph).run(feeds)["y"]).floats()
            let after = try XCTUnwrap(try Interpreter(graph: simplified).run(feeds)["y"]).floats()
            for (p, q) in zip(before, after) { XCTAssertEqual(p, q, accuracy: 1e-5 * max(1, abs(p))) }
        }
    }
}
