// The warnings' summary and the progress bar's durations.
import Driver
import XCTest

final class ConsoleTests: XCTestCase {
    func testTheSummaryListsEachWarningOnceWithItsCountThenTheTotal() {
        let text = Console.summary(of: [("a.onnx: first", 1), ("a.onnx: second", 3)])
        XCTAssertEqual(
            text,
            """
            npucc: warning: a.onnx: first
            npucc: warning: a.onnx: second (3 times)
            npucc: 4 warnings (2 distinct)
            """)
        XCTAssertEqual(Console.summary(of: [("m.onnx: one", 1)]), "npucc: warning: m.onnx: one\nnpucc: 1 warning")
    }

    func testAProgressLineWithoutATerminalIsSilentAndCountsToItsEnd() {
        // Tests run with stderr redirected: nothing is drawn, the count still ends the work.
        let bar = ProgressLine(total: 3, label: "work")
        XCTAssertFalse(bar.advance())
        XCTAssertFalse(bar.advance())
        XCTAssertTrue(bar.advance())
        bar.finish()
        bar.finish()
    }
}
