// Building a program: descriptors are added once (equal descriptors share an index, except
// those added unshared to be moved later) and instructions appended in the order the
// lowering emits them.
import ISA

public struct ProgramBuilder {
    public private(set) var program = Program()
    private var shared = SharedDescriptors()
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

        /// The eight words mixed into one.
        var mixed: UInt64 {
            var h: UInt64 = 0
            withUnsafeBytes(of: words) { raw in
                for w in raw.bindMemory(to: UInt64.self) { h = (h ^ w) &* 0x9E37_79B9_7F4A_7C15 ^ (h >> 29) }
            }
            return h
        }

        func hash(into hasher: inout Hasher) { hasher.combine(mixed) }
    }

    /// The shared descriptors' indices by their bytes: open addressing over a power-of-two
    /// table at most half full, probed one slot after another from the key's mixed hash. A
    /// lowering adds hundreds of thousands of descriptors, nearly all looked up once.
    private struct SharedDescriptors {
        /// Per slot, an entry's number plus one (0: empty).
        private var slots = [Int32](repeating: 0, count: 1 << 12)
        private var keys: [DescriptorKey] = []
        private var indices: [Int] = []

        /// The index stored for `key`, or nil after storing `index` for it.
        mutating func index(of key: DescriptorKey, adding index: @autoclosure () -> Int) -> Int? {
            let mask = slots.count - 1
            var slot = Int(truncatingIfNeeded: key.mixed >> 7) & mask
            while slots[slot] != 0 {
                let entry = Int(slots[slot]) - 1
                if keys[entry] == key { return indices[entry] }
                slot = (slot + 1) & mask
            }
            keys.append(key)
            indices.append(index())
            slots[slot] = Int32(keys.count)
            if 2 * keys.count > slots.count { grow() }
            return nil
        }

        /// Twice the slots, every entry placed again.
        private mutating func grow() {
            slots = [Int32](repeating: 0, count: 2 * slots.count)
            let mask = slots.count - 1
            for (entry, key) in keys.enumerated() {
                var slot = Int(truncatingIfNeeded: key.mixed >> 7) & mask
                while slots[slot] != 0 { slot = (slot + 1) & mask }
                slots[slot] = Int32(entry + 1)
            }
        }
    }

    private struct PairKey: Hashable {
        var codes: DescriptorKey, scales: DescriptorKey
    }

    /// The index of `d`, adding it when new.
    public mutating func descriptor(_ d: TensorDescriptor) -> UInt64 {
        if let i = shared.index(of: DescriptorKey(d), adding: program.descriptors.count) { return UInt64(i) }
        program.descriptors.append(d)
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
