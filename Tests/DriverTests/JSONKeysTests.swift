// Repeated keys in user-written JSON: found in any object at any depth, by key as JSON
// decodes it (escapes included), and nowhere else (strings that look like keys, the same
// key in different objects).
import Foundation
import XCTest

@testable import Driver

final class JSONKeysTests: XCTestCase {
    private func repeated(_ text: String) -> String? {
        JSONKeys.firstRepeated(in: Data(text.utf8)).map(JSONKeys.path)
    }

    func testARepeatedKeyIsFoundWhereverItsObjectIs() {
        XCTAssertEqual(repeated(#"{"a": 1, "b": 2, "a": 3}"#), "a")
        XCTAssertEqual(repeated(#"{"m": [{"x": 1}, {"x": 1, "y": [], "x": 2}]}"#), "m[1].x")
        XCTAssertEqual(repeated(#"{"c": {"d": {"e": null, "e": true}}}"#), "c.d.e")
        XCTAssertEqual(repeated(#"[[], [{"k": "v", "k": "w"}]]"#), "[1][0].k")
        // The same key spelt with escapes.
        XCTAssertEqual(repeated(#"{"ab": 1, "a\u0062": 2}"#), "ab")
        XCTAssertEqual(repeated(#"{"\ud83d\ude00": 1, "😀": 2}"#), "😀")
        XCTAssertEqual(repeated(#"{"q\"": 1, "q\u0022": 2}"#), "q\"")
    }

    func testDistinctKeysAndLookalikesAreNotRepeated() {
        XCTAssertNil(repeated(#"{"a": 1, "b": {"a": 2}, "c": [{"a": 3}, {"a": 4}]}"#))
        XCTAssertNil(repeated(#"{"a": "\"a\": 1, \"a\": 2", "b": "}{,:[]"}"#))
        XCTAssertNil(repeated(#"{"A": 1, "a": 2, "a ": 3, "": 4}"#))
        XCTAssertNil(repeated(#"[1, -2.5e3, true, false, null, "x", {}, []]"#))
        XCTAssertNil(repeated("  {\n\t\"a\" : 1 ,\r\n \"b\":2 }  "))
    }

    func testTextThatIsNoJSONIsLeftToItsReader() {
        for text in [
            "", "{", #"{"a""#, #"{"a": 1,"#, #"{"a": 1 "b": 2}"#, "[1, 2", #"{"a\u12": 1}"#, String(repeating: "[", count: 5000),
        ] {
            XCTAssertNil(repeated(text), text)
        }
    }
}
