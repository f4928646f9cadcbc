// One instruction: its definition and the raw value of each field; encoded to and decoded
// from its 16 bytes through the table alone.

public struct Instruction: Sendable, Equatable {
    public let spec: InstructionSpec
    /// One raw value per field of `spec`, in table order.
    public private(set) var values: [UInt64]

    public static func == (a: Instruction, b: Instruction) -> Bool {
        a.spec.opcode == b.spec.opcode && a.values == b.values
    }

    /// An instruction from its mnemonic and field values by name; every field must be given
    /// and fit.
    public init(_ mnemonic: String, _ fields: [String: UInt64] = [:]) throws {
        guard let spec = InstructionSet.spec(mnemonic: mnemonic) else { throw ISAError("unknown instruction \"\(mnemonic)\"") }
        for name in fields.keys where !spec.fields.contains(where: { $0.name == name }) {
            throw ISAError("\(mnemonic) has no field \"\(name)\"")
        }
        try self.init(
            spec,
            spec.fields.map { f in
                guard let v = fields[f.name] else { throw ISAError("\(mnemonic): field \"\(f.name)\" is missing") }
                return v
            })
    }

    init(_ spec: InstructionSpec, _ values: [UInt64]) throws {
        for (f, v) in zip(spec.fields, values) where !f.accepts(v) {
            throw ISAError("\(spec.mnemonic): \(v) does not fit field \"\(f.name)\" (\(f.bits) bits)")
        }
        self.spec = spec
        self.values = values
    }

    /// The raw value of field `name`.
    public subscript(_ name: String) -> UInt64 {
        guard let i = spec.fields.firstIndex(where: { $0.name == name }) else {
            preconditionFailure("\(spec.mnemonic) has no field \(name)")
        }
        return values[i]
    }

    /// The 16 bytes: opcode, then each field from bit 8 upward, the rest zero.
    public func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: InstructionSet.width)
        bytes[0] = spec.opcode
        var bit = 8
        for (f, v) in zip(spec.fields, values) {
            for i in 0..<f.bits where (v >> UInt64(i)) & 1 == 1 {
                bytes[(bit + i) / 8] |= 1 << UInt8((bit + i) % 8)
            }
            bit += f.bits
        }
        return bytes
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
    /// byte); a field is read with shifts and a mask.
    init(low: UInt64, high: UInt64) throws {
        guard let spec = InstructionSet.spec(opcode: UInt8(truncatingIfNeeded: low)) else {
            throw ISAError("unknown opcode 0x\(hex(low & 0xff, digits: 2))")
        }
        func bits(_ start: Int, _ count: Int) -> UInt64 {
            let mask: UInt64 = count >= 64 ? ~0 : (1 << UInt64(count)) - 1
            if start >= 64 { return (high >> UInt64(start - 64)) & mask }
            if start + count <= 64 || start == 0 { return (low >> UInt64(start)) & mask }
            return ((low >> UInt64(start)) | (high << UInt64(64 - start))) & mask
        }
        var bit = 8
        var values: [UInt64] = []
        values.reserveCapacity(spec.fields.count)
        for f in spec.fields {
            values.append(bits(bit, f.bits))
            bit += f.bits
        }
        let rest = bit >= 64 ? high >> UInt64(bit - 64) : (low >> UInt64(bit)) | high
        if rest != 0, let i = (bit..<(InstructionSet.width * 8)).first(where: { bits($0, 1) == 1 }) {
            throw ISAError("\(spec.mnemonic): bit \(i) is past its last field and must be 0")
        }
        try self.init(spec, values)
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
