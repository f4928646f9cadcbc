// fuse-activation: the IR after the pass for each activation, outputs bit-identical to the
// unfused graph, and the cases where it must not fire.
import IR
import Passes
import Reference
import TestSupport
import XCTest

final class FuseActivationTests: XCTestCase {
    func testReluLeakyReluAndClipBecomeAttributes() throws {
        let (after, statistics) = try apply(
            FuseActivation(),
            to: """
                graph main(%x: f32[1,4]) -> (%y: f32[1,4], %z: f32[1,4], %r: f32[1,4]) {
                  const %w: f32[4,4] = <elided 16 elements>
                  const %lo: f32[] = [0.0]
                  const %hi: f32[] = [6.0]
                  %a: f32[1,4] = Gemm(%x, %w)
                  %y: f32[1,4] = Clip(%a, %lo, %hi)
                  %b: f32[1,4] = MatMul(%x, %w)
                  %z: f32[1,4] = LeakyRelu(%b) {alpha = 0.2}
                  %c: f32[1,4] = MatMul(%x, %w)
                  %r: f32[1,4] = Relu(%c)
                  return %y, %z, %r
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[1,4]) -> (%y: f32[1,4], %z: f32[1,4], %r: f32[1,4]) {
              const %hi: f32[] = [6.0]
              const %lo: f32[] = [0.0]
              const %w: f32[4,4] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
              %y: f32[1,4] = Gemm(%x, %w) {npucc.activation="Clip", npucc.activation_max=6.0, npucc.activation_min=0.0}
              %z: f32[1,4] = MatMul(%x, %w) {npucc.activation="LeakyRelu", npucc.activation_alpha=0.2}
              %r: f32[1,4] = MatMul(%x, %w) {npucc.activation="Relu"}
              return %y, %z, %r
            }
            """)
        XCTAssertEqual(statistics["fused Clip"], 1)
        XCTAssertEqual(statistics["fused LeakyRelu"], 1)
        XCTAssertEqual(statistics["fused Relu"], 1)
    }

    func testUnfusableActivationsStay() throws {
        let before = """
            graph main(%x: f32[1,4], %hi: f32[]) -> (%a: f32[1,4], %y: f32[1,4], %z: f32[1,4], %q: f32[1,4]) {
              const %w: f32[4,4] = <elided 16 elements>
              %a: f32[1,4] = Gemm(%x, %w)
              %y: f32[1,4] = Relu(%a)
              %b: f32[1,4] = MatMul(%x, %w)
              %z: f32[1,4] = Clip(%b, %hi)
              %c: f32[1,4] = Add(%x, %x)
              %q: f32[1,4] = Relu(%c)
              return %a, %y, %z, %q
            }
            """
        let (after, statistics) = try apply(FuseActivation(), to: before)
        XCTAssertTrue(statistics.isEmpty, "\(statistics)")
        XCTAssertEqual(after, try apply([], to: before).after)
    }

    func testOutputsAreUnchanged() throws {
        var rng = SeededRandom(seed: 41)
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2), .known(3), .known(6), .known(6)])
        b.constant("w", Tensor((0..<108).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [4, 3, 3, 3]))
        b.constant("lo", Tensor(scalar: Float(-0.5)))
        b.constant("hi", Tensor(scalar: Float(0.75)))
        b.node("Conv", ["x", "w"], ["pads": .ints([1, 1, 1, 1])], outputs: ["c"])
        b.node("Clip", ["c", "lo", "hi"], outputs: ["y"])
        b.output("y")
        var fused = b.graph
        _ = try FuseActivation().run(&fused, PassContext())
        XCTAssertEqual(fused.nodes.map(\.op), ["Conv"])
        let x = Tensor((0..<216).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [2, 3, 6, 6])
        let want = try Interpreter(graph: b.graph).run(["x": x])["y"]!.floats()
        let got = try Interpreter(graph: fused).run(["x": x])["y"]!.floats()
        XCTAssertEqual(got, want)
        XCTAssertTrue(got.contains(0.75) && got.contains(-0.5))  // both bounds bite
    }
}
