// The matrix unit's ordered product: every blocking of rows and columns the simulator uses
// (the AVX kernel's blocks of up to four rows by sixteen, eight, four or one columns; the
// Swift loops' four rows by eight or four columns and single rows; the rows split over two
// threads) sums each output in increasing reduction index, as one scalar loop does.
import SimulatorKernels
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

    private enum Path: CaseIterable { case chosen, parallel, portable, vector }

    func testEveryBlockingSumsInTheScalarOrder() throws {
        var rng = SeededRandom(seed: 42)
        // Shapes covering each path: remainders of rows (m % 4) and columns (n % 4, n % 8,
        // n % 16; 20 is the MAC array's width), products small and large enough to be
        // split between threads.
        let shapes = [
            (1, 1, 1), (3, 5, 7), (4, 8, 3), (5, 20, 9), (7, 37, 64), (9, 80, 96), (64, 20, 64), (33, 48, 130), (2, 12, 5),
            (6, 20, 17), (3, 28, 33), (4, 4, 1), (1, 16, 3), (2, 23, 4), (8, 31, 2), (28, 20, 147),
        ]
        var vectorRan = false
        for (m, n, k) in shapes {
            // Magnitudes far apart, so that the order of the additions shows in the bits;
            // zeros of both signs, so that a product left out or fused would show too.
            let a = (0..<(m * k)).map { i -> Float in
                i % 11 == 3 ? -0.0 : Float.random(in: -1...1, using: &rng) * (i % 3 == 0 ? 1e6 : 1e-3)
            }
            let wt = (0..<(k * n)).map { i -> Float in i % 7 == 2 ? 0 : Float.random(in: -1...1, using: &rng) }
            let acc = (0..<(m * n)).map { i -> Float in i % 5 == 1 ? -0.0 : Float.random(in: -1...1, using: &rng) }
            let want = scalar(a, wt, acc, m: m, n: n, k: k)
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
    }
}
