// Error metrics on hand-computed cases.
import Formats
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
}
