// Golden-file comparison for tests: text against a checked-in file, rewritten on purpose
// with UPDATE_GOLDENS=1.
import Foundation
import XCTest

/// The package root, found from this file's path.
public func packageRoot(file: StaticString = #filePath) -> URL {
    var url = URL(fileURLWithPath: "\(file)")
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    return url
}

/// Compares `actual` with the golden file at `path` (relative to the package root). With
/// UPDATE_GOLDENS=1 the file is rewritten instead. A mismatch reports the first differing line.
public func assertGolden(_ actual: String, _ path: String, file: StaticString = #filePath, line: UInt = #line) {
    let url = packageRoot().appendingPathComponent(path)
    if ProcessInfo.processInfo.environment["UPDATE_GOLDENS"] == "1" {
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? actual.write(to: url, atomically: true, encoding: .utf8)
        return
    }
    guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
        XCTFail("golden file \(path) is missing; run with UPDATE_GOLDENS=1 to create it", file: file, line: line)
        return
    }
    guard expected != actual else { return }
    let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
    let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
    let i = (0..<min(a.count, e.count)).first { a[$0] != e[$0] } ?? min(a.count, e.count)
    XCTFail("""
        \(path) differs at line \(i + 1):
          expected: \(i < e.count ? String(e[i]) : "<end of file>")
          actual:   \(i < a.count ? String(a[i]) : "<end of file>")
        (UPDATE_GOLDENS=1 rewrites the golden file)
        """, file: file, line: line)
}
