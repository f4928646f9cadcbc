// A bundle as read and checked: its header fields, its section table and each section's
// bytes, and the metadata parsed.
import Foundation

/// One row of the section table.
public struct BundleEntry: Sendable, Equatable {
    public var kind: SectionKind
    public var alignment: Int
    public var offset: Int
    public var size: Int
    /// CRC32 of the stored bytes (`size` of them).
    public var crc32: UInt32
    /// How the bytes are stored; `decodedSize` is how many readers get back.
    public var encoding: SectionEncoding = .stored
    public var decodedSize: Int

    /// The first byte after the section.
    public var end: Int { offset + size }
    /// Whether this version knows what the section holds; unknown kinds are kept as bytes.
    public var isKnown: Bool { kind.rank != nil }
}

/// A bundle that passed every check of `BundleReader`.
public struct BundleFile: Sendable {
    public var file: String
    public var majorVersion: UInt16
    public var minorVersion: UInt16
    public var flags: UInt32
    public var fileSize: Int
    public var headerCRC: UInt32
    public var tableCRC: UInt32
    /// The section table, in file order.
    public var entries: [BundleEntry]
    /// Each section's bytes, decoded, by kind.
    public var sections: [SectionKind: [UInt8]]
    /// The META section parsed: a JSON object.
    public var metadata: [String: JSONValue]

    /// The kinds this version does not know, in file order.
    public var unknownKinds: [SectionKind] { entries.filter { !$0.isKnown }.map(\.kind) }

    public subscript(kind: SectionKind) -> [UInt8]? { sections[kind] }
}
