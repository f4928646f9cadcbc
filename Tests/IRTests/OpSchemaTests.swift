// The op table against ONNX's own operator definitions (onnx.defs at opset 21, read live
// through Python): operand counts, attribute names, kinds, defaults and required flags;
// plus the attribute check and that every op has a shape rule.
import Foundation
import IR
import TestSupport
import XCTest

final class OpSchemaTests: XCTestCase {
    /// The ops the IR promises (schemas/ops.md and the compiler's op list).
    private let promised = """
        Conv ConvTranspose BatchNormalization Gemm MatMul Relu LeakyRelu PRelu Clip Sigmoid HardSigmoid HardSwish
        Tanh Elu Selu Softplus Softmax LogSoftmax Erf Gelu Exp Log Sqrt Reciprocal Pow Neg Abs Floor Ceil Sign Not
        Add Sub Mul Div Sum Max Min Mean Equal Greater Less Where Cast MaxPool AveragePool GlobalAveragePool
        GlobalMaxPool LRN Flatten Reshape Transpose Concat Split Slice Squeeze Unsqueeze Expand Gather Pad Resize
        ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd LayerNormalization InstanceNormalization Shape Size
        Range Tile ArgMax ArgMin ConstantOfShape Identity Dropout QuantizeLinear DequantizeLinear
        """.split(whereSeparator: \.isWhitespace).map(String.init)

    func testEveryPromisedOpIsRegisteredOnce() {
        let names = OpRegistry.all.map(\.name)
        XCTAssertEqual(Set(names).count, names.count, "duplicate op names")
        for op in promised { XCTAssertNotNil(OpRegistry.schema(op), op) }
        XCTAssertNil(OpRegistry.schema("Upsample"))
    }

    /// Each schema's signature equals onnx.defs.get_schema(op, 21), or at the op's own opset
    /// for one that came later (ONNX's own ops; the others, TensorRT's, are tested against
    /// their definition where they are run).
    func testSignaturesMatchONNXDefinitions() throws {
        let script = """
            import json, sys, onnx.defs
            from onnx import helper
            out = {}
            for arg in sys.argv[1:]:
                op, version = arg.split("=")
                s = onnx.defs.get_schema(op, int(version))
                attrs = {}
                for name, a in s.attributes.items():
                    v = helper.get_attribute_value(a.default_value) if a.default_value.type else None
                    if isinstance(v, bytes): v = v.decode()
                    if hasattr(v, 'dims'): v = 'tensor'
                    attrs[name] = {'kind': a.type.name.lower(), 'required': a.required, 'default': v}
                out[op] = {'since': s.since_version, 'inputs': [s.min_input, s.max_input],
                           'outputs': [s.min_output, s.max_output], 'attributes': attrs}
            print(json.dumps(out))
            """
        let onnxOps = OpRegistry.all.filter { $0.domain.isEmpty }
        XCTAssertEqual(OpRegistry.all.count - onnxOps.count, 1)
        let run = try runPython(script: script, arguments: onnxOps.map { "\($0.name)=\(max(21, $0.since))" })
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: [String: Any]])
        func range(_ v: Any?) -> ClosedRange<Int>? {
            guard let pair = v as? [Int], pair.count == 2 else { return nil }
            return pair[0]...(pair[1] == Int(Int32.max) ? Int.max : pair[1])
        }
        for schema in onnxOps {
            let op = schema.name
            guard let reference = json[op] else { XCTFail("onnx.defs has no \(op)"); continue }
            XCTAssertEqual(schema.since, reference["since"] as? Int, "\(op) since")
            XCTAssertEqual(schema.inputs, range(reference["inputs"]), "\(op) inputs")
            XCTAssertEqual(schema.outputs, range(reference["outputs"]), "\(op) outputs")
            let attributes = reference["attributes"] as? [String: [String: Any]] ?? [:]
            XCTAssertEqual(Set(schema.attributes.map(\.name)), Set(attributes.keys), "\(op) attribute names")
            for a in schema.attributes {
                guard let ref = attributes[a.name] else { continue }
                let what = "\(op).\(a.name)"
                XCTAssertEqual(a.kind.rawValue, ref["kind"] as? String, what)
                XCTAssertEqual(a.isRequired, ref["required"] as? Bool, what)
                assertDefault(a.defaultValue, ref["default"], what)
            }
        }
    }

    private func assertDefault(_ ours: Attribute?, _ theirs: Any?, _ what: String) {
        switch ours {
        case nil: XCTAssertTrue(theirs == nil || theirs is NSNull, "\(what): ONNX has default \(String(describing: theirs))")
        case .int(let v)?: XCTAssertEqual(v, theirs as? Int, what)
        case .float(let v)?: XCTAssertEqual(v, (theirs as? Double).map(Float.init), what)
        case .string(let v)?: XCTAssertEqual(v, theirs as? String, what)
        case let other?: XCTFail("\(what): unexpected default kind \(other.kind)")
        }
    }

    func testAttributeCheckNamesTheProblem() throws {
        let schema = try XCTUnwrap(OpRegistry.schema("Conv"))
        func node(_ attributes: [String: Attribute]) -> Node {
            Node(op: "Conv", name: "conv1", inputs: ["x", "w"], outputs: ["y"], attributes: attributes)
        }
        XCTAssertNoThrow(try schema.checkAttributes(of: node(["group": .int(2), "npucc.activation_format": .string("fp8")])))
        XCTAssertThrowsError(try schema.checkAttributes(of: node(["group": .float(2)]))) { error in
            XCTAssertEqual("\(error)", "node Conv \"conv1\": attribute \"group\" of Conv must be int, not float")
        }
        XCTAssertThrowsError(try schema.checkAttributes(of: node(["groups": .int(2)]))) { error in
            XCTAssertEqual("\(error)", "node Conv \"conv1\": Conv has no attribute \"groups\"")
        }
        let cast = Node(op: "Cast", name: "c", inputs: ["x"], outputs: ["y"])
        XCTAssertThrowsError(try XCTUnwrap(OpRegistry.schema("Cast")).checkAttributes(of: cast)) { error in
            XCTAssertEqual("\(error)", "node Cast \"c\": Cast requires attribute \"to\" (int)")
        }
    }

    func testDefaultsAreVisibleThroughTheSchema() throws {
        let gemm = try XCTUnwrap(OpRegistry.schema("Gemm"))
        let node = Node(op: "Gemm", inputs: ["a", "b"], outputs: ["y"], attributes: ["transB": .int(1)])
        guard case .int(1)? = gemm.value(of: "transB", on: node), case .float(1)? = gemm.value(of: "alpha", on: node) else {
            return XCTFail("transB should be the node's 1 and alpha the default 1.0")
        }
        XCTAssertNil(gemm.value(of: "gamma", on: node))
    }

    /// Every op has a shape rule that copes with inputs of unknown type.
    func testEveryOpHasAShapeRule() throws {
        // Required attributes whose rules ask for more than one value.
        let given: [String: [String: Attribute]] = ["MaxRoiPool": ["pooled_shape": .ints([1, 1])]]
        for schema in OpRegistry.all {
            var attributes: [String: Attribute] = [:]
            for a in schema.attributes where a.isRequired {
                attributes[a.name] = given[schema.name]?[a.name] ?? (a.kind == .ints ? .ints([1]) : .int(1))
            }
            let inputs = (0..<schema.inputs.lowerBound).map { "i\($0)" }
            let outputs = (0..<schema.outputs.lowerBound).map { "o\($0)" }
            let node = Node(op: schema.name, name: "n", inputs: inputs, outputs: outputs, attributes: attributes)
            let types = try ShapeInference.infer(
                node, inputTypes: inputs.map { _ in nil },
                constantInputs: inputs.map { _ in nil })
            XCTAssertEqual(types.count, outputs.count, schema.name)
        }
        let unknown = Node(op: "FancyOp", name: "f", inputs: [], outputs: ["y"])
        XCTAssertThrowsError(try ShapeInference.infer(unknown, inputTypes: [], constantInputs: [])) { error in
            XCTAssertEqual("\(error)", "node FancyOp \"f\": no shape rule for FancyOp: it is not in the op table")
        }
    }
}
