// eliminate-dead-code, Before and Expected side by side: what no output depends on goes;
// nodes with a used output, graph inputs and live constants stay.
import IR
import Passes
import XCTest

final class EliminateDeadCodeTests: XCTestCase {
    func testUnusedNodesAndConstantsGo() throws {
        let (after, statistics) = try apply(
            EliminateDeadCode(),
            to: """
                graph main(%x: f32[2]) -> (%y: f32[2]) {
                  const %bias: f32[2] = [1.0, 2.0]
                  const %unused: f32[1] = [3.0]
                  %dead: f32[2] = Relu(%x)
                  %dead2 = Add(%dead, %bias)
                  %y: f32[2] = Sigmoid(%x)
                  return %y
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2]) -> (%y: f32[2]) {
              %y: f32[2] = Sigmoid(%x)
              return %y
            }
            """)
        XCTAssertEqual(statistics["nodes"], 2)
        XCTAssertEqual(statistics["constants"], 2)
    }

    /// A Split with one output read keeps its other output; an unused graph input stays;
    /// a constant that is a graph output is live.
    func testDoesNotFireOnLiveCode() throws {
        let before = """
            graph main(%x: f32[4], %unused: f32[1]) -> (%y: f32[2], %k: f32[1]) {
              const %k: f32[1] = [1.0]
              const %sizes: i64[2] = [2, 2]
              %y, %rest = Split(%x, %sizes) {axis=0}
              return %y, %k
            }
            """
        let (after, statistics) = try apply(EliminateDeadCode(), to: before)
        XCTAssertEqual(after, before)
        XCTAssertTrue(statistics.isEmpty, "\(statistics)")
    }

    func testOptionalOutputsNothingReadsGoButSplitKeepsItsOutputs() throws {
        let (after, statistics) = try apply(
            EliminateDeadCode(),
            to: """
                graph main(%x: f32[1,4,4,8], %g: f32[8], %b: f32[8]) -> (%y: f32[*], %p: f32[*], %s0: f32[*]) {
                  %y, %mean, %inv = LayerNormalization(%x, %g, %b) {axis=-1}
                  %p, %indices = MaxPool(%x) {kernel_shape=[2, 2]}
                  %s0, %s1 = Split(%x) {axis=3, num_outputs=2}
                  return %y, %p, %s0
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[1,4,4,8], %g: f32[8], %b: f32[8]) -> (%y: f32[*], %p: f32[*], %s0: f32[*]) {
              %y = LayerNormalization(%x, %g, %b) {axis=-1}
              %p = MaxPool(%x) {kernel_shape=[2, 2]}
              %s0, %s1 = Split(%x) {axis=3, num_outputs=2}
              return %y, %p, %s0
            }
            """)
        XCTAssertEqual(statistics["outputs"], 3)
    }

    func testAnOptionalOutputThatIsReadStays() throws {
        let before = """
            graph main(%x: f32[1,4,8], %g: f32[8], %b: f32[8]) -> (%y: f32[*], %z: f32[*]) {
              %y, _, %inv = LayerNormalization(%x, %g, %b) {axis=-1}
              %z = Neg(%inv)
              return %y, %z
            }
            """
        let (after, statistics) = try apply(EliminateDeadCode(), to: before)
        XCTAssertEqual(after, before)
        XCTAssertTrue(statistics.isEmpty)
    }
}
