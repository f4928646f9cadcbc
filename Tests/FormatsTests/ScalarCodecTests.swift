import XCTest

// Every code of E2M1, E4M3, E5M2 and E8M0 decodes as ml_dtypes does, and an encode sweep
// over every float32 neighbourhood that matters (values, ties, their neighbours,
// subnormals, saturation, signed zeros, NaN, infinities, 1M random bit patterns) gives
// ml_dtypes' codes bit for bit; likewise bf16 (ml_dtypes) and fp16 (numpy).
@testable import Formats

final class ScalarCodecTests: XCTestCase {
    private func assertDecodeTable(_ name: String, count: Int, _ decode: (UInt8) -> Float) throws {
        let want = try ReferenceVectors.load("decode_\(name).f32", as: Float.self)
        XCTAssertEqual(want.count, count)
        for code in 0..<count {
            let got = decode(UInt8(code))
            if want[code].isNaN {
                XCTAssertTrue(got.isNaN, "\(name) code \(code): \(got) is not NaN")
            } else {
                XCTAssertEqual(got.bitPattern, want[code].bitPattern, "\(name) code \(code): \(got) != \(want[code])")
            }
        }
    }

    func testEveryCodeDecodesAsMLDtypes() throws {
        try assertDecodeTable("e2m1", count: 16) { MiniFloatFormat.e2m1().decode($0) }
        try assertDecodeTable("e4m3", count: 256) { MiniFloatFormat.e4m3.decode($0) }
        try assertDecodeTable("e5m2", count: 256) { MiniFloatFormat.e5m2.decode($0) }
        try assertDecodeTable("e8m0", count: 256) { E8M0.decode($0) }
    }

    private func assertEncodeSweep<T: Equatable>(_ name: String, as: T.Type, _ encode: (Float) -> T) throws {
        let inputs = try ReferenceVectors.load("sweep.f32", as: Float.self)
        let want = try ReferenceVectors.load(name, as: T.self)
        XCTAssertEqual(inputs.count, want.count)
        XCTAssertGreaterThan(inputs.count, 1_000_000)
        var failures = 0
        for (x, w) in zip(inputs, want) where encode(x) != w {
            failures += 1
            if failures <= 5 {
                XCTFail("\(name): \(x) (bits \(String(x.bitPattern, radix: 16))) -> \(encode(x)), ml_dtypes \(w)")
            }
        }
        XCTAssertEqual(failures, 0, "\(name): \(failures) mismatches")
    }

    func testEveryHalfPrecisionPatternDecodesAsTheConversion() {
        // Normal numbers by shifts, the rest by table: all 65,536 patterns, NaN payloads too.
        for bits in 0...UInt16.max {
            XCTAssertEqual(
                Float16Codec.decode(bits).bitPattern, Float(Float16(bitPattern: bits)).bitPattern, "0x\(String(bits, radix: 16))")
        }
    }

    func testRoundingToHalfPrecisionIsEncodingThenDecoding() {
        // Every 1021st pattern of float32, and the edges of the in-place path: the smallest
        // normal half, the largest, the overflow tie 65520, and carries into the exponent.
        var patterns = Array(stride(from: UInt32(0), to: UInt32.max, by: 1021))
        for edge: Float in [0x1p-14, 65504, 65519.996, 65520, 65536, 2047.9999, 1.0009765] {
            for bits in (edge.bitPattern - 2)...(edge.bitPattern + 2) { patterns += [bits, bits | 0x8000_0000] }
        }
        var mismatches = 0
        for bits in patterns {
            let x = Float(bitPattern: bits)
            if Float16Codec.round(x).bitPattern != Float16Codec.decode(Float16Codec.encode(x)).bitPattern { mismatches += 1 }
        }
        XCTAssertEqual(mismatches, 0)
    }

    func testHalfPrecisionRunsDecodeAsTheScalarDecoder() {
        // Every pattern, read from an odd byte and written with a stride.
        let codes = (0...UInt16.max).map { $0 }
        let bytes: [UInt8] = [0xAB] + codes.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let step = 3
        var out = [Float](repeating: 0, count: codes.count * step)
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer {
                Float16Codec.decode(raw.baseAddress! + 1, count: codes.count, into: $0.baseAddress!, step: step)
            }
        }
        for (j, bits) in codes.enumerated() {
            XCTAssertEqual(out[j * step].bitPattern, Float16Codec.decode(bits).bitPattern, "0x\(String(bits, radix: 16))")
        }
    }

    func testEncodeSweepsMatchMLDtypesBitForBit() throws {
        try assertEncodeSweep("encode_e2m1.u8", as: UInt8.self) { MiniFloatFormat.e2m1().encode($0) }
        try assertEncodeSweep("encode_e4m3.u8", as: UInt8.self) { MiniFloatFormat.e4m3.encode($0) }
        try assertEncodeSweep("encode_e5m2.u8", as: UInt8.self) { MiniFloatFormat.e5m2.encode($0) }
        try assertEncodeSweep("encode_e8m0.u8", as: UInt8.self) { E8M0.encode($0) }
        try assertEncodeSweep("encode_bf16.u16", as: UInt16.self) { BFloat16Codec.encode($0) }
        try assertEncodeSweep("encode_f16.u16", as: UInt16.self) { Float16Codec.encode($0) }
    }

    func testFastE2M1EncoderAgreesWithTheGenericOne() throws {
        let inputs = try ReferenceVectors.load("sweep.f32", as: Float.self)
        let e2m1 = MiniFloatFormat.e2m1()
        for x in inputs where !x.isNaN {
            XCTAssertEqual(e2m1Code(x), e2m1.encode(x, saturating: true), "\(x)")
        }
    }

    /// Sixteen lanes rounded to E4M3 at once give the generic codec's saturating code,
    /// decoded: on the sweep's neighbourhoods (and the sweep scaled into the subnormal steps)
    /// and every 4093rd float32 pattern, in every lane.
    func testSixteenLanesRoundToE4M3AsTheGenericCodec() throws {
        let sweep = try ReferenceVectors.load("sweep.f32", as: Float.self)
        var inputs = sweep + sweep.map { $0 * 0x1p-12 } + sweep.map { $0 * 0x1p-20 }
        inputs += stride(from: UInt32(0), to: UInt32.max, by: 4093).map { Float(bitPattern: $0) }
        inputs = inputs.filter(\.isFinite)
        let e4m3 = MiniFloatFormat.e4m3
        var mismatches = 0
        for start in stride(from: 0, to: inputs.count - 16, by: 13) {
            var v = SIMD16<Float>()
            for k in 0..<16 { v[k] = inputs[start + k] }
            let y = e4m3Rounded(v)
            for k in 0..<16 where y[k].bitPattern != e4m3.decode(e4m3.encode(v[k], saturating: true)).bitPattern {
                mismatches += 1
            }
        }
        XCTAssertEqual(mismatches, 0)
    }

    /// fp8 fake quantization without codes, of weights per row and of activations with a
    /// scale, gives the bits of encoding and decoding.
    func testFP8FakeQuantizationWithoutCodesIsEncodingThenDecoding() throws {
        let sweep = try ReferenceVectors.load("sweep.f32", as: Float.self).filter(\.isFinite)
        let columns = 37, rows = sweep.count / columns
        let x = Array(sweep.prefix(rows * columns))
        let (values, scales) = try x.withUnsafeBufferPointer { try FP8.fakeQuantized($0, rows: rows, columns: columns) }
        let m = try x.withUnsafeBufferPointer { try FP8.quantize($0, rows: rows, columns: columns, perChannel: true) }
        XCTAssertEqual(scales, m.scales)
        XCTAssertEqual(values.map(\.bitPattern), m.dequantized().map(\.bitPattern))
        let activations = sweep + [.nan, -.nan, .infinity, -.infinity, 3e38, -3e38] + sweep.prefix(20)
        for scale: Float in [1, 3e-20, 448] {
            // Infinities saturate; NaN is E4M3's NaN, decoded as the quiet NaN with its sign.
            let want = activations.map { v -> Float in
                if v.isNaN { return Float(bitPattern: v.bitPattern & 0x8000_0000 | 0x7FC0_0000) }
                return e4m3Value(e4m3Saturating(v.isFinite ? v / scale : (v < 0 ? -448 : 448))) * scale
            }
            XCTAssertEqual(
                FakeQuantization.fp8Activations(activations, scale: scale).map(\.bitPattern), want.map(\.bitPattern),
                "scale \(scale)")
        }
    }

    func testBiasOneGridAndBiasTwoExercise() {
        let real = MiniFloatFormat.e2m1(bias: 1)
        XCTAssertEqual((0..<8).map { real.decode(UInt8($0)) }, [0, 0.5, 1, 1.5, 2, 3, 4, 6])
        XCTAssertEqual(real.minNormal, 1)
        XCTAssertEqual(real.minSubnormal, 0.5)
        let exercise = MiniFloatFormat.e2m1(bias: 2)
        XCTAssertEqual(exercise.maxFinite, 3.0)
        XCTAssertEqual(exercise.minNormal, 0.5)
        XCTAssertEqual(exercise.minSubnormal, 0.25)
        XCTAssertEqual((0..<8).map { exercise.decode(UInt8($0)) }, [0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3])
        // Ties go to the even code; beyond the largest value it saturates.
        XCTAssertEqual(exercise.encode(0.125), 0)
        XCTAssertEqual(exercise.encode(0.375), 2)
        XCTAssertEqual(exercise.encode(2.5), 6)
        XCTAssertEqual(exercise.encode(100), 7)
        XCTAssertEqual(exercise.encode(-100), 15)
    }

    func testSaturatingModeClampsWhereMLDtypesGivesNaNOrInfinity() {
        XCTAssertTrue(MiniFloatFormat.e4m3.decode(MiniFloatFormat.e4m3.encode(500)).isNaN)
        XCTAssertEqual(MiniFloatFormat.e4m3.decode(MiniFloatFormat.e4m3.encode(500, saturating: true)), 448)
        XCTAssertEqual(MiniFloatFormat.e4m3.decode(MiniFloatFormat.e4m3.encode(-.infinity, saturating: true)), -448)
        XCTAssertEqual(MiniFloatFormat.e5m2.decode(MiniFloatFormat.e5m2.encode(1e6)), .infinity)
        XCTAssertEqual(MiniFloatFormat.e5m2.decode(MiniFloatFormat.e5m2.encode(1e6, saturating: true)), 57344)
    }
}

final class BufferCodecTests: XCTestCase {
    func testBufferConversionsEqualTheScalarOnes() throws {
        let inputs = try ReferenceVectors.load("sweep.f32", as: Float.self)
        for format in [MiniFloatFormat.e2m1(), .e2m1(bias: 2), .e4m3, .e5m2] {
            for saturating in [false, true] {
                let codes = inputs.withUnsafeBufferPointer { format.encode($0, saturating: saturating) }
                XCTAssertEqual(codes, inputs.map { format.encode($0, saturating: saturating) }, "\(format) \(saturating)")
                let values = codes.withUnsafeBufferPointer { format.decode($0) }
                for (c, v) in zip(codes, values).prefix(100_000) {
                    XCTAssertEqual(v.bitPattern, format.decode(c).bitPattern, "\(format) code \(c)")
                }
            }
        }
    }
}
