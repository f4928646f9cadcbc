// fold-constants, Before and Expected side by side: constant subgraphs, Shape and Size
// from types, graph outputs that become constants, the size limit, and the nodes that
// must stay (a non-constant input, a symbolic shape, another domain).
import IR
import Passes
import XCTest

final class FoldConstantsTests: XCTestCase {
    func testAConstantSubgraphFoldsInOneRun() throws {
        // c = a + b = [4, 6]; d = c * c = [16, 36]; the Add reading %x stays.
        let (after, statistics) = try apply(
            FoldConstants(),
            to: """
                graph main(%x: f32[2]) -> (%y: f32[2]) {
                  const %a: f32[2] = [1.0, 2.0]
                  const %b: f32[2] = [3.0, 4.0]
                  %c: f32[2] = Add(%a, %b)
                  %d = Mul(%c, %c)
                  %y: f32[2] = Add(%x, %d)
                  return %y
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2]) -> (%y: f32[2]) {
              const %a: f32[2] = [1.0, 2.0]
              const %b: f32[2] = [3.0, 4.0]
              const %c: f32[2] = [4.0, 6.0]
              const %d: f32[2] = [16.0, 36.0]
              %y: f32[2] = Add(%x, %d)
              return %y
            }
            """)
        XCTAssertEqual(statistics["folded"], 2)
    }

    func testShapeAndSizeFoldFromKnownTypes() throws {
        let (after, _) = try apply(
            FoldConstants(),
            to: """
                graph main(%x: f32[2,3,4]) -> (%s: i64[*], %n: i64[*], %y: f32[*]) {
                  %r: f32[2,3,4] = Relu(%x)
                  %s = Shape(%r) {start=1}
                  %n = Size(%r)
                  %y = Expand(%r, %s)
                  return %s, %n, %y
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2,3,4]) -> (%s: i64[*], %n: i64[*], %y: f32[*]) {
              const %n: i64[] = [24]
              const %s: i64[2] = [3, 4]
              %r: f32[2,3,4] = Relu(%x)
              %y: f32[2,3,4] = Expand(%r, %s)
              return %s, %n, %y
            }
            """)
    }

    func testOutputsOfSeveralResultsAllFold() throws {
        let (after, _) = try apply(
            FoldConstants(),
            to: """
                graph main() -> (%a: f32[*], %b: f32[*]) {
                  const %k: f32[3] = [1.0, 2.0, 3.0]
                  const %sizes: i64[2] = [1, 2]
                  %a, %b = Split(%k, %sizes) {axis=0}
                  return %a, %b
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main() -> (%a: f32[*], %b: f32[*]) {
              const %a: f32[1] = [1.0]
              const %b: f32[2] = [2.0, 3.0]
              const %k: f32[3] = [1.0, 2.0, 3.0]
              const %sizes: i64[2] = [1, 2]
              return %a, %b
            }
            """)
    }

    /// Above the limit a result larger than its inputs stays a node (the Expand); below it
    /// (the ConstantOfShape weight), or when no larger than the inputs (the Neg), it folds.
    func testTheSizeLimitKeepsBroadcastsButNotWeights() throws {
        let (after, statistics) = try apply(
            FoldConstants(sizeLimit: 10),
            to: """
                graph main() -> (%big: f32[*], %w: f32[*], %same: f32[*]) {
                  const %big_shape: i64[2] = [20, 20]
                  const %one: f32[] = [1.0]
                  const %table: f32[12] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
                  const %w_shape: i64[2] = [2, 3]
                  %big = Expand(%one, %big_shape)
                  %w = ConstantOfShape(%w_shape) {value=f32[1] [0.5]}
                  %same = Neg(%table)
                  return %big, %w, %same
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main() -> (%big: f32[*], %w: f32[*], %same: f32[*]) {
              const %big_shape: i64[2] = [20, 20]
              const %one: f32[] = [1.0]
              const %same: f32[12] = [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0, -10.0, -11.0, -12.0]
              const %table: f32[12] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
              const %w: f32[2,3] = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
              const %w_shape: i64[2] = [2, 3]
              %big: f32[20,20] = Expand(%one, %big_shape)
              return %big, %w, %same
            }
            """)
        XCTAssertEqual(statistics["folded"], 2)
    }

    /// A result over the limit that a layer reads as its weight folds all the same, and so
    /// does one such a weight is computed from (the ConstantOfShape before the Transpose);
    /// the same broadcast read by an Add stays a node.
    func testWeightsFoldWhateverTheirSize() throws {
        let (after, statistics) = try apply(
            FoldConstants(sizeLimit: 4),
            to: """
                graph main(%x: f32[2,3]) -> (%y: f32[*], %z: f32[*], %s: f32[*]) {
                  const %w_shape: i64[2] = [3, 2]
                  const %t_shape: i64[2] = [2, 3]
                  %w = ConstantOfShape(%w_shape) {value=f32[1] [0.5]}
                  %y = MatMul(%x, %w)
                  %t = ConstantOfShape(%t_shape) {value=f32[1] [0.25]}
                  %tt = Transpose(%t) {perm=[1, 0]}
                  %z = Gemm(%x, %tt)
                  %b = ConstantOfShape(%t_shape) {value=f32[1] [1.0]}
                  %s = Add(%x, %b)
                  return %y, %z, %s
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2,3]) -> (%y: f32[*], %z: f32[*], %s: f32[*]) {
              const %t: f32[2,3] = [0.25, 0.25, 0.25, 0.25, 0.25, 0.25]
              const %t_shape: i64[2] = [2, 3]
              const %tt: f32[3,2] = [0.25, 0.25, 0.25, 0.25, 0.25, 0.25]
              const %w: f32[3,2] = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
              const %w_shape: i64[2] = [3, 2]
              %y: f32[2,2] = MatMul(%x, %w)
              %z: f32[2,2] = Gemm(%x, %tt)
              %b: f32[2,3] = ConstantOfShape(%t_shape) {value=f32[1] [1.0]}
              %s: f32[2,3] = Add(%x, %b)
              return %y, %z, %s
            }
            """)
        XCTAssertEqual(statistics["folded"], 3)
    }

    /// A node whose results are all empty folds to empty constants whatever its inputs, and
    /// an empty value counts as a constant input whatever computes it: a product over an
    /// empty reduction folds to zeros. A node with a result that is not empty stays (the
    /// Split), and so does one with an input that is neither empty nor constant (the Concat).
    func testEmptyResultsFoldWhateverTheInputs() throws {
        let (after, statistics) = try apply(
            FoldConstants(),
            to: """
                graph main(%x: f32[1,4,6]) -> (%y: f32[*], %z: f32[*], %v: f32[*]) {
                  const %last: i64[1] = [2]
                  const %sizes: i64[2] = [0, 6]
                  const %w: f32[0,2] = []
                  const %zero: i64[1] = [0]
                  %e = Slice(%x, %zero, %zero, %last)
                  %y = MatMul(%e, %w)
                  %p: f32[1,4,0], %q: f32[1,4,6] = Split(%x, %sizes) {axis=2}
                  %z = Concat(%p, %q) {axis=2}
                  %v = MatMul(%p, %w)
                  return %y, %z, %v
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[1,4,6]) -> (%y: f32[*], %z: f32[*], %v: f32[*]) {
              const %e: f32[1,4,0] = []
              const %last: i64[1] = [2]
              const %sizes: i64[2] = [0, 6]
              const %v: f32[1,4,2] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
              const %w: f32[0,2] = []
              const %y: f32[1,4,2] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
              const %zero: i64[1] = [0]
              %p: f32[1,4,0], %q: f32[1,4,6] = Split(%x, %sizes) {axis=2}
              %z: f32[1,4,6] = Concat(%p, %q) {axis=2}
              return %y, %z, %v
            }
            """)
        XCTAssertEqual(statistics["folded"], 3)
    }

    func testDoesNotFireWithoutConstantInputs() throws {
        let before = """
            graph main(%x: f32[N,3]) -> (%y: f32[*], %z: f32[*]) {
              const %k: f32[3] = [1.0, 2.0, 3.0]
              %y = Add(%x, %k)
              %s: i64[2] = Shape(%x)
              %z = Reshape(%x, %s)
              %w = Neg(%k) domain="com.example"
              return %y, %z
            }
            """
        let (after, statistics) = try apply(FoldConstants(), to: before)
        // Types refined, nothing folded.
        XCTAssertEqual(
            after,
            before.replacingOccurrences(of: "%y = Add", with: "%y: f32[N,3] = Add")
                .replacingOccurrences(of: "%z = Reshape", with: "%z: f32[N,3] = Reshape"))
        XCTAssertEqual(statistics["folded"], 0)
    }

    /// A Shape whose input's extents come from a shape chain folded earlier in the same walk
    /// (a Resize to its input's own size, by Shape, Slice, Cast and Concat) folds in that walk:
    /// types follow what the walk folds.
    func testShapesFoldThroughValuesTheWalkGaveExtents() throws {
        let (after, statistics) = try apply(
            FoldConstants(),
            to: """
                graph main(%x: f32[1,2,4,4]) -> (%n: i64[*]) {
                  const %lo: i64[1] = [2]
                  const %hi: i64[1] = [4]
                  const %nc: i64[2] = [1, 2]
                  %s = Shape(%x)
                  %hw = Slice(%s, %lo, %hi)
                  %hwc = Cast(%hw) {to=7}
                  %sizes = Concat(%nc, %hwc) {axis=0}
                  %r = Resize(%x, _, _, %sizes) {mode="nearest"}
                  %m = Mul(%x, %r)
                  %n = Shape(%m)
                  return %n
                }
                """)
        XCTAssertTrue(after.contains("const %n: i64[4] = [1, 2, 4, 4]"), after)
        XCTAssertEqual(statistics["folded"], 5)
    }
}
