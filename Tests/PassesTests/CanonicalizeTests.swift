// The canonicalize pipeline on what exporters write: shape chains that fold once the
// batch is fixed, weights built by constant subgraphs, Identity and Dropout; the result
// computes what the model computed, and a second run changes nothing.
import IR
import Passes
import Reference
import TestSupport
import XCTest

final class CanonicalizeTests: XCTestCase {
    /// x -> Shape -> Gather(0) -> Unsqueeze -> Concat with [-1] -> Reshape(x, .).
    private func shapeChain(batch: String) -> String {
        """
        graph main(%x: f32[\(batch),3,8,8]) -> (%y: f32[*]) {
          const %axes: i64[1] = [0]
          const %minus_one: i64[1] = [-1]
          const %zero: i64[] = [0]
          %shape = Shape(%x)
          %batch = Gather(%shape, %zero) {axis=0}
          %batch1 = Unsqueeze(%batch, %axes)
          %flat_shape = Concat(%batch1, %minus_one) {axis=0}
          %y = Reshape(%x, %flat_shape)
          return %y
        }
        """
    }

    func testAnExporterShapeChainFoldsOnceTheBatchIsKnown() throws {
        let (after, _) = try apply(Pipeline.canonicalize.passes, to: shapeChain(batch: "2"))
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2,3,8,8]) -> (%y: f32[*]) {
              const %flat_shape: i64[2] = [2, -1]
              %y: f32[2,192] = Reshape(%x, %flat_shape)
              return %y
            }
            """)
    }

    func testWithASymbolicBatchTheChainStaysButReshapeIsTyped() throws {
        var graph = try IRParser.parseGraph(shapeChain(batch: "N"))
        try Pipeline.canonicalize.run(&graph, PassContext())
        XCTAssertEqual(graph.nodes.map(\.op), ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape"])
        XCTAssertEqual(graph.types["y"], TensorType(.float32, Shape([.symbol("N"), .known(192)])))
    }

    func testAWeightBuiltByAConstantSubgraphBecomesOneConstant() throws {
        let (after, _) = try apply(
            Pipeline.canonicalize.passes,
            to: """
                graph main(%x: f32[1,2]) -> (%y: f32[*]) {
                  const %base: f32[2,2] = [1.0, 2.0, 3.0, 4.0]
                  const %wshape: i64[2] = [2, 2]
                  %half = ConstantOfShape(%wshape) {value=f32[1] [0.5]}
                  %w = Add(%base, %half)
                  %y = MatMul(%x, %w)
                  return %y
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[1,2]) -> (%y: f32[*]) {
              const %w: f32[2,2] = [1.5, 2.5, 3.5, 4.5]
              %y: f32[1,2] = MatMul(%x, %w)
              return %y
            }
            """)
    }

    /// A model with everything canonicalize rewrites: the interpreter gives the same
    /// outputs before and after, and canonicalizing again changes nothing.
    func testTheResultComputesTheSameAndIsStable() throws {
        var graph = try IRParser.parseGraph(
            """
            graph main(%x: f32[2,3,4,4]) -> (%y: f32[*], %s: i64[*]) {
              const %axes: i64[1] = [0]
              const %base: f32[48,5] = <elided 240 elements>
              const %eps: f32[] = [0.25]
              const %minus_one: i64[1] = [-1]
              const %zero: i64[] = [0]
              %r = Relu(%x)
              %d = Dropout(%r)
              %shape = Shape(%d)
              %batch = Gather(%shape, %zero) {axis=0}
              %batch1 = Unsqueeze(%batch, %axes)
              %flat_shape = Concat(%batch1, %minus_one) {axis=0}
              %flat = Reshape(%d, %flat_shape)
              %w = Add(%base, %eps)
              %mm = MatMul(%flat, %w)
              %dead = Sigmoid(%mm)
              %y = Identity(%mm)
              %s = Identity(%shape)
              return %y, %s
            }
            """, options: IRParser.Options(elidedDataAsZeros: true))
        var random = SeededRandom(seed: 7)
        graph.constants["base"] = Tensor((0..<240).map { _ in Float.random(in: -1...1, using: &random) }, shape: [48, 5])
        let input = Tensor((0..<96).map { _ in Float.random(in: -1...1, using: &random) }, shape: [2, 3, 4, 4])
        let before = try Interpreter(graph: graph).run(["x": input])

        let stats = try Pipeline.canonicalize.run(&graph, PassContext())
        XCTAssertEqual(graph.nodes.map(\.op), ["Relu", "Reshape", "MatMul"], printed(graph))
        XCTAssertGreaterThan(stats.reduce(0) { $0 + $1.statistics.counters.reduce(0) { $0 + $1.value } }, 0)
        let after = try Interpreter(graph: graph).run(["x": input])
        XCTAssertEqual(Set(after.keys), ["y", "s"])
        for name in ["y", "s"] {
            XCTAssertTrue(try XCTUnwrap(before[name]).bitwiseEqual(try XCTUnwrap(after[name])), name)
        }

        let text = printed(graph)
        let again = try Pipeline.canonicalize.run(&graph, PassContext())
        XCTAssertTrue(again.allSatisfy { $0.statistics.isEmpty }, "\(again)")
        XCTAssertEqual(printed(graph), text)
    }
}
