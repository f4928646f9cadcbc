// The supported operators offered for an unknown one.
import IR
import XCTest

final class OpSuggestionTests: XCTestCase {
    func testMisspellingsFindTheOperatorMeant() {
        XCTAssertEqual(OpRegistry.closest(to: "Sigmod"), ["Sigmoid"])
        XCTAssertEqual(OpRegistry.closest(to: "conv"), ["Conv"])
        XCTAssertEqual(OpRegistry.closest(to: "Gelux"), ["Gelu"])
        XCTAssertEqual(OpRegistry.closest(to: "Sofmax"), ["Softmax"])
    }

    func testFusedAndVendorNamesOfferTheLongestOpInside() {
        XCTAssertEqual(OpRegistry.closest(to: "FastGelu").first, "Gelu")
        XCTAssertFalse(OpRegistry.closest(to: "FastGelu").contains("Elu"))
        XCTAssertEqual(OpRegistry.closest(to: "QLinearConv").first, "Conv")
        XCTAssertEqual(OpRegistry.closest(to: "FusedMatMul").first, "MatMul")
    }

    func testNothingNearGivesNothing() {
        XCTAssertEqual(OpRegistry.closest(to: "TfIdfVectorizer"), [])
        XCTAssertEqual(OpRegistry.closest(to: "Zz"), [])
    }

    func testAtMostTheLimitNearestFirst() {
        let near = OpRegistry.closest(to: "Reducemax", limit: 2)
        XCTAssertEqual(near.count, 2)
        XCTAssertEqual(near.first, "ReduceMax")
    }
}
