// 2:4 compress/expand round-trips exactly on random shapes; bad masks name the group;
// the metadata layout is the documented one.
@testable import Formats
import TestSupport
import XCTest

final class Sparsity24Tests: XCTestCase {
    func testRoundTripOnRandomShapes() throws {
        var rng = SeededRandom(seed: 7)
        for _ in 0..<200 {
            let rows = Int.random(in: 1...9, using: &rng), columns = 4 * Int.random(in: 1...12, using: &rng)
            let x = (0..<(rows * columns)).map { _ in Float.random(in: -4...4, using: &rng) }
            let mask = try Sparsity24.magnitudeMask(x, rows: rows, columns: columns)
            let sparse = try Sparsity24.compress(x, mask: mask, rows: rows, columns: columns)
            XCTAssertEqual(sparse.values.count, rows * columns / 2)
            XCTAssertEqual(sparse.metadata.count, rows * ((columns / 4 + 1) / 2))
            let dense = try Sparsity24.expand(sparse, zero: 0)
            XCTAssertEqual(dense, zip(x, mask).map { $1 ? $0 : 0 })
            // The kept magnitudes are the largest two of each group.
            for g in stride(from: 0, to: x.count, by: 4) {
                let kept = (0..<4).filter { mask[g + $0] }.map { x[g + $0].magnitude }.min()!
                let dropped = (0..<4).filter { !mask[g + $0] }.map { x[g + $0].magnitude }.max()!
                XCTAssertGreaterThanOrEqual(kept, dropped)
            }
            // Composes with quantized kept values (codes as the element type).
            let codes = sparse.values.map { MiniFloatFormat.e4m3.encode($0) }
            let quantized = Sparse24Matrix(rows: rows, columns: columns, values: codes, metadata: sparse.metadata)
            XCTAssertEqual(try Sparsity24.expand(quantized, zero: 0), zip(x, mask).map { $1 ? MiniFloatFormat.e4m3.encode($0) : 0 })
        }
    }

    func testMetadataBitsAreTwoIndicesPerGroupLowNibbleFirst() throws {
        let x: [Float] = [9, 0, 8, 0, /* group 1 */ 0, 0, 5, 6]
        let mask = try Sparsity24.magnitudeMask(x, rows: 1, columns: 8)
        let s = try Sparsity24.compress(x, mask: mask, rows: 1, columns: 8)
        XCTAssertEqual(s.values, [9, 8, 5, 6])
        // group 0 keeps 0 and 2: 0b10_00; group 1 keeps 2 and 3: 0b11_10.
        XCTAssertEqual(s.metadata, [0b1110_1000])
    }

    func testMaskThatIsNotTwoOfFourIsRejectedNamingTheGroup() {
        let mask = [true, true, false, false, true, true, true, false]
        XCTAssertThrowsError(try Sparsity24.compress([Float](repeating: 1, count: 8), mask: mask, rows: 1, columns: 8)) { error in
            XCTAssertEqual(error as? FormatError, .notTwoOfFour(row: 0, group: 1, kept: 3))
        }
        XCTAssertThrowsError(try Sparsity24.magnitudeMask([1, 2, 3], rows: 1, columns: 3))
    }
}
