// The commands' work on the bundled samples: inspect and dump-ir goldens, the text form
// round trip of real models, and top-1 accuracy through the interpreter.
import Driver
import Foundation
import IR
import TestSupport
import XCTest

final class SampleModelTests: XCTestCase {
    private func sample(_ name: String) -> String { packageRoot().appendingPathComponent("samples/\(name)").path }

    func testInspectReportGolden() throws {
        let loaded = try Frontend.load(path: sample("digits_cnn.onnx"))
        let report = Inspection.report(loaded).replacingOccurrences(of: packageRoot().path + "/", with: "")
        assertGolden(report + "\n", "Tests/DriverTests/Goldens/inspect_digits_cnn.txt")
    }

    func testDumpIRGoldens() throws {
        let cases: [(String, [String: [Int]], Bool, String)] = [
            ("shape_chain.onnx", [:], true, "shape_chain.raw.ir"),
            ("shape_chain.onnx", [:], false, "shape_chain.ir"),
            ("shape_chain.onnx", ["input": [2, 3, 16, 16]], false, "shape_chain.batch2.ir"),
            ("transformer_block.onnx", [:], false, "transformer_block.ir"),
        ]
        for (model, shapes, raw, golden) in cases {
            let loaded = try Frontend.load(path: sample(model), inputShapes: shapes, raw: raw)
            assertGolden(IRPrinter().print(loaded.model), "Tests/DriverTests/Goldens/\(golden)")
        }
    }

    func testSamplesRoundTripThroughTheTextForm() throws {
        let printer = IRPrinter(constantDataLimit: nil)
        for name in ["digits_cnn.onnx", "transformer_block.onnx", "shape_chain.onnx"] {
            for raw in [true, false] {
                let model = try Frontend.load(path: sample(name), raw: raw).model
                let text = printer.print(model)
                let parsed = try IRParser.parse(text)
                XCTAssertEqual(printer.print(parsed), text, name)
                for (key, t) in model.graph.constants {
                    XCTAssertTrue(parsed.graph.constants[key]?.bitwiseEqual(t) ?? false, "\(name): \(key)")
                }
            }
        }
    }

    func testDigitsAccuracyThroughTheInterpreter() throws {
        let loaded = try Frontend.load(path: sample("digits_cnn.onnx"))
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-digits-\(getpid()).npz")
        defer { try? FileManager.default.removeItem(at: out) }
        let results = try Execution.run(loaded, inputsPath: sample("digits_test.npz"), outputsPath: out.path)
        let (correct, total) = try Execution.accuracy(logits: results[0].1, labelsPath: sample("digits_test_labels.npy"))
        XCTAssertEqual(total, 360)
        XCTAssertGreaterThanOrEqual(Double(correct) / Double(total), 0.95)
    }

    func testInputShapeParsing() throws {
        XCTAssertEqual(try parseInputShapes(["input=1,3,320,320", "a=b=2"]), ["input": [1, 3, 320, 320], "a=b": [2]])
        for bad in ["nodims", "x=1,,2", "x=-1", "=3", "x=1,0,4"] {
            XCTAssertThrowsError(try parseInputShapes([bad]), bad)
        }
    }
}
