import Foundation
import TestSupport
import XCTest

// The Swift writer against tools/npub.py, an independent Python reader and writer: the
// Python reader accepts what Swift writes, and the Python writer, given the same metadata
// and sections, produces the same bytes (canonical JSON included).
@testable import Bundle

final class BundleInteropTests: XCTestCase {
    func testPythonReadsAndRewritesSwiftBundlesByteForByte() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-npub-py-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let spelling: JSONValue = .object([
            "z": .double(1e-05), "Z": .double(0.1), "é": .string("é\n\u{1}\"/\\\u{7F}"), "a": .double(2.0),
            "big": .double(1e20), "neg": .double(-0.0), "n": .int(-7), "nested": .object(["y": .array([]), "x": .object([:])]),
        ])
        try BundleWriter(metadata: Fixture.metadata, sections: Fixture.sections).write(
            to: folder.appendingPathComponent("a.npub"))
        try BundleWriter(
            metadata: spelling,
            sections: [
                BundleSection(try XCTUnwrap(SectionKind("TILE")), [5]),
                BundleSection(.weights, [1, 2, 3], alignment: 4096),
            ]
        )
        .write(to: folder.appendingPathComponent("b.npub"))
        let run = try runPython(
            script: """
                import sys
                sys.path.insert(0, sys.argv[1])
                import npub
                for name in ["a.npub", "b.npub"]:
                    path = sys.argv[2] + "/" + name
                    b = npub.verify(path)
                    sections = {k: v.tobytes() for k, v in b.sections.items() if k != "META"}
                    alignments = {e.kind: e.alignment for e in b.entries}
                    encodings = {e.kind: e.encoding for e in b.entries}
                    again = npub.encode(b.metadata, sections, alignments, encodings)
                    print(name, [e.kind for e in b.entries], again == open(path, "rb").read())
                """, arguments: [packageRoot().appendingPathComponent("tools").path, folder.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(
            run.stdout,
            """
            a.npub ['META', 'DESC', 'INST', 'SCAL', 'CNST', 'WGHT'] True
            b.npub ['META', 'WGHT', 'TILE'] True

            """)
    }
}
