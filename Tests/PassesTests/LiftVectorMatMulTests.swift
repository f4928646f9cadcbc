// lift-vector-matmul and float-exponent, Before and Expected side by side, and the
// interpreter's outputs unchanged bit for bit.
import IR
import Passes
import Reference
import TestSupport
import XCTest

final class LiftVectorMatMulTests: XCTestCase {
    func testAVectorTimesAWeightBecomesARowTimesTheWeight() throws {
        let (after, statistics) = try apply(
            [LiftVectorMatMul()],
            to: """
                graph main(%x: f32[3]) -> (%y: f32[*]) {
                  const %w: f32[3,2] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
                  %y = MatMul(%x, %w)
                  return %y
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[3]) -> (%y: f32[*]) {
              const %w: f32[3,2] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
              const %y_axes: i64[1] = [0]
              const %y_squeeze_axes: i64[1] = [0]
              %x_row: f32[1,3] = Unsqueeze(%x, %y_axes) name="y_unsqueeze"
              %y_lifted: f32[*] = MatMul(%x_row, %w)
              %y = Squeeze(%y_lifted, %y_squeeze_axes) name="y_squeeze"
              return %y
            }
            """)
        XCTAssertEqual(statistics["products"], 1)
    }

    /// x·W, W·x and X·v give the same values as before, bit for bit (each output is one dot
    /// product of the same operands), through the whole canonicalization.
    func testTheOutputsAreUnchanged() throws {
        var rng = SeededRandom(seed: 5)
        func random(_ shape: [Int]) -> Tensor {
            Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: shape)
        }
        for (xShape, wShape, weightFirst) in [([8], [8, 5], false), ([8], [5, 8], true), ([2, 3, 8], [8], false)] {
            var b = GraphBuilder()
            b.input("x", .float32, xShape.map { .known($0) })
            b.constant("w", random(wShape))
            b.node("MatMul", weightFirst ? ["w", "x"] : ["x", "w"], outputs: ["y"])
            b.output("y")
            var lifted = b.graph
            try Pipeline.canonicalize.run(&lifted, PassContext())
            let products = lifted.nodes.filter { $0.op == "MatMul" }
            XCTAssertEqual(products.count, 1)
            XCTAssertNotNil(lifted.constants[products[0].inputs[1]], "the weight is on the right")
            XCTAssertEqual(lifted.types[products[0].inputs[0]]?.shape?.rank, xShape.count == 1 ? 2 : 3)
            let x = random(xShape)
            let before = try XCTUnwrap(try Interpreter(graph: b.graph).run(["x": x])["y"])
            let after = try XCTUnwrap(try Interpreter(graph: lifted).run(["x": x])["y"])
            XCTAssertEqual(after.shape, before.shape)
            XCTAssertEqual(after.floats().map(\.bitPattern), before.floats().map(\.bitPattern))
        }
    }

    func testAPowersIntegerExponentBecomesFloat() throws {
        let (after, statistics) = try apply(
            [FloatExponent()],
            to: """
                graph main(%x: f32[2]) -> (%y: f32[*], %z: f32[*]) {
                  const %two: i64[] = [2]
                  const %half: f32[] = [0.5]
                  %y = Pow(%x, %two)
                  %z = Pow(%x, %half)
                  return %y, %z
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2]) -> (%y: f32[*], %z: f32[*]) {
              const %half: f32[] = [0.5]
              const %two: i64[] = [2]
              const %two_float: f32[] = [2.0]
              %y = Pow(%x, %two_float)
              %z = Pow(%x, %half)
              return %y, %z
            }
            """)
        XCTAssertEqual(statistics["exponents"], 1)
    }
}
