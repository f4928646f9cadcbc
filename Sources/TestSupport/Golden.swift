// Golden-file comparison for tests: text against a checked-in file, rewritten on purpose
// with UPDATE_GOLDENS=1; a mismatch shows the first differing line of both versions.
import Foundation
import XCTest

/// Compares `actual` with a golden file and fails the test, showing the first differing
/// line, when they differ. With the environment variable UPDATE_GOLDENS=1 the golden file
/// is (re)written instead and the test passes.
///
/// `goldenPath` is relative to the `Goldens` folder beside the calling test file
/// (`Tests/IRTests/Goldens/` for a test in `Tests/IRTests/`). A path starting with
/// `Tests/` is taken from the package root instead, and an absolute path as it is.
public func assertGolden(_ actual: String, _ goldenPath: String, file: StaticString = #filePath, line: UInt = #line) {
    let url = goldenURL(goldenPath, testFile: "\(file)")
    if ProcessInfo.processInfo.environment["UPDATE_GOLDENS"] == "1" {
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try actual.write(to: url, atomically: true, encoding: .utf8)
        } catch {
            XCTFail("cannot write golden file \(url.path): \(error)", file: file, line: line)
        }
        return
    }
    guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
        XCTFail("golden file \(url.path) is missing; run the test with UPDATE_GOLDENS=1 to create it",
                file: file, line: line)
        return
    }
    guard let mismatch = goldenMismatch(expected: expected, actual: actual) else { return }
    let saved = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-goldens")
        .appendingPathComponent(url.lastPathComponent + ".actual")
    try? FileManager.default.createDirectory(at: saved.deletingLastPathComponent(), withIntermediateDirectories: true)
    let savedNote = (try? actual.write(to: saved, atomically: true, encoding: .utf8)) != nil
        ? "\n  full output: \(saved.path) (diff it against the golden file)" : ""
    XCTFail("golden file \(url.path) \(mismatch)\(savedNote)\n  UPDATE_GOLDENS=1 rewrites the golden file",
            file: file, line: line)
}

/// Where `assertGolden` looks for `goldenPath` when called from `testFile`.
public func goldenURL(_ goldenPath: String, testFile: String) -> URL {
    if goldenPath.hasPrefix("/") { return URL(fileURLWithPath: goldenPath) }
    if goldenPath.hasPrefix("Tests/") { return packageRoot().appendingPathComponent(goldenPath) }
    return URL(fileURLWithPath: testFile).deletingLastPathComponent()
        .appendingPathComponent("Goldens").appendingPathComponent(goldenPath)
}

/// Nil when the texts are equal; otherwise "differs at line N" with the expected and the
/// actual line (or "<end of text>" where one is shorter).
public func goldenMismatch(expected: String, actual: String) -> String? {
    guard expected != actual else { return nil }
    if expected + "\n" == actual { return "differs only in the final newline: the actual text ends with one" }
    if actual + "\n" == expected { return "differs only in the final newline: the actual text lacks it" }
    let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
    let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
    let common = min(e.count, a.count)
    let i: Int = (0..<common).first { (k: Int) -> Bool in e[k] != a[k] } ?? common
    func show(_ lines: [Substring]) -> String { i < lines.count ? String(lines[i]) : "<end of text>" }
    func count(_ text: String, _ lines: [Substring]) -> Int { lines.count - (text.hasSuffix("\n") ? 1 : 0) }
    return """
        differs at line \(i + 1) (expected \(count(expected, e)) lines, got \(count(actual, a))):
          expected: \(show(e))
          actual:   \(show(a))
        """
}
