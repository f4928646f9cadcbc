// How a section's bytes are stored (schemas/bundle.md, "Section encodings"): as they are, or
// deflated with zlib behind their decoded length. The program's sections (descriptors and
// instructions) are mostly repeated fields and compress several times over; weights do not.
import CLibZ

public enum SectionEncoding: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// The section's bytes as they are.
    case stored = 0
    /// The decoded length (8 bytes, little-endian), then one zlib stream (RFC 1950) of
    /// exactly that many bytes.
    case zlib = 1

    public var description: String { self == .stored ? "stored" : "zlib" }

    /// Bytes before a zlib section's stream: its decoded length.
    static let lengthBytes = 8
    /// The compression level the writer uses: zlib's fastest, which keeps a compile's
    /// write short; level 6 makes the program's sections a fifth smaller again at over
    /// twice the time.
    static let level: Int32 = 1
    /// Deflate expands nothing by more than 1,032 to 1: a declared length beyond that
    /// ratio is a damaged section, refused before anything is allocated for it.
    static let largestRatio = 1032

    /// `bytes` as this encoding stores them.
    func encode(_ bytes: [UInt8]) -> [UInt8] {
        guard self == .zlib else { return bytes }
        var out = [UInt8](repeating: 0, count: Self.lengthBytes)
        out.putLE(UInt64(bytes.count), at: 0)
        var bound = compressBound(uLong(bytes.count))
        out += [UInt8](repeating: 0, count: Int(bound))
        let status = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { b in
                compress2(o.baseAddress! + Self.lengthBytes, &bound, b.baseAddress, uLong(b.count), Self.level)
            }
        }
        // compressBound's room always suffices, and level 1 is valid: nothing else can fail.
        precondition(status == Z_OK, "zlib compress2 failed: \(status)")
        out.removeLast(out.count - Self.lengthBytes - Int(bound))
        return out
    }

    /// The decoded bytes of a section stored as `stored`; throws a description of what is
    /// wrong (the caller names the file and the section).
    func decode(_ stored: UnsafeRawBufferPointer) throws -> [UInt8] {
        guard self == .zlib else { return Array(stored) }
        guard stored.count >= Self.lengthBytes else {
            throw DecodingFailure("zlib section of \(stored.count) bytes, shorter than its \(Self.lengthBytes)-byte length")
        }
        let declared = stored.le(UInt64.self, at: 0)
        let stream = stored.count - Self.lengthBytes
        guard declared <= UInt64(Self.largestRatio) * UInt64(max(stream, 1)) else {
            throw DecodingFailure("declares \(declared) decoded bytes, more than zlib can make of \(stream)")
        }
        return try inflated(stored.baseAddress!.assumingMemoryBound(to: UInt8.self) + Self.lengthBytes, stream, declared)
    }

    /// Inflates the zlib stream of `count` bytes at `input`, which declares `declared`
    /// decoded bytes, a megabyte at a time: memory grows with what the stream holds, never
    /// ahead of it to a length a damaged section declares.
    private func inflated(_ input: UnsafePointer<UInt8>, _ count: Int, _ declared: UInt64) throws -> [UInt8] {
        var z = z_stream()
        guard inflateInit_(&z, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DecodingFailure("zlib cannot start inflating")
        }
        defer { inflateEnd(&z) }
        // One byte of room beyond the length declared: a stream that fills it holds more.
        let room = Int(declared) + 1
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var fed = 0
        var status = Z_OK
        repeat {
            if z.avail_in == 0 && fed < count {
                let n = min(count - fed, Int(UInt32.max))
                z.next_in = UnsafeMutablePointer(mutating: input + fed)
                z.avail_in = uInt(n)
                fed += n
            }
            let want = min(chunk.count, room - out.count)
            status = chunk.withUnsafeMutableBufferPointer { c in
                z.next_out = c.baseAddress
                z.avail_out = uInt(want)
                return inflate(&z, Z_NO_FLUSH)
            }
            out += chunk[0..<(want - Int(z.avail_out))]
            if out.count == room && status != Z_STREAM_END {
                throw DecodingFailure("decodes to more than the \(declared) bytes it declares")
            }
        } while status == Z_OK
        guard status == Z_STREAM_END else {
            throw DecodingFailure("its zlib stream is damaged or cut short (zlib error \(status))")
        }
        let trailing = Int(z.avail_in) + count - fed
        guard trailing == 0 else { throw DecodingFailure("\(trailing) bytes follow the end of its zlib stream") }
        guard out.count == Int(declared) else {
            throw DecodingFailure("decodes to \(out.count) bytes; it declares \(declared)")
        }
        return out
    }

    public struct DecodingFailure: Error, Sendable {
        public var message: String
        init(_ message: String) { self.message = message }
    }
}
