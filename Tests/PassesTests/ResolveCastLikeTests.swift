// resolve-cast-like, Before and Expected side by side: CastLike becomes the Cast to its
// second input's type where that type is known, and computes the same values.
import IR
import Passes
import Reference
import TestSupport
import XCTest

final class ResolveCastLikeTests: XCTestCase {
    func testCastLikeBecomesTheCastToTheTypeItCopies() throws {
        let (after, statistics) = try apply(
            [InferShapes(), ResolveCastLike()],
            to: """
                graph main(%x: f32[2,3], %ids: i64[2,3]) -> (%a: i64[*], %b: f32[*], %c: i32[*]) {
                  const %like: i32[] = [0]
                  %a = CastLike(%x, %ids)
                  %b = CastLike(%ids, %x) {saturate=0}
                  %c = CastLike(%x, %like)
                  return %a, %b, %c
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2,3], %ids: i64[2,3]) -> (%a: i64[*], %b: f32[*], %c: i32[*]) {
              const %like: i32[] = [0]
              %a: i64[2,3] = Cast(%x) {to=7}
              %b: f32[2,3] = Cast(%ids) {saturate=0, to=1}
              %c: i32[2,3] = Cast(%x) {to=6}
              return %a, %b, %c
            }
            """)
        XCTAssertEqual(statistics["i64"], 1)
        XCTAssertEqual(statistics["f32"], 1)
        XCTAssertEqual(statistics["i32"], 1)
    }

    func testTheValuesAreUnchanged() throws {
        let text = """
            graph main(%x: f32[4], %ids: i64[4]) -> (%a: i64[4], %b: f32[4]) {
              %a = CastLike(%x, %ids)
              %b = CastLike(%ids, %x)
              return %a, %b
            }
            """
        var graph = try IRParser.parseGraph(text)
        let feeds: [String: Tensor] = [
            "x": Tensor([Float(-2.75), -0.5, 3.9, 1e10], shape: [4]), "ids": Tensor([Int64(-3), 0, 7, 1 << 40], shape: [4]),
        ]
        let before = try Interpreter(graph: graph).run(feeds)
        _ = try Pipeline([InferShapes(), ResolveCastLike()]).run(&graph, PassContext())
        XCTAssertFalse(graph.nodes.contains { $0.op == "CastLike" })
        let after = try Interpreter(graph: graph).run(feeds)
        XCTAssertEqual(after["a"]?.int64s(), before["a"]?.int64s())
        XCTAssertEqual(after["a"]?.int64s().prefix(3), [-2, 0, 3])
        XCTAssertEqual(after["b"]?.floats(), before["b"]?.floats())
    }
}
