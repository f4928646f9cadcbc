// explicit-pads, Before and Expected side by side, and the interpreter's outputs unchanged
// for every auto_pad on odd and even extents, strides and dilations.
import IR
import Passes
import Reference
import TestSupport
import XCTest

final class ExplicitPadsTests: XCTestCase {
    func testSameAndValidBecomePads() throws {
        let (after, statistics) = try apply(
            ExplicitPads(),
            to: """
                graph main(%x: f32[1,3,15,16], %w: f32[8,3,3,3]) -> (%a: f32[*], %b: f32[*], %c: f32[*], %d: f32[*]) {
                  %a = Conv(%x, %w) {auto_pad="SAME_UPPER", strides=[2, 2]}
                  %b = MaxPool(%x) {auto_pad="SAME_LOWER", kernel_shape=[2, 2], strides=[2, 2]}
                  %c = AveragePool(%x) {auto_pad="VALID", kernel_shape=[3, 3]}
                  %d = Conv(%x, %w) {auto_pad="NOTSET", pads=[1, 1, 1, 1]}
                  return %a, %b, %c, %d
                }
                """)
        // Conv, stride 2: outputs 8 x 8 need 2 rows (1 + 1) and 1 column (at the end for SAME_UPPER).
        // MaxPool 2x2 stride 2: 15 rows need 1 (at the start for SAME_LOWER), 16 columns none.
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[1,3,15,16], %w: f32[8,3,3,3]) -> (%a: f32[*], %b: f32[*], %c: f32[*], %d: f32[*]) {
              %a = Conv(%x, %w) {pads=[1, 0, 1, 1], strides=[2, 2]}
              %b = MaxPool(%x) {kernel_shape=[2, 2], pads=[1, 0, 0, 0], strides=[2, 2]}
              %c = AveragePool(%x) {kernel_shape=[3, 3], pads=[0, 0, 0, 0]}
              %d = Conv(%x, %w) {auto_pad="NOTSET", pads=[1, 1, 1, 1]}
              return %a, %b, %c, %d
            }
            """)
        XCTAssertEqual(statistics["SAME_UPPER"], 1)
        XCTAssertEqual(statistics["SAME_LOWER"], 1)
        XCTAssertEqual(statistics["VALID"], 1)
    }

    func testUnknownExtentsAndConvTransposeAreLeftAlone() throws {
        let before = """
            graph main(%x: f32[N,3,H,W], %y: f32[1,3,8,8], %w: f32[3,4,3,3]) -> (%a: f32[*], %b: f32[*]) {
              %a = MaxPool(%x) {auto_pad="SAME_UPPER", kernel_shape=[3, 3]}
              %b = ConvTranspose(%y, %w) {auto_pad="SAME_UPPER", strides=[2, 2]}
              return %a, %b
            }
            """
        let (after, statistics) = try apply(ExplicitPads(), to: before)
        XCTAssertEqual(after, before)
        XCTAssertTrue(statistics.isEmpty)
    }

    /// Every auto_pad, on odd and even extents, strides 1 to 3, dilation 1 and 2, kernels 1
    /// to 4, Conv and both pools with and without ceil_mode: the same outputs, bit for bit.
    func testTheOutputsAreUnchanged() throws {
        var rng = SeededRandom(seed: 41)
        func random(_ shape: [Int]) -> Tensor {
            Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: shape)
        }
        var rewritten = 0
        for mode in ["SAME_UPPER", "SAME_LOWER", "VALID"] {
            for (height, width) in [(7, 8), (9, 5)] {
                for stride in 1...3 {
                    for dilation in 1...2 {
                        for k in 1...4 where (k - 1) * dilation + 1 <= min(height, width) {
                            for op in ["Conv", "MaxPool", "AveragePool"] where op != "AveragePool" || dilation == 1 {
                                for ceil in op == "Conv" ? [0] : [0, 1] {
                                    var b = GraphBuilder()
                                    b.input("x", .float32, [.known(1), .known(2), .known(height), .known(width)])
                                    var attributes: [String: Attribute] = [
                                        "auto_pad": .string(mode), "strides": .ints([stride, stride]),
                                        "dilations": .ints([dilation, dilation]),
                                    ]
                                    var inputs = ["x"]
                                    if op == "Conv" {
                                        b.constant("w", random([3, 2, k, k]))
                                        inputs.append("w")
                                    } else {
                                        attributes["kernel_shape"] = .ints([k, k])
                                        attributes["ceil_mode"] = .int(ceil)
                                    }
                                    b.node(op, inputs, attributes, outputs: ["y"])
                                    b.output("y")
                                    var graph = b.graph
                                    _ = try InferShapes().run(&graph, PassContext())
                                    let x = random([1, 2, height, width])
                                    let before = try Interpreter(graph: graph).run(["x": x])["y"]!
                                    let statistics = try ExplicitPads().run(&graph, PassContext())
                                    rewritten += statistics.isEmpty ? 0 : 1
                                    try Verifier.verify(graph)
                                    let after = try Interpreter(graph: graph).run(["x": x])["y"]!
                                    let label = "\(op) \(mode) \(height)x\(width) k\(k) s\(stride) d\(dilation) ceil \(ceil)"
                                    XCTAssertEqual(after.shape, before.shape, label)
                                    XCTAssertTrue(after.bitwiseEqual(before), label)
                                }
                            }
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(rewritten, 300)
    }
}
