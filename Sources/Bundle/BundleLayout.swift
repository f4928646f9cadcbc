// The container's fixed numbers and field offsets (schemas/bundle.md), and little-endian
// reading and writing of the integers it stores.

/// Sizes and byte offsets of the header and section table, format version 2.0.
public enum BundleLayout {
    public static let magic: [UInt8] = Array("NPUB".utf8)
    public static let majorVersion: UInt16 = 2
    /// The major versions a reader reads: 1 is 2 without section encodings.
    public static let readableMajorVersions: ClosedRange<UInt16> = 1...2
    public static let minorVersion: UInt16 = 0
    public static let headerSize = 64
    public static let entrySize = 32
    /// The alignment the writer gives every section, and the least a reader accepts.
    public static let sectionAlignment = 64
    /// The largest alignment a reader accepts (1 MiB).
    public static let maximumAlignment = 1 << 20

    // Header fields.
    static let majorOffset = 4, minorOffset = 6, headerSizeOffset = 8, countOffset = 12, flagsOffset = 16
    static let entrySizeOffset = 20, fileSizeOffset = 24, tableCRCOffset = 32, headerCRCOffset = 60
    static let headerReserved = 36..<60

    // Section table entry fields, from the entry's start.
    static let kindOffset = 0, alignmentOffset = 4, offsetOffset = 8, sizeOffset = 16, crcOffset = 24
    /// Version 2's section encoding (`SectionEncoding`); reserved, zero, in version 1.
    static let encodingOffset = 28
    static let entryReserved = 29..<32

    /// The first multiple of `alignment` (a power of two) at or after `offset`.
    static func aligned(_ offset: Int, _ alignment: Int) -> Int { (offset + alignment - 1) & ~(alignment - 1) }

    static func isValidAlignment(_ a: Int) -> Bool {
        a >= sectionAlignment && a <= maximumAlignment && a & (a - 1) == 0
    }
}

extension RandomAccessCollection where Element == UInt8, Index == Int {
    /// The little-endian integer at `offset` (from the collection's start).
    func le<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, at offset: Int) -> T {
        (0..<MemoryLayout<T>.size).reduce(T(0)) { $0 | T(self[startIndex + offset + $1]) << (8 * $1) }
    }
}

extension Array where Element == UInt8 {

    mutating func putLE<T: FixedWidthInteger & UnsignedInteger>(_ value: T, at offset: Int) {
        for i in 0..<MemoryLayout<T>.size { self[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }
}
