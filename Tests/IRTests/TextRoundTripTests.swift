// Property tests of the text form: print(parse(print(m))) == print(m) for random models,
// and with all data printed the parsed model equals the original bit for bit.
import IR
import TestSupport
import XCTest

final class TextRoundTripTests: XCTestCase {
    func testRandomModelsRoundTripExactlyWithAllData() throws {
        var random = RandomModels(seed: 1)
        let printer = IRPrinter(constantDataLimit: nil)
        for trial in 0..<400 {
            let model = random.model()
            let text = printer.print(model)
            let parsed: Model
            do { parsed = try IRParser.parse(text) } catch {
                XCTFail("trial \(trial): \(error)\n\(text)")
                return
            }
            XCTAssertEqual(printer.print(parsed), text, "trial \(trial)")
            if let difference = modelDifference(model, parsed) { XCTFail("trial \(trial): \(difference)\n\(text)") }
        }
    }

    func testElidedTextRoundTripsAsTextWhenPlaceholdersAreAllowed() throws {
        var random = RandomModels(seed: 2)
        let printer = IRPrinter(constantDataLimit: 4)
        var elidedModels = 0
        for trial in 0..<200 {
            let text = printer.print(random.model())
            if text.contains("<elided ") {
                elidedModels += 1
                XCTAssertThrowsError(try IRParser.parse(text), "trial \(trial)") { error in
                    XCTAssertTrue("\(error)".contains("has elided data"), "\(error)")
                }
            }
            let parsed = try IRParser.parse(text, options: IRParser.Options(elidedDataAsZeros: true))
            XCTAssertEqual(printer.print(parsed), text, "trial \(trial)")
        }
        XCTAssertGreaterThan(elidedModels, 20)
    }

    func testEveryHalfAndBFloat16ValueRoundTripsAsALiteral() throws {
        for dtype in [DType.float16, .bfloat16] {
            var g = Graph()
            var nonNaN: [UInt16] = []
            for bits in 0...UInt16.max where !(dtype == .float16 ? halfToFloat(bits) : bfloat16ToFloat(bits)).isNaN {
                nonNaN.append(bits)
            }
            for start in stride(from: 0, to: nonNaN.count, by: 16) {
                let chunk = Array(nonNaN[start..<min(start + 16, nonNaN.count)])
                g.constants["c\(start)"] = Tensor(chunk, shape: [chunk.count]).reinterpreted(as: dtype)
            }
            let text = IRPrinter(constantDataLimit: nil).print(g)
            XCTAssertFalse(text.contains("0x"), "\(dtype): every non-NaN value has a literal")
            let parsed = try IRParser.parseGraph(text)
            for (name, t) in g.constants {
                XCTAssertTrue(parsed.constants[name]?.bitwiseEqual(t) ?? false, "\(dtype) \(name)")
            }
        }
    }

    /// Every fp8 code reads back to itself: the non-NaN ones as literals, the NaNs other
    /// than the one `nan` reads as in hex.
    func testEveryFP8CodeRoundTrips() throws {
        for dtype in [DType.float8e4m3fn, .float8e5m2] {
            let codes = (0...255).map { UInt8($0) }
            var g = Graph()
            for start in stride(from: 0, to: 256, by: 8) {
                g.constants["c\(start)"] = Tensor(Array(codes[start..<start + 8]), shape: [8]).reinterpreted(as: dtype)
            }
            let text = IRPrinter(constantDataLimit: nil).print(g)
            // E4M3 has one NaN besides `nan` (0xff), E5M2 five (0x7d, 0x7f, 0xfd, 0xfe, 0xff).
            XCTAssertEqual(text.components(separatedBy: "0x").count - 1, dtype == .float8e4m3fn ? 1 : 2, text)
            let parsed = try IRParser.parseGraph(text)
            for (name, t) in g.constants {
                XCTAssertTrue(parsed.constants[name]?.bitwiseEqual(t) ?? false, "\(dtype) \(name)")
            }
        }
        var g = Graph()
        let values: [Float] = [0, -0.0, 1, -2.5, 448, 0.001953125, .nan]
        g.constants["e4m3"] = Tensor(values, shape: [7]).cast(to: .float8e4m3fn)
        g.constants["e5m2"] = Tensor(values + [.infinity], shape: [8]).cast(to: .float8e5m2, saturate: false)
        let text = IRPrinter(constantDataLimit: nil).print(g)
        XCTAssertTrue(text.contains("const %e4m3: f8e4m3[7] = [0.0, -0.0, 1.0, -2.5, 448.0, 0.001953125, nan]"), text)
        XCTAssertTrue(text.contains("const %e5m2: f8e5m2[8] = [0.0, -0.0, 1.0, -2.5, 448.0, 0.001953125, nan, inf]"), text)
    }

    func testSpecialFloatsPrintAsLiteralsAndNaNPayloadsAsHex() throws {
        let specials: [Float] = [
            -0.0, .nan, .infinity, -.infinity, .leastNonzeroMagnitude, .leastNormalMagnitude,
            .greatestFiniteMagnitude, 0.1,
        ]
        var g = Graph()
        g.constants["special"] = Tensor(specials, shape: [specials.count])
        g.constants["payload"] = Tensor([Float(bitPattern: 0x7FC0_0001), Float(bitPattern: 0xFFC0_0000)], shape: [2])
        g.constants["double"] = Tensor([-0.0, Double.nan, .leastNonzeroMagnitude, 0.1], shape: [4])
        let text = IRPrinter(constantDataLimit: nil).print(g)
        XCTAssertTrue(
            text.contains("const %special: f32[8] = [-0.0, nan, inf, -inf, 1e-45, 1.1754944e-38, 3.4028235e+38, 0.1]"), text)
        XCTAssertTrue(text.contains("const %payload: f32[2] = 0x0100c07f0000c0ff"), text)
        XCTAssertTrue(text.contains("const %double: f64[4] = [-0.0, nan, 5e-324, 0.1]"), text)
        let parsed = try IRParser.parseGraph(text)
        XCTAssertNil(graphDifference(g, parsed))
    }

    func testFloatAttributesAlwaysReadBackAsFloats() throws {
        var b = GraphBuilder()
        let x = b.input("x", .float32, [.known(1)])
        let floats: [Float] = [1, 100, 16_777_216, 1e20, -0.0, 3, .infinity, -.infinity]
        b.node("Op", [x], ["f": .float(2), "fs": .floats(floats), "i": .int(2), "is": .ints([1, 2])], outputs: ["y"])
        let text = IRPrinter().print(b.graph)
        XCTAssertTrue(text.contains("{f=2.0, fs=[1.0, 100.0, 16777216.0, 1e+20, -0.0, 3.0, inf, -inf], i=2, is=[1, 2]}"), text)
        let node = try IRParser.parseGraph(text).nodes[0]
        XCTAssertNil(nodeDifference(b.graph.nodes[0], node))
    }

    func testGraphWithoutAModelHeaderGetsTheModelDefaults() throws {
        let model = try IRParser.parse("graph g() -> () {\n  return\n}\n")
        XCTAssertEqual(model.irVersion, Model(graph: Graph()).irVersion)
        XCTAssertEqual(model.opsets, Model(graph: Graph()).opsets)
        XCTAssertEqual(model.graph.name, "g")
    }

    func testCommentsAndFreeLayoutAreAccepted() throws {
        let text = """
            // IR after infer-shapes
            model ir=8 opsets={"": 21}   // header
            graph main(%x: f32[2]) -> (%y: f32[2]) {
              %y: f32[2] = Relu(%x)  // the only node
              return %y
            }
            """
        let g = try IRParser.parseGraph(text)
        XCTAssertEqual(g.nodes.map(\.op), ["Relu"])
        XCTAssertEqual(g.types["y"], TensorType(.float32, [2]))
    }
}

extension Tensor {
    /// The same bytes seen as `dtype`, which must have the same element size.
    func reinterpreted(as dtype: DType) -> Tensor {
        Tensor(dtype: dtype, shape: shape, storage: storage)
    }
}
