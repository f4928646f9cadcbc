// Older operator forms arrive in their canonical (opset 21) form: attributes moved to
// constant inputs, legacy Softmax and broadcasting rewritten, Upsample as Resize.
import IR
import XCTest

@testable import ONNXImport

final class OpsetUpgradeTests: XCTestCase {
    private func graph(_ file: String) throws -> Graph {
        try ONNXImporter.load(path: try ImportCases.path(file)).graph
    }

    private func constantInput(_ g: Graph, _ node: Node, _ i: Int) -> [Int64]? {
        node.input(i).flatMap { g.constants[$0]?.int64s() }
    }

    func testSliceAttributesBecomeInputs() throws {
        let g = try graph("slice_v9.onnx")
        let slice = try XCTUnwrap(g.nodes.first)
        XCTAssertEqual(slice.op, "Slice")
        XCTAssertTrue(slice.attributes.isEmpty)
        XCTAssertEqual(constantInput(g, slice, 1), [1, 2])
        XCTAssertEqual(constantInput(g, slice, 2), [3, 5])
        XCTAssertEqual(constantInput(g, slice, 3), [0, 1])
    }

    func testPadAndClipAttributesBecomeInputs() throws {
        let pad = try graph("pad_v6.onnx")
        XCTAssertEqual(constantInput(pad, pad.nodes[0], 1), [1, 0, 1, 0])
        XCTAssertEqual(pad.nodes[0].input(2).flatMap { pad.constants[$0]?.floats() }, [1.5])
        let clip = try graph("clip_v6.onnx")
        XCTAssertEqual(clip.nodes[0].input(1).flatMap { clip.constants[$0]?.floats() }, [-1])
        XCTAssertEqual(clip.nodes[0].input(2).flatMap { clip.constants[$0]?.floats() }, [2])
        XCTAssertNil(clip.nodes[0].float("min"))
    }

    func testSqueezeAxesBecomeAnInput() throws {
        let g = try graph("squeeze_v11.onnx")
        XCTAssertEqual(constantInput(g, g.nodes[0], 1), [0, 2])
    }

    func testLegacySoftmaxFlattensUnlessTheAxisIsLast() throws {
        let g = try graph("softmax_v11.onnx")
        XCTAssertEqual(g.nodes.map(\.op), ["Flatten", "Softmax", "Shape", "Reshape"])
        XCTAssertEqual(g.nodes[0].int("axis"), 1)
        XCTAssertEqual(g.nodes[1].int("axis"), 1)
        XCTAssertEqual(g.nodes[3].outputs, ["y"])
        let last = try graph("softmax_v11_last.onnx")
        XCTAssertEqual(last.nodes.map(\.op), ["Softmax"])
        XCTAssertEqual(last.nodes[0].int("axis"), -1)
    }

    func testUpsampleBecomesAsymmetricResize() throws {
        let g = try graph("upsample_v7.onnx")
        let resize = try XCTUnwrap(g.nodes.first)
        XCTAssertEqual(resize.op, "Resize")
        XCTAssertEqual(resize.inputs.count, 3)
        XCTAssertEqual(resize.inputs[1], "")
        XCTAssertEqual(g.constants[resize.inputs[2]]?.floats(), [1, 1, 2, 2])
        XCTAssertEqual(resize.string("coordinate_transformation_mode"), "asymmetric")
        XCTAssertEqual(resize.string("nearest_mode"), "floor")
    }

    func testOpset10QuantizationIsPerTensorOnly() throws {
        let g = try graph("qdq_v10.onnx")
        XCTAssertEqual(g.nodes.map(\.op), ["QuantizeLinear", "DequantizeLinear"])
        XCTAssertTrue(g.nodes.allSatisfy { $0.attributes.isEmpty })
        XCTAssertEqual(g.constants["s"]?.shape, [])
        XCTAssertThrowsError(try graph("qdq_v10_vector_scale.onnx")) { error in
            XCTAssertTrue(
                "\(error)".hasSuffix(
                    "node QuantizeLinear \"quant\" (opset 10): QuantizeLinear before opset 13 quantizes per tensor: "
                        + "the scale must hold one value, not 3"), "\(error)")
        }
    }

    func testLegacyBroadcastAxisGivesBTrailingOnes() throws {
        let g = try graph("add_broadcast_v6.onnx")
        let add = try XCTUnwrap(g.nodes.first)
        XCTAssertNil(add.int("broadcast"))
        XCTAssertEqual(g.constants[add.inputs[1]]?.shape, [3, 1])
        XCTAssertEqual(g.constants[add.inputs[1]]?.floats(), [1, 2, 3])
    }
}
