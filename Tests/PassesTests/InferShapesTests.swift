// infer-shapes, Before and Expected side by side: types filled in with symbolic batch
// dims, declared types refined but never contradicted, shape errors named by node.
import IR
import Passes
import XCTest

final class InferShapesTests: XCTestCase {
    func testEveryNodeOutputGetsItsType() throws {
        let (after, statistics) = try apply(
            InferShapes(),
            to: """
                graph main(%x: f32[N,3,8,8]) -> (%y: f32[*]) {
                  const %w: f32[4,3,3,3] = <elided 108 elements>
                  const %fc: f32[16,10] = <elided 160 elements>
                  %c = Conv(%x, %w) {pads=[1, 1, 1, 1], strides=[2, 2]}
                  %p = MaxPool(%c) {kernel_shape=[2, 2], strides=[2, 2]}
                  %f = Flatten(%p)
                  %y = MatMul(%f, %fc)
                  return %y
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[N,3,8,8]) -> (%y: f32[*]) {
              const %fc: f32[16,10] = <elided 160 elements>
              const %w: f32[4,3,3,3] = <elided 108 elements>
              %c: f32[N,4,4,4] = Conv(%x, %w) {pads=[1, 1, 1, 1], strides=[2, 2]}
              %p: f32[N,4,2,2] = MaxPool(%c) {kernel_shape=[2, 2], strides=[2, 2]}
              %f: f32[N,16] = Flatten(%p)
              %y: f32[N,10] = MatMul(%f, %fc)
              return %y
            }
            """)
        XCTAssertEqual(statistics["refined"], 4)
    }

    /// A declared unknown extent is refined; a declared extent the rules cannot work out (a
    /// Reshape to a shape computed at run time) is kept.
    func testDeclaredTypesAreRefinedAndKept() throws {
        let (after, _) = try apply(
            InferShapes(),
            to: """
                graph main(%x: f32[N,4], %s: i64[3]) -> (%y: f32[*], %z: f32[*]) {
                  %y: f32[?,?] = Relu(%x)
                  %z: f32[N,2,2] = Reshape(%x, %s)
                  return %y, %z
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[N,4], %s: i64[3]) -> (%y: f32[*], %z: f32[*]) {
              %y: f32[N,4] = Relu(%x)
              %z: f32[N,2,2] = Reshape(%x, %s)
              return %y, %z
            }
            """)
    }

    func testContradictionsWithDeclaredTypesNameTheValue() {
        for (declared, inferred) in [("f32[N,5]", "f32[N,4]"), ("i64[N,4]", "f32[N,4]"), ("f32[N,4,1]", "f32[N,4]")] {
            XCTAssertThrowsError(
                try apply(
                    InferShapes(),
                    to: """
                        graph main(%x: f32[N,4]) -> (%y: f32[*]) {
                          %y: \(declared) = Relu(%x) name="relu"
                          return %y
                        }
                        """)
            ) { error in
                XCTAssertEqual("\(error)", "node Relu \"relu\": value \"y\" is declared \(declared) but inferred \(inferred)")
            }
        }
    }

    func testShapeErrorsNameTheNode() {
        XCTAssertThrowsError(
            try apply(
                InferShapes(),
                to: """
                    graph main(%x: f32[1,3,8,8], %w: f32[8,4,3,3]) -> (%y: f32[*]) {
                      %y = Conv(%x, %w) name="conv1"
                      return %y
                    }
                    """)
        ) { error in
            XCTAssertEqual(
                "\(error)",
                "node Conv \"conv1\": input has 3 channels but the weight expects 4 (group 1): "
                    + "input [1,3,8,8], weight [8,4,3,3]")
        }
    }

    /// An exporter's chain on a symbolic batch: nothing is constant, yet the Reshape learns
    /// [N, 192] by following the shape's elements symbolically.
    func testASymbolicShapeChainGivesReshapeItsDims() throws {
        let (after, _) = try apply(
            InferShapes(),
            to: """
                graph main(%x: f32[N,3,8,8]) -> (%y: f32[*]) {
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
                """)
        XCTAssertTrue(after.contains("%y: f32[N,192] = Reshape(%x, %flat_shape)"), after)
        XCTAssertTrue(after.contains("%flat_shape: i64[2] = Concat(%batch1, %minus_one) {axis=0}"), after)
    }

    /// Arithmetic on the chain's elements: a head's width divided out of a known extent, and
    /// a symbolic batch times a known extent, an unknown element of a value whose length is
    /// still known.
    func testArithmeticOnAShapeChainsElements() throws {
        let (after, _) = try apply(
            InferShapes(),
            to: """
                graph main(%x: f32[N,6,8]) -> (%y: f32[*], %z: f32[*], %w: f32[*]) {
                  const %zero: i64[] = [0]
                  const %two: i64[] = [2]
                  const %axes: i64[1] = [0]
                  const %heads: i64[1] = [2]
                  const %six: i64[1] = [6]
                  const %minus_one: i64[1] = [-1]
                  %shape = Shape(%x)
                  %batch = Gather(%shape, %zero) {axis=0}
                  %width = Gather(%shape, %two) {axis=0}
                  %head = Div(%width, %two)
                  %batch1 = Unsqueeze(%batch, %axes)
                  %head1 = Unsqueeze(%head, %axes)
                  %split = Concat(%batch1, %six, %heads, %head1) {axis=0}
                  %y = Reshape(%x, %split)
                  %rows = Mul(%batch1, %six)
                  %flat = Concat(%rows, %minus_one) {axis=0}
                  %z = Reshape(%x, %flat)
                  const %open_end: i64[1] = [9223372036854775807]
                  %past_end = Add(%open_end, %six)
                  %w = Expand(%x, %past_end)
                  return %y, %z, %w
                }
                """)
        XCTAssertTrue(after.contains("%y: f32[N,6,2,4] = Reshape(%x, %split)"), after)
        XCTAssertTrue(after.contains("%z: f32[?,?] = Reshape(%x, %flat)"), after)
        // An extent that overflows (a sentinel's arithmetic) is unknown, not a trap.
        XCTAssertTrue(after.contains("%past_end: i64[1] = Add(%open_end, %six)"), after)
    }

    /// Outputs of nodes in other domains keep what was declared.
    func testDoesNotFireOnOtherDomains() throws {
        let before = """
            graph main(%x: f32[2]) -> (%y: f32[*]) {
              %y: f32[?] = Fancy(%x) domain="com.example"
              return %y
            }
            """
        let (after, statistics) = try apply(InferShapes(), to: before)
        XCTAssertEqual(after, before)
        XCTAssertEqual(statistics["refined"], 0)
    }
}
