// Building a program: descriptors are added once (equal descriptors share an index, except
// those added unshared to be moved later) and instructions appended in the order the
// lowering emits them.
import ISA

public struct ProgramBuilder {
    public private(set) var program = Program()
    private var indices: [DescriptorKey: Int] = [:]
    /// Coded operands (codes, then their scales), by the two descriptors' bytes.
    private var pairs: [DescriptorKey: Int] = [:]

    public init() {}

    private struct DescriptorKey: Hashable {
        var bytes: [UInt8]

        /// The bytes in one piece (an array hashes its elements one at a time).
        func hash(into hasher: inout Hasher) {
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    /// The index of `d`, adding it when new.
    public mutating func descriptor(_ d: TensorDescriptor) -> UInt64 {
        let key = DescriptorKey(bytes: d.encoded())
        if let i = indices[key] { return UInt64(i) }
        program.descriptors.append(d)
        indices[key] = program.descriptors.count - 1
        return UInt64(program.descriptors.count - 1)
    }

    /// The index of a coded operand: `codes` (u8) with `scales` as the next descriptor,
    /// as `mma` and `quant` read them; the pair is added when new.
    public mutating func codedDescriptor(codes: TensorDescriptor, scales: TensorDescriptor) -> UInt64 {
        precondition(codes.element == .u8 && scales.element == .f32)
        let key = DescriptorKey(bytes: codes.encoded() + scales.encoded())
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

    public mutating func emit(_ mnemonic: String, _ fields: [String: UInt64]) throws {
        program.instructions.append(try Instruction(mnemonic, fields))
    }
}
