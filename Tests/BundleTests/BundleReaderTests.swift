import Foundation
import XCTest

// The reader's refusals, one per check, each reached with the checksums in front of it
// resealed; every error names the file and the part at fault.
@testable import Bundle

final class BundleReaderTests: XCTestCase {
    private func refuses(_ b: [UInt8], _ part: BundleError.Part, _ phrase: String, line: UInt = #line) {
        XCTAssertThrowsError(try BundleReader.parse(b, file: "npub.npub"), line: line) { error in
            guard let e = error as? BundleError else { return XCTFail("\(error)", line: line) }
            XCTAssertEqual(e.part, part, e.description, line: line)
            XCTAssertTrue(e.description.hasPrefix("npub.npub: "), e.description, line: line)
            XCTAssertTrue(e.description.contains(phrase), e.description, line: line)
        }
    }

    private func edited(_ edit: (inout [UInt8]) -> Void) throws -> [UInt8] {
        var b = try Fixture.bytes()
        edit(&b)
        return b
    }

    private let weightsEntry = Fixture.entry(5), metaEntry = Fixture.entry(0)

    func testHeaderRefusals() throws {
        refuses(Array("PK\u{3}\u{4}rest".utf8), .header, #"not a bundle: magic is "PK..", expected "NPUB""#)
        refuses(Array("NPUB".utf8), .header, "truncated: header ends at byte 64, file has 4")
        refuses([], .header, "truncated: header ends at byte 64, file has 0")
        refuses(try edited { $0[10] ^= 1 }, .header, "checksum mismatch (stored 0x")
        refuses(
            try edited {
                $0.putLE(UInt16(3), at: 4); Fixture.reseal(&$0)
            }, .header, "format version 3.0; this npucc reads versions 1.x and 2.x")
        refuses(
            try edited {
                $0.putLE(UInt32(128), at: 8); Fixture.reseal(&$0)
            }, .header, "header size 128, expected 64")
        refuses(
            try edited {
                $0.putLE(UInt32(48), at: 20); Fixture.reseal(&$0)
            }, .header, "entry size 48, expected 32")
        refuses(
            try edited {
                $0.putLE(UInt32(4), at: 16); Fixture.reseal(&$0)
            }, .header, "unknown flags 0x00000004")
        refuses(
            try edited {
                $0[40] = 1; Fixture.reseal(&$0)
            }, .header, "reserved bytes")
        refuses(
            try edited {
                $0.putLE(UInt64($0.count + 64), at: 24); Fixture.reseal(&$0)
            }, .header, "does not match the end of the last section")
        // A newer minor version reads.
        let minor = try edited {
            $0.putLE(UInt16(3), at: 6); Fixture.reseal(&$0)
        }
        XCTAssertEqual(try BundleReader.parse(minor, file: "x").minorVersion, 3)
    }

    func testVersionOneBundlesRead() throws {
        // Version 1 is version 2 with every section stored: the encoding's byte is reserved.
        let stored = Fixture.sections.map { BundleSection($0.kind, $0.bytes) }
        var b = try BundleWriter(metadata: Fixture.metadata, sections: stored).encoded()
        b.putLE(UInt16(1), at: 4)
        Fixture.reseal(&b)
        let bundle = try BundleReader.parse(b, file: "x")
        XCTAssertEqual(bundle.majorVersion, 1)
        for s in Fixture.sections { XCTAssertEqual(bundle[s.kind], s.bytes, "\(s.kind)") }
        b[Fixture.entry(2) + 28] = 1
        Fixture.reseal(&b)
        refuses(b, .section(.instructions), "reserved table bytes are not zero")
    }

    /// The fixture with INST's stored bytes `stored` and its encoding byte `encoding`, every
    /// checksum resealed, so the decoding is what refuses it.
    private func instStored(_ stored: [UInt8], encoding: UInt8 = 1) throws -> [UInt8] {
        let sections = Fixture.sections.map { $0.kind == .instructions ? BundleSection(.instructions, stored) : $0 }
        var b = try BundleWriter(metadata: Fixture.metadata, sections: sections).encoded()
        b[Fixture.entry(2) + 28] = encoding
        Fixture.reseal(&b)
        return b
    }

    func testEncodedSectionRefusals() throws {
        let inst = BundleError.Part.section(.instructions)
        let text = Array("INSTRUCTIONS".utf8), good = SectionEncoding.zlib.encode(text)
        XCTAssertEqual(try BundleReader.parse(try instStored(good), file: "x")[.instructions], text)
        func declaring(_ n: UInt64, _ stream: ArraySlice<UInt8>) -> [UInt8] {
            var b = [UInt8](repeating: 0, count: 8) + stream
            b.putLE(n, at: 0)
            return b
        }
        let stream = good[8...]
        refuses(
            try instStored(good, encoding: 7), inst, "section INST: encoding 7 is not one this version knows (0 stored, 1 zlib)")
        refuses(try instStored([1, 2, 3, 4, 5]), inst, "zlib section of 5 bytes, shorter than its 8-byte length")
        refuses(
            try instStored(declaring(1_000_000, stream)), inst,
            "declares 1000000 decoded bytes, more than zlib can make of \(stream.count)")
        refuses(try instStored(declaring(11, stream)), inst, "decodes to 12 bytes; it declares 11")
        refuses(try instStored(declaring(0, stream)), inst, "decodes to more than the 0 bytes it declares")
        refuses(try instStored(declaring(13, stream)), inst, "decodes to 12 bytes; it declares 13")
        refuses(try instStored(good + [0, 0, 0]), inst, "3 bytes follow the end of its zlib stream")
        refuses(try instStored(Array(good.dropLast(4))), inst, "its zlib stream is damaged or cut short")
        var flipped = good
        flipped[flipped.count - 2] ^= 0x40  // inside the Adler-32 trailer
        refuses(try instStored(flipped), inst, "its zlib stream is damaged or cut short")
        refuses(try instStored(declaring(12, [])), inst, "its zlib stream is damaged or cut short")
        // An empty section deflated reads back empty.
        let empty = SectionEncoding.zlib.encode([])
        XCTAssertEqual(try BundleReader.parse(try instStored(empty), file: "x")[.instructions], [])
    }

    func testTableRefusals() throws {
        refuses(try edited { $0[70] ^= 0x10 }, .table, "section table: checksum mismatch (stored 0x")
        refuses(
            try edited {
                $0.putLE(UInt32(1000), at: 12); Fixture.reseal(&$0)
            }, .table,
            "truncated: section table ends at byte 32064, file has")
        refuses(
            try edited {
                $0.putLE(UInt32(0), at: 12); Fixture.reseal(&$0)
            }, .table, "no sections")
        refuses(
            try edited {
                $0[self.weightsEntry + 1] = UInt8(ascii: "g"); Fixture.reseal(&$0)
            }, .table,
            "entry 5: kind 57674854 is not four upper-case ASCII letters or digits")
    }

    func testSectionRefusals() throws {
        let weights = BundleError.Part.section(.weights)
        refuses(try edited { $0[$0.count - 1] ^= 0xFF }, weights, "section WGHT: checksum mismatch (stored 0x")
        refuses(
            try edited { $0.removeLast() }, weights,
            "truncated: section WGHT ends at byte \(try Fixture.bytes().count), file has \(try Fixture.bytes().count - 1)")
        refuses(try edited { $0.append(0) }, .file, "1 bytes after the end of the bundle")
        refuses(
            try edited {
                $0.putLE(UInt32(128), at: self.weightsEntry + 4); Fixture.reseal(&$0)
            }, weights,
            "is not a multiple of its alignment 128")
        refuses(
            try edited {
                $0.putLE(UInt32(100), at: self.weightsEntry + 4); Fixture.reseal(&$0)
            }, weights, "alignment 100")
        refuses(
            try edited {
                $0.putLE(UInt32(2 << 20), at: self.weightsEntry + 4); Fixture.reseal(&$0)
            }, weights, "alignment 2097152")
        refuses(
            try edited {
                $0[self.weightsEntry + 29] = 1; Fixture.reseal(&$0)
            }, weights, "reserved table bytes")

        // Overlap: WGHT moved back onto CNST.
        let cnstOffset = try Fixture.bytes().le(UInt64.self, at: Fixture.entry(4) + 8)
        refuses(
            try edited {
                $0.putLE(cnstOffset, at: self.weightsEntry + 8); Fixture.reseal(&$0)
            }, weights,
            "starts at byte \(cnstOffset), inside section CNST, which ends at byte \(cnstOffset + 64)")
        refuses(
            try edited {
                $0.putLE(UInt64(128), at: self.metaEntry + 8); Fixture.reseal(&$0)
            }, .section(.metadata),
            "inside the section table, which ends at byte 256")
        // A gap: a section later than the first aligned byte after the one before it.
        let wghtOffset = try Fixture.bytes().le(UInt64.self, at: weightsEntry + 8)
        refuses(
            try edited {
                $0.putLE(wghtOffset + 64, at: self.weightsEntry + 8); Fixture.reseal(&$0)
            }, weights,
            "starts at byte \(wghtOffset + 64); expected \(wghtOffset)")
        // Size overflow.
        refuses(
            try edited {
                $0.putLE(UInt64.max, at: self.weightsEntry + 16); Fixture.reseal(&$0)
            }, weights, "overflows")
        // Padding that is not zero (before DESC: META's JSON does not end on a multiple of 64).
        let descOffset = Int(try Fixture.bytes().le(UInt64.self, at: Fixture.entry(1) + 8))
        refuses(
            try edited { $0[descOffset - 1] = 7 }, .section(.descriptors),
            "padding before it is not zero (byte \(descOffset - 1))")
    }

    func testOrderAndDuplicateRefusals() throws {
        // Swap the tags of DESC and INST (both stay in place): INST then comes before DESC.
        refuses(
            try edited { b in
                let (d, i) = (Fixture.entry(1), Fixture.entry(2))
                for k in 0..<4 { b.swapAt(d + k, i + k) }
                Fixture.resealSection(&b, 1)
            }, .section(.descriptors), "comes after INST; known kinds appear in the order META, DESC, INST, SCAL, CNST, WGHT")
        refuses(
            try edited { b in
                b.replaceSubrange(Fixture.entry(2)..<(Fixture.entry(2) + 4), with: Array("DESC".utf8))
                Fixture.reseal(&b)
            }, .section(.descriptors), "appears twice in the section table")
        refuses(
            try edited { b in
                b.replaceSubrange(self.metaEntry..<(self.metaEntry + 4), with: Array("ABCD".utf8))
                Fixture.reseal(&b)
            }, .section(try XCTUnwrap(SectionKind("ABCD"))), "comes first; a bundle starts with a META section")
    }

    func testMetadataRefusals() throws {
        for (json, phrase) in [("[1, 2]", "not a JSON object"), ("{\"a\": ", "not UTF-8 JSON"), ("\u{FF}", "not UTF-8 JSON")] {
            // Rewrite META with the same length as the fixture's so nothing else moves.
            var b = try Fixture.bytes()
            let offset = Int(b.le(UInt64.self, at: metaEntry + 8)), size = Int(b.le(UInt64.self, at: metaEntry + 16))
            let text = Array(json.utf8) + [UInt8](repeating: 0x20, count: size - json.utf8.count)
            b.replaceSubrange(offset..<(offset + size), with: text)
            Fixture.resealSection(&b, 0)
            refuses(b, .section(.metadata), "section META: " + phrase)
        }
    }

    func testUnknownKindInTheMiddleIsKept() throws {
        // A newer writer may put a kind this version does not know between known ones.
        let b = try edited { b in
            b.replaceSubrange(Fixture.entry(3)..<(Fixture.entry(3) + 4), with: Array("TIL3".utf8))
            Fixture.reseal(&b)
        }
        let bundle = try BundleReader.parse(b, file: "x")
        XCTAssertEqual(bundle.unknownKinds.map(\.description), ["TIL3"])
        XCTAssertEqual(bundle[.instructions], Array("INSTRUCTIONS".utf8))
    }

    func testReadsFromDisk() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-\(UUID().uuidString).npub").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try BundleReader.read(path: path)) {
            XCTAssertEqual("\($0)", "\(path): cannot open: No such file or directory")
        }
        let folder = FileManager.default.temporaryDirectory.path
        XCTAssertThrowsError(try BundleReader.read(path: folder)) { XCTAssertEqual("\($0)", "\(folder): not a regular file") }
        XCTAssertFalse(BundleReader.hasMagic(path: path))
        try Data(try Fixture.bytes()).write(to: URL(fileURLWithPath: path))
        XCTAssertTrue(BundleReader.hasMagic(path: path))
        XCTAssertEqual(try BundleReader.read(path: path).entries.count, 6)
    }

    func testSectionsLeftWhereTheyLieAreTheSectionsRead() throws {
        // Every section's bytes in the mapping equal those `read` copies out; the bundle
        // handed over holds only the sections asked for (and META); a damaged file is refused
        // with `read`'s error, before the body runs.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-\(UUID().uuidString).npub").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(try Fixture.bytes()).write(to: URL(fileURLWithPath: path))
        let read = try BundleReader.read(path: path)
        try BundleReader.withSections(path: path, copying: [.constants]) { bundle, sections in
            XCTAssertEqual(Set(sections.keys), Set(read.entries.map(\.kind)))
            for (kind, bytes) in sections { XCTAssertEqual(Array(bytes), read[kind], "\(kind)") }
            // The deflated sections, decoded, besides those asked for.
            XCTAssertEqual(Set(bundle.sections.keys), [.metadata, .constants, .descriptors, .instructions])
            XCTAssertEqual(bundle.entries, read.entries)
            XCTAssertEqual(bundle.metadata, read.metadata)
        }
        var damaged = try Fixture.bytes()
        damaged[damaged.count - 1] ^= 1
        try Data(damaged).write(to: URL(fileURLWithPath: path))
        var (ran, refusal, readRefusal) = (false, "", "")
        do { try BundleReader.withSections(path: path) { _, _ in ran = true } } catch { refusal = "\(error)" }
        do { _ = try BundleReader.read(path: path) } catch { readRefusal = "\(error)" }
        XCTAssertFalse(ran)
        XCTAssertEqual(refusal, readRefusal)
        XCTAssertTrue(refusal.contains("checksum mismatch"), refusal)
    }
}
