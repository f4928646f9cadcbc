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
        TileResources(
            sramBytes: t.tileMemoryBytes, arrayRows: t.compute.macArray.rows, arrayColumns: t.compute.macArray.columns,
            rates: [.fp16: Int(t.compute.macRate.fp16), .fp8: Int(t.compute.macRate.fp8), .nvfp4: Int(t.compute.macRate.nvfp4)],
            clusters: t.compute.clusters, tilesPerCluster: t.compute.tilesPerCluster)
    }

    private func bytes(_ t: Tensor) -> [UInt8] {
        t.floats().flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    }

    func testDigitsRunOnTheSimulatorAsTheInterpreterRunsThem() throws {
        let target = try TargetDescription.default
        let images = try NPZ.read(url: packageRoot().appendingPathComponent("samples/digits_test.npz"))[0].1
        for (precision, sparsity) in [
            ("fp16", CompileOptions.Sparsity.none), ("fp8", .twoFour), ("nvfp4", .none), ("nvfp4", .twoFour),
        ] {
            var loaded = try Frontend.load(
                path: packageRoot().appendingPathComponent("samples/digits_cnn.onnx").path,
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
                var machine = Machine(
                    shape: MachineShape(
                        dramBytes: lowered.dramBytes, l3Bytes: 8 << 20, l2Bytes: 512 << 10,
                        sramBytes: target.tileMemoryBytes, clusters: 4, tilesPerCluster: 16),
                    weights: compiled.weights, constants: lowered.constants)
                try machine.writeDRAM(bytes(image), at: lowered.inputs[0].offset)
                try machine.run(lowered.program)
                let got = try machine.readDRAM(lowered.outputs[0].offset, count: lowered.outputs[0].bytes)
                XCTAssertEqual(got, bytes(want), "\(precision) \(sparsity) image \(index)")
            }
        }
    }

    func testPoolingAndElementwiseOpsTiledToASmallSRAM() throws {
        var rng = SeededRandom(seed: 81)
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2), .known(4), .known(13), .known(13)])
        b.constant("shift", Tensor((0..<4).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [4, 1, 1]))
        b.constant("lo", Tensor([Int64(1), Int64(2)], shape: [2]))
        b.constant("hi", Tensor([Int64(4), Int64(7)], shape: [2]))
        b.constant("axes", Tensor([Int64(1), Int64(3)], shape: [2]))
        b.node(
            "MaxPool", ["x"],
            [
                "kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]),
                "ceil_mode": .int(1),
            ], outputs: ["m"])
        b.node(
            "AveragePool", ["m"], ["kernel_shape": .ints([3, 2]), "pads": .ints([1, 0, 1, 1]), "count_include_pad": .int(1)],
            outputs: ["a"])
        b.node("AveragePool", ["a"], ["kernel_shape": .ints([2, 2]), "pads": .ints([0, 1, 1, 0])], outputs: ["e"])
        b.node("Add", ["e", "shift"], outputs: ["s"])
        b.node("Mul", ["s", "s"], outputs: ["q"])
        b.node("Relu", ["q"], outputs: ["r"])
        b.node("Slice", ["r", "lo", "hi", "axes"], outputs: ["y"])
        b.output("y")
        var g = b.graph
        _ = try InferShapes().run(&g, PassContext())
        let x = Tensor((0..<(2 * 4 * 169)).map { _ in Float.random(in: -2...2, using: &rng) }, shape: [2, 4, 13, 13])
        let want = try Interpreter(graph: g).run(["x": x])["y"]!
        var small = resources(try TargetDescription.default)
        small.sramBytes = 512
        let lowered = try Lowering.lower(g, layers: [], resources: small)
        var machine = Machine(
            shape: MachineShape(
                dramBytes: lowered.dramBytes, l3Bytes: 1 << 16, l2Bytes: 1 << 14, sramBytes: 512,
                clusters: 4, tilesPerCluster: 16), weights: [], constants: lowered.constants)
        try machine.writeDRAM(bytes(x), at: lowered.inputs[0].offset)
        try machine.run(lowered.program)
        XCTAssertEqual(try machine.readDRAM(lowered.outputs[0].offset, count: lowered.outputs[0].bytes), bytes(want))
        XCTAssertGreaterThan(lowered.program.instructions.filter { $0.spec.mnemonic == "vopp" }.count, 6)  // tiled
        // The Relu that alone reads the Mul runs in the Mul's blocks.
        XCTAssertEqual(lowered.layers.map(\.op), ["MaxPool", "AveragePool", "AveragePool", "Add", "Mul", "Slice"])
    }

    func testTransposeAndConcatMoveDataExactly() throws {
        var rng = SeededRandom(seed: 83)
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2), .known(3), .known(5)])
        b.node("Transpose", ["x"], ["perm": .ints([2, 0, 1])], outputs: ["t"])
        b.node("Relu", ["x"], outputs: ["r"])
        b.node("Transpose", ["r"], ["perm": .ints([2, 0, 1])], outputs: ["u"])
        b.node("Concat", ["t", "u", "t"], ["axis": .int(-2)], outputs: ["y"])
        b.output("y")
        var g = b.graph
        _ = try InferShapes().run(&g, PassContext())
        let x = Tensor((0..<30).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [2, 3, 5])
        let want = try Interpreter(graph: g).run(["x": x])["y"]!
        XCTAssertEqual(want.shape, [5, 6, 3])
        let lowered = try Lowering.lower(g, layers: [], resources: resources(try TargetDescription.default))
        var machine = Machine(
            shape: MachineShape(
                dramBytes: lowered.dramBytes, l3Bytes: 1 << 16, l2Bytes: 1 << 14, sramBytes: 32768, clusters: 4,
                tilesPerCluster: 16),
            weights: [], constants: lowered.constants)
        try machine.writeDRAM(bytes(x), at: lowered.inputs[0].offset)
        try machine.run(lowered.program)
        XCTAssertEqual(try machine.readDRAM(lowered.outputs[0].offset, count: lowered.outputs[0].bytes), bytes(want))
    }

    func testGatherOfComputedIndicesLooksUpRowsExactly() throws {
        // A constant table [6, 2, 2] looked up by int64 ids [2, 3] (rows of 4 floats), twice, and
        // an activation table [4, 5] by int32 ids [2]; negative ids count from the end. The
        // softmax after the first look-up has a parameter record.
        var rng = SeededRandom(seed: 29)
        var b = GraphBuilder()
        b.input("ids", .int64, [.known(2), .known(3)])
        b.input("t", .float32, [.known(4), .known(5)])
        b.input("small", .int32, [.known(2)])
        _ = b.constant("table", Tensor((0..<24).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [6, 2, 2]))
        b.node("Gather", ["table", "ids"], outputs: ["rows"])
        b.node("Relu", ["t"], outputs: ["r"])
        b.node("Gather", ["r", "small"], ["axis": .int(-2)], outputs: ["picked"])
        b.node("Softmax", ["rows"], outputs: ["soft"])
        b.node("Gather", ["table", "ids"], outputs: ["again"])
        b.output("rows")
        b.output("picked")
        b.output("soft")
        b.output("again")
        var g = b.graph
        _ = try InferShapes().run(&g, PassContext())
        let ids = Tensor([Int64(5), -1, 0, 2, -6, 3], shape: [2, 3]), small = Tensor([Int32(-4), 3], shape: [2])
        let t = Tensor((0..<20).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [4, 5])
        let want = try Interpreter(graph: g).run(["ids": ids, "t": t, "small": small])
        XCTAssertEqual(want["rows"]?.shape, [2, 3, 2, 2])
        let lowered = try Lowering.lower(g, layers: [], resources: resources(try TargetDescription.default))
        // The ids are shared out over the tiles: with 64 tiles, one id each, gathered into the
        // tile's SRAM and stored on.
        let gathers = lowered.program.instructions.filter { $0.spec.mnemonic == "gather" }
        XCTAssertEqual(gathers.count, 6 + 2 + 6)
        for gather in gathers {
            XCTAssertEqual(lowered.program.descriptors[Int(gather["idx"])].dims, [1])
            XCTAssertEqual(lowered.program.descriptors[Int(gather["dst"])].space, .sram)
        }
        let places = gathers.map { g in lowered.program.descriptors[Int(g["dst"])] }.map { [$0.cluster, $0.tile] }
        XCTAssertEqual(Set(places[0..<6]).count, 6)
        // The table is placed once, after every other constant (the softmax's record).
        let tables = gathers.map { lowered.program.descriptors[Int($0["src"])] }.filter { $0.space == .constants }
        XCTAssertEqual(tables.map(\.address), Array(repeating: UInt64(lowered.constants.count - 96), count: 12))
        let records = lowered.program.instructions.filter { $0.spec.mnemonic == "vopp" }.map { 4 * $0["params"] }
        XCTAssertEqual(records.count, 1)
        XCTAssertLessThanOrEqual(records[0] + 64, tables[0].address)
        var machine = Machine(
            shape: MachineShape(
                dramBytes: lowered.dramBytes, l3Bytes: 1 << 16, l2Bytes: 1 << 14, sramBytes: 32768, clusters: 4,
                tilesPerCluster: 16),
            weights: [], constants: lowered.constants)
        // Integer inputs are their own little-endian bytes.
        try machine.writeDRAM(
            ids.int64s().flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }, at: lowered.inputs[0].offset)
        try machine.writeDRAM(bytes(t), at: lowered.inputs[1].offset)
        try machine.writeDRAM([252, 255, 255, 255, 3, 0, 0, 0], at: lowered.inputs[2].offset)
        XCTAssertEqual(lowered.inputs.map(\.bytes), [48, 80, 8])
        try machine.run(lowered.program)
        for (k, name) in ["rows", "picked", "soft", "again"].enumerated() {
            XCTAssertEqual(
                try machine.readDRAM(lowered.outputs[k].offset, count: lowered.outputs[k].bytes), bytes(want[name]!), name)
        }
    }

    func testABoolGraphOutputIsNamed() throws {
        // int64 and int32 outputs are written as they are; a mask (held as float32 1 and +0) is not.
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2), .known(4)])
        b.input("i", .int64, [.known(2)])
        b.node("Greater", ["x", "x"], outputs: ["m"], name: "mask")
        b.output("m", TensorType(.bool, nil))
        var g = b.graph
        _ = try InferShapes().run(&g, PassContext())
        XCTAssertThrowsError(try Lowering.lower(g, layers: [], resources: resources(try TargetDescription.default))) {
            XCTAssertEqual("\($0)", "graph output \"m\" is bool: bundles give float32, int64 and int32 tensors only")
        }
    }

    func testANodeThatCannotLowerIsNamed() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(2), .known(4), .known(4)])
        _ = b.constant("scale", Tensor([Float(0.5)], shape: []))
        b.node("QuantizeLinear", ["x", "scale"], outputs: ["y"], name: "quantize")
        b.output("y")
        var g = b.graph
        _ = try InferShapes().run(&g, PassContext())
        XCTAssertThrowsError(try Lowering.lower(g, layers: [], resources: resources(try TargetDescription.default))) {
            XCTAssertEqual(
                "\($0)",
                "node QuantizeLinear \"quantize\": cannot lower QuantizeLinear: the NPU backend has no lowering for it yet"
            )
        }
    }
}
