// A row reduced in two pieces, the first piece's running Double the second's start
// (`VectorArithmetic.accumulate`, what `vopp reduce_carry` runs), gives the one-pass
// reduction's bits (`VectorArithmetic.reduce`) at every split point, for every kind, on
// rows of ordinary values, signed zeros, infinities and NaN.
import Formats
import XCTest

final class RunningReductionTests: XCTestCase {
    func testEverySplitOfARowGivesTheOnePassBits() {
        var rows: [[Float]] = [
            (0..<37).map { Float($0 % 7) * 0.37 - 1.1 + Float($0) * 1e-7 },
            [Float](repeating: -0.0, count: 9),
            [1e30, -1e30, 3, .leastNonzeroMagnitude, -2],
            [2, .nan, 5, -.infinity, 1],
            [.infinity, -.infinity, 0.5],
        ]
        rows.append(rows[0].map { 1 + $0 * 1e-3 })
        for row in rows {
            row.withUnsafeBufferPointer { x in
                for name in VectorArithmetic.reductionNames {
                    let kind = VectorArithmetic.ReductionKind(reduction: name)!
                    let whole = VectorArithmetic.reduce(name, x.baseAddress!, count: x.count)
                    for split in 0...x.count {
                        let head = VectorArithmetic.accumulate(kind, x.baseAddress!, count: split, from: kind.start)
                        let acc = VectorArithmetic.accumulate(
                            kind, x.baseAddress! + split, count: x.count - split, from: head)
                        let pieces = Float(name == "reduce_mean" ? acc / Double(x.count) : acc)
                        XCTAssertEqual(pieces.bitPattern, whole.bitPattern, "\(name) of \(row) split at \(split)")
                    }
                }
            }
        }
    }
}
