// The exported activation rounding, run on the reference interpreter, against
// FakeQuantization bit for bit: fp16 casts, fp8 Q/DQ pairs, and the nvfp4 op sequence
// (short last blocks, all-zero blocks, saturating block scales and E2M1 ties).
import Formats
import IR
import Reference
import TestSupport
import XCTest

@testable import ONNXExport

final class ActivationRoundingTests: XCTestCase {
    /// `x` rounded through the exported ops, on the interpreter.
    private func exported(_ x: [Float], shape: [Int], axis: Int, format: PrecisionFormat, amax: Float) throws -> [Float] {
        let type = TensorType(.float32, shape)
        let source = Graph(inputs: [ValueInfo(name: "x", type: type)], outputs: [ValueInfo(name: "y", type: type)])
        var builder = QDQGraphBuilder(source)
        let layer = Node(op: "MatMul", name: "layer", inputs: ["x", "w"], outputs: ["y"])
        // fp8's scale, or nvfp4's tensor scale, as the exporter gives them.
        let scale = format == .nvfp4 ? amax / (6 * 448) : (amax > 0 ? amax / 448 : 1)
        let rounded = try builder.roundedActivation("x", format: format, scale: scale, axis: axis, type: type, layer: layer)
        builder.append(Node(op: "Identity", name: "out", inputs: [rounded], outputs: ["y"]))
        let outputs = try Interpreter(graph: builder.graph).run(["x": Tensor(x, shape: shape)])
        return outputs["y"]!.floats()
    }

    /// Values of many magnitudes, E2M1 and E4M3 ties among them, some blocks all zero.
    private func values(_ count: Int, seed: UInt64) -> [Float] {
        var random = SeededRandom(seed: seed)
        let ties: [Float] = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, 6, 7, -0.25, -2.5, -5]
        return (0..<count).map { i in
            if (i / 16) % 5 == 3 { return 0 }
            switch random.next() % 4 {
            case 0: return ties[Int(random.next() % UInt64(ties.count))]
            case 1: return Float(Int(random.next() % 2001) - 1000) / 64
            default:
                let exponent = Float(Int(random.next() % 30) - 20)
                return Float(Int(random.next() % 200) - 100) / 100 * Float(pow(2.0, Double(exponent)))
            }
        }
    }

    private func assertBitwiseEqual(_ a: [Float], _ b: [Float], _ what: String) {
        XCTAssertEqual(a.count, b.count, what)
        let differing = zip(a, b).enumerated().filter { $0.element.0 != $0.element.1 }
        XCTAssertTrue(differing.isEmpty, "\(what): \(differing.count) elements differ, first \(differing.prefix(3))")
    }

    func testEveryFormatRoundsAsTheInterpreter() throws {
        let cases: [(shape: [Int], axis: Int)] = [([3, 40], 1), ([2, 20, 3, 2], 1), ([35, 4], 0), ([2, 3, 32], 2)]
        for (index, c) in cases.enumerated() {
            let x = values(c.shape.reduce(1, *), seed: UInt64(index + 1))
            let largest = x.map(\.magnitude).max()!
            // amax below the largest value: some block scales saturate at 448.
            for amax in [largest, largest / 64, 0] {
                for format in [PrecisionFormat.fp16, .fp8, .nvfp4] {
                    let want = FakeQuantization.activations(x, shape: c.shape, reductionAxis: c.axis, format: format, amax: amax)
                    let got = try exported(x, shape: c.shape, axis: c.axis, format: format, amax: amax)
                    assertBitwiseEqual(got, want, "\(format) \(c.shape) axis \(c.axis) amax \(amax)")
                }
            }
        }
    }
}
