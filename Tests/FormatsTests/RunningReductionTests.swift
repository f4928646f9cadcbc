// A row reduced in two pieces, the first piece's running Double the second's start
// (`VectorArithmetic.accumulate`, what `vopp reduce_carry` runs), gives the one-pass
// reduction's bits (`VectorArithmetic.reduce`) at every split point, for every kind, on
// rows of ordinary values, signed zeros, infinities and NaN; and softmax, log-softmax and
// layer normalization composed from running values the way a row too long for a tile runs
// give the one-pass bits.
import Formats
import XCTest

final class RunningReductionTests: XCTestCase {
    static let rows: [[Float]] = {
        var rows: [[Float]] = [
            (0..<37).map { Float($0 % 7) * 0.37 - 1.1 + Float($0) * 1e-7 },
            [Float](repeating: -0.0, count: 9),
            [1e30, -1e30, 3, .leastNonzeroMagnitude, -2],
            [2, .nan, 5, -.infinity, 1],
            [.infinity, -.infinity, 0.5],
        ]
        rows.append(rows[0].map { 1 + $0 * 1e-3 })
        return rows
    }()

    func testEverySplitOfARowGivesTheOnePassBits() {
        for row in Self.rows {
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

    /// The running value of `kind` over x carried across a split at `split`.
    private func carried(
        _ kind: VectorArithmetic.ReductionKind, _ x: UnsafeBufferPointer<Float>, split: Int, center: Double = 0
    ) -> Double {
        let head = VectorArithmetic.accumulate(kind, x.baseAddress!, count: split, from: kind.start, center: center)
        return VectorArithmetic.accumulate(
            kind, x.baseAddress! + split, count: x.count - split, from: head, center: center)
    }

    func testSoftmaxFromRunningValuesGivesTheOnePassBits() {
        for row in Self.rows {
            row.withUnsafeBufferPointer { x in
                var softmax = [Float](repeating: 0, count: x.count), logSoftmax = softmax
                VectorArithmetic.softmax(x.baseAddress!, &softmax, count: x.count)
                VectorArithmetic.softmax(x.baseAddress!, &logSoftmax, count: x.count, log: true)
                for split in 0...x.count {
                    let m = Float(carried(.orderedMaximum, x, split: split))
                    let shifted = x.map { $0 - m }
                    let exponentials = shifted.map { expf($0) }
                    let sum = exponentials.withUnsafeBufferPointer { Float(carried(.sum, $0, split: split)) }
                    let (inv, l) = (1 / sum, logf(sum))
                    for i in 0..<x.count {
                        XCTAssertEqual((exponentials[i] * inv).bitPattern, softmax[i].bitPattern, "\(row) at \(i)")
                        XCTAssertEqual((shifted[i] - l).bitPattern, logSoftmax[i].bitPattern, "\(row) at \(i)")
                    }
                }
            }
        }
    }

    func testLayerNormalizationFromRunningValuesGivesTheOnePassBits() {
        for row in Self.rows {
            let scale = row.indices.map { 1 + Float($0 % 5) * 0.25 }, bias = row.indices.map { Float($0 % 3) - 1 }
            row.withUnsafeBufferPointer { x in
                var whole = [Float](repeating: 0, count: x.count)
                _ = VectorArithmetic.layerNorm(x.baseAddress!, &whole, count: x.count, scale: scale, bias: bias, epsilon: 1e-5)
                for split in 0...x.count {
                    let mean = carried(.sum, x, split: split) / Double(x.count)
                    let inv = VectorArithmetic.inverseDeviation(
                        squaredDeviations: carried(.squaredDeviation, x, split: split, center: mean), count: x.count,
                        epsilon: 1e-5)
                    for i in 0..<x.count {
                        let y = VectorArithmetic.standardized(x[i], mean: mean, inverseDeviation: inv) * scale[i] + bias[i]
                        XCTAssertEqual(y.bitPattern, whole[i].bitPattern, "\(row) split at \(split), at \(i)")
                    }
                }
            }
        }
    }
}
