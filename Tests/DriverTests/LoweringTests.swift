// The digits sample compiled, lowered to one program and run by the simulator: its logits
// equal the fake-quant interpreter's bit for bit on held-out images, at every precision and
// sparsity; a node the backend cannot lower is named.
import Backend
import Driver
import Foundation
import IR
import Passes
import Reference
import Simulator
import Target
import TensorIO
import TestSupport
import XCTest

final class LoweringTests: XCTestCase {
    private func resources(_ t: TargetDescription) -> TileResources {
        TileResources(sramBytes: t.tileMemoryBytes, arrayRows: t.compute.macArray.rows, arrayColumns: t.compute.macArray.columns,
                      rates: [.fp16: Int(t.compute.macRate.fp16), .fp8: Int(t.compute.macRate.fp8), .nvfp4: Int(t.compute.macRate.nvfp4)],
                      clusters: t.compute.clusters, tilesPerCluster: t.compute.tilesPerCluster)
    }

    private func bytes(_ t: Tensor) -> [UInt8] {
        t.floats().flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    }

    func testDigitsRunOnTheSimulatorAsTheInterpreterRunsThem() throws {
        let target = try TargetDescription.default
        let images = try NPZ.read(url: packageRoot().appendingPathComponent("samples/digits_test.npz"))[0].1
        for (precision, sparsity) in [("fp16", CompileOptions.Sparsity.none), ("fp8", .twoFour), ("nvfp4", .none), ("nvfp4", .twoFour)] {
            var loaded = try Frontend.load(path: packageRoot().appendingPathComponent("samples/digits_cnn.onnx").path,
                                           inputShapes: ["input": [1, 1, 8, 8]])
            var options = CompileOptions()
            options.precision = precision
            options.sparsity = sparsity
            options.calibPath = packageRoot().appendingPathComponent("samples/digits_calib.npz").path
            let compiled = try Compilation.compile(&loaded, options: options, array: try Compilation.arrayShape(target))
            let lowered = try Lowering.lower(compiled.graph, layers: compiled.layers, resources: resources(target))
            let interpreter = try Interpreter(graph: compiled.graph)
            for index in [0, 7, 123] {
                let image = Tensor(Array(images.floats()[(index * 64)..<((index + 1) * 64)]), shape: [1, 1, 8, 8])
                let want = try interpreter.run(["input": image])["logits"]!
                var machine = Machine(shape: MachineShape(dramBytes: lowered.dramBytes, l3Bytes: 8 << 20, l2Bytes: 512 << 10,
                                                          sramBytes: target.tileMemoryBytes, clusters: 4, tilesPerCluster: 16),
                                      weights: compiled.weights, constants: lowered.constants)
                try machine.writeDRAM(bytes(image), at: lowered.inputs[0].offset)
                try machine.run(lowered.program)
                let got = try machine.readDRAM(lowered.outputs[0].offset, count: lowered.outputs[0].bytes)
                XCTAssertEqual(got, bytes(want), "\(precision) \(sparsity) image \(index)")
            }
        }
    }

    func testANodeThatCannotLowerIsNamed() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(4)])
        b.node("Softmax", ["x"], outputs: ["y"], name: "probabilities")
        b.output("y")
        var g = b.graph
        _ = try InferShapes().run(&g, PassContext())
        XCTAssertThrowsError(try Lowering.lower(g, layers: [], resources: resources(try TargetDescription.default))) {
            XCTAssertEqual("\($0)", "node Softmax \"probabilities\": cannot lower Softmax: the NPU backend has no lowering for it yet")
        }
    }
}
