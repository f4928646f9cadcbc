import Foundation
import XCTest

// The writer: the layout to the byte, a round trip through the reader, identical bytes for
// identical input, atomic writes, and the input it refuses.
@testable import Bundle

final class BundleWriterTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-npub-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func testZlibCRC32() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)  // the standard check value
        XCTAssertEqual(CRC32.checksum([]), 0)
    }

    func testLayoutToTheByte() throws {
        let b = try Fixture.bytes()
        XCTAssertEqual(Array(b[0..<4]), Array("NPUB".utf8))
        XCTAssertEqual(b.le(UInt16.self, at: 4), 2)
        XCTAssertEqual(b.le(UInt16.self, at: 6), 0)
        XCTAssertEqual(b.le(UInt32.self, at: 8), 64)
        XCTAssertEqual(b.le(UInt32.self, at: 12), 6)
        XCTAssertEqual(b.le(UInt32.self, at: 16), 0)
        XCTAssertEqual(b.le(UInt32.self, at: 20), 32)
        XCTAssertEqual(Int(b.le(UInt64.self, at: 24)), b.count)
        XCTAssertEqual(b.le(UInt32.self, at: 32), CRC32.checksum(b, 64..<(64 + 6 * 32)))
        XCTAssertEqual(b.le(UInt32.self, at: 60), CRC32.checksum(b, 0..<60))
        XCTAssertTrue(b[36..<60].allSatisfy { $0 == 0 })
        // META first, then the known kinds in their fixed order, whatever order they came in.
        let kinds = (0..<6).map { String(decoding: b[Fixture.entry($0)..<(Fixture.entry($0) + 4)], as: UTF8.self) }
        XCTAssertEqual(kinds, ["META", "DESC", "INST", "SCAL", "CNST", "WGHT"])
        // The table ends at 256; META starts there, each next section at the next multiple of 64.
        var end = 256
        for i in 0..<6 {
            let e = Fixture.entry(i)
            let offset = Int(b.le(UInt64.self, at: e + 8)), size = Int(b.le(UInt64.self, at: e + 16))
            XCTAssertEqual(b.le(UInt32.self, at: e + 4), 64)
            XCTAssertEqual(offset, (end + 63) / 64 * 64, kinds[i])
            XCTAssertTrue(b[end..<offset].allSatisfy { $0 == 0 }, "padding before \(kinds[i])")
            XCTAssertEqual(b.le(UInt32.self, at: e + 24), CRC32.checksum(b, offset..<(offset + size)))
            // The encoding: DESC and INST zlib (their decoded length, then a zlib stream: CMF
            // 0x78 for deflate with a 32 KiB window, FLG 0x01 at level 1), the rest as they are.
            let deflated = kinds[i] == "DESC" || kinds[i] == "INST"
            XCTAssertEqual(b[e + 28], deflated ? 1 : 0, kinds[i])
            XCTAssertTrue(b[(e + 29)..<(e + 32)].allSatisfy { $0 == 0 })
            if deflated {
                let decoded = Fixture.sections.first { "\($0.kind)" == kinds[i] }!.bytes
                XCTAssertEqual(Int(b.le(UInt64.self, at: offset)), decoded.count, kinds[i])
                XCTAssertEqual(Array(b[(offset + 8)..<(offset + 10)]), [0x78, 0x01], kinds[i])
            }
            end = offset + size
        }
        XCTAssertEqual(end, b.count, "the file ends where the last section ends")
        let meta = Int(b.le(UInt64.self, at: Fixture.entry(0) + 8)), metaSize = Int(b.le(UInt64.self, at: Fixture.entry(0) + 16))
        XCTAssertEqual(
            String(decoding: b[meta..<(meta + metaSize)], as: UTF8.self),
            #"{"layers":["conv1","conv2"],"model":"digits_cnn","options":{"a":null,"b":true},"target":"npu-seed","version":1}"#)
    }

    func testRoundTrip() throws {
        let bundle = try BundleReader.parse(try Fixture.bytes(), file: "x.npub")
        for s in Fixture.sections { XCTAssertEqual(bundle[s.kind], s.bytes, "\(s.kind)") }
        guard case .object(let expected) = Fixture.metadata else { return XCTFail() }
        XCTAssertEqual(bundle.metadata, expected)
        XCTAssertEqual(bundle.entries.map(\.kind), SectionKind.known)
        XCTAssertEqual(bundle.entries.map(\.encoding), [.stored, .zlib, .zlib, .stored, .stored, .stored])
        XCTAssertEqual(bundle.entries.map(\.decodedSize), [bundle[.metadata]!.count, 3, 12, 0, 64, 300])
        XCTAssertEqual(bundle.unknownKinds, [])
        XCTAssertEqual(bundle.majorVersion, 2)
    }

    func testDeterministic() throws {
        let a = try Fixture.bytes()
        let reordered = try BundleWriter(metadata: Fixture.metadata, sections: Fixture.sections.reversed()).encoded()
        XCTAssertEqual(a, reordered)
        let first = folder.appendingPathComponent("a.npub"), second = folder.appendingPathComponent("b.npub")
        try BundleWriter(metadata: Fixture.metadata, sections: Fixture.sections).write(to: first)
        try BundleWriter(metadata: Fixture.metadata, sections: Fixture.sections).write(to: second)
        XCTAssertEqual(try Data(contentsOf: first), Data(a))
        XCTAssertEqual(try Data(contentsOf: second), Data(a))
        // A different byte anywhere gives different bytes.
        var changed = Fixture.sections
        changed[0].bytes[299] ^= 1
        XCTAssertNotEqual(try BundleWriter(metadata: Fixture.metadata, sections: changed).encoded(), a)
    }

    func testEncodableMetadataIsCanonical() throws {
        struct Meta: Encodable { var zeta = 0.5, alpha = "a/b\n\u{1}é", mid = [3, 1], big = 1e20, whole = 2.0 }
        let w = try BundleWriter(metadata: Meta())
        XCTAssertEqual(
            String(decoding: try XCTUnwrap(w.metadata.canonicalText), as: UTF8.self),
            #"{"alpha":"a/b\n\u0001é","big":1e+20,"mid":[3,1],"whole":2,"zeta":0.5}"#)
    }

    func testUnknownKindsAreKeptAfterTheKnownOnes() throws {
        let extra = [
            BundleSection(try XCTUnwrap(SectionKind("ZZ01")), [9]), BundleSection(try XCTUnwrap(SectionKind("TILE")), [7, 7]),
        ]
        let bytes = try BundleWriter(metadata: Fixture.metadata, sections: extra + Fixture.sections).encoded()
        let bundle = try BundleReader.parse(bytes, file: "x.npub")
        XCTAssertEqual(bundle.entries.map(\.kind.description), ["META", "DESC", "INST", "SCAL", "CNST", "WGHT", "TILE", "ZZ01"])
        XCTAssertEqual(bundle.unknownKinds.map(\.description), ["TILE", "ZZ01"])
        XCTAssertEqual(bundle[try XCTUnwrap(SectionKind("TILE"))], [7, 7])
    }

    func testLargerAlignment() throws {
        let bytes = try BundleWriter(metadata: Fixture.metadata, sections: [BundleSection(.weights, [1, 2], alignment: 4096)])
            .encoded()
        let bundle = try BundleReader.parse(bytes, file: "x.npub")
        XCTAssertEqual(bundle.entries.last?.offset, 4096)
        XCTAssertEqual(bundle.entries.last?.alignment, 4096)
        XCTAssertEqual(bytes.count, 4098)
    }

    func testWriterRefusals() {
        func refuses(_ w: BundleWriter, _ part: BundleError.Part, _ phrase: String, line: UInt = #line) {
            XCTAssertThrowsError(try w.encoded(file: "out.npub"), line: line) { error in
                let e = error as? BundleError
                XCTAssertEqual(e?.part, part, line: line)
                XCTAssertTrue(e?.description.hasPrefix("out.npub: \(part): ") ?? false, "\(error)", line: line)
                XCTAssertTrue(e?.description.contains(phrase) ?? false, "\(error)", line: line)
            }
        }
        refuses(
            BundleWriter(metadata: Fixture.metadata, sections: [BundleSection(.weights, [1]), BundleSection(.weights, [2])]),
            .section(.weights), "given twice")
        refuses(
            BundleWriter(metadata: Fixture.metadata, sections: [BundleSection(.metadata, [])]), .section(.metadata),
            "given as a section")
        refuses(
            BundleWriter(metadata: Fixture.metadata, sections: [BundleSection(.weights, [], alignment: 96)]),
            .section(.weights), "alignment 96")
        refuses(
            BundleWriter(metadata: Fixture.metadata, sections: [BundleSection(.weights, [], alignment: 32)]),
            .section(.weights), "alignment 32")
        refuses(BundleWriter(metadata: .array([])), .section(.metadata), "JSON object")
        refuses(BundleWriter(metadata: .object(["x": .double(.nan)])), .section(.metadata), "finite")
        XCTAssertNil(SectionKind("meta"))
        XCTAssertNil(SectionKind("WGHTS"))
        XCTAssertNil(SectionKind("W T1"))
    }

    func testWriteIsAtomic() throws {
        let target = folder.appendingPathComponent("model.npub")
        try Data("old".utf8).write(to: target)
        try BundleWriter(metadata: Fixture.metadata, sections: Fixture.sections).write(to: target)
        XCTAssertEqual([UInt8](try Data(contentsOf: target)), try Fixture.bytes())
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["model.npub"])

        // A failed write leaves the destination as it was and no temporary behind.
        let blocked = folder.appendingPathComponent("blocked.npub")
        try FileManager.default.createDirectory(at: blocked.appendingPathComponent("inside"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try BundleWriter(metadata: Fixture.metadata).write(to: blocked)) { error in
            XCTAssertEqual("\(error)", "\(blocked.path): is a directory")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(), ["blocked.npub", "model.npub"])

        let missing = folder.appendingPathComponent("no/such/folder/x.npub")
        XCTAssertThrowsError(try BundleWriter(metadata: Fixture.metadata).write(to: missing)) { error in
            XCTAssertTrue("\(error)".contains("does not exist"), "\(error)")
        }
        // Refused input writes nothing.
        let refused = folder.appendingPathComponent("refused.npub")
        XCTAssertThrowsError(try BundleWriter(metadata: .array([])).write(to: refused))
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))
    }
}
