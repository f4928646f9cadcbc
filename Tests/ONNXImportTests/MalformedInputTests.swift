// Damaged model files: every truncation and random corruption of a real model either
// decodes or fails with an error naming the file; none crashes or hangs.
import Foundation
@testable import ONNXImport
import TestSupport
import XCTest

final class MalformedInputTests: XCTestCase {
    private func withTemporaryFile(_ bytes: [UInt8], _ body: (String) throws -> Void) rethrows {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-malformed-\(getpid())-\(UUID().uuidString).onnx")
        XCTAssertTrue(FileManager.default.createFile(atPath: url.path, contents: Data(bytes)), "cannot write \(url.path)")
        defer { try? FileManager.default.removeItem(at: url) }
        try body(url.path)
    }

    /// Loads; a failure must be an ImportError that starts with the file's path.
    private func loadOrFail(_ path: String, _ context: String) {
        do {
            _ = try ONNXImporter.load(path: path)
        } catch let e as ImportError {
            XCTAssertEqual(e.file, path, context)
            XCTAssertFalse(e.message.isEmpty, context)
        } catch {
            XCTFail("\(context): unexpected error type \(error)")
        }
    }

    func testEveryTruncationIsAnErrorOrAValidPrefix() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try ImportCases.path("dtypes.onnx"))))
        var failures = 0
        for length in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 400)) {
            withTemporaryFile(Array(bytes.prefix(length))) { path in
                do { _ = try ONNXImporter.load(path: path) } catch { failures += 1 }
                loadOrFail(path, "truncated to \(length) bytes")
            }
        }
        XCTAssertGreaterThan(failures, 0)
    }

    func testRandomCorruptionNeverCrashes() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try ImportCases.path("constants.onnx"))))
        var rng = SeededRandom(seed: 42)
        for trial in 0..<300 {
            var damaged = bytes
            for _ in 0..<(1 + trial % 4) {
                damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            withTemporaryFile(damaged) { loadOrFail($0, "trial \(trial)") }
        }
        for size in [1, 7, 64, 4096] {
            let noise = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            withTemporaryFile(noise) { loadOrFail($0, "\(size) random bytes") }
        }
    }

    func testWrongWireTypeIsNamed() throws {
        // ModelProto field 7 (graph) written as a varint.
        try withTemporaryFile([0x38, 0x01]) { path in
            XCTAssertThrowsError(try ONNXImporter.load(path: path)) { error in
                XCTAssertTrue("\(error)".contains("graph has wire type 0"), "\(error)")
            }
        }
        // A group (wire type 3), which ONNX never uses.
        try withTemporaryFile([0x0b, 0x00]) { path in
            XCTAssertThrowsError(try ONNXImporter.load(path: path)) { error in
                XCTAssertTrue("\(error)".contains("unsupported wire type 3"), "\(error)")
            }
        }
    }

    func testEmptyFileIsAnError() throws {
        try withTemporaryFile([]) { path in
            XCTAssertThrowsError(try ONNXImporter.load(path: path)) { error in
                XCTAssertEqual("\(error)", "\(path): empty file")
            }
        }
    }
}
