// fuse-layernorm, Before and Expected side by side: a layer normalization spelled out as
// torch.onnx writes it before opset 17 becomes LayerNormalization with its scale and shift;
// the square as Mul(d, d), commuted operands, no shift and a scalar scale too; chains over
// axes that are not the trailing ones, or whose values something else reads, stay.
import IR
import Passes
import XCTest

final class FuseLayerNormTests: XCTestCase {
    /// A layer normalization of %x over %axes into %n, as torch.onnx writes it before opset
    /// 17 (its constants %two and %eps the graph's).
    private let spelledOut = """
          %m = ReduceMean(%x, %axes)
          %d = Sub(%x, %m)
          %p = Pow(%d, %two)
          %v = ReduceMean(%p, %axes)
          %e = Add(%v, %eps)
          %s = Sqrt(%e)
          %n = Div(%d, %s)
        """

    func testASpelledOutLayerNormalizationBecomesOne() throws {
        let before = """
            graph main(%x: f32[1,4,8]) -> (%y: f32[1,4,8], %z: f32[1,4,8]) {
              const %axes: i64[1] = [-1]
              const %two: f32[] = [2]
              const %eps: f32[] = [1e-05]
              const %gamma: f32[8] = [1, 2, 3, 4, 5, 6, 7, 8]
              const %beta: f32[8] = [0, 0, 0, 0, 1, 1, 1, 1]
              const %half: f32[] = [0.5]
            \(spelledOut)
              %g = Mul(%n, %gamma)
              %y = Add(%g, %beta) name="norm"
              %m2 = ReduceMean(%y, %axes)
              %d2 = Sub(%y, %m2)
              %p2 = Mul(%d2, %d2)
              %v2 = ReduceMean(%p2, %axes)
              %e2 = Add(%eps, %v2)
              %s2 = Sqrt(%e2)
              %n2 = Div(%d2, %s2)
              %z = Mul(%half, %n2) name="norm2"
              return %y, %z
            }
            """
        XCTAssertEqual(
            try apply([InferShapes(), FuseLayerNorm(), EliminateDeadCode()], to: before).after,
            """
            graph main(%x: f32[1,4,8]) -> (%y: f32[1,4,8], %z: f32[1,4,8]) {
              const %beta: f32[8] = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
              const %gamma: f32[8] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
              const %z_scale: f32[8] = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
              %y: f32[1,4,8] = LayerNormalization(%x, %gamma, %beta) {axis=2, epsilon=1e-05} name="norm"
              %z: f32[1,4,8] = LayerNormalization(%y, %z_scale) {axis=2, epsilon=1e-05} name="norm2"
              return %y, %z
            }
            """)
        XCTAssertEqual(try apply([InferShapes(), FuseLayerNorm()], to: before).statistics["LayerNormalization"], 2)
    }

    func testChainsThatAreNoLayerNormalizationStay() throws {
        let chain = """
            graph main(%x: f32[2,8]) -> (%n: f32[*]) {
              const %axes: i64[1] = [1]
              const %first: i64[1] = [0]
              const %two: f32[] = [2]
              const %eps: f32[] = [1e-05]
            \(spelledOut)
              return %n
            }
            """
        XCTAssertEqual(try apply([InferShapes(), FuseLayerNorm()], to: chain).statistics["LayerNormalization"], 1)
        for (label, changes) in [
            ("the mean over the first axis", [("%m = ReduceMean(%x, %axes)", "%m = ReduceMean(%x, %first)")]),
            (
                "the deviation read elsewhere",
                [("-> (%n: f32[*])", "-> (%n: f32[*], %d: f32[*])"), ("return %n", "return %n, %d")]
            ),
            ("a variable epsilon", [("%e = Add(%v, %eps)", "%e = Add(%v, %v)")]),
            ("a cube, not a square", [("const %two: f32[] = [2]", "const %two: f32[] = [3]")]),
            ("a deviation from no mean", [("%d = Sub(%x, %m)", "%d = Sub(%x, %eps)")]),
        ] {
            let before = changes.reduce(chain) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
            XCTAssertNotEqual(before, chain, label)
            let (_, statistics) = try apply([InferShapes(), FuseLayerNorm()], to: before)
            XCTAssertEqual(statistics["LayerNormalization"], 0, label)
        }
    }
}
