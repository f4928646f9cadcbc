// quantize: weights replaced by their fake-quantized values, activations marked with the
// format and calibrated amax; a MatMul of two activations marked fp16 on both operands;
// fp32 plans change nothing.
import Formats
import IR
import Passes
import TestSupport
import XCTest

final class QuantizeLayersTests: XCTestCase {
    private func graph() -> Graph {
        var b = GraphBuilder()
        b.input("x", .float32, [.symbol("N"), .known(32)])
        b.constant("w", Tensor((0..<(4 * 32)).map { Float($0 % 7) - 3.3 }, shape: [4, 32]))
        b.node("Gemm", ["x", "w"], ["transB": .int(1)], outputs: ["y"], name: "fc")
        b.node("MatMul", ["y", "x2"], outputs: ["z"], name: "dynamic")
        b.input("x2", .float32, [.known(4), .known(2)])
        b.output("z")
        return b.graph
    }

    func testWeightsAndActivationsAreMarked() throws {
        var g = graph()
        var context = PassContext()
        context.quantization = QuantizationPlan(format: .nvfp4, activationAmax: ["x": 2.5])
        let stats = try QuantizeLayers().run(&g, context)
        XCTAssertEqual(stats["quantized"], 1)
        let fc = g.nodes[0]
        XCTAssertEqual(fc.inputs[1], "w_nvfp4")
        XCTAssertEqual(fc.string("npucc.weight_format"), "nvfp4")
        XCTAssertEqual(fc.string("npucc.activation_format"), "nvfp4")
        XCTAssertEqual(fc.float("npucc.activation_amax"), 2.5)
        let w = try XCTUnwrap(g.constants["w"]).floats()
        let expected = try FakeQuantization.weights(w, rows: 4, columns: 32, format: .nvfp4)
        XCTAssertEqual(g.constants["w_nvfp4"]?.floats(), expected)
        XCTAssertNotEqual(expected, w)
        // A MatMul of two activations: both operands at fp16, no weight and no amax.
        XCTAssertEqual(stats["activation-products"], 1)
        XCTAssertEqual(g.nodes[1].string("npucc.activation_format"), "fp16")
        XCTAssertEqual(g.nodes[1].string("npucc.activation_format_b"), "fp16")
        XCTAssertNil(g.nodes[1].string("npucc.weight_format"))
        XCTAssertNil(g.nodes[1].float("npucc.activation_amax"))
    }

    /// A layer import-qdq marked keeps the model's weights, scales and activation amax.
    func testImportedWeightsAndActivationScalesWinOverThePlan() throws {
        var g = graph()
        let imported: [String: Attribute] = [
            "npucc.weight_format": .string("fp8"), "npucc.weight_scale": .floats([0.5]),
            "npucc.activation_format": .string("fp8"), "npucc.activation_amax": .float(7),
            "npucc.activation_scale": .float(0.015625),
        ]
        g.nodes[0].attributes.merge(imported) { _, new in new }
        var context = PassContext()
        context.quantization = QuantizationPlan(format: .nvfp4, activationAmax: ["x": 2.5])
        let stats = try QuantizeLayers().run(&g, context)
        XCTAssertEqual(stats["kept-imported"], 1)
        XCTAssertEqual(stats["quantized"], 0)
        let fc = g.nodes[0]
        XCTAssertEqual(fc.inputs[1], "w")
        XCTAssertNil(g.constants["w_nvfp4"])
        XCTAssertEqual(fc.string("npucc.weight_format"), "fp8")
        XCTAssertEqual(fc.floats("npucc.weight_scale"), [0.5])
        XCTAssertEqual(fc.string("npucc.activation_format"), "fp8")
        XCTAssertEqual(fc.float("npucc.activation_amax"), 7)
        XCTAssertEqual(fc.float("npucc.activation_scale"), 0.015625)
    }

    /// Weights the model left in float are quantized; the activation amax it fixed stays.
    func testAnImportedActivationAmaxIsNotRecalibrated() throws {
        var g = graph()
        g.nodes[0].attributes["npucc.activation_format"] = .string("fp8")
        g.nodes[0].attributes["npucc.activation_amax"] = .float(7)
        var context = PassContext()
        context.quantization = QuantizationPlan(format: .nvfp4, activationAmax: ["x": 2.5])
        XCTAssertEqual(try QuantizeLayers().run(&g, context)["quantized"], 1)
        XCTAssertEqual(g.nodes[0].inputs[1], "w_nvfp4")
        XCTAssertEqual(g.nodes[0].string("npucc.weight_format"), "nvfp4")
        XCTAssertEqual(g.nodes[0].string("npucc.activation_format"), "fp8")
        XCTAssertEqual(g.nodes[0].float("npucc.activation_amax"), 7)
    }

    func testFP32OrNoPlanChangesNothing() throws {
        for plan in [nil, QuantizationPlan(format: .fp32, activationAmax: [:])] {
            var g = graph()
            var context = PassContext()
            context.quantization = plan
            XCTAssertTrue(try QuantizeLayers().run(&g, context).isEmpty)
            XCTAssertEqual(g.nodes[0].inputs[1], "w")
            XCTAssertNil(g.nodes[1].string("npucc.activation_format_b"))
        }
    }
}

final class BiasCorrectionTests: XCTestCase {
    func testBiasAbsorbsTheWeightErrorTimesTheInputMean() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.symbol("N"), .known(16)])
        let w = (0..<32).map { Float($0 % 5) * 0.37 - 0.6 }
        b.constant("w", Tensor(w, shape: [2, 16]))
        b.constant("b", Tensor([Float(0.5), -0.25], shape: [2]))
        b.node("Gemm", ["x", "w", "b"], ["transB": .int(1)], outputs: ["y"])
        b.output("y")
        var g = b.graph
        let means = (0..<16).map { Float($0) / 8 - 1 }
        var context = PassContext()
        context.quantization = QuantizationPlan(format: .nvfp4, activationAmax: ["x": 2], inputMeans: ["x": means])
        let stats = try QuantizeLayers().run(&g, context)
        XCTAssertEqual(stats["bias-corrected"], 1)
        let wq = try XCTUnwrap(g.constants[g.nodes[0].inputs[1]]).floats()
        let corrected = try XCTUnwrap(g.constants[g.nodes[0].inputs[2]]).floats()
        for r in 0..<2 {
            let shift = (0..<16).reduce(0.0) { $0 + Double(w[r * 16 + $1] - wq[r * 16 + $1]) * Double(means[$1]) }
            XCTAssertEqual(corrected[r], [Float(0.5), -0.25][r] + Float(shift), accuracy: 1e-6)
        }
    }
}
