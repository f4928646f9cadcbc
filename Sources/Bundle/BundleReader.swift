// Reads a bundle and checks all of it before anything uses it: magic, version, header and
// table checksums, table bounds, section order, alignment, overlaps, zero padding, every
// section's checksum, truncation and the metadata JSON. The first problem is the error.
import Foundation

public enum BundleReader {
    /// Reads and checks the bundle at `path`. The file is mapped, not read into memory of
    /// its own: the sections are copied out of the page cache once. Where it cannot be
    /// mapped, it is read.
    public static func read(path: String) throws -> BundleFile {
        if let parsed = try withMapping(path, { try parse(raw: $0, file: path).bundle }) { return parsed }
        return try parse(try contents(path), file: path)
    }

    /// Reads and checks the bundle at `path` as `read` does, copying out only the sections
    /// of `copying` (and META, and the encoded sections, which must be decoded): `body` gets
    /// the bundle and every section's bytes where they lie, in the file's mapping (or, where
    /// it cannot be mapped, in the bytes read; a decoded section's in the bundle's copy),
    /// valid until `body` returns. For a command that uses a large bundle once. The file is
    /// checked once, when mapped: it must not change while `body` runs (npucc writes a
    /// bundle whole, as a new file renamed into place, never into an existing one).
    public static func withSections<T>(
        path: String, copying: Set<SectionKind> = [],
        _ body: (BundleFile, [SectionKind: UnsafeRawBufferPointer]) throws -> T
    ) throws -> T {
        func run(_ raw: UnsafeRawBufferPointer) throws -> T {
            let (bundle, places) = try parse(raw: raw, file: path, copying: copying.union([.metadata]))
            var located = places.mapValues { UnsafeRawBufferPointer(rebasing: raw[$0]) }
            // Decoded sections lie in the bundle's own copies, alive while `bundle` is.
            return try withDecoded(bundle, bundle.entries.filter { $0.encoding != .stored }.map(\.kind)[...], &located) {
                try body(bundle, $0)
            }
        }
        if let result = try withMapping(path, run) { return result }
        return try contents(path).withUnsafeBytes(run)
    }

    /// `body` with `places` and, for each of `kinds`, the bytes of the bundle's decoded copy.
    private static func withDecoded<T>(
        _ bundle: BundleFile, _ kinds: ArraySlice<SectionKind>, _ places: inout [SectionKind: UnsafeRawBufferPointer],
        _ body: ([SectionKind: UnsafeRawBufferPointer]) throws -> T
    ) throws -> T {
        guard let kind = kinds.first else { return try body(places) }
        return try bundle.sections[kind]!.withUnsafeBytes { decoded in
            places[kind] = decoded
            return try withDecoded(bundle, kinds.dropFirst(), &places, body)
        }
    }

    /// `body` over the bytes of the regular, non-empty file at `path`, mapped read-only;
    /// nil when it cannot be mapped.
    private static func withMapping<T>(_ path: String, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_size > 0 else { return nil }
        let size = Int(status.st_size)
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else { return nil }
        defer { munmap(base, size) }
        return try body(UnsafeRawBufferPointer(start: base, count: size))
    }

    /// The file's bytes, read straight into the array that keeps them (a bundle's weights
    /// can be hundreds of megabytes: no intermediate copy). Throws, saying why, when the
    /// file cannot be opened, is not a regular file or cannot be read whole.
    static func contents(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw BundleError(file: path, .file, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw BundleError(file: path, .file, "not a regular file")
        }
        let size = Int(status.st_size)
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var done = 0
            while done < size {
                let n = Foundation.read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                done += n
            }
            failed = done != size
            count = done
        }
        guard !failed else { throw BundleError(file: path, .file, "cannot read the file") }
        return bytes
    }

    /// Whether `path` starts with the bundle magic "NPUB" (false when it cannot be read).
    public static func hasMagic(path: String) -> Bool { leadingBytes(path: path) == BundleLayout.magic }

    /// Whether `path` is a file that can be read and does not start with the bundle magic
    /// (false when it cannot be read: `read` then says why).
    public static func lacksMagic(path: String) -> Bool {
        leadingBytes(path: path).map { $0 != BundleLayout.magic } ?? false
    }

    /// Up to the first four bytes of the file at `path`; nil when it cannot be read.
    private static func leadingBytes(path: String) -> [UInt8]? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)).map { $0.map { [UInt8]($0) } ?? [] }
    }

    /// Checks `bytes` as a bundle; `file` names it in errors.
    public static func parse(_ bytes: [UInt8], file: String) throws -> BundleFile {
        try bytes.withUnsafeBytes { try parse(raw: $0, file: file).bundle }
    }

    /// The checked bundle, its sections copied (those of `copying`, or all), and where each
    /// section lies in `bytes`.
    private static func parse(raw bytes: UnsafeRawBufferPointer, file: String, copying: Set<SectionKind>? = nil) throws -> (
        bundle: BundleFile, places: [SectionKind: Range<Int>]
    ) {
        let count = bytes.count
        func fail(_ part: BundleError.Part, _ what: String) -> BundleError { BundleError(file: file, part, what) }
        func mismatch(_ part: BundleError.Part, stored: UInt32, computed: UInt32) -> BundleError {
            fail(part, "checksum mismatch (stored \(hex32(stored)), computed \(hex32(computed)))")
        }

        // Header.
        if count >= 4 && Array(bytes[0..<4]) != BundleLayout.magic {
            let shown = bytes[0..<4].map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : "." }.joined()
            throw fail(.header, "not a bundle: magic is \"\(shown)\", expected \"NPUB\"")
        }
        guard count >= BundleLayout.headerSize else {
            throw BundleError.truncated(file: file, .header, endsAt: BundleLayout.headerSize, fileHas: count)
        }
        let storedHeaderCRC = bytes.le(UInt32.self, at: BundleLayout.headerCRCOffset)
        let headerCRC = CRC32.checksum(bytes, 0..<BundleLayout.headerCRCOffset)
        guard storedHeaderCRC == headerCRC else { throw mismatch(.header, stored: storedHeaderCRC, computed: headerCRC) }
        let major = bytes.le(UInt16.self, at: BundleLayout.majorOffset)
        let minor = bytes.le(UInt16.self, at: BundleLayout.minorOffset)
        guard BundleLayout.readableMajorVersions.contains(major) else {
            let known = BundleLayout.readableMajorVersions.map { "\($0).x" }.joined(separator: " and ")
            throw fail(.header, "format version \(major).\(minor); this npucc reads versions \(known)")
        }
        let headerSize = Int(bytes.le(UInt32.self, at: BundleLayout.headerSizeOffset))
        guard headerSize == BundleLayout.headerSize else {
            throw fail(.header, "header size \(headerSize), expected \(BundleLayout.headerSize)")
        }
        let entrySize = Int(bytes.le(UInt32.self, at: BundleLayout.entrySizeOffset))
        guard entrySize == BundleLayout.entrySize else {
            throw fail(.header, "section table entry size \(entrySize), expected \(BundleLayout.entrySize)")
        }
        let flags = bytes.le(UInt32.self, at: BundleLayout.flagsOffset)
        guard flags == 0 else { throw fail(.header, "unknown flags \(hex32(flags)); version 1 defines none") }
        guard bytes[BundleLayout.headerReserved].allSatisfy({ $0 == 0 }) else {
            throw fail(.header, "reserved bytes 36 to 59 are not zero")
        }
        let fileSize = bytes.le(UInt64.self, at: BundleLayout.fileSizeOffset)

        // Section table.
        let sectionCount = Int(bytes.le(UInt32.self, at: BundleLayout.countOffset))
        let tableEnd = BundleLayout.headerSize + sectionCount * BundleLayout.entrySize
        guard tableEnd <= count else { throw BundleError.truncated(file: file, .table, endsAt: tableEnd, fileHas: count) }
        let storedTableCRC = bytes.le(UInt32.self, at: BundleLayout.tableCRCOffset)
        let tableCRC = CRC32.checksum(bytes, BundleLayout.headerSize..<tableEnd)
        guard storedTableCRC == tableCRC else { throw mismatch(.table, stored: storedTableCRC, computed: tableCRC) }
        guard sectionCount > 0 else { throw fail(.table, "no sections; a bundle starts with a META section") }

        // Sections, in table order.
        var entries: [BundleEntry] = []
        var sections: [SectionKind: [UInt8]] = [:]
        var places: [SectionKind: Range<Int>] = [:]
        var end = tableEnd
        var lastKnown: SectionKind?
        for i in 0..<sectionCount {
            let at = BundleLayout.headerSize + i * BundleLayout.entrySize
            let tag = Array(bytes[at..<(at + 4)])
            guard let kind = SectionKind(bytes: tag) else {
                let hex = tag.map { String(format: "%02x", $0) }.joined()
                throw fail(.table, "entry \(i): kind \(hex) is not four upper-case ASCII letters or digits")
            }
            func sectionFail(_ what: String) -> BundleError { fail(.section(kind), what) }
            // Version 1 reserves the encoding's byte too.
            let reserved = (major < 2 ? BundleLayout.encodingOffset : BundleLayout.entryReserved.lowerBound)
            guard bytes[(at + reserved)..<(at + BundleLayout.entryReserved.upperBound)].allSatisfy({ $0 == 0 }) else {
                throw sectionFail("reserved table bytes are not zero")
            }
            let encodingByte = bytes[at + BundleLayout.encodingOffset]
            guard let encoding = SectionEncoding(rawValue: encodingByte) else {
                throw sectionFail(
                    "encoding \(encodingByte) is not one this version knows ("
                        + SectionEncoding.allCases.map { "\($0.rawValue) \($0)" }.joined(separator: ", ") + ")")
            }
            if let previous = entries.first(where: { $0.kind == kind }) {
                let offset = bytes.le(UInt64.self, at: at + BundleLayout.offsetOffset)
                throw sectionFail("appears twice in the section table (at offsets \(previous.offset) and \(offset))")
            }
            guard i > 0 || kind == .metadata else { throw sectionFail("comes first; a bundle starts with a META section") }
            if let rank = kind.rank {
                if let lastKnown, let lastRank = lastKnown.rank, lastRank > rank {
                    throw sectionFail(
                        "comes after \(lastKnown); known kinds appear in the order "
                            + SectionKind.known.map(\.description).joined(separator: ", "))
                }
                lastKnown = kind
            }
            let alignment = Int(bytes.le(UInt32.self, at: at + BundleLayout.alignmentOffset))
            guard BundleLayout.isValidAlignment(alignment) else {
                throw sectionFail("alignment \(alignment) is not a power of two from 64 to 1 MiB")
            }
            let offset64 = bytes.le(UInt64.self, at: at + BundleLayout.offsetOffset)
            let size64 = bytes.le(UInt64.self, at: at + BundleLayout.sizeOffset)
            let (end64, overflow) = offset64.addingReportingOverflow(size64)
            guard !overflow, end64 <= UInt64(Int.max) else {
                throw sectionFail("offset \(offset64) plus size \(size64) overflows")
            }
            let (offset, size) = (Int(offset64), Int(size64))
            guard offset % alignment == 0 else {
                throw sectionFail("offset \(offset) is not a multiple of its alignment \(alignment)")
            }
            guard offset >= end else {
                let what = entries.last.map { "section \($0.kind)" } ?? "the section table"
                throw sectionFail("starts at byte \(offset), inside \(what), which ends at byte \(end)")
            }
            let expected = BundleLayout.aligned(end, alignment)
            guard offset == expected else {
                throw sectionFail(
                    "starts at byte \(offset); expected \(expected), "
                        + "the first \(alignment)-aligned byte after byte \(end)")
            }
            guard offset + size <= count else {
                throw BundleError.truncated(file: file, .section(kind), endsAt: offset + size, fileHas: count)
            }
            if let nonzero = bytes[end..<offset].firstIndex(where: { $0 != 0 }) {
                throw sectionFail("padding before it is not zero (byte \(nonzero))")
            }
            let stored = bytes.le(UInt32.self, at: at + BundleLayout.crcOffset)
            let computed = CRC32.checksum(bytes, offset..<(offset + size))
            guard stored == computed else { throw mismatch(.section(kind), stored: stored, computed: computed) }
            var decodedSize = size
            if encoding == .stored {
                places[kind] = offset..<(offset + size)
                if copying?.contains(kind) ?? true { sections[kind] = Array(bytes[offset..<(offset + size)]) }
            } else {
                // An encoded section is decoded whether or not it is to be copied: there is
                // nowhere else its bytes lie.
                do {
                    let decoded = try encoding.decode(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + size)]))
                    decodedSize = decoded.count
                    sections[kind] = decoded
                } catch let failure as SectionEncoding.DecodingFailure {
                    throw sectionFail(failure.message)
                }
            }
            entries.append(
                BundleEntry(
                    kind: kind, alignment: alignment, offset: offset, size: size, crc32: stored, encoding: encoding,
                    decodedSize: decodedSize))
            end = offset + size
        }

        // The file ends where the last section ends.
        guard fileSize == UInt64(end) else {
            throw fail(.header, "file size \(fileSize) does not match the end of the last section, byte \(end)")
        }
        guard count == end else { throw fail(.file, "\(count - end) bytes after the end of the bundle at byte \(end)") }

        // Metadata.
        let metadata: JSONValue
        do { metadata = try JSONValue(parsing: Data(sections[.metadata] ?? [])) } catch {
            throw fail(.section(.metadata), "not UTF-8 JSON")
        }
        guard case .object(let object) = metadata else { throw fail(.section(.metadata), "not a JSON object") }

        let bundle = BundleFile(
            file: file, majorVersion: major, minorVersion: minor, flags: flags, fileSize: Int(fileSize),
            headerCRC: storedHeaderCRC, tableCRC: storedTableCRC, entries: entries,
            sections: sections, metadata: object)
        return (bundle, places)
    }
}
