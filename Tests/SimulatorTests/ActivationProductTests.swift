// A MatMul of two activations, batched with a broadcast batch axis, as compile quantizes it
// (both operands fp16) and lowers it (several output tiles and reduction steps on several
// tiles), run by the simulator: the fake-quant interpreter's bits. Unmarked, it is refused
// naming the node; an mma whose f32 operand is off the fp16 grid is refused.
import Backend
import Formats
import IR
import ISA
import Passes
import Reference
import Simulator
import TestSupport
import XCTest

final class ActivationProductTests: XCTestCase {
    private let resources = TileResources(
        sramBytes: 8192, arrayRows: 20, arrayColumns: 20,
        rates: [.fp16: 1, .fp8: 2, .nvfp4: 4], clusters: 2, tilesPerCluster: 2)

    private func graph() -> Graph {
        var b = GraphBuilder()
        b.input("a", .float32, [.known(2), .known(3), .known(37), .known(24)])
        b.input("b", .float32, [.known(3), .known(24), .known(45)])
        b.node("MatMul", ["a", "b"], outputs: ["y"], name: "scores")
        b.output("y")
        return b.graph
    }

    private func inputs() -> [String: Tensor] {
        var rng = SeededRandom(seed: 91)
        func random(_ shape: [Int]) -> Tensor {
            Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -3...3, using: &rng) }, shape: shape)
        }
        return ["a": random([2, 3, 37, 24]), "b": random([3, 24, 45])]
    }

    func testBatchedProductEqualsTheFakeQuantInterpreterBitForBit() throws {
        for format in [PrecisionFormat.fp8, .nvfp4] {
            let g = try prepared(graph(), quantization: QuantizationPlan(format: format, activationAmax: [:]))
            XCTAssertEqual(g.nodes[0].string(QuantizationAttributes.activationFormatB), "fp16")
            XCTAssertEqual(g.nodes[0].string(QuantizationAttributes.activationFormat), "fp16")
            try assertSimulatedEqualsInterpreted(g, inputs(), resources: resources)
        }
        // The rounding is real: the fp32 product differs.
        let plain = try Interpreter(graph: try prepared(graph())).run(inputs())["y"]!.floats()
        let g = try prepared(graph(), quantization: QuantizationPlan(format: .fp16, activationAmax: [:]))
        XCTAssertNotEqual(try simulated(g, inputs(), resources: resources)["y"], plain)
    }

    func testAnUnmarkedProductIsRefusedByNode() throws {
        let g = try prepared(graph())
        XCTAssertThrowsError(try Lowering.lower(g, layers: [], resources: resources)) {
            let message = "node MatMul \"scores\": cannot lower MatMul without constant weights yet"
            XCTAssertTrue("\($0)".contains(message + " (a product of two activations must be quantized first)"), "\($0)")
        }
    }

    func testAnOperandOffTheFP16GridIsRefused() throws {
        var b = ProgramBuilder()
        let act = b.descriptor(try TensorDescriptor(.sram, .f32, address: 0, dims: [1, 2]))
        let wgt = b.descriptor(try TensorDescriptor(.sram, .f32, address: 64, dims: [2, 1]))
        let out = b.descriptor(try TensorDescriptor(.sram, .f32, address: 128, dims: [1, 1]))
        let fp16 = UInt64(InstructionSet.formats.firstIndex(of: "fp16")!)
        try b.emit("fill", ["dst": act, "value": UInt64(Float(1).bitPattern)])
        try b.emit("fill", ["dst": wgt, "value": UInt64(Float(0.1).bitPattern)])
        try b.emit(
            "mma", ["out": out, "act": act, "wgt": wgt, "scl": 0, "wfmt": fp16, "afmt": fp16, "sparse": 0, "accumulate": 0])
        var sim = Machine(
            shape: MachineShape(dramBytes: 64, l3Bytes: 64, l2Bytes: 64, sramBytes: 256, clusters: 1, tilesPerCluster: 1),
            weights: [], constants: [])
        XCTAssertThrowsError(try sim.run(b.program)) {
            XCTAssertTrue("\($0)".hasPrefix("instruction 2 (mma): an fp16 wgt holds 0.1"), "\($0)")
        }
    }
}
