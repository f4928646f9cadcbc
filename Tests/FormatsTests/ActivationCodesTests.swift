// Coded activations: value(code) · scale must be, bit for bit, what fake quantization rounds
// each element to, over blocks with every kind of value (ties between grid points,
// subnormals, zeros of both signs, infinities, NaN, all-zero blocks) and short blocks.
import Formats
import XCTest

final class ActivationCodesTests: XCTestCase {
    /// Rows of `rowLength` mixing ordinary values with the special ones.
    private func values(count: Int, seed: UInt64) -> [Float] {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let specials: [Float] = [
            0, -0.0, .nan, .infinity, -.infinity, Float.leastNonzeroMagnitude, -Float.leastNormalMagnitude, 0.25, -0.75,
            2.5, 5, -6, 448, 1e30,
        ]
        return (0..<count).map { i in
            if i % 48 >= 32 { return 0 }  // every third block of 16 all zero
            let r = next()
            if r % 7 == 0 { return specials[Int(r / 7) % specials.count] }
            return Float(Int(r % 20_001) - 10_000) / 997
        }
    }

    func testCodesTimesScalesAreTheRoundedValues() throws {
        for (rowLength, rows) in [(16, 12), (48, 5), (20, 7), (3, 9), (1, 4)] {
            let x = values(count: rowLength * rows, seed: UInt64(rowLength))
            for format in [PrecisionFormat.fp8, .nvfp4] {
                for amax: Float in [0, 1e-30, 3.5, 10, 1e6] {
                    let want = FakeQuantization.activations(
                        x, shape: [rows, rowLength], reductionAxis: 1, format: format, amax: amax)
                    var codes = [UInt8](repeating: 0xff, count: x.count), scales = [Float](repeating: .nan, count: x.count)
                    x.withUnsafeBufferPointer { x in
                        codes.withUnsafeMutableBufferPointer { c in
                            scales.withUnsafeMutableBufferPointer { s in
                                ActivationCodes.encode(x, rowLength: rowLength, format: format, amax: amax, codes: c, scales: s)
                            }
                        }
                    }
                    let got = zip(codes, scales).map { ActivationCodes.value($0, scale: $1, format: format) }
                    for i in 0..<x.count {
                        let v = try XCTUnwrap(got[i], "\(format) element \(i): code \(codes[i])")
                        XCTAssertTrue(
                            v.bitPattern == want[i].bitPattern,
                            "\(format) amax \(amax) row length \(rowLength) element \(i) (\(x[i])): \(v) against \(want[i])")
                    }
                    if format == .nvfp4 {
                        XCTAssertTrue(codes.allSatisfy { $0 < 16 })
                        // Each block of a row shares one scale.
                        for row in 0..<rows {
                            for start in stride(from: 0, to: rowLength, by: 16) {
                                let block = (row * rowLength + start)..<(row * rowLength + min(start + 16, rowLength))
                                XCTAssertEqual(Set(block.map { scales[$0].bitPattern }).count, 1)
                            }
                        }
                    }
                }
            }
        }
    }

    func testOnlyCodesOfTheFormatDecode() {
        XCTAssertNil(ActivationCodes.value(16, scale: 1, format: .nvfp4))
        XCTAssertEqual(ActivationCodes.value(15, scale: 2, format: .nvfp4), -12)
        XCTAssertEqual(ActivationCodes.value(0x7e, scale: 0.5, format: .fp8), 224)
        // E4M3's NaN codes decode to the quiet NaN with their sign; NaN rounds to them,
        // infinities to +-448.
        XCTAssertEqual(ActivationCodes.value(0x7f, scale: 2, format: .fp8)?.bitPattern, 0x7FC0_0000)
        XCTAssertEqual(ActivationCodes.value(0xff, scale: 2, format: .fp8)?.bitPattern, 0xFFC0_0000)
        XCTAssertEqual(ActivationCodes.fp8Code(.nan, scale: 3), 0x7f)
        XCTAssertEqual(ActivationCodes.fp8Code(-.nan, scale: 3), 0xff)
        XCTAssertEqual(ActivationCodes.fp8Code(Float(bitPattern: 0x7FA0_0001), scale: 3), 0x7f)
        XCTAssertEqual(ActivationCodes.fp8Code(.infinity, scale: 3), 0x7e)
        XCTAssertEqual(ActivationCodes.fp8Code(-.infinity, scale: 3), 0xfe)
        XCTAssertNil(ActivationCodes.value(1, scale: 1, format: .fp16))
        XCTAssertTrue(ActivationCodes.codes(.nvfp4) && ActivationCodes.codes(.fp8))
        XCTAssertFalse(ActivationCodes.codes(.fp16) || ActivationCodes.codes(.fp32))
    }
}
