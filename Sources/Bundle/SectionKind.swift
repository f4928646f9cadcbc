// A section's kind: a four-character tag, the kinds this version knows and the order in
// which they appear in a bundle (schemas/bundle.md, "Sections").

/// Four bytes of upper-case ASCII letters or digits naming what a section holds.
public struct SectionKind: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The tag's four bytes as they are stored.
    public let bytes: [UInt8]

    /// The kind for `tag`, or nil when it is not four upper-case ASCII letters or digits.
    public init?(_ tag: String) { self.init(bytes: Array(tag.utf8)) }

    /// The kind for four stored bytes, or nil when they are not a valid tag.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4, bytes.allSatisfy({ (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) }) else {
            return nil
        }
        self.bytes = bytes
    }

    private init(known tag: StaticString) {
        bytes = Array(UnsafeBufferPointer(start: tag.utf8Start, count: tag.utf8CodeUnitCount))
    }

    public var description: String { String(decoding: bytes, as: UTF8.self) }

    /// Metadata: a UTF-8 JSON object with sorted keys. Every bundle has one, first.
    public static let metadata = SectionKind(known: "META")
    /// Descriptors of the tensors and buffers the instruction stream refers to.
    public static let descriptors = SectionKind(known: "DESC")
    /// The instruction stream.
    public static let instructions = SectionKind(known: "INST")
    /// Quantization scales (block scales, per-channel and per-tensor scales).
    public static let scales = SectionKind(known: "SCAL")
    /// Constants other than weights (biases, lookup tables).
    public static let constants = SectionKind(known: "CNST")
    /// Packed weights, the largest section, last.
    public static let weights = SectionKind(known: "WGHT")

    /// The kinds this version knows, in the order they appear in a bundle.
    public static let known: [SectionKind] = [.metadata, .descriptors, .instructions, .scales, .constants, .weights]

    /// The kind's place among the known kinds, nil for a kind this version does not know.
    public var rank: Int? { Self.known.firstIndex(of: self) }

    /// The writer's order: known kinds in their fixed order, then unknown kinds by tag.
    public static func < (a: SectionKind, b: SectionKind) -> Bool {
        switch (a.rank, b.rank) {
        case let (x?, y?): return x < y
        case (_?, nil): return true
        case (nil, _?): return false
        case (nil, nil): return a.bytes.lexicographicallyPrecedes(b.bytes)
        }
    }
}
