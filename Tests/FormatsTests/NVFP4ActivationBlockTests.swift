// nvfp4 activation rounding of contiguous blocks (sixteen lanes at a time) and of blocks
// across rows (sixteen neighbouring blocks at a time) gives the bits of the element-by-element rule, on blocks of every kind: zeros of both signs, subnormals,
// values on and beside the grid's midpoints (exact ties among them), saturating ones, NaN
// and infinities.
import Foundation
import TestSupport
import XCTest

@testable import Formats

final class NVFP4ActivationBlockTests: XCTestCase {
    func testContiguousBlocksEqualTheElementByElementRule() {
        var g = SeededRandom(seed: 83)
        let rows = 2048, columns = 32
        var x = [Float](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            // Each row's blocks: a magnitude from 1e-42 (subnormal) to 1e6, and a kind.
            let magnitude = Float(pow(10, Double.random(in: -42...6, using: &g)))
            for c in 0..<columns {
                var v = Float.random(in: -1...1, using: &g) * magnitude
                switch (r % 11, c % 7) {
                case (0, _): v = 0
                case (1, 0): v = -0.0
                case (2, 3): v = .nan
                case (3, 5): v = c % 2 == 0 ? .infinity : -.infinity
                case (4, _): v = ([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, 6] as [Float])[c % 8] * magnitude * (c % 3 == 0 ? -1 : 1)
                case (5, _): v = ([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5] as [Float])[c % 7].nextUp * magnitude
                case (6, _):
                    // With amax 2688 the tensor scale is 1 and a block whose largest value is
                    // 6 S (S on the E4M3 grid) has scale S: the others land exactly on the
                    // grid's midpoints, where rounding goes to even.
                    let s = ([1, 0.5, 1.25, 0.0078125, 3.5, 64] as [Float])[r % 6]
                    let tie = ([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5] as [Float])[c % 7]
                    v = c % 16 == 0 ? 6 * s : tie * s * (c % 2 == 0 ? 1 : -1)
                default: break
                }
                x[r * columns + c] = v
            }
        }
        // The same blocks along axis 0 of the transpose: sixteen neighbouring blocks at a time.
        var t = [Float](repeating: 0, count: x.count)
        for r in 0..<rows { for c in 0..<columns { t[c * rows + r] = x[r * columns + c] } }
        for amax: Float in [1e-3, 1, 448, 2688, 3e5] {
            let global = amax / (6 * 448)
            let contiguous = FakeQuantization.activations(
                x, shape: [rows, columns], reductionAxis: 1, format: .nvfp4, amax: amax)
            let want = FakeQuantization.nvfp4Elementwise(x, outer: rows, n: columns, inner: 1, global: global)
            XCTAssertEqual(mismatches(contiguous, want), 0, "contiguous, amax \(amax)")
            let across = FakeQuantization.activations(t, shape: [columns, rows], reductionAxis: 0, format: .nvfp4, amax: amax)
            let wantAcross = FakeQuantization.nvfp4Elementwise(t, outer: 1, n: columns, inner: rows, global: global)
            XCTAssertEqual(mismatches(across, wantAcross), 0, "across rows, amax \(amax)")
            XCTAssertEqual(mismatches(across.indices.map { across[($0 % columns) * rows + $0 / columns] }, want), 0)
        }
    }

    /// Blocks across rows where neither the rows nor the positions fill whole groups of 16:
    /// [2, 21, 37] with its blocks along axis 1 (one of 16 rows and one of 5, 37 = 2·16 + 5
    /// positions, the last 5 element by element), NaN and an infinity among them.
    func testBlocksAcrossRowsWithShortBlocksAndPositionsLeftOver() {
        var g = SeededRandom(seed: 84)
        let shape = [2, 21, 37]
        var x = (0..<shape.reduce(1, *)).map { _ in Float.random(in: -3...3, using: &g) }
        x[5 * 37 + 3] = .nan
        x[37 * 21 + 18 * 37 + 20] = -.infinity
        x[17 * 37 + 36] = Float(bitPattern: 0x0001_16C2)  // 1e-40 rounded: a subnormal
        for amax: Float in [0.5, 6, 448] {
            let fast = FakeQuantization.activations(x, shape: shape, reductionAxis: 1, format: .nvfp4, amax: amax)
            let want = FakeQuantization.nvfp4Elementwise(x, outer: 2, n: 21, inner: 37, global: amax / (6 * 448))
            XCTAssertEqual(mismatches(fast, want), 0, "amax \(amax)")
        }
    }

    private func mismatches(_ a: [Float], _ b: [Float]) -> Int {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
    }
}
