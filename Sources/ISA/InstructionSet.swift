// The NPU's instruction set: one table. Every instruction is 16 bytes: the opcode in byte
// 0, then the fields in table order, packed from bit 8 upward (little-endian bit order over
// the 16 bytes); bits past the last field are zero. schemas/isa.md gives each instruction's
// semantics; a test keeps its encoding table equal to `InstructionSet.markdownTable()`.

/// The queue an instruction is issued to. Queues of one program run concurrently and meet
/// only through semaphores; each queue executes its own instructions in program order.
public enum Queue: String, Sendable, CaseIterable {
    case control, dma, matrix, vector
}

/// One instruction's definition (one shared object per opcode).
public final class InstructionSpec: Sendable {
    public let mnemonic: String
    public let opcode: UInt8
    public let queue: Queue
    public let fields: [FieldSpec]
    public let summary: String
    /// Each field's first bit in the 128-bit instruction (the first field's is 8).
    public var fieldStarts: [Int] { fields.indices.map { layout[$0].start } }
    private let fieldIndex: [String: Int]
    /// The choice fields, by position and bits, with how many options each has: the only
    /// fields whose bits can hold a value they do not accept.
    let choices: [(index: Int, start: Int, bits: Int, options: UInt64)]
    /// The descriptor fields, by position and bits: a decoder checks each names a
    /// descriptor the table has.
    let descriptorFields: [(index: Int, start: Int, bits: Int)]
    /// The bit after the last field.
    let end: Int
    /// Each field's first bit and bits, where reading them counts no references (a spec
    /// lives as long as the process: never freed).
    nonisolated(unsafe) let layout: UnsafePointer<(start: Int, bits: Int)>

    init(mnemonic: String, opcode: UInt8, queue: Queue, fields: [FieldSpec], summary: String) {
        self.mnemonic = mnemonic
        self.opcode = opcode
        self.queue = queue
        self.fields = fields
        self.summary = summary
        var starts: [Int] = [], bit = 8
        for f in fields {
            starts.append(bit)
            bit += f.bits
        }
        precondition(bit <= 8 * InstructionSet.width, "\(mnemonic)'s fields fit its \(InstructionSet.width) bytes")
        end = bit
        let layout = UnsafeMutablePointer<(start: Int, bits: Int)>.allocate(capacity: max(fields.count, 1))
        for (k, f) in fields.enumerated() { (layout + k).initialize(to: (starts[k], f.bits)) }
        self.layout = UnsafePointer(layout)
        fieldIndex = Dictionary(uniqueKeysWithValues: fields.enumerated().map { ($1.name, $0) })
        choices = fields.enumerated().compactMap { k, f in
            if case .choice(let names) = f.kind { return (k, starts[k], f.bits, UInt64(names.count)) }
            return nil
        }
        descriptorFields = fields.indices.filter { fields[$0].kind == .descriptor }.map { ($0, starts[$0], fields[$0].bits) }
    }

    /// Bits the fields use after the opcode byte.
    public var fieldBits: Int { fields.reduce(0) { $0 + $1.bits } }

    /// The position of field `name` in `fields`.
    public func index(of name: String) -> Int? { fieldIndex[name] }
}

public enum InstructionSet {
    /// Bytes per instruction.
    public static let width = 16

    /// The numeric formats the matrix unit and the quantizers take.
    public static let formats = ["fp16", "fp8", "nvfp4", "fp32"]

    /// The vector unit's operations (`vop`), by their index. Element-wise ones read `a`
    /// (and `b` when binary) and write `dst` of the same shape; schemas/isa.md defines each.
    public static let vectorOps = [
        "copy", "add", "sub", "mul", "div", "max", "min", "pow",
        "neg", "abs", "relu", "leaky_relu", "sigmoid", "tanh", "exp", "log",
        "sqrt", "reciprocal", "erf", "floor", "ceil", "round", "sign", "add_scalar",
        "mul_scalar", "max_scalar", "min_scalar", "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "softmax",
        "log_softmax", "layer_norm", "batch_norm", "max_pool", "average_pool", "resize", "im2col", "gather",
        "where", "equal", "less", "greater", "not", "and", "or", "cast",
        "hard_swish", "softplus", "softsign", "gelu", "gelu_tanh", "elu",
        "hard_sigmoid", "selu", "less_equal", "greater_equal", "div_scalar", "prelu",
        "mod", "fmod", "instance_norm", "argmax", "argmin", "lrn",
        "reduce_prod", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
        "cosh", "asinh", "acosh", "atanh", "cumsum", "resize_cubic", "reduce_carry",
        "standardize", "topk", "topk_index", "clamp", "cumprod", "max_pool_index", "bit_and",
        "bit_or", "bit_xor", "bit_not", "shift_left", "shift_right",
    ]

    /// Per element of the counted operand: elementwise and transcendental steps of each
    /// vector op (the cycle model's table, schemas/cycles.md, which the tiling also weighs
    /// an epilogue by), and whether it counts `a`'s elements (reductions, normalizations)
    /// rather than `dst`'s.
    public static func vectorSteps(_ op: String) -> (elementwise: Int, transcendental: Int, countsInput: Bool) {
        switch op {
        case "div", "div_scalar", "mod", "fmod", "pow", "sigmoid", "tanh", "exp", "log", "sqrt", "reciprocal", "erf",
            "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh":
            return (0, 1, false)
        case "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_carry", "argmax", "argmin",
            "cumsum", "cumprod":
            return (1, 0, true)
        case "softmax", "log_softmax": return (3, 1, true)
        case "layer_norm", "instance_norm": return (5, 0, true)
        case "lrn": return (2, 1, false)
        case "resize_cubic": return (4, 0, false)
        case "batch_norm", "standardize": return (2, 0, true)
        default: return (1, 0, false)
        }
    }

    static let descriptor24 = 24

    /// How `scatter` combines a row with the one at its place (ONNX's ScatterND reductions).
    public static let scatterReductions = ["none", "add", "mul", "max", "min"]

    /// Semaphores a program may use (the `sem` field's 16 bits), all starting at 0.
    public static let semaphores = 1 << 16

    /// The operands `vop` and `vopp` share.
    static let vectorOperands = [
        FieldSpec("op", 8, .choice(vectorOps), "the operation"),
        FieldSpec("dst", descriptor24, .descriptor, "the result"),
        FieldSpec("a", descriptor24, .descriptor, "the first operand"),
        FieldSpec("b", descriptor24, .descriptor, "the second operand (d0 when unused)"),
    ]

    /// The operands `mma` and `mmag` share, in their order, with what each says of its own.
    static func matrixOperands(act: String, wgt: String, scl: String, sparse: String) -> [FieldSpec] {
        [
            FieldSpec("out", descriptor24, .descriptor, "float32 accumulators [M, N] in tile SRAM"),
            FieldSpec("act", descriptor24, .descriptor, act),
            FieldSpec("wgt", descriptor24, .descriptor, wgt),
            FieldSpec("scl", descriptor24, .descriptor, scl),
            FieldSpec("wfmt", 2, .choice(formats), "the weights' format"),
            FieldSpec("afmt", 2, .choice(formats), "the activations' format"),
            FieldSpec("sparse", 1, .flag, sparse),
            FieldSpec("accumulate", 1, .flag, "1: add onto `out`; 0: start from +0"),
        ]
    }

    /// Every instruction.
    public static let table: [InstructionSpec] = [
        InstructionSpec(mnemonic: "nop", opcode: 0x00, queue: .control, fields: [], summary: "does nothing"),
        InstructionSpec(
            mnemonic: "halt", opcode: 0x01, queue: .control, fields: [],
            summary: "ends the program once every queue has drained"),
        InstructionSpec(
            mnemonic: "signal", opcode: 0x02, queue: .control,
            fields: [
                FieldSpec(
                    "after", 2, .choice(["dma", "matrix", "vector"]), "the queue whose earlier instructions must finish first"),
                FieldSpec("unit", 16, .place, "where that queue is: a tile, or a cluster's own DMA engines"),
                FieldSpec("sem", 16, .semaphore, "the semaphore incremented"),
            ], summary: "increments `sem` once every earlier instruction of queue `after` at `unit` has completed"),
        InstructionSpec(
            mnemonic: "wait", opcode: 0x03, queue: .control,
            fields: [
                FieldSpec("queue", 2, .choice(["dma", "matrix", "vector"]), "the queue that waits"),
                FieldSpec("unit", 16, .place, "where that queue is: a tile, or a cluster's own DMA engines"),
                FieldSpec("sem", 16, .semaphore, "the semaphore read"),
                FieldSpec("count", 32, .unsigned, "the value `sem` must reach"),
            ], summary: "queue `queue` at `unit` issues nothing after this until `sem` >= `count`"),
        InstructionSpec(
            mnemonic: "dma", opcode: 0x10, queue: .dma,
            fields: [
                FieldSpec("dst", descriptor24, .descriptor, "the destination"),
                FieldSpec("src", descriptor24, .descriptor, "the source: same element type and element count"),
            ], summary: "copies `src` to `dst` element by element, both walked in row-major order of their own shapes"),
        InstructionSpec(
            mnemonic: "fill", opcode: 0x11, queue: .dma,
            fields: [
                FieldSpec("dst", descriptor24, .descriptor, "the destination"),
                FieldSpec("value", 32, .float32, "the value, converted to `dst`'s element type"),
            ], summary: "writes `value` to every element of `dst`"),
        InstructionSpec(
            mnemonic: "gather", opcode: 0x12, queue: .dma,
            fields: [
                FieldSpec("dst", descriptor24, .descriptor, "the destination [N, D]: row i receives the row idx element i names"),
                FieldSpec(
                    "src", descriptor24, .descriptor, "the table [R, D] in dram, weights, constants or l3, dst's element type"),
                FieldSpec(
                    "idx", descriptor24, .descriptor,
                    "N row numbers, i32 or i64, walked in row-major order; negative ones count from R"),
            ], summary: "copies row idx[i] of `src` (idx[i] + R when negative) to row i of `dst`, for each of idx's N elements"),
        InstructionSpec(
            mnemonic: "scatter", opcode: 0x13, queue: .dma,
            fields: [
                FieldSpec(
                    "dst", descriptor24, .descriptor, "the table [R, D] in dram or l3: row idx element i receives row i of src"),
                FieldSpec("src", descriptor24, .descriptor, "the rows [N, D], dst's element type"),
                FieldSpec(
                    "idx", descriptor24, .descriptor,
                    "N row numbers, i32 or i64, walked in row-major order, each in [0, R)"),
                FieldSpec(
                    "reduction", 3, .choice(scatterReductions),
                    "none: the row replaces what is there; add, mul, max, min: combined with it (f32, i32, i64)"),
            ],
            summary:
                "row i of `src` to row idx[i] of `dst` (replacing it, or combined with it), for each of idx's N elements in increasing i"
        ),
        InstructionSpec(
            mnemonic: "mma", opcode: 0x20, queue: .matrix,
            fields: matrixOperands(
                act: "activations [M, K] in tile SRAM: float32 values on the `afmt` grid (`quant` writes them)",
                wgt:
                    "a packed weight tile [K, N] in format `wfmt`, or f32 [K, N] in tile SRAM on the fp16 grid (a computed operand)",
                scl: "the weights' float32 scales: one per output channel (fp8), the tensor scale (nvfp4); d0 for fp16",
                sparse: "1: the weight tile is 2:4 compressed along K"),
            summary:
                "out[m, n] (+)= sum over k, in increasing k, of act[m, k] * wgt[k, n] (schemas/formats.md, matrix arithmetic)"),
        InstructionSpec(
            mnemonic: "mmag", opcode: 0x21, queue: .matrix,
            fields: matrixOperands(
                act:
                    "activations [M, G x K] in tile SRAM: float32 values on the `afmt` grid, or u8 codes (their scales the next descriptor); group j's K columns from j x K",
                wgt: "G packed weight tiles of N/G output channels by K in format `wfmt`, one after another, group j's j-th",
                scl: "the weights' float32 scales: one per output channel of all N (fp8), the tensor scale (nvfp4); d0 for fp16",
                sparse: "1: the weight tiles are 2:4 compressed along K")
                + [
                    FieldSpec(
                        "groups", 8, .unsigned,
                        "G, 2 or more: act [M, G x K], wgt G weight tiles of N/G channels by K, one after another")
                ],
            summary:
                "mma of G groups side by side: out[m, j·N/G + n] (+)= sum over k, in increasing k, of act[m, j·K + k] * wgt_j[k, n]"
        ),
        InstructionSpec(
            mnemonic: "vop", opcode: 0x30, queue: .vector,
            fields: vectorOperands + [
                FieldSpec("imm", 32, .float32, "a scalar operand (the `_scalar` ops, leaky_relu's alpha)")
            ], summary: "dst = op(a, b, imm) on the vector unit of `dst`'s tile"),
        InstructionSpec(
            mnemonic: "vopp", opcode: 0x31, queue: .vector,
            fields: vectorOperands + [
                FieldSpec(
                    "params", 24, .unsigned, "index of the op's parameter record (row length, epsilon, window, pads, modes)")
            ], summary: "dst = op(a, b) with a parameter record: reductions, pooling, resize, im2col, softmax, norms"),
        InstructionSpec(
            mnemonic: "quant", opcode: 0x32, queue: .vector,
            fields: [
                FieldSpec("dst", descriptor24, .descriptor, "float32 values on the format's grid, in tile SRAM"),
                FieldSpec("src", descriptor24, .descriptor, "float32 values"),
                FieldSpec("fmt", 2, .choice(formats), "the format"),
                FieldSpec("amax", 32, .float32, "the calibrated range: scale amax / 448 (fp8), amax / (6 * 448) (nvfp4)"),
                FieldSpec("scale", 1, .flag, "1: `amax` holds the scale itself (fp8's scale, nvfp4's tensor scale)"),
            ], summary: "rounds `src` along its last axis onto `fmt`'s grid (schemas/formats.md): what the MAC array multiplies"),
        InstructionSpec(
            mnemonic: "dequant", opcode: 0x33, queue: .vector,
            fields: [
                FieldSpec("dst", descriptor24, .descriptor, "float32 values"),
                FieldSpec("src", descriptor24, .descriptor, "codes in format `fmt`"),
                FieldSpec("fmt", 2, .choice(formats), "the format"),
            ], summary: "decodes `src` to float32: value(code) * scale"),
    ]

    private static let byOpcode: [InstructionSpec?] = (0..<256).map { code in table.first { Int($0.opcode) == code } }
    private static let byMnemonic: [String: InstructionSpec] = Dictionary(uniqueKeysWithValues: table.map { ($0.mnemonic, $0) })

    public static func spec(opcode: UInt8) -> InstructionSpec? { byOpcode[Int(opcode)] }
    public static func spec(mnemonic: String) -> InstructionSpec? { byMnemonic[mnemonic] }

    /// The encoding table of schemas/isa.md, rendered from `table`.
    public static func markdownTable() -> String {
        var lines = ["| opcode | mnemonic | queue | fields (bits, from bit 8) |", "| --- | --- | --- | --- |"]
        for s in table {
            var bit = 8
            var parts: [String] = []
            for f in s.fields {
                parts.append("`\(f.name)` \(bit)-\(bit + f.bits - 1)")
                bit += f.bits
            }
            lines.append(
                "| 0x\(hex(UInt64(s.opcode), digits: 2)) | `\(s.mnemonic)` | \(s.queue.rawValue) | "
                    + (parts.isEmpty ? "-" : parts.joined(separator: ", ")) + " |")
        }
        return lines.joined(separator: "\n")
    }
}
