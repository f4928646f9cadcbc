// Error metrics on hand-computed cases; the SQNR alone equals the one of all the metrics.
import Formats
import TestSupport
import XCTest

final class ErrorMetricsTests: XCTestCase {
    func testHandComputedMetrics() {
        let m = ErrorMetrics(original: [1, -2, 0, 4], quantized: [1, -1.5, 0.5, 4])
        XCTAssertEqual(m.mse, (0.25 + 0.25) / 4)
        XCTAssertEqual(m.sqnr, 10 * log10(21 / 0.5), accuracy: 1e-12)
        XCTAssertEqual(m.maxAbsolute, 0.5)
        XCTAssertEqual(m.maxRelative, 0.25)
        XCTAssertEqual(ErrorMetrics(original: [1, 2], quantized: [1, 2]).sqnr, .infinity)
        XCTAssertEqual(ErrorMetrics(original: [0, 0], quantized: [0, 1]).sqnr, -.infinity)
    }

    func testTheSQNRAloneIsTheMetricsOne() {
        XCTAssertEqual(ErrorMetrics.energy([1, -2, 0, 4]), 21)
        var rng = SeededRandom(seed: 12)
        for count in [0, 1, 7, 1000] {
            let x = (0..<count).map { _ in Float.random(in: -3...3, using: &rng) }
            for q in [x, x.map { $0 + Float.random(in: -0.01...0.01, using: &rng) }, x.map { _ in 0 }] {
                let alone = ErrorMetrics.sqnr(signal: ErrorMetrics.energy(x), original: x, quantized: q)
                XCTAssertEqual(alone.bitPattern, ErrorMetrics(original: x, quantized: q).sqnr.bitPattern, "\(count)")
            }
        }
        XCTAssertEqual(ErrorMetrics.sqnr(signal: 0, original: [0, 0], quantized: [0, 1]), -.infinity)
    }
}
