// The printer's output on hand-built graphs, against reviewed golden files: a conv block,
// awkward ONNX names, symbolic dims, and constants of every dtype. Each golden also has to
// parse back to the same text.
import Foundation
import IR
import TestSupport
import XCTest

final class PrinterGoldenTests: XCTestCase {
    private func assertGoldenRoundTrip(_ model: Model, _ golden: String, printer: IRPrinter = IRPrinter(),
                                       file: StaticString = #filePath, line: UInt = #line) throws {
        let text = printer.print(model)
        assertGolden(text, golden, file: file, line: line)
        let options = IRParser.Options(elidedDataAsZeros: true)
        XCTAssertEqual(printer.print(try IRParser.parse(text, options: options)), text, file: file, line: line)
    }

    private func ramp(_ count: Int, scale: Double = 0.25) -> [Float] { (0..<count).map { Float(sin(Double($0)) * scale) } }

    func testConvBlock() throws {
        let n = Dim.symbol("N")
        func f32(_ dims: Dim...) -> TensorType { TensorType(.float32, Shape(dims)) }
        var b = GraphBuilder()
        let x = b.input("input", f32(n, .known(1), .known(8), .known(8)))
        let w = b.constant("conv1.weight", Tensor(ramp(72), shape: [8, 1, 3, 3]))
        let bias = b.constant("conv1.bias", Tensor(ramp(8, scale: 0.01), shape: [8]))
        let fcw = b.constant("fc.weight", Tensor(ramp(1280), shape: [10, 128]))
        let fcb = b.constant("fc.bias", Tensor([Float](repeating: 0, count: 10), shape: [10]))
        let shape = b.constant("shape0", Tensor([Int64(0), -1], shape: [2]))
        let conv = b.node("Conv", [x, w, bias], ["dilations": .ints([1, 1]), "group": .int(1), "kernel_shape": .ints([3, 3]),
                                                  "pads": .ints([1, 1, 1, 1]), "strides": .ints([1, 1])],
                          outputs: ["conv_out"], name: "conv1", types: [f32(n, .known(8), .known(8), .known(8))])
        let relu = b.node("Relu", conv, outputs: ["relu_out"], name: "relu1", types: [f32(n, .known(8), .known(8), .known(8))])
        let pool = b.node("MaxPool", relu, ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])],
                          outputs: ["pool_out"], name: "pool1", types: [f32(n, .known(8), .known(4), .known(4))])
        let flat = b.node("Reshape", pool + [shape], outputs: ["flat"], name: "flatten", types: [f32(n, .known(128))])
        let logits = b.node("Gemm", flat + [fcw, fcb], ["alpha": .float(1), "beta": .float(1), "transB": .int(1)],
                            outputs: ["logits"], name: "fc", types: [f32(n, .known(10))])
        b.output(logits[0], f32(n, .known(10)))
        let model = Model(irVersion: 8, producerName: "pytorch", producerVersion: "2.1", opsets: ["": 17], graph: b.graph)
        try Verifier.verify(model.graph)
        try assertGoldenRoundTrip(model, "conv_block.ir")
    }

    func testWeirdNames() throws {
        var b = GraphBuilder(name: "exported graph")
        let x = b.input("input.1", .float32, [.known(4), .known(6)])
        let y = b.input("x y", .float32, [.known(4), .known(6)])
        let m = b.constant("onnx::Mul_7", Tensor(scalar: Float(2)))
        let lo = b.constant("/clip/min value", Tensor(scalar: Float(-1)))
        let mul = b.node("Mul", [x, m], outputs: ["/layer1/Mul_output_0"], name: "/layer1/Mul")
        let add = b.node("Add", mul + [y], outputs: ["sum \"quoted\""], name: "add\nwith newline")
        let clip = b.node("Clip", add + [lo, ""], outputs: ["ünïcode"], name: "clip")
        let parts = b.node("Split", clip, ["axis": .int(1), "num_outputs": .int(3)],
                           outputs: ["part:0", "", "ends with colon:"], name: "split",
                           types: [TensorType(.float32, [4, 2]), nil, TensorType(.float32, [4, 2])])
        let fused = b.node("FusedMatMul", [parts[0], parts[2]], ["transB": .int(1)], outputs: ["tab\there"],
                           name: "fused", domain: "com.microsoft")
        b.output(fused[0], TensorType(.float32, [4, 4]))
        b.output(parts[0], TensorType(.float32, [4, 2]))
        let model = Model(producerName: "exporter \"x\"", opsets: ["": 21, "com.microsoft": 1], graph: b.graph)
        try Verifier.verify(model.graph)
        try assertGoldenRoundTrip(model, "weird_names.ir")
    }

    func testSymbolicDims() throws {
        let (batch, seq) = (Dim.symbol("batch"), Dim.symbol("seq len"))
        var b = GraphBuilder()
        let tokens = b.input("tokens", .float32, [batch, seq, .known(16)])
        let mask = b.input("mask", .bool, [batch, .unknown])
        let extra = b.input("anything", TensorType(.float32, nil))
        let temperature = b.input("temperature", .float32, [])
        let zero = b.constant("zero", Tensor(scalar: Int64(0)))
        let axes = b.constant("axes", Tensor([Int64(0)], shape: [1]))
        let rest = b.constant("rest", Tensor([Int64(-1), 16], shape: [2]))
        let shape = b.node("Shape", [tokens], outputs: ["shape"], types: [TensorType(.int64, [3])])
        let n = b.node("Gather", shape + [zero], ["axis": .int(0)], outputs: ["n"], types: [TensorType(.int64, [])])
        let n1 = b.node("Unsqueeze", n + [axes], outputs: ["n1"], types: [TensorType(.int64, [1])])
        let target = b.node("Concat", n1 + [rest], ["axis": .int(0)], outputs: ["target"], types: [TensorType(.int64, [3])])
        let scaled = b.node("Div", [tokens, temperature], outputs: ["scaled"],
                            types: [TensorType(.float32, Shape([batch, seq, .known(16)]))])
        let probs = b.node("Softmax", scaled, ["axis": .int(-1)], outputs: ["probs"])  // type not inferred yet
        let flat = b.node("Reshape", probs + target, outputs: ["flat"],
                          types: [TensorType(.float32, Shape([batch, .unknown, .known(16)]))])
        let kept = b.node("Where", [mask, extra, flat[0]], outputs: ["kept"], types: [TensorType(.float32, nil)])
        b.output(kept[0], TensorType(.float32, nil))
        let model = Model(opsets: ["": 21], graph: b.graph)
        try Verifier.verify(model.graph)
        try assertGoldenRoundTrip(model, "symbolic_dims.ir")
    }

    func testConstantsOfEveryDType() throws {
        var b = GraphBuilder()
        let specials: [Double] = [0, -0.0, 1, -2.5, 0.1, .infinity, -.infinity, .nan]
        b.constant("f32", Tensor(specials.map(Float.init) + [.leastNonzeroMagnitude, .greatestFiniteMagnitude], shape: [2, 5]))
        b.constant("f64", Tensor(specials + [.leastNonzeroMagnitude, .greatestFiniteMagnitude], shape: [10]))
        b.constant("f16", Tensor(specials + [6e-8, 65504], shape: [10]).cast(to: .float16))
        b.constant("bf16", Tensor(specials + [1e-40, 3.3895313892515355e38], shape: [10]).cast(to: .bfloat16))
        b.constant("f8e4m3", Tensor(specials + [0.001953125, 448], shape: [10]).cast(to: .float8e4m3fn))
        b.constant("f8e5m2", Tensor(specials + [1.52587890625e-05, 57344], shape: [10]).cast(to: .float8e5m2, saturate: false))
        b.constant("i8", Tensor([Int8.min, -1, 0, Int8.max], shape: [4]))
        b.constant("i16", Tensor([Int16.min, Int16.max], shape: [2]))
        b.constant("i32", Tensor([Int32.min, Int32.max], shape: [2]))
        b.constant("i64", Tensor([Int64.min, Int64.max], shape: [2]))
        b.constant("u8", Tensor([UInt8.min, UInt8.max], shape: [2]))
        b.constant("u16", Tensor([UInt16.max], shape: [1]))
        b.constant("u32", Tensor([UInt32.max], shape: [1]))
        b.constant("u64", Tensor([UInt64.max], shape: [1]))
        b.constant("bool", Tensor(bools: [true, false, true], shape: [3]))
        b.constant("empty", Tensor([Float](), shape: [0, 3]))
        b.constant("scalar", Tensor(scalar: Int64(42)))
        b.constant("large", Tensor((0..<20).map { Float($0) }, shape: [4, 5]))
        b.constant("nan_payload", Tensor([Float(bitPattern: 0x7FC0_0001)], shape: [1]))
        let shape = b.input("shape", .int64, [.known(2)])
        b.node("ConstantOfShape", [shape], ["value": .tensor(Tensor([Float(0.5)], shape: [1]))], outputs: ["filled"],
               types: [TensorType(.float32, Shape([.unknown, .unknown]))])
        b.output("filled", TensorType(.float32, Shape([.unknown, .unknown])))
        let model = Model(irVersion: 10, producerName: "npucc-tests", domain: "org.npucc", modelVersion: 3,
                          docString: "Every dtype.\nSecond line with \"quotes\".", opsets: ["": 21],
                          metadata: [(key: "author", value: "text"), (key: "license", value: "MIT")], graph: b.graph)
        try Verifier.verify(model.graph)
        let full = IRPrinter(constantDataLimit: nil)
        try assertGoldenRoundTrip(model, "all_dtypes.ir", printer: full)
        XCTAssertNil(modelDifference(model, try IRParser.parse(full.print(model))))
    }
}

final class SchemaExampleTests: XCTestCase {
    /// The example in schemas/ir-text.md is real printer output: it parses, verifies, and
    /// prints back unchanged.
    func testTheDocumentedExampleRoundTrips() throws {
        let doc = try String(contentsOf: packageRoot().appendingPathComponent("schemas/ir-text.md"), encoding: .utf8)
        let afterHeading = try XCTUnwrap(doc.range(of: "## Example\n\n```\n"))
        let end = try XCTUnwrap(doc.range(of: "```\n", range: afterHeading.upperBound..<doc.endIndex))
        let example = String(doc[afterHeading.upperBound..<end.lowerBound])
        let model = try IRParser.parse(example, options: IRParser.Options(elidedDataAsZeros: true))
        try Verifier.verify(model.graph)
        XCTAssertEqual(IRPrinter().print(model), example)
    }
}
