// QuantizeLinear and DequantizeLinear bit for bit on worked examples: integer ties round to
// even and saturate, fp8 saturates or gives NaN / infinity as the node says, per-axis scales
// pick their slice, and every fp8 code dequantizes exactly. (Tests/python/test_qdq.py checks
// the same kernels against onnxruntime.)
import IR
import Reference
import XCTest

final class QuantizationKernelTests: XCTestCase {
    private func quantize(
        _ x: Tensor, scale: Tensor, zero: Tensor? = nil,
        _ attributes: [String: Attribute] = [:]
    ) throws -> Tensor {
        let node = Node(
            op: "QuantizeLinear", name: "q", inputs: ["x", "s"] + (zero == nil ? [] : ["z"]), outputs: ["y"],
            attributes: attributes)
        return try Kernels.evaluate(node, [x, scale, zero])[0]
    }

    private func dequantize(
        _ x: Tensor, scale: Tensor, zero: Tensor? = nil,
        _ attributes: [String: Attribute] = [:]
    ) throws -> Tensor {
        let node = Node(
            op: "DequantizeLinear", name: "dq", inputs: ["x", "s"] + (zero == nil ? [] : ["z"]), outputs: ["y"],
            attributes: attributes)
        return try Kernels.evaluate(node, [x, scale, zero])[0]
    }

    /// The stored bytes of an 8-bit tensor.
    private func codes(_ t: Tensor) -> [UInt8] { Array(t.bytes) }

    private func fp8(_ codes: [UInt8], _ dtype: DType) -> Tensor {
        Tensor(dtype: dtype, shape: [codes.count], storage: Tensor(codes, shape: [codes.count]).storage)
    }

    func testIntegersRoundHalfToEvenAndSaturate() throws {
        let x = Tensor([Float(1.25), 1.75, -1.25, 0.75, 200, -200, .nan, .infinity, -.infinity], shape: [9])
        let half = Tensor(scalar: Float(0.5))
        // x / 0.5 = [2.5, 3.5, -2.5, 1.5, 400, -400, nan, inf, -inf]
        let int8 = try quantize(x, scale: half, zero: Tensor(scalar: Int8(0)))
        XCTAssertEqual(int8.dtype, .int8)
        XCTAssertEqual(int8.scalars(as: Int8.self), [2, 4, -2, 2, 127, -128, 0, 127, -128])
        let uint8 = try quantize(x, scale: half, zero: Tensor(scalar: UInt8(128)))
        XCTAssertEqual(uint8.scalars(as: UInt8.self), [130, 132, 126, 130, 255, 0, 128, 255, 0])
        XCTAssertEqual(try quantize(x, scale: half).dtype, .uint8, "no zero point: uint8")
        let int16 = try quantize(
            Tensor([Float(32767.5), -32768.5, 2.5, -3.5], shape: [4]), scale: Tensor(scalar: Float(1)),
            zero: Tensor(scalar: Int16(0)))
        XCTAssertEqual(int16.scalars(as: Int16.self), [32767, -32768, 2, -4])
        let typed = try quantize(x, scale: half, ["output_dtype": .int(Int(DType.int8.rawValue))])
        XCTAssertEqual(typed.scalars(as: Int8.self), int8.scalars(as: Int8.self))
    }

    func testPerAxisScalesAndZeroPointsPickTheirSlice() throws {
        let x = Tensor([Float(4), 4, 4, -6, 7, 10], shape: [2, 3])
        let scales = Tensor([Float(1), 2, 4], shape: [3]), zeros = Tensor([Int8(0), 1, -1], shape: [3])
        // x / s = [[4, 2, 1], [-6, 3.5, 2.5]], rounded [[4, 2, 1], [-6, 4, 2]], plus the zero points.
        let q = try quantize(x, scale: scales, zero: zeros, ["axis": .int(1)])
        XCTAssertEqual(q.scalars(as: Int8.self), [4, 3, 0, -6, 5, 1])
        XCTAssertEqual(try dequantize(q, scale: scales, zero: zeros, ["axis": .int(-1)]).floats(), [4, 4, 4, -6, 8, 8])
        XCTAssertThrowsError(try quantize(x, scale: scales, zero: zeros, ["axis": .int(0)])) { error in
            XCTAssertEqual("\(error)", "node QuantizeLinear \"q\": the scale has 3 values but axis 0 of the input [2, 3] has 2")
        }
        XCTAssertThrowsError(
            try quantize(
                x, scale: Tensor([Float](repeating: 1, count: 2), shape: [2, 1]),
                ["axis": .int(1), "block_size": .int(2)])
        ) { error in
            XCTAssertEqual(
                "\(error)",
                "node QuantizeLinear \"q\": the scale [2, 1] does not give one value per block of 2 along axis 1 of the input [2, 3] ([2, 2])"
            )
        }
    }

    /// Blocked: each element takes the scale and zero point of its block along the axis, the
    /// last block short (3 elements in blocks of 2).
    func testBlockedScalesAndZeroPointsPickTheirBlock() throws {
        let x = Tensor([Float(4), 4, 4, -6, 7, 10], shape: [2, 3])
        let scales = Tensor([Float(1), 2, 4, 0.5], shape: [2, 2]), zeros = Tensor([Int8(0), 1, -1, 2], shape: [2, 2])
        // Blocks [x00 x01 | x02] and [x10 x11 | x12]: x / s = [[4, 4, 2], [-1.5, 1.75, 20]],
        // rounded [[4, 4, 2], [-2, 2, 20]], plus the zero points [[0, 0, 1], [-1, -1, 2]].
        let q = try quantize(x, scale: scales, zero: zeros, ["axis": .int(1), "block_size": .int(2)])
        XCTAssertEqual(q.scalars(as: Int8.self), [4, 4, 3, -3, 1, 22])
        XCTAssertEqual(
            try dequantize(q, scale: scales, zero: zeros, ["axis": .int(1), "block_size": .int(2)]).floats(),
            [4, 4, 4, -8, 8, 10])
    }

    /// E4M3: ties to even (1.0625 -> 1.0, 1.1875 -> 1.25, 464 -> 448, 2^-10 -> 0); saturate 1
    /// sends overflow and infinities to +-448, saturate 0 to NaN of the value's sign.
    func testE4M3SaturatesOrGivesNaN() throws {
        let x = Tensor([Float(1), 1.0625, 1.1875, 464, 1000, .infinity, -.infinity, .nan, -0.0, 0.0009765625], shape: [10])
        let one = Tensor(scalar: Float(1)), zero = fp8([0], .float8e4m3fn).reshaped([])
        let saturated = try quantize(x, scale: one, zero: zero)
        XCTAssertEqual(saturated.dtype, .float8e4m3fn)
        XCTAssertEqual(codes(saturated), [0x38, 0x38, 0x3A, 0x7E, 0x7E, 0x7E, 0xFE, 0x7F, 0x80, 0x00])
        let raw = try quantize(x, scale: one, zero: zero, ["saturate": .int(0)])
        XCTAssertEqual(codes(raw), [0x38, 0x38, 0x3A, 0x7E, 0x7F, 0x7F, 0xFF, 0x7F, 0x80, 0x00])
        // The scale divides first: 900 / 2 = 450 -> 448.
        XCTAssertEqual(codes(try quantize(Tensor([Float(900)], shape: [1]), scale: Tensor(scalar: Float(2)), zero: zero)), [0x7E])
        XCTAssertThrowsError(try quantize(x, scale: one, zero: fp8([0x38], .float8e4m3fn).reshaped([]))) { error in
            XCTAssertEqual(
                "\(error)", "node QuantizeLinear \"q\": the f8e4m3 zero point must be zero: ONNX quantizes to fp8 without one")
        }
    }

    /// E5M2: 61440 is the tie between 57344 and the next binade's infinity.
    func testE5M2SaturatesOrGivesInfinity() throws {
        let x = Tensor([Float(57344), 61440, 1e6, .infinity, -.infinity, .nan, 1.25, 1.125], shape: [8])
        let attributes: [String: Attribute] = ["output_dtype": .int(Int(DType.float8e5m2.rawValue))]
        let one = Tensor(scalar: Float(1))
        XCTAssertEqual(codes(try quantize(x, scale: one, attributes)), [0x7B, 0x7B, 0x7B, 0x7B, 0xFB, 0x7E, 0x3D, 0x3C])
        var raw = attributes
        raw["saturate"] = .int(0)
        XCTAssertEqual(codes(try quantize(x, scale: one, raw)), [0x7B, 0x7C, 0x7C, 0x7C, 0xFC, 0x7E, 0x3D, 0x3C])
    }

    func testIntegerDequantization() throws {
        let int8 = try dequantize(
            Tensor([Int8(-128), -1, 0, 127], shape: [4]), scale: Tensor(scalar: Float(0.5)),
            zero: Tensor(scalar: Int8(-1)))
        XCTAssertEqual(int8.floats(), [-63.5, 0, 0.5, 64])
        let uint8 = try dequantize(
            Tensor([UInt8(130), 100, 3, 255], shape: [2, 2]), scale: Tensor([Float(0.5), 2], shape: [2]),
            zero: Tensor([UInt8(128), 0], shape: [2]), ["axis": .int(0)])
        XCTAssertEqual(uint8.floats(), [1, -14, 6, 510])
        let int32 = try dequantize(Tensor([Int32(100_000), -7], shape: [2]), scale: Tensor(scalar: Float(0.001)))
        XCTAssertEqual(int32.floats(), [Float(100_000) * 0.001, Float(-7) * 0.001])
        let half = try dequantize(Tensor([Int8(3)], shape: [1]), scale: Tensor(scalar: Float(0.25)).cast(to: .float16))
        XCTAssertEqual(half.dtype, .float16, "the output has the scale's type")
        XCTAssertEqual(half.floats(), [0.75])
    }

    /// Every fp8 code times a scale, in float32, NaN and infinities included.
    func testEveryFP8CodeDequantizesExactly() throws {
        let all = (0...255).map { UInt8($0) }
        for dtype in [DType.float8e4m3fn, .float8e5m2] {
            let x = fp8(all, dtype)
            let y = try dequantize(x, scale: Tensor(scalar: Float(0.375)), zero: fp8([0x80], dtype).reshaped([]))
            for (i, v) in y.floats().enumerated() {
                let want = Float(x.double(at: i)) * 0.375
                XCTAssertTrue(
                    v.bitPattern == want.bitPattern || (v.isNaN && want.isNaN),
                    "\(dtype) code \(i): \(v) != \(want)")
            }
            XCTAssertEqual(y.floats()[dtype == .float8e4m3fn ? 0x38 : 0x3C], 0.375, "1.0 times the scale")
        }
        XCTAssertEqual(
            try dequantize(fp8([0x7B, 0x7C, 0xFC], .float8e5m2), scale: Tensor(scalar: Float(2))).floats(),
            [114_688, .infinity, -.infinity])
        XCTAssertTrue(
            try dequantize(fp8([0x7F, 0xFF], .float8e4m3fn), scale: Tensor(scalar: Float(2))).floats().allSatisfy(\.isNaN))
    }

    /// Quantizing the dequantized codes gives the codes back: the pair is exact on its grid.
    func testAQuantizeDequantizePairIsTheIdentityOnCodes() throws {
        let codes = (0...255).map { UInt8($0) }.filter { $0 & 0x7F != 0x7F }
        let x = fp8(codes, .float8e4m3fn)
        let scale = Tensor(scalar: Float(0.013))
        let back = try quantize(try dequantize(x, scale: scale), scale: scale, zero: fp8([0], .float8e4m3fn).reshaped([]))
        XCTAssertEqual(self.codes(back), codes)
    }

    func testCastToFP8HonoursSaturate() throws {
        let x = Tensor([Float(1000), -.infinity, 0.1], shape: [3])
        func cast(_ dtype: DType, saturate: Int) throws -> [UInt8] {
            let node = Node(
                op: "Cast", inputs: ["x"], outputs: ["y"],
                attributes: ["to": .int(Int(dtype.rawValue)), "saturate": .int(saturate)])
            return codes(try Kernels.evaluate(node, [x])[0])
        }
        XCTAssertEqual(try cast(.float8e4m3fn, saturate: 1), [0x7E, 0xFE, 0x1D])
        XCTAssertEqual(try cast(.float8e4m3fn, saturate: 0), [0x7F, 0xFF, 0x1D])
        XCTAssertEqual(try cast(.float8e5m2, saturate: 1), [0x64, 0xFB, 0x2E])
        XCTAssertEqual(try cast(.float8e5m2, saturate: 0), [0x64, 0xFC, 0x2E])
    }
}
