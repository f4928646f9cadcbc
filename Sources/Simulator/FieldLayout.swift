// Where the machine finds the fields it reads, per instruction: opcodes and field positions
// (first bit and width) looked up in the ISA's table once, so executing an instruction
// reads its fields with a shift and a mask, without consulting its definition.
import ISA

enum FieldLayout {
    static let nop = opcode("nop")
    static let halt = opcode("halt")
    static let signal = (
        opcode: opcode("signal"), after: at("signal", "after"), unit: at("signal", "unit"), sem: at("signal", "sem")
    )
    static let wait = (
        opcode: opcode("wait"), queue: at("wait", "queue"), unit: at("wait", "unit"), sem: at("wait", "sem"),
        count: at("wait", "count")
    )
    static let dma = (opcode: opcode("dma"), dst: at("dma", "dst"), src: at("dma", "src"))
    static let fill = (opcode: opcode("fill"), dst: at("fill", "dst"), value: at("fill", "value"))
    static let gather = (opcode: opcode("gather"), dst: at("gather", "dst"), src: at("gather", "src"), idx: at("gather", "idx"))
    /// `scatter`: its operands sit where `gather`'s do; and its reduction.
    static let scatter = {
        precondition(
            [at("scatter", "dst"), at("scatter", "src"), at("scatter", "idx")].map(\.start)
                == [gather.dst, gather.src, gather.idx].map(\.start),
            "scatter's operands sit where gather's do")
        return (opcode: opcode("scatter"), reduction: at("scatter", "reduction"))
    }()
    static let quant = (
        opcode: opcode("quant"), dst: at("quant", "dst"), src: at("quant", "src"), fmt: at("quant", "fmt"),
        amax: at("quant", "amax"), scale: at("quant", "scale")
    )
    static let mma = (
        opcode: opcode("mma"), out: at("mma", "out"), act: at("mma", "act"), wgt: at("mma", "wgt"), scl: at("mma", "scl"),
        wfmt: at("mma", "wfmt"), afmt: at("mma", "afmt"), sparse: at("mma", "sparse"), accumulate: at("mma", "accumulate")
    )
    /// `mmag`: `mma`'s fields where `mma` has them, and its groups.
    static let mmag = (opcode: opcode("mmag"), groups: at("mmag", "groups"))
    static let vop = (
        opcode: opcode("vop"), op: at("vop", "op"), dst: at("vop", "dst"), a: at("vop", "a"), b: at("vop", "b"),
        imm: at("vop", "imm")
    )
    static let vopp = (
        opcode: opcode("vopp"), op: at("vopp", "op"), dst: at("vopp", "dst"), a: at("vopp", "a"), b: at("vopp", "b"),
        params: at("vopp", "params")
    )

    private static func opcode(_ mnemonic: String) -> UInt8 {
        guard let spec = InstructionSet.spec(mnemonic: mnemonic) else { preconditionFailure("the ISA has no \(mnemonic)") }
        return spec.opcode
    }

    private static func at(_ mnemonic: String, _ field: String) -> FieldPosition {
        guard let spec = InstructionSet.spec(mnemonic: mnemonic), let i = spec.index(of: field) else {
            preconditionFailure("\(mnemonic) has no field \(field)")
        }
        return FieldPosition(start: spec.fieldStarts[i], width: spec.fields[i].bits)
    }
}

/// Where a field lies in the 128 bits of its instruction.
struct FieldPosition {
    let start: Int
    let width: Int
}

extension Instruction {
    /// The raw value of the field at `p`.
    @inline(__always)
    func value(_ p: FieldPosition) -> UInt64 { bits(p.start, p.width) }
}
