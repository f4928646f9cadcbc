// Building a program: descriptors are added once (equal descriptors share an index, except
// those added unshared to be moved later) and instructions appended in the order the
// lowering emits them.
import ISA

public struct ProgramBuilder {
    public private(set) var program = Program()
    private var indices: [DescriptorKey: Int] = [:]
    /// Coded operands (codes, then their scales), by the two descriptors' bytes.
    private var pairs: [PairKey: Int] = [:]
    /// The last instruction's definition: runs of one mnemonic look it up once.
    private var spec: InstructionSpec?

    public init() {}

    /// A descriptor's 64 bytes (`TensorDescriptor.encode`) as eight words, made without an
    /// allocation; hashed as one word that mixes them.
    private struct DescriptorKey: Hashable {
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)

        init(_ d: TensorDescriptor) {
            withUnsafeMutableBytes(of: &words) { d.encode(into: $0) }
        }

        static func == (a: DescriptorKey, b: DescriptorKey) -> Bool {
            a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
                && a.words.4 == b.words.4 && a.words.5 == b.words.5 && a.words.6 == b.words.6 && a.words.7 == b.words.7
        }

        func hash(into hasher: inout Hasher) {
            var h: UInt64 = 0
            withUnsafeBytes(of: words) { raw in
                for w in raw.bindMemory(to: UInt64.self) { h = (h ^ w) &* 0x9E37_79B9_7F4A_7C15 ^ (h >> 29) }
            }
            hasher.combine(h)
        }
    }

    private struct PairKey: Hashable {
        var codes: DescriptorKey, scales: DescriptorKey
    }

    /// The index of `d`, adding it when new.
    public mutating func descriptor(_ d: TensorDescriptor) -> UInt64 {
        let key = DescriptorKey(d)
        if let i = indices[key] { return UInt64(i) }
        program.descriptors.append(d)
        indices[key] = program.descriptors.count - 1
        return UInt64(program.descriptors.count - 1)
    }

    /// The index of a coded operand: `codes` (u8) with `scales` as the next descriptor,
    /// as `mma` and `quant` read them; the pair is added when new.
    public mutating func codedDescriptor(codes: TensorDescriptor, scales: TensorDescriptor) -> UInt64 {
        precondition(codes.element == .u8 && scales.element == .f32)
        let key = PairKey(codes: DescriptorKey(codes), scales: DescriptorKey(scales))
        if let i = pairs[key] { return UInt64(i) }
        program.descriptors += [codes, scales]
        pairs[key] = program.descriptors.count - 2
        return UInt64(program.descriptors.count - 2)
    }

    /// Adds `d` as a descriptor no other shares (so that `move` changes it alone).
    public mutating func unsharedDescriptor(_ d: TensorDescriptor) -> UInt64 {
        program.descriptors.append(d)
        return UInt64(program.descriptors.count - 1)
    }

    /// Moves unshared descriptor `index` `bytes` further into its memory.
    public mutating func move(_ index: UInt64, by bytes: UInt64) {
        program.descriptors[Int(index)].address += bytes
    }

    /// Appends a `vop` of the vector op `name` (`InstructionSet.vectorOps`) with no immediate:
    /// `dst` from `a` and, for an op of two operands, `b`.
    public mutating func vop(_ name: String, _ dst: UInt64, _ a: UInt64, _ b: UInt64 = 0) throws {
        guard let op = InstructionSet.vectorOps.firstIndex(of: name) else { throw ISAError("unknown vector op \"\(name)\"") }
        try emit("vop", ["op": UInt64(op), "dst": dst, "a": a, "b": b, "imm": 0])
    }

    /// Appends one instruction, its fields by name as a literal lists them.
    public mutating func emit(_ mnemonic: String, _ fields: KeyValuePairs<String, UInt64>) throws {
        if spec?.mnemonic != mnemonic {
            guard let s = InstructionSet.spec(mnemonic: mnemonic) else { throw ISAError("unknown instruction \"\(mnemonic)\"") }
            spec = s
        }
        program.instructions.append(try Instruction(spec!, fields))
    }
}
