// CRC32 as zlib computes it (the ISO-HDLC / IEEE 802.3 polynomial; the value Python's
// zlib.crc32 gives): the checksum of the bundle header, the section table and every section.
import CLibZ

public enum CRC32 {
    /// The CRC32 of `bytes`; 0 for no bytes.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard var base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
        var crc = crc32(0, nil, 0)
        var remaining = bytes.count
        // zlib's length is a 32-bit uInt: feed it at most 1 GiB at a time.
        while remaining > 0 {
            let chunk = min(remaining, 1 << 30)
            crc = crc32(crc, base, uInt(chunk))
            base += chunk
            remaining -= chunk
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// The CRC32 of `bytes[range]`.
    public static func checksum(_ bytes: [UInt8], _ range: Range<Int>) -> UInt32 {
        bytes.withUnsafeBytes { checksum(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// The CRC32 of `bytes[range]`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt32 {
        checksum(UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    /// The CRC32 of all of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 { checksum(bytes, 0..<bytes.count) }
}
