// fold-batchnorm: outputs unchanged (to 1e-5 relative) for each producer kind, the IR
// after the pass, and the cases where it must not fire.
import IR
import Passes
import Reference
import TestSupport
import XCTest

final class FoldBatchNormTests: XCTestCase {
    private var rng = SeededRandom(seed: 11)

    private func random(_ shape: [Int], positive: Bool = false) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(
            (0..<n).map { _ in positive ? Float.random(in: 0.5...1.5, using: &rng) : Float.random(in: -1...1, using: &rng) },
            shape: shape)
    }

    /// x -> producer -> BatchNormalization(channels) -> y.
    private func graph(
        producer: String, input: [Int], weight: [Int], bias: Bool, channels: Int,
        attributes: [String: Attribute] = [:]
    ) -> Graph {
        var b = GraphBuilder()
        b.input("x", .float32, input.map { .known($0) })
        b.constant("w", random(weight))
        if bias { b.constant("b", random(producer == "Gemm" ? [channels] : [channels])) }
        for (name, positive) in [("gamma", false), ("beta", false), ("mean", false), ("var", true)] {
            b.constant(name, random([channels], positive: positive))
        }
        b.node(producer, ["x", "w"] + (bias ? ["b"] : []), attributes, outputs: ["p"], name: "producer")
        b.node(
            "BatchNormalization", ["p", "gamma", "beta", "mean", "var"], ["epsilon": .float(1e-3)], outputs: ["y"], name: "bn")
        b.output("y")
        return b.graph
    }

    private func assertFoldsExactly(_ g: Graph, input: [Int], line: UInt = #line) throws {
        var folded = g
        try Pipeline([InferShapes()]).run(&folded, PassContext())
        let stats = try Pipeline([FoldBatchNorm(), EliminateDeadCode()]).run(&folded, PassContext())
        XCTAssertEqual(stats[0].statistics["folded"], 1, line: line)
        XCTAssertFalse(folded.nodes.contains { $0.op == "BatchNormalization" }, line: line)
        let x = random(input)
        let before = try XCTUnwrap(try Interpreter(graph: g).run(["x": x])["y"]).floats()
        let after = try XCTUnwrap(try Interpreter(graph: folded).run(["x": x])["y"]).floats()
        let scale = before.map(\.magnitude).max() ?? 1
        for (a, b) in zip(before, after) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(scale, 1), line: line) }
    }

    func testConvWithAndWithoutBias() throws {
        try assertFoldsExactly(
            graph(
                producer: "Conv", input: [2, 4, 6, 6], weight: [6, 2, 3, 3], bias: true, channels: 6,
                attributes: ["group": .int(2), "pads": .ints([1, 1, 1, 1])]), input: [2, 4, 6, 6])
        try assertFoldsExactly(
            graph(producer: "Conv", input: [1, 3, 5, 5], weight: [4, 3, 1, 1], bias: false, channels: 4),
            input: [1, 3, 5, 5])
    }

    func testConvTransposeWithGroups() throws {
        try assertFoldsExactly(
            graph(
                producer: "ConvTranspose", input: [1, 4, 3, 3], weight: [4, 3, 2, 2], bias: true, channels: 6,
                attributes: ["group": .int(2), "strides": .ints([2, 2])]), input: [1, 4, 3, 3])
    }

    func testGemmAndMatMul() throws {
        try assertFoldsExactly(
            graph(
                producer: "Gemm", input: [3, 5], weight: [4, 5], bias: true, channels: 4,
                attributes: ["transB": .int(1), "beta": .float(0.5)]), input: [3, 5])
        try assertFoldsExactly(graph(producer: "Gemm", input: [3, 5], weight: [5, 4], bias: false, channels: 4), input: [3, 5])
        try assertFoldsExactly(
            graph(producer: "MatMul", input: [3, 5], weight: [5, 4], bias: false, channels: 4), input: [3, 5])
    }

    func testTheIRAfterFolding() throws {
        var g = graph(producer: "Conv", input: [1, 1, 3, 3], weight: [2, 1, 1, 1], bias: false, channels: 2)
        try Pipeline([InferShapes(), FoldBatchNorm(), EliminateDeadCode()]).run(&g, PassContext())
        let text = IRPrinter(constantDataLimit: 0).print(g)
        XCTAssertEqual(
            text,
            """
            graph main(%x: f32[1,1,3,3]) -> (%y: f32[*]) {
              const %w_bias_folded: f32[2] = <elided 2 elements>
              const %w_folded: f32[2,1,1,1] = <elided 2 elements>
              %y: f32[1,2,3,3] = Conv(%x, %w_folded, %w_bias_folded) name="producer"
              return %y
            }

            """)
    }

    /// Folded weights are no longer a QDQ model's fp8 values: the imported marks go, the
    /// activation's stay.
    func testFoldingDropsImportedWeightScales() throws {
        var g = graph(
            producer: "Conv", input: [1, 1, 3, 3], weight: [2, 1, 1, 1], bias: false, channels: 2,
            attributes: [
                "npucc.weight_format": .string("fp8"), "npucc.weight_scale": .floats([0.5, 0.25]),
                "npucc.activation_format": .string("fp8"), "npucc.activation_amax": .float(4),
            ])
        try Pipeline([InferShapes(), FoldBatchNorm()]).run(&g, PassContext())
        let conv = try XCTUnwrap(g.nodes.first { $0.op == "Conv" })
        XCTAssertEqual(conv.inputs[1], "w_folded")
        XCTAssertEqual(conv.attributes.keys.sorted(), ["npucc.activation_amax", "npucc.activation_format"])
    }

    func testDoesNotFireWhenTheProducerOutputHasOtherUsersOrWeightsAreNotConstant() throws {
        var shared = graph(producer: "Conv", input: [1, 3, 4, 4], weight: [2, 3, 1, 1], bias: false, channels: 2)
        shared.nodes.append(Node(op: "Relu", inputs: ["p"], outputs: ["r"]))
        shared.outputs.append(ValueInfo(name: "r", type: TensorType(.float32, nil)))
        XCTAssertEqual(try FoldBatchNorm().run(&shared, PassContext())["folded"], 0)

        var dynamic = graph(producer: "Conv", input: [1, 3, 4, 4], weight: [2, 3, 1, 1], bias: false, channels: 2)
        dynamic.constants["w"] = nil
        dynamic.inputs.append(ValueInfo(name: "w", type: TensorType(.float32, [2, 3, 1, 1])))
        XCTAssertEqual(try FoldBatchNorm().run(&dynamic, PassContext())["folded"], 0)

        var output = graph(producer: "Conv", input: [1, 3, 4, 4], weight: [2, 3, 1, 1], bias: false, channels: 2)
        output.outputs.append(ValueInfo(name: "p", type: TensorType(.float32, nil)))
        XCTAssertEqual(try FoldBatchNorm().run(&output, PassContext())["folded"], 0)
    }
}
