// QDQExport on small quantized graphs: what each layer becomes, that nothing of npucc's
// own is left, that the result computes what the fake-quant graph computes, and the
// errors that name the node.
import Formats
import IR
import ONNXExport
import Passes
import Reference
import TestSupport
import XCTest

final class QDQExportTests: XCTestCase {
    /// x [2,8,4,4] -> Conv 3x3 (bias, fused Relu) quantized to `format`, calibrated amax 3.
    private func quantizedConv(_ format: PrecisionFormat) throws -> Graph {
        var random = SeededRandom(seed: 11)
        func values(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Int(random.next() % 2001) - 1000) / 1000 } }
        var b = TestSupport.GraphBuilder()
        let x = b.input("x", .float32, [.known(2), .known(8), .known(4), .known(4)])
        let w = b.constant("w", Tensor(values(4 * 8 * 9), shape: [4, 8, 3, 3]))
        let bias = b.constant("b", Tensor(values(4), shape: [4]))
        let y = b.node(
            "Conv", [x, w, bias],
            ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1]), "npucc.activation": .string("Relu")],
            outputs: ["y"], name: "conv", types: [TensorType(.float32, [2, 4, 4, 4])])[0]
        b.output(y)
        var context = PassContext()
        context.quantization = QuantizationPlan(format: format, activationAmax: [x: 3])
        try Pipeline([QuantizeLayers()]).run(&b.graph, context)
        return b.graph
    }

    private func input() -> Tensor {
        var random = SeededRandom(seed: 5)
        return Tensor((0..<(2 * 8 * 16)).map { _ in Float(Int(random.next() % 6001) - 3000) / 1000 }, shape: [2, 8, 4, 4])
    }

    func testAnFP8ConvBecomesStandardOpsThatComputeTheSame() throws {
        let quantized = try quantizedConv(.fp8)
        let exported = try QDQExport.model(Model(graph: quantized)).graph
        XCTAssertEqual(
            exported.nodes.map(\.op), ["DequantizeLinear", "QuantizeLinear", "DequantizeLinear", "Conv", "Add", "Relu"])
        XCTAssertTrue(exported.nodes.allSatisfy { $0.attributes.keys.allSatisfy { !$0.hasPrefix("npucc.") } })
        XCTAssertEqual(exported.nodes[3].inputs.count, 2, "the bias is added after the Conv")
        XCTAssertEqual(exported.nodes[1].int("output_dtype"), Int(DType.float8e4m3fn.rawValue))
        XCTAssertEqual(exported.constants[exported.nodes[0].inputs[0]]?.dtype, .float8e4m3fn)
        XCTAssertNil(exported.constants["w"], "the float weight is not kept")
        XCTAssertEqual(exported.outputs.map(\.name), ["y"])

        let want = try Interpreter(graph: quantized).run(["x": input()])["y"]!.floats()
        let got = try Interpreter(graph: exported).run(["x": input()])["y"]!.floats()
        let scale = max(1, want.map(\.magnitude).max()!)
        XCTAssertLessThanOrEqual(zip(got, want).map { ($0 - $1).magnitude }.max()!, 1e-5 * scale)
    }

    func testEveryFormatComputesWhatTheFakeQuantGraphComputes() throws {
        for format in [PrecisionFormat.fp16, .nvfp4] {
            let quantized = try quantizedConv(format)
            let exported = try QDQExport.model(Model(graph: quantized)).graph
            XCTAssertTrue(exported.nodes.allSatisfy { $0.attributes.keys.allSatisfy { !$0.hasPrefix("npucc.") } })
            let want = try Interpreter(graph: quantized).run(["x": input()])["y"]!.floats()
            let got = try Interpreter(graph: exported).run(["x": input()])["y"]!.floats()
            let scale = max(1, want.map(\.magnitude).max()!)
            XCTAssertLessThanOrEqual(zip(got, want).map { ($0 - $1).magnitude }.max()!, 1e-5 * scale, "\(format)")
        }
    }

    func testEveryNodeHasANameOfItsOwn() throws {
        var graph = try quantizedConv(.fp8)
        graph.nodes[0].name = ""
        var second = graph.nodes[0]
        second.outputs = ["z"]
        graph.nodes.append(second)
        graph.outputs.append(ValueInfo(name: "z", type: TensorType(.float32, [2, 4, 4, 4])))
        graph.types["z"] = TensorType(.float32, [2, 4, 4, 4])
        // Unnamed layers stay unnamed (ONNX allows it); every name given is given once.
        let names = try QDQExport.model(Model(graph: graph)).graph.nodes.map(\.name).filter { !$0.isEmpty }
        XCTAssertEqual(Set(names).count, names.count, "\(names)")
        XCTAssertTrue(names.contains("y_bias") && names.contains("z_bias"), "\(names)")
    }

    func testWhatExportCannotWriteIsAnErrorNamingTheNode() throws {
        var graph = try quantizedConv(.nvfp4)
        graph.nodes[0].attributes["npucc.tile"] = .int(4)
        XCTAssertThrowsError(try QDQExport.model(Model(graph: graph))) { error in
            XCTAssertEqual("\(error)", "node Conv \"conv\": cannot export the attribute npucc.tile")
        }
        graph = try quantizedConv(.nvfp4)
        graph.nodes[0].attributes[QuantizationAttributes.activationAmax] = nil
        XCTAssertThrowsError(try QDQExport.model(Model(graph: graph))) { error in
            XCTAssertEqual("\(error)", "node Conv \"conv\": the nvfp4 input \"x\" has no calibrated range: give --calib")
        }
    }
}
