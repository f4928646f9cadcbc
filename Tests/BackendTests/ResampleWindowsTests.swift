import XCTest

// The windows a resampled plane too large for a tile is cut into: together they cover every
// output value once, each fits the SRAM with the input it reads, and they are whole output
// rows whenever one row fits.
@testable import Backend

final class ResampleWindowsTests: XCTestCase {
    /// Bilinear tables of an axis of `n` resampled to `m` (half_pixel): the lower and upper
    /// input index each output index reads.
    private func reach(_ n: Int, _ m: Int) -> (Range<Int>) -> Range<Int> {
        func lower(_ o: Int) -> Int { max(0, min(n - 1, Int(((Double(o) + 0.5) * Double(n) / Double(m) - 0.5).rounded(.down)))) }
        return { o in lower(o.lowerBound)..<(min(n - 1, lower(o.upperBound - 1) + 1) + 1) }
    }

    func testWindowsCoverTheOutputOnceAndEachFitsTheSRAM() throws {
        let sram = 32768
        for (inner, outer) in [((28, 28), (224, 224)), ((1, 6000), (1, 12000)), ((200, 3), (400, 3)), ((90, 90), (45, 45))] {
            let rows = reach(inner.0, outer.0), columns = reach(inner.1, outer.1)
            let windows = try XCTUnwrap(
                Lowering.resampleWindows(outer: outer, sramBytes: sram, rowReach: rows, columnReach: columns))
            var covered = [Int](repeating: 0, count: outer.0 * outer.1)
            for w in windows {
                XCTAssertEqual(w.inRows, rows(w.rows))
                XCTAssertEqual(w.inColumns, columns(w.columns))
                let bytes =
                    (4 * w.inRows.count * w.inColumns.count + 63) / 64 * 64 + (4 * w.rows.count * w.columns.count + 63) / 64 * 64
                XCTAssertLessThanOrEqual(bytes, sram, "\(inner) to \(outer)")
                for r in w.rows { for c in w.columns { covered[r * outer.1 + c] += 1 } }
            }
            XCTAssertEqual(Set(covered), [1], "\(inner) to \(outer)")
            // One output row with the two input rows it reads fits unless it is wider than
            // about 2,700 values: then the rows are whole.
            XCTAssertEqual(windows.allSatisfy { $0.columns == 0..<outer.1 }, outer.1 < 2700, "\(inner) to \(outer)")
        }
    }

    func testNoWindowWhenOneValueAndItsInputDoNotFit() {
        XCTAssertNil(Lowering.resampleWindows(outer: (4, 4), sramBytes: 64, rowReach: { $0 }, columnReach: { $0 }))
    }
}
