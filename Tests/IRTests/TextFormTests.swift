// The text form: golden output for a small graph, exact round trips of random graphs with
// every dtype and awkward names, and parse errors with line and column.
import IR
import TestSupport
import XCTest

final class TextFormTests: XCTestCase {
    func convBlock() -> Model {
        var b = GraphBuilder()
        b.input("input", .float32, [.symbol("N"), .known(3), .known(8), .known(8)])
        b.constant("w", Tensor((0..<54).map { Float($0) / 8 }, shape: [2, 3, 3, 3]))
        b.constant("shape", Tensor([Int64(0), -1], shape: [2]))
        let conv = b.node("Conv", ["input", "w", ""], ["group": .int(1), "pads": .ints([1, 1, 1, 1]),
                                                        "alpha": .float(0.5), "auto_pad": .string("NOTSET")],
                          outputs: ["onnx::Conv_1"], name: "conv 1")
        b.graph.types["onnx::Conv_1"] = TensorType(.float32, Shape([.symbol("N"), .known(2), .known(8), .known(8)]))
        let flat = b.node("Reshape", [conv[0], "shape"], outputs: ["/flat/out"])
        b.output(flat[0], TensorType(.float32, Shape([.symbol("N"), .unknown])))
        return Model(irVersion: 8, producerName: "test", opsets: ["": 17], graph: b.graph)
    }

    func testPrinterGolden() {
        assertGolden(IRPrinter().print(convBlock()), "Tests/IRTests/Goldens/conv_block.ir")
    }

    func testFullPrintParsesBackIdentically() throws {
        let printer = IRPrinter(constantDataLimit: nil)
        let text = printer.print(convBlock())
        XCTAssertEqual(printer.print(try IRParser.parse(text)), text)
    }

    func testRandomGraphsRoundTripBitForBit() throws {
        var rng = SeededRandom(seed: 3)
        let printer = IRPrinter(constantDataLimit: nil)
        let names = ["x", "onnx::Mul_7", "/a/b.c", "with space", "quote\"d", "ünïcode", "t\tab", "0"]
        for trial in 0..<50 {
            var b = GraphBuilder()
            let input = b.input(names[trial % names.count], .float32, [.symbol("batch size"), .known(4), .unknown])
            var last = input
            var constants: [String: Tensor] = [:]
            for (k, dtype) in DType.allCases.enumerated() {
                let count = Int.random(in: 0...5, using: &rng)
                let t = Tensor(Array((0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }), shape: [count])
                var tensor = t.cast(to: dtype)
                if dtype == .float32 {
                    tensor = Tensor([Float.nan.magnitude, -0.0, .infinity, -.infinity, Float.leastNonzeroMagnitude,
                                     Float.greatestFiniteMagnitude, Float.random(in: -1...1, using: &rng)], shape: [7])
                }
                let name = "c\(k)_\(names[(trial + k) % names.count])"
                b.constant(name, tensor)
                constants[name] = tensor
            }
            let attrs: [String: Attribute] = [
                "i": .int(Int.random(in: -100...100, using: &rng)), "f": .float(Float.random(in: -1e6...1e6, using: &rng)),
                "s": .string(names[trial % names.count]), "ints": .ints([1, -2]), "floats": .floats([1, 2.5e-8]),
                "none": .floats([]), "names": .strings(["a", "b\n"]), "t": .tensor(Tensor(scalar: Int64(trial))),
            ]
            last = b.node("Relu", [last], attrs, outputs: ["y\(trial)"], name: "n\"\(trial)")[0]
            b.output(last, TensorType(.float32, Shape([.symbol("batch size"), .known(4), .unknown])))
            let model = Model(irVersion: 8, producerName: "p\"q", producerVersion: "1.0", opsets: ["": 21, "x.y": 1], graph: b.graph)
            let text = printer.print(model)
            let parsed = try IRParser.parse(text)
            XCTAssertEqual(printer.print(parsed), text, "trial \(trial)")
            for (name, t) in constants {
                let back = try XCTUnwrap(parsed.graph.constants[name], name)
                if t.dtype == .float32 {
                    for i in 0..<t.count where !t.double(at: i).isNaN {
                        XCTAssertEqual(back.double(at: i).bitPattern, t.double(at: i).bitPattern, name)
                    }
                } else {
                    XCTAssertTrue(back.bitwiseEqual(t), "\(name) \(t.dtype)")
                }
            }
        }
    }

    func testParseErrorsGiveLineAndColumn() {
        let cases: [(String, String)] = [
            ("model ir=8 opsets={}\ngraph g() -> () {\n  %a = Relu(\n}", "line 4, column 1"),
            ("model ir=8\ngraph g(%x: f99[1]) -> () {\n return\n}", "unknown element type 'f99'"),
            ("model ir=8 opsets={}\ngraph g() -> () {\n  const %c: f32[2] = [1]\n  return\n}", "1 values for a constant of 2 elements"),
            ("model ir=8 opsets={}\ngraph g() -> () {\n  const %c: f32[20] = <20 elements>\n  return\n}", "elided"),
        ]
        for (text, phrase) in cases {
            XCTAssertThrowsError(try IRParser.parse(text)) { error in
                XCTAssertTrue("\(error)".contains(phrase), "\(error)")
            }
        }
    }
}

/// SplitMix64, for reproducible random graphs.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
