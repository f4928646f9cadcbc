// The matrix unit's ordered product: every blocking of rows and columns the simulator uses
// (the AVX kernel's blocks of up to four rows by sixteen, eight, four or one columns; the
// Swift loops' four rows by eight or four columns and single rows; the rows split over two
// threads) sums each output in increasing reduction index, as one scalar loop does.
import SimulatorKernels
import TestSupport
import XCTest

@testable import Simulator

final class OrderedProductTests: XCTestCase {
    /// acc[r, c] + sum over p of a[r, p] * wt[p, c], one product rounded and added at a
    /// time, a NaN sum made the canonical NaN.
    private func scalar(_ a: [Float], _ wt: [Float], _ acc: [Float], m: Int, n: Int, k: Int) -> [Float] {
        var out = acc
        for r in 0..<m {
            for c in 0..<n {
                var s = out[r * n + c]
                for p in 0..<k {
                    let product = a[r * k + p] * wt[p * n + c]
                    s = s + product
                }
                out[r * n + c] = s.isNaN ? Float(bitPattern: 0x7FC0_0000) : s
            }
        }
        return out
    }

    private enum Path: CaseIterable { case chosen, parallel, portable, vector }

    func testEveryBlockingSumsInTheScalarOrder() throws {
        try checkEveryBlocking(nonFinite: false)
    }

    /// NaNs of both signs and other payloads in either operand and in the accumulators, and
    /// infinities times zero (x86's default NaN is negative): every NaN sum is stored as
    /// 0x7FC00000 by every path, and every other sum is as before.
    func testEveryBlockingLeavesOnlyTheCanonicalNaN() throws {
        try checkEveryBlocking(nonFinite: true)
    }

    private func checkEveryBlocking(nonFinite: Bool) throws {
        var rng = SeededRandom(seed: nonFinite ? 7 : 42)
        let odd: [Float] = [
            Float(bitPattern: 0x7FA0_0001), Float(bitPattern: 0xFFC1_2345), .infinity, -.infinity, Float(bitPattern: 0xFFC0_0000),
        ]
        // Shapes covering each path: remainders of rows (m % 4) and columns (n % 4, n % 8,
        // n % 16; 20 is the MAC array's width), products small and large enough to be
        // split between threads.
        let shapes = [
            (1, 1, 1), (3, 5, 7), (4, 8, 3), (5, 20, 9), (7, 37, 64), (9, 80, 96), (64, 20, 64), (33, 48, 130), (2, 12, 5),
            (6, 20, 17), (3, 28, 33), (4, 4, 1), (1, 16, 3), (2, 23, 4), (8, 31, 2), (28, 20, 147),
        ]
        var vectorRan = false, nanSums = 0, sums = 0
        for (m, n, k) in shapes {
            // Magnitudes far apart, so that the order of the additions shows in the bits;
            // zeros of both signs, so that a product left out or fused would show too.
            var a = (0..<(m * k)).map { i -> Float in
                i % 11 == 3 ? -0.0 : Float.random(in: -1...1, using: &rng) * (i % 3 == 0 ? 1e6 : 1e-3)
            }
            var wt = (0..<(k * n)).map { i -> Float in i % 7 == 2 ? 0 : Float.random(in: -1...1, using: &rng) }
            var acc = (0..<(m * n)).map { i -> Float in i % 5 == 1 ? -0.0 : Float.random(in: -1...1, using: &rng) }
            if nonFinite {
                // A few of each operand's elements, so that most sums stay finite.
                for i in stride(from: 1, to: a.count, by: 97) { a[i] = odd[(i / 97) % odd.count] }
                for i in stride(from: 2, to: wt.count, by: 61) { wt[i] = odd[(i / 61 + 2) % odd.count] }
                for i in stride(from: 3, to: acc.count, by: 19) { acc[i] = odd[(i / 19 + 1) % odd.count] }
            }
            let want = scalar(a, wt, acc, m: m, n: n, k: k)
            (nanSums, sums) = (nanSums + want.filter(\.isNaN).count, sums + want.count)
            for path in Path.allCases {
                var got = acc
                a.withUnsafeBufferPointer { a in
                    wt.withUnsafeBufferPointer { wt in
                        got.withUnsafeMutableBufferPointer { out in
                            switch path {
                            case .chosen: Machine.orderedProduct(a, wt, into: out, m: m, n: n, k: k)
                            case .parallel: Machine.parallelProduct(a, wt, into: out, m: m, n: n, k: k)
                            case .portable: Machine.portableProduct(a, wt, into: out, m: m, n: n, k: k)
                            case .vector:
                                if npucc_ordered_product(a.baseAddress!, wt.baseAddress!, out.baseAddress!, m, n, k) {
                                    vectorRan = true
                                } else {
                                    Machine.portableProduct(a, wt, into: out, m: m, n: n, k: k)
                                }
                            }
                        }
                    }
                }
                XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(m)x\(n)x\(k) \(path)")
            }
        }
        #if arch(x86_64)
            // Every x86-64 machine npucc is built and tested on has AVX: the kernel must
            // have run, or the test above checked the Swift loops twice.
            XCTAssertTrue(vectorRan, "the AVX kernel did not run")
        #endif
        if nonFinite {
            XCTAssertGreaterThan(nanSums, sums / 10, "too few NaN sums to check")
            XCTAssertLessThan(nanSums, sums * 9 / 10, "too few finite sums to check")
        } else {
            XCTAssertEqual(nanSums, 0)
        }
    }
}
