// The ONNX writer against the importer: a model written and read back is the same model,
// every attribute kind and element type included, and the bytes do not vary.
import Foundation
import IR
import ONNXExport
import ONNXImport
import TestSupport
import XCTest

final class ONNXWriterTests: XCTestCase {
    private func sampleModel() -> Model {
        let half = Tensor([UInt16(0x3C00), 0xC000, 0x7BFF], shape: [3])
        let codes = Tensor([UInt8(0x38), 0xB8, 0x7E, 0x00], shape: [2, 2])
        var graph = Graph(
            name: "written",
            inputs: [ValueInfo(name: "x", type: TensorType(.float32, Shape([.symbol("N"), .known(4)])))],
            outputs: [ValueInfo(name: "y", type: TensorType(.float32, Shape([.symbol("N"), .known(2)])))])
        graph.types = ["x": graph.inputs[0].type, "y": graph.outputs[0].type]
        graph.constants = [
            "w": Tensor([Float(1), -2.5, 0, 3, 0.125, -0.0, 7, 8], shape: [4, 2]),
            "shape": Tensor([Int64(-1), 2], shape: [2]),
            "half": Tensor(dtype: .float16, shape: half.shape, storage: half.storage),
            "codes": Tensor(dtype: .float8e4m3fn, shape: codes.shape, storage: codes.storage),
            "flags": Tensor(bools: [true, false], shape: [2]),
        ]
        graph.nodes = [
            Node(op: "MatMul", name: "mm", inputs: ["x", "w"], outputs: ["m"]),
            Node(
                op: "LeakyRelu", name: "act", inputs: ["m"], outputs: ["a"],
                attributes: ["alpha": .float(0.25)]),
            Node(
                op: "Reshape", name: "reshape", inputs: ["a", "shape"], outputs: ["r"],
                attributes: ["allowzero": .int(0)]),
            Node(
                op: "Identity", name: "id", inputs: ["r"], outputs: ["y"],
                attributes: [
                    "ints": .ints([1, -2]), "floats": .floats([0.5, -1]), "text": .string("héllo"),
                    "texts": .strings(["a", ""]), "tensor": .tensor(Tensor([Int64(3)], shape: [1])),
                    "tensors": .tensors([Tensor([Float(2)], shape: [1])]),
                ]),
        ]
        return Model(
            irVersion: 10, producerName: "npucc", docString: "written by the test", opsets: ["": 21],
            metadata: [(key: "k", value: "v")], graph: graph)
    }

    func testAModelWrittenAndReadBackIsTheSameModel() throws {
        let model = sampleModel()
        let bytes = ONNXWriter.encode(model)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-writer-\(getpid()).onnx")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(bytes).write(to: url)
        let read = try ONNXImporter.load(path: url.path)
        XCTAssertNil(graphDifference(model.graph, read.graph))
        XCTAssertEqual(read.irVersion, 10)
        XCTAssertEqual(read.opsets, ["": 21])
        XCTAssertEqual(read.producerName, "npucc")
        XCTAssertEqual(read.docString, "written by the test")
        XCTAssertEqual(read.metadata.map(\.key), ["k"])
    }

    func testTheSameModelGivesTheSameBytes() {
        XCTAssertEqual(ONNXWriter.encode(sampleModel()), ONNXWriter.encode(sampleModel()))
    }
}
