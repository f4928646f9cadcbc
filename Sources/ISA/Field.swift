// The fields of an instruction: what its bits mean. Every instruction is described by a
// list of fields in `InstructionSet.table`; encoding, decoding, assembly and disassembly
// all read that one list.

/// How a field's bits read.
public enum FieldKind: Sendable, Equatable {
    /// An unsigned integer (a count, a size, a parameter record's index).
    case unsigned
    /// A two's-complement integer.
    case signed
    /// The 32 bits of an IEEE-754 float32.
    case float32
    /// An index into the program's descriptor table; written `d12`.
    case descriptor
    /// A semaphore number; written `s3`.
    case semaphore
    /// A unit's place, 16 bits: the cluster in the low 8, the tile in the high 8, tile 255
    /// naming the cluster's own DMA engines; written `c2.t7`, or `c2` for those engines.
    case place
    /// One of a fixed list of names; the value is the name's index.
    case choice([String])
    /// One bit: 0 or 1.
    case flag
}

/// One field: its name in the assembly form, its width in bits and its kind.
public struct FieldSpec: Sendable, Equatable {
    public let name: String
    public let bits: Int
    public let kind: FieldKind
    public let summary: String

    init(_ name: String, _ bits: Int, _ kind: FieldKind, _ summary: String) {
        self.name = name
        self.bits = bits
        self.kind = kind
        self.summary = summary
        switch kind {
        case .float32: precondition(bits == 32, "\(name): a float32 field is 32 bits")
        case .flag: precondition(bits == 1, "\(name): a flag is 1 bit")
        case .place: precondition(bits == 16, "\(name): a place is 16 bits")
        case .choice(let names): precondition(names.count <= 1 << bits, "\(name): \(names.count) names in \(bits) bits")
        default: precondition(bits > 0 && bits <= 64, "\(name): \(bits) bits")
        }
    }

    /// The largest raw value the field holds.
    var maximum: UInt64 { bits == 64 ? .max : (1 << UInt64(bits)) - 1 }

    /// True when `raw` is a value this field may hold (a known choice, a fitting integer).
    func accepts(_ raw: UInt64) -> Bool {
        guard raw <= maximum else { return false }
        if case .choice(let names) = kind { return raw < UInt64(names.count) }
        return true
    }

    /// The field's value as the assembly form writes it.
    func text(_ raw: UInt64) -> String {
        switch kind {
        case .unsigned, .flag: return "\(raw)"
        case .signed:
            let shift = UInt64(64 - bits)
            return "\(Int64(bitPattern: raw << shift) >> Int64(shift))"
        case .float32:
            let value = Float(bitPattern: UInt32(truncatingIfNeeded: raw))
            return value.isNaN ? "nan:0x" + hex(raw, digits: 8) : "\(value)"
        case .descriptor: return "d\(raw)"
        case .semaphore: return "s\(raw)"
        case .place: return Place(raw: raw).text
        case .choice(let names): return raw < UInt64(names.count) ? names[Int(raw)] : "?\(raw)"
        }
    }

    /// What the assembly form accepts in this field, for an error that refuses a value.
    var spelling: String {
        switch kind {
        case .unsigned: return "an unsigned integer below 2^\(bits)"
        case .signed: return "an integer of \(bits) bits, two's complement"
        case .flag: return "0 or 1"
        case .float32: return "a float32 as a decimal number or inf, or a NaN by its bits as nan:0x7fc00000"
        case .descriptor: return "a declared descriptor, d0, d1, ..."
        case .semaphore: return "a semaphore, s0 to s\(maximum)"
        case .place: return "a unit: c2.t7 for a tile's, c2 for a cluster's own DMA engines"
        case .choice(let names): return "one of " + names.joined(separator: ", ")
        }
    }

    /// The raw value of `text` in this field, or nil when it is not one.
    func parse(_ text: String) -> UInt64? {
        let raw: UInt64?
        switch kind {
        case .unsigned, .flag: raw = UInt64(text)
        case .signed:
            guard let v = Int64(text) else { return nil }
            let shift = Int64(64 - bits)
            guard (v << shift) >> shift == v else { return nil }
            raw = UInt64(bitPattern: v) & maximum
        case .float32:
            if text.hasPrefix("nan:0x"), let bits = UInt32(text.dropFirst(6), radix: 16) {
                raw = UInt64(bits)
            } else if let v = Float(text), !v.isNaN {
                raw = UInt64(v.bitPattern)
            } else {
                raw = nil
            }
        case .descriptor: raw = text.hasPrefix("d") ? UInt64(text.dropFirst()) : nil
        case .semaphore: raw = text.hasPrefix("s") ? UInt64(text.dropFirst()) : nil
        case .place: raw = Place(text: text)?.raw
        case .choice(let names): raw = names.firstIndex(of: text).map(UInt64.init)
        }
        guard let raw, accepts(raw) else { return nil }
        return raw
    }
}

/// `value` in lowercase hexadecimal, zero-padded to `digits`.
func hex(_ value: UInt64, digits: Int) -> String {
    let text = String(value, radix: 16)
    return String(repeating: "0", count: max(0, digits - text.count)) + text
}

/// Where a queue is: a tile (its DMA, matrix or vector queue), or a cluster's own DMA
/// engines (`tile` nil). A `place` field holds it in 16 bits.
public struct Place: Sendable, Hashable {
    public var cluster: Int
    public var tile: Int?
    /// The tile byte that names the cluster's own DMA engines.
    static let clusterEngines: UInt64 = 255

    public init(cluster: Int, tile: Int?) {
        self.cluster = cluster
        self.tile = tile
    }

    /// A `place` field's raw value.
    public init(raw: UInt64) {
        cluster = Int(raw & 0xff)
        tile = raw >> 8 == Self.clusterEngines ? nil : Int(raw >> 8)
    }

    /// The raw value of a `place` field.
    public var raw: UInt64 { UInt64(cluster) | UInt64(tile ?? Int(Self.clusterEngines)) << 8 }

    /// `c2.t7` or `c2`.
    init?(text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts[0].hasPrefix("c"), let c = UInt8(parts[0].dropFirst()) else { return nil }
        cluster = Int(c)
        if parts.count == 2 {
            guard parts[1].hasPrefix("t"), let t = UInt8(parts[1].dropFirst()), UInt64(t) != Self.clusterEngines else {
                return nil
            }
            tile = Int(t)
        } else {
            tile = nil
        }
    }

    public var text: String { tile.map { "c\(cluster).t\($0)" } ?? "c\(cluster)" }
}
