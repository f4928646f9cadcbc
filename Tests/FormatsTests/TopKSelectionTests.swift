// TopK's order (VectorArithmetic.topK), which the interpreter and the vector unit share, on
// every row of up to five values drawn from the special ones (NaN, the infinities, both
// zeros, ties) and every K, against the order stated as a sort key: NaN above +inf, equal
// values by position.
import Formats
import XCTest

final class TopKSelectionTests: XCTestCase {
    private let specials: [Float] = [.nan, -.infinity, -1, -0.0, 0, 1, .infinity]

    /// The expected selection: positions sorted by (class, value, position), where a NaN's
    /// class puts it above every number, largest first or smallest first.
    private func expected(_ row: [Float], k: Int, largest: Bool) -> [Int] {
        func key(_ j: Int) -> (Int, Float) {
            let v = row[j]
            // Largest first: NaN (class 0), then numbers by decreasing value; smallest first:
            // numbers by increasing value, then NaN (class 1).
            if v.isNaN { return (largest ? 0 : 1, 0) }
            return (largest ? 1 : 0, largest ? -v : v)
        }
        let order = row.indices.sorted { i, j in
            let (a, b) = (key(i), key(j))
            if a.0 != b.0 { return a.0 < b.0 }
            if a.1 != b.1 { return a.1 < b.1 }
            return i < j
        }
        return Array(order.prefix(k))
    }

    func testEveryRowOfSpecialValuesAndEveryK() {
        var rows: [[Float]] = [[]]
        var checked = 0
        for _ in 1...5 {
            rows = rows.flatMap { row in specials.map { row + [$0] } }
            for row in rows {
                for k in 0...row.count {
                    for largest in [true, false] {
                        let got = VectorArithmetic.topK(count: row.count, k: k, largest: largest) { row[$0] }
                        XCTAssertEqual(got, expected(row, k: k, largest: largest), "\(row) k \(k) largest \(largest)")
                        checked += 1
                    }
                }
            }
        }
        XCTAssertEqual(checked, (1...5).reduce(0) { $0 + Int(pow(7.0, Double($1))) * ($1 + 1) * 2 })
    }

    func testTiesGoToTheLowerPositionAndZerosAreEqual() {
        let row: [Float] = [2, -0.0, 5, 0, 5, -0.0]
        XCTAssertEqual(VectorArithmetic.topK(count: 6, k: 6, largest: true) { row[$0] }, [2, 4, 0, 1, 3, 5])
        XCTAssertEqual(VectorArithmetic.topK(count: 6, k: 3, largest: false) { row[$0] }, [1, 3, 5])
        XCTAssertEqual(VectorArithmetic.topK(count: 6, k: 1, largest: true) { row[$0] }, [2])
    }
}
