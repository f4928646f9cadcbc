// npucc compile on the digits sample at every precision and sparsity: tools/npub.py decodes
// every layer's weights to exactly the fake-quantized IR's, and the bundle's bytes do not
// depend on the run or the thread count.
import Backend
import Bundle
import Driver
import Foundation
import IR
import Passes
import Reference
import Target
import TensorIO
import TestSupport
import XCTest

final class CompileTests: XCTestCase {
    private let sample = packageRoot().appendingPathComponent("samples/digits_cnn.onnx").path
    private let calib = packageRoot().appendingPathComponent("samples/digits_calib.npz").path

    private func compile(_ precision: String, _ sparsity: CompileOptions.Sparsity) throws -> CompiledModel {
        var loaded = try Frontend.load(path: sample, inputShapes: ["input": [1, 1, 8, 8]])
        var options = CompileOptions()
        options.precision = precision
        options.sparsity = sparsity
        options.calibPath = calib
        if precision == "auto" { options.budget = "nvfp4+2:4" }
        return try Compilation.compile(
            &loaded, options: options, array: try Compilation.arrayShape(try TargetDescription.default))
    }

    private func bundle(_ compiled: CompiledModel) throws -> [UInt8] {
        try compiled.bundle().encoded()
    }

    func testNpubDecodesEveryLayerToTheQuantizedWeights() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-compile-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var cases: [(String, CompileOptions.Sparsity)] = []
        for precision in ["fp16", "fp8", "nvfp4"] {
            for s in [CompileOptions.Sparsity.none, .twoFour] { cases.append((precision, s)) }
        }
        cases.append(("auto", .auto))
        for (precision, sparsity) in cases {
            let compiled = try compile(precision, sparsity)
            let path = folder.appendingPathComponent("\(precision)-\(sparsity.rawValue == "2:4" ? "24" : sparsity.rawValue)")
            try Data(try bundle(compiled)).write(to: path.appendingPathExtension("npub"))
            var expected: [(String, Tensor)] = []
            for node in compiled.graph.nodes {
                guard let weight = LayerWeight(node, compiled.graph) else { continue }
                expected.append((node.name, weight.tensor))
            }
            XCTAssertEqual(expected.count, 3)
            try NPZ.write(expected, to: path.appendingPathExtension("npz"))
            let check = try runPython(
                script: """
                    import sys, numpy as np
                    sys.path.insert(0, sys.argv[1])
                    import npub
                    got = npub.decode_weights(sys.argv[2])
                    want = dict(np.load(sys.argv[3]))
                    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
                    for name in want:
                        assert got[name].dtype == np.float32 and got[name].shape == want[name].shape, name
                        assert np.array_equal(got[name], want[name]), (name, np.abs(got[name] - want[name]).max())
                    print(len(want))
                    """,
                arguments: [
                    packageRoot().appendingPathComponent("tools").path,
                    path.appendingPathExtension("npub").path, path.appendingPathExtension("npz").path,
                ])
            XCTAssertEqual(check.status, 0, "\(precision) \(sparsity): \(check.stderr)")
            XCTAssertEqual(check.stdout, "3\n")
            let sparse = compiled.layers.filter(\.sparse).map(\.name)
            switch sparsity {
            case .none: XCTAssertEqual(sparse, [])
            case .twoFour: XCTAssertEqual(sparse, ["conv2", "fc"])  // conv1's reduction is 9
            case .auto: XCTAssertFalse(sparse.isEmpty)
            }
        }
    }

    func testTheSameCompileGivesTheSameBytesWhateverTheThreads() throws {
        let threads = Parallelism.threadCount
        defer { Parallelism.setThreadCount(threads) }
        Parallelism.setThreadCount(1)
        let one = try bundle(try compile("auto", .auto))
        Parallelism.setThreadCount(2)
        let two = try bundle(try compile("auto", .auto))
        let again = try bundle(try compile("auto", .auto))
        XCTAssertEqual(one, two)
        XCTAssertEqual(two, again)
    }
}
