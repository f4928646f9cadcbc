// compose-transposes, Before and Expected side by side: a Transpose of a Transpose reads
// the first one's input through the composed permutation; one that restores the order is
// an Identity, one that moves only axes of extent 1 a Reshape; the values do not change.
import IR
import Passes
import Reference
import XCTest

final class ComposeTransposesTests: XCTestCase {
    static let before = """
        graph main(%x: f32[2,3,4,5], %s: f32[1,5,1,3], %z: f32[*]) -> (%b: f32[*], %d: f32[*], %e: f32[*], %w: f32[*]) {
          %a = Transpose(%x) {perm=[0, 2, 1, 3]} name="split_heads"
          %b = Transpose(%a) {perm=[0, 1, 3, 2]} name="keys_transposed"
          %c = Transpose(%x) {perm=[0, 3, 1, 2]}
          %d = Transpose(%c) {perm=[0, 2, 3, 1]}
          %e = Transpose(%s) {perm=[0, 2, 1, 3]}
          %w = Transpose(%z)
          return %b, %d, %e, %w
        }
        """

    func testTransposesComposeAndThoseThatMoveNothingAreIdentityOrReshape() throws {
        let (after, statistics) = try apply(ComposeTransposes(), to: Self.before)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2,3,4,5], %s: f32[1,5,1,3], %z: f32[*]) -> (%b: f32[*], %d: f32[*], %e: f32[*], %w: f32[*]) {
              const %e_shape: i64[4] = [1, 1, 5, 3]
              %a = Transpose(%x) {perm=[0, 2, 1, 3]} name="split_heads"
              %b = Transpose(%x) {perm=[0, 2, 3, 1]} name="keys_transposed"
              %c = Transpose(%x) {perm=[0, 3, 1, 2]}
              %d = Identity(%x)
              %e = Reshape(%s, %e_shape)
              %w = Transpose(%z)
              return %b, %d, %e, %w
            }
            """)
        XCTAssertEqual(statistics["composed"], 2)
        XCTAssertEqual(statistics["identity"], 1)
        XCTAssertEqual(statistics["reshape"], 1)
    }

    func testTheValuesAreTheSame() throws {
        var graph = try IRParser.parseGraph(Self.before)
        let original = try Interpreter(graph: graph)
        try Pipeline([ComposeTransposes()]).run(&graph, PassContext())
        let composed = try Interpreter(graph: graph)
        var random = SeededRandom(seed: 7)
        let inputs = [
            "x": Tensor((0..<120).map { _ in Float(random.normal()) }, shape: [2, 3, 4, 5]),
            "s": Tensor((0..<15).map { _ in Float(random.normal()) }, shape: [1, 5, 1, 3]),
            "z": Tensor((0..<6).map { _ in Float(random.normal()) }, shape: [2, 3]),
        ]
        let (want, got) = (try original.run(inputs), try composed.run(inputs))
        for name in ["b", "d", "e", "w"] {
            XCTAssertEqual(got[name]?.shape, want[name]?.shape, name)
            XCTAssertEqual(got[name]?.floats(), want[name]?.floats(), name)
        }
    }
}
