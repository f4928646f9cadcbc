// What an instruction reads and writes: its operand descriptors by role, and the bytes a
// descriptor touches (contiguous runs, or its whole span past `maxRuns` runs). The cycle
// model's hazards and the synchronization of queues both read these.

extension Instruction {
    /// The descriptors this instruction reads and those it writes (indices into
    /// `descriptors`, the program's table). `mma` reads `scl` for fp8 and nvfp4 weights
    /// only, `out` when it accumulates, and a coded `act`'s scales; `quant` into codes writes
    /// their scales too; `vop` and `vopp` read `b` for the ops of two operands (and
    /// layer_norm's scale and bias); `gather` reads its whole table, and `scatter` writes its
    /// whole table (and reads it, when it combines rows). Control instructions touch nothing.
    public func operandAccess(_ descriptors: [TensorDescriptor]) -> (reads: [UInt64], writes: [UInt64]) {
        var reads: [UInt64] = [], writes: [UInt64] = []
        appendOperands(descriptors, reads: &reads, writes: &writes)
        return (reads, writes)
    }

    /// `operandAccess`'s reads and writes, in its order, appended to `reads` and `writes`
    /// (a walk over many instructions keeps them in two arrays, not two per instruction).
    public func appendOperands(_ descriptors: [TensorDescriptor], reads: inout [UInt64], writes: inout [UInt64]) {
        let o = OperandFields.self
        switch spec.opcode {
        case o.dma.opcode:
            reads.append(value(at: o.dma.src))
            writes.append(value(at: o.dma.dst))
        case o.fill.opcode: writes.append(value(at: o.fill.dst))
        case o.gather.opcode, o.scatter.opcode:
            reads.append(value(at: o.gather.src))
            reads.append(value(at: o.gather.idx))
            if spec.opcode == o.scatter.opcode, value(at: o.scatter.reduction) != 0 { reads.append(value(at: o.gather.dst)) }
            writes.append(value(at: o.gather.dst))
        case o.mma.opcode, o.mmag:
            reads.append(value(at: o.mma.act))
            reads.append(value(at: o.mma.wgt))
            if Int(value(at: o.mma.wfmt)) != InstructionSet.fp16Format { reads.append(value(at: o.mma.scl)) }
            if value(at: o.mma.accumulate) == 1 { reads.append(value(at: o.mma.out)) }
            if let scales = codedScales(descriptors) { reads.append(UInt64(scales)) }
            writes.append(value(at: o.mma.out))
        case o.vop.opcode, o.vopp:
            reads.append(value(at: o.vop.a))
            if InstructionSet.vectorOpsReadingB.contains(Int(value(at: o.vop.op))) { reads.append(value(at: o.vop.b)) }
            writes.append(value(at: o.vop.dst))
        case o.quant.opcode:
            reads.append(value(at: o.quant.src))
            writes.append(value(at: o.quant.dst))
            if let scales = codedScales(descriptors) { writes.append(UInt64(scales)) }
        case o.dequant:
            reads.append(value(at: o.quant.src))
            writes.append(value(at: o.quant.dst))
        default: break
        }
    }

    /// A coded activation is two descriptors in a row: its codes (element type `u8`, one
    /// code of the activation format per byte) and then their float32 scales. The index of
    /// the scales' descriptor when this instruction is an `mma` whose `act` is coded, or a
    /// `quant` writing codes; nil otherwise. It may lie past the table's end (the program
    /// is then refused).
    public func codedScales(_ descriptors: [TensorDescriptor]) -> Int? {
        guard let codes = mayReadCodes, codes < descriptors.count, descriptors[codes].element == .u8 else { return nil }
        return codes + 1
    }

    /// The descriptor that may hold codes: an `mma`'s `act`, a `quant`'s `dst`; nil for any
    /// other instruction.
    public var mayReadCodes: Int? {
        let o = OperandFields.self
        switch opcode {
        case o.mma.opcode, o.mmag: return Int(value(at: o.mma.act))
        case o.quant.opcode: return Int(value(at: o.quant.dst))
        default: return nil
        }
    }
}

extension InstructionSet {
    /// The index of fp16 in `formats` (the weight format whose `mma` reads no scales).
    static let fp16Format = formats.firstIndex(of: "fp16")!

    /// The vector ops (by index) that read their `b` operand: the binary element-wise ops,
    /// the comparisons and logic of two masks, `where`, layer_norm's, batch_norm's and instance_norm's
    /// parameters, reduce_carry's running values (counted read even by a record that
    /// starts afresh, which the program's order then treats as a read it is not),
    /// standardize's moments and topk_index's indices.
    public static let vectorOpsReadingB: Set<Int> = Set(
        [
            "add", "sub", "mul", "div", "max", "min", "pow", "where", "equal", "less", "greater", "less_equal",
            "greater_equal", "and", "or", "layer_norm", "batch_norm", "prelu", "mod", "fmod", "instance_norm",
            "reduce_carry", "standardize", "topk_index", "bit_and", "bit_or", "bit_xor", "shift_left", "shift_right",
        ].map { vectorOps.firstIndex(of: $0)! })
}

/// Field positions of the instructions that touch memory, looked up once.
private enum OperandFields {
    static func at(_ mnemonic: String, _ fields: String...) -> (opcode: UInt8, positions: [Int]) {
        let spec = InstructionSet.spec(mnemonic: mnemonic)!
        return (spec.opcode, fields.map { spec.index(of: $0)! })
    }
    static let dma = {
        let f = at("dma", "dst", "src"); return (opcode: f.opcode, dst: f.positions[0], src: f.positions[1])
    }()
    static let fill = {
        let f = at("fill", "dst"); return (opcode: f.opcode, dst: f.positions[0])
    }()
    static let gather = {
        let f = at("gather", "dst", "src", "idx")
        return (opcode: f.opcode, dst: f.positions[0], src: f.positions[1], idx: f.positions[2])
    }()
    /// `scatter`: its operand fields sit where `gather`'s do; and its reduction.
    static let scatter = {
        let f = at("scatter", "dst", "src", "idx", "reduction")
        precondition(
            Array(f.positions[..<3]) == at("gather", "dst", "src", "idx").positions, "scatter's operands sit where gather's do")
        return (opcode: f.opcode, reduction: f.positions[3])
    }()
    static let mma = {
        let f = at("mma", "out", "act", "wgt", "scl", "wfmt", "accumulate")
        let p = f.positions
        return (opcode: f.opcode, out: p[0], act: p[1], wgt: p[2], scl: p[3], wfmt: p[4], accumulate: p[5])
    }()
    /// `mmag`'s opcode: its operand fields sit where `mma`'s do.
    static let mmag = {
        let f = at("mmag", "out", "act", "wgt", "scl", "wfmt", "accumulate")
        precondition(
            f.positions == at("mma", "out", "act", "wgt", "scl", "wfmt", "accumulate").positions,
            "mmag's operands sit where mma's do")
        return f.opcode
    }()
    static let vop = {
        let f = at("vop", "op", "dst", "a", "b")
        return (opcode: f.opcode, op: f.positions[0], dst: f.positions[1], a: f.positions[2], b: f.positions[3])
    }()
    /// vopp's fields sit where vop's do, dequant's dst and src where quant's do.
    static let vopp = at("vopp").opcode
    static let quant = {
        let f = at("quant", "dst", "src"); return (opcode: f.opcode, dst: f.positions[0], src: f.positions[1])
    }()
    static let dequant = at("dequant").opcode
}

extension ElementType {
    /// Bytes per element as addresses count them: a `packed` or `e2m1` descriptor's
    /// dimensions count bytes.
    public var addressBytes: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i64: return 8
        case .f8e4m3, .f8e5m2, .i8, .u8, .bool, .packed, .e2m1: return 1
        }
    }
}

extension TensorDescriptor {
    /// Past this many runs a descriptor's bytes are taken as its whole span.
    public static let maxRuns = 4096

    /// The [start, end) byte ranges the descriptor touches, from its address: the innermost
    /// dimensions whose strides make them contiguous fold into one run; a dimension of size
    /// 1 or stride 0 adds none; more than `maxRuns` runs become the whole span.
    public func byteRuns() -> [(Int, Int)] {
        let unit = element.addressBytes
        guard count > 0 else { return [] }
        var moving: [(Int, Int)] = zip(dims, strides).filter { $0.0 > 1 && $0.1 != 0 }.map { ($0.0, $0.1) }
        var run = 1
        while let last = moving.last, last.1 == run || (run == 1 && last.1 == 1) {
            run *= last.0
            moving.removeLast()
        }
        let base = Int(address)
        if moving.reduce(1, { $0 * $1.0 }) > Self.maxRuns {
            var lo = 0, hi = 0
            for (n, s) in moving { if s > 0 { hi += (n - 1) * s } else { lo += (n - 1) * s } }
            return [(base + lo * unit, base + (hi + run) * unit)]
        }
        var offsets = [0]
        for (n, s) in moving { offsets = offsets.flatMap { o in (0..<n).map { o + $0 * s } } }
        return offsets.map { (base + $0 * unit, base + ($0 + run) * unit) }
    }
}

extension Units {
    /// The memory instance `d` lies in, the one numbering the simulator and the cycle
    /// model use: dram 0, the bundle's weights 1 and constants 2, l3 3, each cluster's l2
    /// from 4, each tile's sram after them; an error names a place the machine lacks.
    public func instance(of d: TensorDescriptor) throws -> Int {
        switch d.space {
        case .dram: return 0
        case .weights: return 1
        case .constants: return 2
        case .l3: return 3
        case .l2, .sram:
            guard d.cluster < clusters, d.space == .l2 || d.tile < tilesPerCluster else {
                throw ISAError("\(d.text): the machine has \(clusters) clusters of \(tilesPerCluster) tiles")
            }
            return d.space == .l2 ? 4 + d.cluster : 4 + clusters + d.cluster * tilesPerCluster + d.tile
        }
    }

    /// `instance(of:)`, nil for the bundle's read-only weight and constant sections.
    public func memory(of d: TensorDescriptor) throws -> Int? {
        d.space == .weights || d.space == .constants ? nil : try instance(of: d)
    }
}

extension TensorDescriptor {
    /// K of an `mma` whose `act` this is, for `rows` (out's M) rows: float32 `act` is
    /// [M, K]; coded (`u8`) codes are [M, K] or a view of any rank whose leading dimensions
    /// make M and the rest K, its elements in row-major order [M, K]'s row by row (a
    /// convolution's windows read in place). nil for any other shape.
    public func matrixColumns(rows m: Int) -> Int? {
        guard m > 0, dims.count >= 2, element == .f32 || element == .u8 else { return nil }
        if dims.count == 2 { return dims[0] == m ? dims[1] : nil }
        guard element == .u8 else { return nil }
        var leading = 1
        for (j, n) in dims.enumerated() where j < dims.count - 1 {
            leading *= n
            if leading == m { return dims[(j + 1)...].reduce(1, *) }
            if leading > m { break }
        }
        return nil
    }
}
