// NVFP4, MXFP4 and MXFP8 quantization of random tensors (tails, all-zero blocks,
// outliers, an all-zero tensor) equals the numpy + ml_dtypes reference bit for bit.
@testable import Formats
import XCTest

final class BlockFormatTests: XCTestCase {
    func testNVFP4MatchesTheReference() throws {
        for (i, m) in try ReferenceVectors.blocks().enumerated() {
            let x = try ReferenceVectors.load("block\(i).f32", as: Float.self)
            let q = try x.withUnsafeBufferPointer { try NVFP4.quantize($0, rows: m.rows, columns: m.columns) }
            XCTAssertEqual(q.globalScale.bitPattern, m.global.bitPattern, "case \(i) global scale")
            XCTAssertEqual(q.blockScales, try ReferenceVectors.load("block\(i).nvfp4.scales", as: UInt8.self), "case \(i) scales")
            XCTAssertEqual(q.codes, try ReferenceVectors.load("block\(i).nvfp4.codes", as: UInt8.self), "case \(i) codes")
            let error = ErrorMetrics(original: x, quantized: q.dequantized())
            if m.global > 0 { XCTAssertGreaterThan(error.sqnr, 15, "case \(i)") }
        }
    }

    func testMXMatchesTheReference() throws {
        for (i, m) in try ReferenceVectors.blocks().enumerated() {
            let x = try ReferenceVectors.load("block\(i).f32", as: Float.self)
            for (element, name) in [(MXElement.fp4, "mxfp4"), (.fp8, "mxfp8")] {
                let q = try x.withUnsafeBufferPointer { try MX.quantize($0, rows: m.rows, columns: m.columns, element: element) }
                XCTAssertEqual(q.scales, try ReferenceVectors.load("block\(i).\(name).scales", as: UInt8.self), "case \(i) \(name) scales")
                XCTAssertEqual(q.codes, try ReferenceVectors.load("block\(i).\(name).codes", as: UInt8.self), "case \(i) \(name) codes")
            }
        }
    }

    func testNVFP4OfAHandWorkedBlock() throws {
        // amax 6 * 448 = 2688 gives global scale 1; the block amax 12 gives scale E4M3(2) = 2.
        var x = [Float](repeating: 0, count: 32)
        x[0] = 2688
        x[16] = 12; x[17] = -3; x[18] = 1; x[19] = 5
        let q = try x.withUnsafeBufferPointer { try NVFP4.quantize($0, rows: 1, columns: 32) }
        XCTAssertEqual(q.globalScale, 1)
        XCTAssertEqual(q.blockScales.map { MiniFloatFormat.e4m3.decode($0) }, [448, 2])
        let back = q.dequantized()
        XCTAssertEqual(Array(back[16..<20]), [12, -3, 1, 4])  // 5/2 = 2.5 is a tie: to 2 (even code)
        XCTAssertEqual(FP4Packing.unpack(Array(q.codes[8..<10])), [7, 11, 1, 4])  // 6, -1.5, 0.5, 2
    }

    func testNonFiniteWeightsAreRefusedWithTheirIndex() {
        let x: [Float] = [1, 2, .nan, 4]
        XCTAssertThrowsError(try x.withUnsafeBufferPointer { try NVFP4.quantize($0, rows: 1, columns: 4) }) { error in
            guard case .nonFinite(let index, let value)? = error as? FormatError else { return XCTFail("\(error)") }
            XCTAssertEqual(index, 2)
            XCTAssertTrue(value.isNaN)
            XCTAssertTrue("\(error)".contains("element 2"))
        }
        let y: [Float] = [1, .infinity]
        XCTAssertThrowsError(try y.withUnsafeBufferPointer { try MX.quantize($0, rows: 1, columns: 2, element: .fp8) })
        XCTAssertThrowsError(try y.withUnsafeBufferPointer { try FP8.quantize($0, rows: 1, columns: 2, perChannel: false) })
    }

    func testFP8PerChannelScalesEachRow() throws {
        let x: [Float] = [448, -224, 1, 0.5, 0, 0]
        let q = try x.withUnsafeBufferPointer { try FP8.quantize($0, rows: 3, columns: 2, perChannel: true) }
        XCTAssertEqual(q.scales, [1, 1.0 / 448, 1])
        XCTAssertEqual(q.dequantized(), [448, -224, 1, 0.5, 0, 0])
    }

    func testPackingOrderIsLowNibbleFirst() {
        XCTAssertEqual(FP4Packing.pack([0x1, 0x2, 0xF, 0x0]), [0x21, 0x0F])
        XCTAssertEqual(FP4Packing.unpack([0x21, 0x0F]), [0x1, 0x2, 0xF, 0x0])
    }
}
