// The interpreter on small graphs: any batch size for a symbolic dim, the input checks
// with their messages, values freed after their last use, hand-computed kernels.
import IR
import Reference
import TestSupport
import XCTest

final class InterpreterTests: XCTestCase {
    private func mlp() -> Graph {
        var b = GraphBuilder()
        b.input("x", .float32, [.symbol("N"), .known(3)])
        b.constant("w", Tensor([Float(1), 0, -1, 2, 0.5, 1], shape: [3, 2]))
        b.constant("bias", Tensor([Float(0.5), -0.5], shape: [2]))
        let mm = b.node("MatMul", ["x", "w"])[0]
        let add = b.node("Add", [mm, "bias"])[0]
        let y = b.node("Relu", [add], outputs: ["y"])[0]
        b.output(y)
        return b.graph
    }

    func testAnyBatchSizeRuns() throws {
        let interpreter = try Interpreter(graph: mlp())
        for batch in [1, 3] {
            let x = Tensor((0..<(batch * 3)).map { Float($0) }, shape: [batch, 3])
            let y = try XCTUnwrap(try interpreter.run(["x": x])["y"])
            XCTAssertEqual(y.shape, [batch, 2])
            // Row r = [3r, 3r+1, 3r+2]: [3r - (3r+2) + 0.5, 2(3r+1) + (3r+2) ... ] by hand:
            for r in 0..<batch {
                let (a, b, c) = (Float(3 * r), Float(3 * r + 1), Float(3 * r + 2))
                XCTAssertEqual(y.floats()[2 * r], max(0, a * 1 + b * -1 + c * 0.5 + 0.5))
                XCTAssertEqual(y.floats()[2 * r + 1], max(0, a * 0 + b * 2 + c * 1 - 0.5))
            }
        }
    }

    func testInputChecksNameTheInput() throws {
        let interpreter = try Interpreter(graph: mlp())
        let cases: [([String: Tensor], String)] = [
            ([:], "no value for graph input \"x\""),
            (
                ["x": Tensor([Float](repeating: 0, count: 4), shape: [2, 2])],
                "input \"x\" has shape [2, 2], the model expects f32[N,3]"
            ),
            (["x": Tensor([Double](repeating: 0, count: 3), shape: [1, 3])], "input \"x\" has type f64"),
            (["x": Tensor([Float](repeating: 0, count: 3), shape: [3])], "rank 2"),
            (
                ["x": Tensor([Float](repeating: 0, count: 3), shape: [1, 3]), "z": Tensor(scalar: Float(1))],
                "\"z\" is not a graph input"
            ),
        ]
        for (inputs, phrase) in cases {
            XCTAssertThrowsError(try interpreter.run(inputs)) { error in
                XCTAssertTrue("\(error)".contains(phrase), "\(error)")
            }
        }
    }

    func testUnsupportedOpIsRefusedUpFrontNamingTheNode() {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2)])
        b.node("Bernoulli", ["x"], outputs: ["y"], name: "coin")
        b.output("y")
        XCTAssertThrowsError(try Interpreter(graph: b.graph)) { error in
            XCTAssertTrue("\(error)".contains("Bernoulli \"coin\""), "\(error)")
        }
    }

    /// A bool's maximum over no elements is false and its minimum true; over some, any and all.
    func testBoolReductionsOverNoElementsGiveTheIdentities() throws {
        let empty = Tensor(bools: [], shape: [2, 0, 3]), some = Tensor(bools: [true, false, false, false], shape: [2, 2])
        for (op, identity, reduced) in [("ReduceMax", false, [true, false]), ("ReduceMin", true, [false, false])] {
            let node = Node(op: op, inputs: ["x", "axes"], outputs: ["y"])
            let y = try Kernels.evaluate(node, [empty, Tensor([Int64(1)], shape: [1])])[0]
            XCTAssertEqual(y.dtype, .bool)
            XCTAssertEqual(y.shape, [2, 1, 3])
            XCTAssertEqual(y.int64s(), [Int64](repeating: identity ? 1 : 0, count: 6), op)
            let z = try Kernels.evaluate(node, [some, Tensor([Int64(1)], shape: [1])])[0]
            XCTAssertEqual(z.int64s(), reduced.map { $0 ? 1 : 0 }, op)
        }
    }

    func testConvolutionByHand() throws {
        // A 3x3 input, a 2x2 kernel of ones, stride 1, no padding: window sums.
        let node = Node(op: "Conv", inputs: ["x", "w"], outputs: ["y"])
        let x = Tensor((1...9).map { Float($0) }, shape: [1, 1, 3, 3])
        let w = Tensor([Float](repeating: 1, count: 4), shape: [1, 1, 2, 2])
        let y = try Kernels.evaluate(node, [x, w])[0]
        XCTAssertEqual(y.shape, [1, 1, 2, 2])
        XCTAssertEqual(y.floats(), [12, 16, 24, 28])
    }
}
