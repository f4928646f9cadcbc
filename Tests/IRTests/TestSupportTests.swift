// The test helpers every test target leans on: golden diffs and paths, subprocesses,
// model comparison.
import Foundation
import IR
import TestSupport
import XCTest

final class TestSupportTests: XCTestCase {
    func testGoldenMismatchShowsTheFirstDifferingLine() {
        XCTAssertNil(goldenMismatch(expected: "a\nb\n", actual: "a\nb\n"))
        XCTAssertEqual(goldenMismatch(expected: "a\nb\nc\n", actual: "a\nB\nc\n"), """
            differs at line 2 (expected 3 lines, got 3):
              expected: b
              actual:   B
            """)
        XCTAssertEqual(goldenMismatch(expected: "a\n", actual: "a\nextra\n"), """
            differs at line 2 (expected 1 lines, got 2):
              expected: 
              actual:   extra
            """)
        XCTAssertEqual(goldenMismatch(expected: "a", actual: "a\n"),
                       "differs only in the final newline: the actual text ends with one")
    }

    func testGoldenPathsResolveBesideTheTestOrFromTheRoot() {
        let root = packageRoot()
        XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path))
        XCTAssertEqual(goldenURL("conv_block.ir", testFile: #filePath).path,
                       root.appendingPathComponent("Tests/IRTests/Goldens/conv_block.ir").path)
        XCTAssertEqual(goldenURL("Tests/DriverTests/Goldens/x.ir", testFile: #filePath).path,
                       root.appendingPathComponent("Tests/DriverTests/Goldens/x.ir").path)
        XCTAssertEqual(goldenURL("/tmp/x.ir", testFile: #filePath).path, "/tmp/x.ir")
    }

    func testProcessesReportOutputStatusAndSignals() throws {
        let echo = try runProcess("/bin/sh", ["-c", "cat; echo err >&2; exit 3"], stdin: "in\n")
        XCTAssertEqual(echo.stdout, "in\n")
        XCTAssertEqual(echo.stderr, "err\n")
        XCTAssertEqual(echo.status, 3)
        XCTAssertEqual(try runProcess("/bin/sh", ["-c", "kill -9 $$"]).status, 128 + 9)
        let big = try runProcess("/bin/sh", ["-c", "head -c 1000000 /dev/zero"])
        XCTAssertEqual(big.stdout.utf8.count, 1_000_000)  // more than a pipe buffer holds
    }

    func testPythonRunsSourceAndScriptFiles() throws {
        let result = try runPython(script: "import sys; print(sys.argv[1:], sys.stdin.read())", arguments: ["a"], stdin: "b")
        XCTAssertEqual(result.stdout, "['a'] b\n", result.stderr)
        XCTAssertThrowsError(try runPython(script: "Tests/python/no_such_script.py")) { error in
            XCTAssertTrue("\(error)".contains("no_such_script.py does not exist"), "\(error)")
        }
    }

    func testModelDifferenceFindsEachKindOfChange() {
        var b = GraphBuilder()
        let x = b.input("x", .float32, [.known(2)])
        b.constant("c", Tensor([Float(1), 2], shape: [2]))
        b.node("Mul", [x, "c"], ["alpha": .float(.nan)], outputs: ["y"], types: [TensorType(.float32, [2])])
        b.output("y")
        let model = b.model()
        XCTAssertNil(modelDifference(model, model))
        var changed = model
        changed.graph.constants["c"] = Tensor([Float(1), -2], shape: [2])
        XCTAssertEqual(modelDifference(model, changed), "constant \"c\": f32[2] vs f32[2] or different bytes")
        changed = model
        changed.graph.nodes[0].attributes["alpha"] = .float(-.nan)
        XCTAssertNil(modelDifference(model, changed), "every NaN attribute equals every other")
        changed.graph.nodes[0].attributes["alpha"] = .floats([1])
        XCTAssertNotNil(modelDifference(model, changed))
        changed = model
        changed.graph.types["y"] = nil
        XCTAssertEqual(modelDifference(model, changed), "type of \"y\": f32[2] vs unknown")
        changed = model
        changed.metadata = [(key: "k", value: "v")]
        XCTAssertNotNil(modelDifference(model, changed))
    }
}
