// Sections in, bundle bytes out: the header, the section table and the sections laid out
// as schemas/bundle.md fixes them. The same input always gives the same bytes (no clock,
// no host, no order of arrival); a file appears whole or not at all.
import Foundation

/// A section to write: its kind, its bytes, the alignment of its first byte and how its
/// bytes are stored.
public struct BundleSection: Sendable, Equatable {
    public var kind: SectionKind
    /// The section's bytes as readers get them back (before any encoding).
    public var bytes: [UInt8]
    /// A power of two from 64 to 1 MiB.
    public var alignment: Int
    public var encoding: SectionEncoding

    public init(
        _ kind: SectionKind, _ bytes: [UInt8], alignment: Int = BundleLayout.sectionAlignment,
        encoding: SectionEncoding = .stored
    ) {
        self.kind = kind
        self.bytes = bytes
        self.alignment = alignment
        self.encoding = encoding
    }
}

/// Builds a bundle: the metadata JSON and the other sections, in any order.
public struct BundleWriter: Sendable {
    public var metadata: JSONValue
    public var sections: [BundleSection]

    /// `metadata` must be a JSON object; `sections` must not hold META (the metadata is
    /// that section) or a kind twice.
    public init(metadata: JSONValue, sections: [BundleSection] = []) {
        self.metadata = metadata
        self.sections = sections
    }

    /// The metadata from any `Encodable` value that encodes as a JSON object.
    public init(metadata: some Encodable, sections: [BundleSection] = []) throws {
        self.init(metadata: try JSONValue(encoding: metadata), sections: sections)
    }

    /// The bundle's bytes; `file` names the bundle in errors.
    public func encoded(file: String = "bundle") throws -> [UInt8] {
        guard case .object = metadata, let json = metadata.canonicalText else {
            throw BundleError(file: file, .section(.metadata), "the metadata must be a JSON object of finite numbers")
        }
        var seen = Set<SectionKind>([.metadata])
        for s in sections {
            guard seen.insert(s.kind).inserted else {
                throw BundleError(
                    file: file, .section(s.kind),
                    s.kind == .metadata
                        ? "given as a section; the metadata is written from the metadata value"
                        : "given twice; a bundle holds each kind once")
            }
            guard BundleLayout.isValidAlignment(s.alignment) else {
                throw BundleError(file: file, .section(s.kind), "alignment \(s.alignment) is not a power of two from 64 to 1 MiB")
            }
        }
        var ordered = [BundleSection(.metadata, [UInt8](json))] + sections.sorted { $0.kind < $1.kind }
        // Each section as stored, the encoded ones side by side (each on its own: the bytes
        // do not depend on the threads).
        let encoded = ordered.indices.filter { ordered[$0].encoding != .stored }
        let sources = encoded.map { ordered[$0] }
        let stored = Slots(count: sources.count)
        defer { stored.release() }
        DispatchQueue.concurrentPerform(iterations: sources.count) { j in
            stored.base[j] = sources[j].encoding.encode(sources[j].bytes)
        }
        for (j, i) in encoded.enumerated() { ordered[i].bytes = stored.base[j] }

        let tableEnd = BundleLayout.headerSize + ordered.count * BundleLayout.entrySize
        var offsets: [Int] = []
        var end = tableEnd
        for s in ordered {
            let offset = BundleLayout.aligned(end, s.alignment)
            offsets.append(offset)
            end = offset + s.bytes.count
        }
        var out = [UInt8](repeating: 0, count: end)
        for (i, s) in ordered.enumerated() {
            let entry = BundleLayout.headerSize + i * BundleLayout.entrySize
            out.replaceSubrange(entry..<(entry + 4), with: s.kind.bytes)
            out.putLE(UInt32(s.alignment), at: entry + BundleLayout.alignmentOffset)
            out.putLE(UInt64(offsets[i]), at: entry + BundleLayout.offsetOffset)
            out.putLE(UInt64(s.bytes.count), at: entry + BundleLayout.sizeOffset)
            out.putLE(CRC32.checksum(s.bytes), at: entry + BundleLayout.crcOffset)
            out[entry + BundleLayout.encodingOffset] = s.encoding.rawValue
            out.replaceSubrange(offsets[i]..<(offsets[i] + s.bytes.count), with: s.bytes)
        }
        out.replaceSubrange(0..<4, with: BundleLayout.magic)
        out.putLE(BundleLayout.majorVersion, at: BundleLayout.majorOffset)
        out.putLE(BundleLayout.minorVersion, at: BundleLayout.minorOffset)
        out.putLE(UInt32(BundleLayout.headerSize), at: BundleLayout.headerSizeOffset)
        out.putLE(UInt32(ordered.count), at: BundleLayout.countOffset)
        out.putLE(UInt32(BundleLayout.entrySize), at: BundleLayout.entrySizeOffset)
        out.putLE(UInt64(end), at: BundleLayout.fileSizeOffset)
        out.putLE(CRC32.checksum(out, BundleLayout.headerSize..<tableEnd), at: BundleLayout.tableCRCOffset)
        out.putLE(CRC32.checksum(out, 0..<BundleLayout.headerCRCOffset), at: BundleLayout.headerCRCOffset)
        return out
    }

    /// Writes the bundle to `url` atomically: a temporary file in the same folder is
    /// written, flushed to disk and renamed over `url`; on any failure it is removed and
    /// `url` is left as it was.
    public func write(to url: URL) throws {
        try Self.write(try encoded(file: url.path), to: url)
    }

    /// Writes the bytes `encoded` gave to `url`, as `write(to:)` does.
    public static func write(_ bytes: [UInt8], to url: URL) throws {
        let path = url.path
        do {
            try AtomicFile.write(bytes, to: path)
        } catch {
            throw BundleError(file: path, .file, error.message)
        }
    }
}

/// One result per slot, each written by one thread of a concurrent loop.
private struct Slots: @unchecked Sendable {
    let base: UnsafeMutableBufferPointer<[UInt8]>

    init(count: Int) {
        base = .allocate(capacity: count)
        _ = base.initialize(from: repeatElement([], count: count))
    }

    func release() { base.deinitialize().deallocate() }
}
