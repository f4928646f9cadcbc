// One instruction: its definition and its 128 bits, kept as two words; encoded to and
// decoded from its 16 bytes through the table alone, each field read with a shift and a mask.

public struct Instruction: Sendable, Equatable {
    /// One of the instruction set's table, which lives as long as the process: held without
    /// reference counting, so that copying an instruction counts no references.
    public unowned(unsafe) let spec: InstructionSpec
    /// The 16 bytes as two little-endian words: the opcode in `low`'s lowest byte, then the
    /// fields from bit 8 upward, the rest zero.
    @usableFromInline let low: UInt64
    @usableFromInline let high: UInt64

    /// The opcode, read from the first byte (the same as `spec.opcode`).
    @inlinable public var opcode: UInt8 { UInt8(truncatingIfNeeded: low) }

    public static func == (a: Instruction, b: Instruction) -> Bool { a.low == b.low && a.high == b.high }

    /// One raw value per field of `spec`, in table order.
    public var values: [UInt64] { spec.fields.indices.map(value(at:)) }

    /// An instruction from its mnemonic and field values by name; every field must be given
    /// and fit.
    public init(_ mnemonic: String, _ fields: [String: UInt64] = [:]) throws {
        guard let spec = InstructionSet.spec(mnemonic: mnemonic) else { throw ISAError("unknown instruction \"\(mnemonic)\"") }
        for name in fields.keys where spec.index(of: name) == nil {
            throw ISAError("\(mnemonic) has no field \"\(name)\"")
        }
        try self.init(
            spec,
            spec.fields.map { f in
                guard let v = fields[f.name] else { throw ISAError("\(mnemonic): field \"\(f.name)\" is missing") }
                return v
            })
    }

    /// An instruction of `spec` from its field values by name, as a literal lists them
    /// (`["dst": d, "src": s]`, matched by name without hashing); every field must be given
    /// once and fit.
    public init(_ spec: InstructionSpec, _ fields: KeyValuePairs<String, UInt64>) throws {
        // A literal listing every field once in the table's order (the lowering's do) is
        // read position by position; any other is matched name by name.
        if fields.count == spec.fields.count && spec.fields.indices.allSatisfy({ fields[$0].key == spec.fields[$0].name }) {
            try self.init(spec) { fields[$0].value }
            return
        }
        var values = [UInt64](repeating: 0, count: spec.fields.count), given = 0
        for (k, f) in spec.fields.enumerated() {
            var found = false
            for (name, value) in fields where name == f.name {
                guard !found else { throw ISAError("\(spec.mnemonic): field \"\(name)\" is given twice") }
                values[k] = value
                found = true
            }
            guard found else { throw ISAError("\(spec.mnemonic): field \"\(f.name)\" is missing") }
            given += 1
        }
        if given < fields.count, let name = fields.first(where: { spec.index(of: $0.key) == nil })?.key {
            throw ISAError("\(spec.mnemonic) has no field \"\(name)\"")
        }
        try self.init(spec, values)
    }

    init(_ spec: InstructionSpec, _ values: [UInt64]) throws {
        precondition(values.count == spec.fields.count, "one value per field")
        try self.init(spec) { values[$0] }
    }

    /// An instruction of `spec` whose field `k` (in table order) holds `value(k)`.
    @inline(__always)
    init(_ spec: InstructionSpec, value: (Int) -> UInt64) throws {
        var low = UInt64(spec.opcode), high: UInt64 = 0
        for (k, f) in spec.fields.enumerated() {
            let v = value(k)
            guard f.accepts(v) else {
                throw ISAError("\(spec.mnemonic): \(v) does not fit field \"\(f.name)\" (\(f.bits) bits)")
            }
            let start = spec.layout[k].start
            if start < 64 { low |= v << UInt64(start) }
            if start + f.bits > 64 { high |= start >= 64 ? v << UInt64(start - 64) : v >> UInt64(64 - start) }
        }
        self.spec = spec
        self.low = low
        self.high = high
    }

    /// The raw value of field `name`.
    public subscript(_ name: String) -> UInt64 {
        guard let i = spec.index(of: name) else { preconditionFailure("\(spec.mnemonic) has no field \(name)") }
        return value(at: i)
    }

    /// The raw value of the field at `index` in `spec.fields`.
    @inline(__always)
    public func value(at index: Int) -> UInt64 {
        let field = spec.layout[index]
        return bits(field.start, field.bits)
    }

    /// `count` bits from bit `start` of the 128: the value of the field the table puts there.
    @inlinable
    public func bits(_ start: Int, _ count: Int) -> UInt64 { Self.bits(low, high, start, count) }

    @inlinable
    static func bits(_ low: UInt64, _ high: UInt64, _ start: Int, _ count: Int) -> UInt64 {
        let mask: UInt64 = count >= 64 ? ~0 : (1 << UInt64(count)) &- 1
        if start >= 64 { return (high >> UInt64(start - 64)) & mask }
        if start + count <= 64 || start == 0 { return (low >> UInt64(start)) & mask }
        return ((low >> UInt64(start)) | (high << UInt64(64 - start))) & mask
    }

    /// The 16 bytes: opcode, then each field from bit 8 upward, the rest zero.
    public func encoded() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: InstructionSet.width) { b, count in
            encode(into: UnsafeMutableRawBufferPointer(b), at: 0)
            count = InstructionSet.width
        }
    }

    /// Writes the 16 bytes of `encoded()` at `offset` of `b`.
    func encode(into b: UnsafeMutableRawBufferPointer, at offset: Int) {
        precondition(offset >= 0 && offset + InstructionSet.width <= b.count)
        b.storeBytes(of: low.littleEndian, toByteOffset: offset, as: UInt64.self)
        b.storeBytes(of: high.littleEndian, toByteOffset: offset + 8, as: UInt64.self)
    }

    /// Decodes 16 bytes; refuses an unknown opcode, a value a field cannot hold, and any
    /// set bit past the last field.
    public init(decoding bytes: some Collection<UInt8>) throws {
        let b = Array(bytes)
        guard b.count == InstructionSet.width else {
            throw ISAError("an instruction is \(InstructionSet.width) bytes, not \(b.count)")
        }
        try self.init(low: word(b, 0), high: word(b, 8))
    }

    /// Decodes the 128 bits given as two little-endian words (the opcode in `low`'s lowest
    /// byte); nothing is copied but the words.
    /// With `descriptors`, a descriptor field naming d`descriptors` or past it is refused too.
    init(low: UInt64, high: UInt64, descriptors: Int? = nil) throws {
        self = try DecodeRule.all.withUnsafeBufferPointer { rules in
            try Self(low: low, high: high, descriptors: descriptors ?? Int.max, rules: rules)
        }
    }

    /// As above, the checks read from `rules` (`DecodeRule.all`), which a caller decoding
    /// many instructions holds once: no reference is counted per instruction.
    @inline(__always)
    init(low: UInt64, high: UInt64, descriptors: Int, rules: UnsafeBufferPointer<DecodeRule>) throws {
        let rule = rules[Int(UInt8(truncatingIfNeeded: low))]
        guard rule.known else { throw ISAError("unknown opcode 0x\(hex(low & 0xff, digits: 2))") }
        if low & rule.unusedLow | high & rule.unusedHigh != 0 {
            let spec = rule.spec.takeUnretainedValue()
            let i = (spec.end..<(InstructionSet.width * 8)).first(where: { Self.bits(low, high, $0, 1) == 1 })!
            throw ISAError("\(spec.mnemonic): bit \(i) is past its last field and must be 0")
        }
        // A field's bits always fit it; a choice must also name one of its options, and a
        // descriptor field a descriptor of the table.
        for k in 0..<rule.checked {
            let value = Self.bits(low, high, Int(rule.starts[k]), Int(rule.widths[k]))
            let bound = k < rule.choices ? UInt64(rule.bounds[k]) : UInt64(descriptors)
            guard value >= bound else { continue }
            let spec = rule.spec.takeUnretainedValue()
            let field = spec.fields[Int(rule.fields[k])]
            if k < rule.choices {
                throw ISAError("\(spec.mnemonic): \(value) does not fit field \"\(field.name)\" (\(field.bits) bits)")
            }
            throw ISAError("field \(field.name) names d\(value), the table has \(descriptors) descriptors")
        }
        spec = rule.spec.takeUnretainedValue()
        self.low = low
        self.high = high
    }
}

/// What decoding checks in one opcode's 128 bits, as plain values: the bits past its last
/// field, which must be 0; its choice fields, each below its number of options; then its
/// descriptor fields, each below the table's count. Fields are read through these rather
/// than through the definition, which would count references at each read.
struct DecodeRule {
    let known: Bool
    let spec: Unmanaged<InstructionSpec>
    let unusedLow: UInt64
    let unusedHigh: UInt64
    /// How many fields are checked (the lanes below), and how many of them are choices.
    let checked: Int
    let choices: Int
    let starts: SIMD8<UInt8>
    let widths: SIMD8<UInt8>
    let fields: SIMD8<UInt8>
    let bounds: SIMD8<UInt32>

    /// The rule of every opcode, by opcode; unknown opcodes' rules are not `known`.
    static let all: [DecodeRule] = (0..<256).map { DecodeRule(InstructionSet.spec(opcode: UInt8($0))) }

    private init(_ spec: InstructionSpec?) {
        guard let spec else {
            let none = InstructionSet.table[0]
            (known, self.spec, unusedLow, unusedHigh, checked, choices) = (false, Unmanaged.passUnretained(none), 0, 0, 0, 0)
            (starts, widths, fields, bounds) = (.zero, .zero, .zero, .zero)
            return
        }
        known = true
        self.spec = Unmanaged.passUnretained(spec)  // the table lives as long as the process
        let end = spec.end
        unusedLow = end >= 64 ? 0 : ~0 << UInt64(end)
        unusedHigh = end <= 64 ? ~0 : end >= 128 ? 0 : ~0 << UInt64(end - 64)
        let checks =
            spec.choices.map { ($0.index, $0.start, $0.bits, UInt32($0.options)) }
            + spec.descriptorFields.map { ($0.index, $0.start, $0.bits, UInt32(0)) }
        precondition(checks.count <= 8, "\(spec.mnemonic): at most eight checked fields")
        (checked, choices) = (checks.count, spec.choices.count)
        var (starts, widths, fields, bounds) = (SIMD8<UInt8>.zero, SIMD8<UInt8>.zero, SIMD8<UInt8>.zero, SIMD8<UInt32>.zero)
        for (k, c) in checks.enumerated() {
            (fields[k], starts[k], widths[k], bounds[k]) = (UInt8(c.0), UInt8(c.1), UInt8(c.2), c.3)
        }
        (self.starts, self.widths, self.fields, self.bounds) = (starts, widths, fields, bounds)
    }
}

/// The little-endian 64-bit word at `offset` of `b`.
private func word(_ b: [UInt8], _ offset: Int) -> UInt64 {
    (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[offset + $1]) << UInt64(8 * $1) }
}

public struct ISAError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
