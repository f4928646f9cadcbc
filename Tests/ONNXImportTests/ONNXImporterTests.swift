// The importer on files an exporter really writes: every dtype and storage field,
// initializers listed as inputs, Constant nodes, unsorted nodes and symbolic inputs.
import Driver
import IR
@testable import ONNXImport
import XCTest

final class ONNXImporterTests: XCTestCase {
    func testEveryDtypeInRawAndTypedFieldsDecodesAsNumpyDoes() throws {
        let model = try ONNXImporter.load(path: try ImportCases.path("dtypes.onnx"))
        let expected = try ImportCases.expected()
        let names = ["float32", "float16", "bfloat16", "float64", "int8", "int16", "int32", "int64",
                     "uint8", "uint16", "uint32", "uint64", "bool", "float8e4m3fn", "float8e5m2"]
        for dtype in names {
            for storage in ["raw", "typed"] {
                let name = "\(dtype)_\(storage)"
                let tensor = try XCTUnwrap(model.graph.constants[name], name)
                let want = try XCTUnwrap(expected[name])
                XCTAssertEqual(tensor.shape, want.shape, name)
                for (i, value) in want.values.enumerated() {
                    let got = tensor.double(at: i)
                    XCTAssertEqual(got.bitPattern, value.bitPattern, "\(name)[\(i)]: \(got) != \(value)")
                }
            }
        }
    }

    func testInitializersListedAsInputsAreConstantsAndNodesAreSorted() throws {
        let model = try ONNXImporter.load(path: try ImportCases.path("initializer_inputs.onnx"))
        XCTAssertEqual(model.graph.inputs.map(\.name), ["x"])
        XCTAssertNotNil(model.graph.constants["w"])
        XCTAssertEqual(model.graph.nodes.map(\.op), ["Transpose", "MatMul"])
        XCTAssertEqual(model.graph.inputs[0].type.shape?.dims, [.symbol("N"), .known(3)])
    }

    func testConstantNodesBecomeConstants() throws {
        let g = try ONNXImporter.load(path: try ImportCases.path("constants.onnx")).graph
        XCTAssertEqual(g.constants["c_tensor"]?.floats(), [1.5, 2.5])
        XCTAssertEqual(g.constants["c_float"]?.shape, [])
        XCTAssertEqual(g.constants["c_float"]?.floats(), [0.25])
        XCTAssertEqual(g.constants["c_floats"]?.floats(), [1, 2])
        XCTAssertEqual(g.constants["c_int"]?.int64s(), [7])
        XCTAssertEqual(g.constants["c_ints"]?.int64s(), [3, -4])
        XCTAssertEqual(g.nodes.map(\.op), ["Concat"])
    }

    func testExternalDataIsReadInsideTheModelFolder() throws {
        let g = try ONNXImporter.load(path: try ImportCases.path("external_ok.onnx")).graph
        XCTAssertEqual(g.constants["big"]?.floats(), [1, -2, 3.5, 4.25])
    }

    func testExternalDataOutsideTheFolderOrShortIsRefused() throws {
        let cases = ["external_dotdot.onnx": "has a \"..\" component",
                     "external_absolute.onnx": "is absolute",
                     "external_symlink.onnx": "resolves outside the model's folder",
                     "external_length.onnx": "length 12",
                     "external_short.onnx": "too short",
                     "external_missing.onnx": "cannot open"]
        for (file, phrase) in cases {
            let path = try ImportCases.path(file)
            XCTAssertThrowsError(try ONNXImporter.load(path: path), file) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix(path), text)
                XCTAssertTrue(text.contains("initializer \"big\""), text)
                XCTAssertTrue(text.contains(phrase), "\(file): \(text)")
            }
        }
    }

    func testAnIfsComputedConditionNeedsTheEvaluator() throws {
        // Greater(3, 2) takes the then branch (Relu) with the interpreter's kernels; without
        // an evaluator import cannot compute the condition and refuses the If by name.
        let path = try ImportCases.path("computed_if.onnx")
        let graph = try ONNXImporter.load(path: path, options: ImportOptions(evaluator: .interpreter)).graph
        let ops = graph.nodes.map(\.op)
        XCTAssertTrue(ops.contains("Relu") && !ops.contains("Neg") && !ops.contains("If"), "\(ops)")
        XCTAssertThrowsError(try ONNXImporter.load(path: path)) { error in
            XCTAssertTrue("\(error)".contains("If"), "\(error)")
            XCTAssertTrue("\(error)".contains("condition \"cond\" is only known at run time"), "\(error)")
        }
    }

    func testUnsupportedOperatorDomainAndOpsetAreNamed() throws {
        let cases = ["unsupported_op.onnx": ["FooBar", "opset 13", "unsupported operator"],
                     "unsupported_domain.onnx": ["com.example", "Relu"],
                     "opset29.onnx": ["opset 29", "opsets 1 to 28"]]
        for (file, phrases) in cases {
            XCTAssertThrowsError(try ONNXImporter.load(path: try ImportCases.path(file)), file) { error in
                for phrase in phrases { XCTAssertTrue("\(error)".contains(phrase), "\(file): \(error)") }
            }
        }
    }

    func testInputShapeFixesSymbolicDimsAndRejectsContradictions() throws {
        let path = try ImportCases.path("symbolic.onnx")
        let fixed = try ONNXImporter.load(path: path, options: ImportOptions(inputShapes: ["x": [2, 3, 8, 8]]))
        XCTAssertEqual(fixed.graph.inputs[0].type.shape, Shape([2, 3, 8, 8]))
        let bad: [([String: [Int]], String)] = [
            (["x": [2, 4, 8, 8]], "fixes it to 3"),
            (["x": [2, 3, 8]], "rank is 4"),
            (["y": [1]], "not a graph input"),
        ]
        for (shapes, phrase) in bad {
            XCTAssertThrowsError(try ONNXImporter.load(path: path, options: ImportOptions(inputShapes: shapes))) { error in
                XCTAssertTrue("\(error)".contains(phrase), "\(error)")
            }
        }
    }

    func testMissingFileAndGarbageAreErrorsNamingTheFile() throws {
        XCTAssertThrowsError(try ONNXImporter.load(path: "/nonexistent/model.onnx")) { error in
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent/model.onnx: cannot open"), "\(error)")
        }
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-garbage-\(getpid()).onnx")
        try Data([0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]).write(to: garbage)
        defer { try? FileManager.default.removeItem(at: garbage) }
        XCTAssertThrowsError(try ONNXImporter.load(path: garbage.path)) { error in
            XCTAssertTrue("\(error)".contains("truncated"), "\(error)")
        }
    }
}
