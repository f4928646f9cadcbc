import Foundation

// Small bundles for the tests, and edits that reseal the header and table checksums so a
// deliberately broken field reaches the check meant for it.
@testable import Bundle

enum Fixture {
    static let metadata: JSONValue = .object([
        "model": .string("digits_cnn"), "target": .string("npu-seed"), "version": .int(1),
        "layers": .array([.string("conv1"), .string("conv2")]), "options": .object(["b": .bool(true), "a": .null]),
    ])

    /// META plus five sections of distinct sizes (one empty), handed over out of order; the
    /// program's two deflated, as npucc stores them.
    static let sections: [BundleSection] = [
        BundleSection(.weights, (0..<300).map { UInt8($0 % 251) }),
        BundleSection(.instructions, Array("INSTRUCTIONS".utf8), encoding: .zlib),
        BundleSection(.descriptors, [1, 2, 3], encoding: .zlib),
        BundleSection(.scales, []),
        BundleSection(.constants, [UInt8](repeating: 0xAB, count: 64)),
    ]

    static func bytes() throws -> [UInt8] { try BundleWriter(metadata: metadata, sections: sections).encoded() }

    /// The table entry's first byte for section `i`.
    static func entry(_ i: Int) -> Int { BundleLayout.headerSize + i * BundleLayout.entrySize }

    /// Recomputes the table CRC and then the header CRC.
    static func reseal(_ b: inout [UInt8]) {
        let count = Int(b.le(UInt32.self, at: BundleLayout.countOffset))
        let tableEnd = min(b.count, BundleLayout.headerSize + count * BundleLayout.entrySize)
        b.putLE(CRC32.checksum(b, BundleLayout.headerSize..<tableEnd), at: BundleLayout.tableCRCOffset)
        b.putLE(CRC32.checksum(b, 0..<BundleLayout.headerCRCOffset), at: BundleLayout.headerCRCOffset)
    }

    /// Recomputes section `i`'s CRC from its bytes, then reseals.
    static func resealSection(_ b: inout [UInt8], _ i: Int) {
        let offset = Int(b.le(UInt64.self, at: entry(i) + BundleLayout.offsetOffset))
        let size = Int(b.le(UInt64.self, at: entry(i) + BundleLayout.sizeOffset))
        b.putLE(CRC32.checksum(b, offset..<(offset + size)), at: entry(i) + BundleLayout.crcOffset)
        reseal(&b)
    }
}
