// Every single-byte change and every truncation of a small bundle is refused, with an error
// naming exactly the part the damaged byte belongs to, and never a crash.
@testable import Bundle
import XCTest

final class BundleDamageTests: XCTestCase {
    /// The part byte `i` belongs to: the header, the table, or the section it is in or whose
    /// leading padding it is in.
    private func owner(of i: Int, in bundle: BundleFile) -> BundleError.Part {
        if i < BundleLayout.headerSize { return .header }
        if i < BundleLayout.headerSize + bundle.entries.count * BundleLayout.entrySize { return .table }
        return .section(bundle.entries.first { i < $0.end }!.kind)
    }

    func testEveryFlippedByteIsRefusedNamingItsPart() throws {
        let good = try Fixture.bytes()
        let bundle = try BundleReader.parse(good, file: "x")
        for i in 0..<good.count {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var b = good
                b[i] ^= mask
                do {
                    _ = try BundleReader.parse(b, file: "npub.npub")
                    XCTFail("byte \(i) ^ \(mask) was accepted")
                } catch let e as BundleError {
                    let expected = owner(of: i, in: bundle)
                    XCTAssertEqual(e.part, expected, "byte \(i): \(e)")
                    XCTAssertTrue(e.description.hasPrefix("npub.npub: \(expected): "), e.description)
                }
            }
        }
    }

    func testEveryTruncationIsRefusedNamingItsPart() throws {
        let good = try Fixture.bytes()
        let bundle = try BundleReader.parse(good, file: "x")
        for length in 0..<good.count {
            do {
                _ = try BundleReader.parse(Array(good[0..<length]), file: "npub.npub")
                XCTFail("a bundle cut to \(length) bytes was accepted")
            } catch let e as BundleError {
                let expected = owner(of: length, in: bundle)
                XCTAssertEqual(e.part, expected, "length \(length): \(e)")
                XCTAssertTrue(e.description.hasPrefix("npub.npub: truncated: \(expected) ends at byte "), e.description)
                XCTAssertTrue(e.description.hasSuffix(", file has \(length)"), e.description)
            }
        }
    }
}
