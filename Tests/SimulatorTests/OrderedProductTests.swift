// The matrix unit's ordered product: every blocking of rows and columns the simulator uses
// (four rows by eight or four columns, single rows by sixteen, four or one, the rows split
// over two threads) sums each output in increasing reduction index, as one scalar loop does.
import TestSupport
import XCTest

@testable import Simulator

final class OrderedProductTests: XCTestCase {
    /// acc[r, c] + sum over p of a[r, p] * wt[p, c], one product rounded and added at a time.
    private func scalar(_ a: [Float], _ wt: [Float], _ acc: [Float], m: Int, n: Int, k: Int) -> [Float] {
        var out = acc
        for r in 0..<m {
            for c in 0..<n {
                var s = out[r * n + c]
                for p in 0..<k {
                    let product = a[r * k + p] * wt[p * n + c]
                    s = s + product
                }
                out[r * n + c] = s
            }
        }
        return out
    }

    func testEveryBlockingSumsInTheScalarOrder() {
        var rng = SeededRandom(seed: 42)
        // Shapes covering each path: remainders of rows (m % 4) and columns (n % 8, n % 16),
        // products small and large enough to be split between threads.
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (4, 8, 3), (5, 20, 9), (7, 37, 64), (9, 80, 96), (64, 20, 64), (33, 48, 130)] {
            // Magnitudes far apart, so that the order of the additions shows in the bits.
            let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) * (Bool.random() ? 1e6 : 1e-3) }
            let wt = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &rng) }
            let acc = (0..<(m * n)).map { _ in Float.random(in: -1...1, using: &rng) }
            let want = scalar(a, wt, acc, m: m, n: n, k: k)
            for parallel in [false, true] {
                var got = acc
                a.withUnsafeBufferPointer { a in
                    wt.withUnsafeBufferPointer { wt in
                        got.withUnsafeMutableBufferPointer { out in
                            if parallel {
                                Machine.parallelProduct(a, wt, into: out, m: m, n: n, k: k)
                            } else {
                                Machine.orderedProduct(a, wt, into: out, m: m, n: n, k: k)
                            }
                        }
                    }
                }
                XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(m)x\(n)x\(k) parallel \(parallel)")
            }
        }
    }
}
