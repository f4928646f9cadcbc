// The functional simulator: runs a program's instructions over modelled memories (DRAM, the
// bundle's weight and constant sections, L3, each cluster's L2, each tile's SRAM) with the
// ISA's semantics (schemas/isa.md) and the formats module's numerics. It knows the bundle
// and the ISA only, never the IR. Queues are run in program order, which every correct
// program allows, or split between two threads (`Machine+Threads.swift`) with the same
// result; a `wait` that program order cannot satisfy is reported as a deadlock.
import Formats
import Foundation
import ISA
import SimulatorKernels

public struct SimulatorError: Error, CustomStringConvertible, Equatable {
    public var description: String
    /// The instruction that failed, when the error names one.
    public var instruction: Int?
    init(_ description: String) { self.description = description }

    /// `error` as the failure of instruction `index` of `program`, named in its message.
    init(at index: Int, of program: Program, _ error: SimulatorError) {
        self.description = "instruction \(index) (\(program.instructions[index].spec.mnemonic)): \(error)"
        self.instruction = index
    }
}

/// The memories' sizes: DRAM for the activations, and the on-chip levels.
public struct MachineShape: Sendable {
    public var dramBytes: Int
    public var l3Bytes: Int
    public var l2Bytes: Int
    public var sramBytes: Int
    public var clusters: Int
    public var tilesPerCluster: Int

    public init(dramBytes: Int, l3Bytes: Int, l2Bytes: Int, sramBytes: Int, clusters: Int, tilesPerCluster: Int) {
        self.dramBytes = dramBytes
        self.l3Bytes = l3Bytes
        self.l2Bytes = l2Bytes
        self.sramBytes = sramBytes
        self.clusters = clusters
        self.tilesPerCluster = tilesPerCluster
    }
}

public struct Machine {
    /// The memories, by instance (`memoryInstance`), and their owner.
    let memories: [Memory]
    private let storage: MemoryStorage
    let shape: MachineShape
    var semaphores = [Int](repeating: 0, count: InstructionSet.semaphores)
    /// The running program's descriptors, each resolved on its first access.
    var resolved = ResolvedDescriptors([])
    /// The weight tiles `mma` decoded in this run.
    var decodedTiles = DecodedTiles()
    /// Where operands are read to, reused by every instruction.
    var buffers = OperandBuffers()
    /// The last coded activation decoded through a view of higher rank.
    var decodedView = DecodedView()
    /// Whether a large product splits its rows between two threads (not when the program's
    /// queues already run on two).
    var splitsProducts = true
    /// The queues (kind and place, as `signal` and `wait` name them) found to exist, one bit
    /// each, so that each is checked once.
    var checkedQueues = [UInt64](repeating: 0, count: (4 << 16) / 64)

    public init(shape: MachineShape, weights: [UInt8], constants: [UInt8]) {
        self.init(shape: shape, weightsMemory: Memory(contents: weights), constantsMemory: Memory(contents: constants))
    }

    /// A machine reading `weights` and `constants` where they lie (a bundle's mapped
    /// sections, say), not from copies: the caller keeps them alive and unchanged as long
    /// as the machine and every copy of it.
    public init(shape: MachineShape, borrowingWeights weights: UnsafeRawBufferPointer, constants: UnsafeRawBufferPointer) {
        self.init(shape: shape, weightsMemory: Memory(borrowing: weights), constantsMemory: Memory(borrowing: constants))
    }

    private init(shape: MachineShape, weightsMemory: Memory, constantsMemory: Memory) {
        self.shape = shape
        var m = [Memory(size: shape.dramBytes), weightsMemory, constantsMemory, Memory(size: shape.l3Bytes)]
        m += Array(repeating: (), count: shape.clusters).map { Memory(size: shape.l2Bytes) }
        m += Array(repeating: (), count: shape.clusters * shape.tilesPerCluster).map { Memory(size: shape.sramBytes) }
        memories = m
        storage = MemoryStorage(m)
    }

    /// Memory instance `m`'s name, as errors give it: dram, weights, constants, l3, then
    /// `l2 c1` and `sram c1.t3`.
    func memoryName(_ m: Int) -> String {
        let named = ["dram", "weights", "constants", "l3"]
        if m < named.count { return named[m] }
        if m < named.count + shape.clusters { return "l2 c\(m - named.count)" }
        let tile = m - named.count - shape.clusters
        return "sram c\(tile / shape.tilesPerCluster).t\(tile % shape.tilesPerCluster)"
    }

    /// Writes `bytes` to DRAM at `offset` (the host placing an input).
    public mutating func writeDRAM(_ bytes: [UInt8], at offset: Int) throws {
        guard offset >= 0, offset + bytes.count <= shape.dramBytes else {
            throw SimulatorError("input bytes \(offset)..<\(offset + bytes.count) fall outside DRAM (\(shape.dramBytes) bytes)")
        }
        memories[0].store(bytes, at: offset)
    }

    /// Reads DRAM bytes the program wrote (an output).
    public func readDRAM(_ offset: Int, count: Int) throws -> [UInt8] {
        guard offset >= 0, offset + count <= shape.dramBytes else { throw SimulatorError("output outside DRAM") }
        guard memories[0].isWritten(offset..<(offset + count)) else {
            throw SimulatorError("the output at DRAM bytes \(offset)..<\(offset + count) was never written")
        }
        return memories[0].contents(offset..<(offset + count))
    }

    /// Runs `program` to its `halt` (or its end), in program order, or with `threads` >= 2
    /// on two threads (`Machine+Threads.swift`), which gives the same result and the same
    /// first error. Errors name the instruction.
    public mutating func run(_ program: Program, threads: Int = 1) throws {
        resolved = ResolvedDescriptors(program.descriptors)
        decodedTiles = DecodedTiles()
        decodedView = DecodedView()
        semaphores = [Int](repeating: 0, count: InstructionSet.semaphores)
        checkedQueues = [UInt64](repeating: 0, count: checkedQueues.count)
        if threads >= 2, try runOnTwoThreads(program) { return }
        try program.descriptors.withUnsafeBufferPointer { table in
            try program.instructions.withUnsafeBufferPointer { code in
                for index in code.indices {
                    do {
                        if try execute(code[index], table) { return }
                    } catch let e as SimulatorError {
                        throw SimulatorError(at: index, of: program, e)
                    }
                }
            }
        }
    }

    /// `InstructionSet.formats` as values, by their index in an instruction's field.
    private static let precisionFormats = InstructionSet.formats.map { PrecisionFormat(rawValue: $0)! }

    /// Executes one instruction; true at `halt`.
    mutating func execute(_ i: Instruction, _ table: UnsafeBufferPointer<TensorDescriptor>) throws -> Bool {
        func d(_ field: FieldPosition) -> DescriptorRef {
            let index = Int(i.value(field))
            precondition(index < table.count, "d\(index) is not in the descriptor table")
            return DescriptorRef(index: index, table: table.baseAddress!)
        }
        func f(_ field: FieldPosition) -> Float { Float(bitPattern: UInt32(truncatingIfNeeded: i.value(field))) }
        func format(_ field: FieldPosition) -> PrecisionFormat { Self.precisionFormats[Int(i.value(field))] }
        typealias L = FieldLayout
        switch i.opcode {
        case L.nop: break
        case L.halt: return true
        case L.signal.opcode:
            try checkUnit(i.value(L.signal.after), i.value(L.signal.unit))
            semaphores[Int(i.value(L.signal.sem))] += 1
        case L.wait.opcode:
            try checkUnit(i.value(L.wait.queue), i.value(L.wait.unit))
            let (sem, count) = (Int(i.value(L.wait.sem)), Int(i.value(L.wait.count)))
            guard semaphores[sem] >= count else {
                throw SimulatorError(
                    "waits for s\(sem) to reach \(count), but in program order it is \(semaphores[sem]): the program deadlocks")
            }
        case L.dma.opcode:
            let (dst, src) = (d(L.dma.dst), d(L.dma.src))
            guard dst.element == src.element, resolved.elements[dst.index] == resolved.elements[src.index] else {
                throw SimulatorError("copies \(src.count) \(src.element.rawValue) into \(dst.count) \(dst.element.rawValue)")
            }
            try copy(dst, src)
        case L.fill.opcode:
            let dst = d(L.fill.dst)
            guard dst.element == .f32 else { throw SimulatorError("fill writes f32 only, not \(dst.element.rawValue)") }
            // Its span checked first: a descriptor past its memory is refused before its values
            // are made.
            _ = try writableRuns(dst)
            try storeFloats(dst, [Float](repeating: f(L.fill.value), count: resolved.elements[dst.index]))
        case L.gather.opcode:
            try gather(d(L.gather.dst), d(L.gather.src), d(L.gather.idx))
        case L.scatter.opcode:
            try scatter(
                d(L.gather.dst), d(L.gather.src), d(L.gather.idx),
                ScatterReduction(rawValue: InstructionSet.scatterReductions[Int(i.value(L.scatter.reduction))])!)
        case L.quant.opcode:
            let (dst, src) = (d(L.quant.dst), d(L.quant.src))
            guard src.dims == dst.dims, let k = src.dims.last, k > 0 else { throw SimulatorError("quant needs equal shapes") }
            if dst.element == .f32, format(L.quant.fmt) == .fp16 {
                try roundToHalf(dst, src)
                return false
            }
            let x = try loadFloats(src)
            // The field is the range, or with the scale flag the scale itself.
            let given = i.value(L.quant.scale) == 1
            let (amax, scale) = given ? (Float(0), Optional(f(L.quant.amax))) : (f(L.quant.amax), nil)
            if dst.element == .u8 {
                try quantizeToCodes(x, rowLength: k, dst, format(L.quant.fmt), amax: amax, scale: scale)
            } else {
                try storeFloats(
                    dst,
                    FakeQuantization.activations(
                        x, shape: [x.count / k, k], reductionAxis: 1, format: format(L.quant.fmt), amax: amax, scale: scale))
            }
        case L.mma.opcode:
            let m = L.mma
            try matrixMultiply(
                d(m.out), d(m.act), d(m.wgt), d(m.scl), format(m.wfmt), afmt: format(m.afmt), sparse: i.value(m.sparse) == 1,
                accumulate: i.value(m.accumulate) == 1)
        case L.mmag.opcode:
            let m = L.mma
            try groupedMatrixMultiply(
                d(m.out), d(m.act), d(m.wgt), d(m.scl), format(m.wfmt), afmt: format(m.afmt), sparse: i.value(m.sparse) == 1,
                accumulate: i.value(m.accumulate) == 1, groups: Int(i.value(L.mmag.groups)))
        case L.vop.opcode:
            let v = L.vop
            try vectorOp(InstructionSet.vectorOps[Int(i.value(v.op))], d(v.dst), d(v.a), d(v.b), f(v.imm))
        case L.vopp.opcode:
            let v = L.vopp
            try parameterizedOp(
                InstructionSet.vectorOps[Int(i.value(v.op))], d(v.dst), d(v.a), d(v.b), Int(i.value(v.params)))
        default:
            throw SimulatorError("the simulator does not execute \(i.spec.mnemonic) yet")
        }
        return false
    }

    /// Refuses a `signal` or `wait` naming a queue the machine does not have.
    private mutating func checkUnit(_ queue: UInt64, _ place: UInt64) throws {
        let bit = Int(truncatingIfNeeded: queue << 16 | place)
        if checkedQueues[bit >> 6] & (1 << UInt64(bit & 63)) != 0 { return }
        do {
            _ = try Units(clusters: shape.clusters, tilesPerCluster: shape.tilesPerCluster).unit(
                queue: Int(queue), at: Place(raw: place))
        } catch let e as ISAError {
            throw SimulatorError(e.description)
        }
        checkedQueues[bit >> 6] |= 1 << UInt64(bit & 63)
    }

    /// `quant fmt=fp16` into f32: each value rounded by itself, read where it lies (or
    /// gathered) and written straight to `dst` when that is one run of floats.
    private mutating func roundToHalf(_ dst: DescriptorRef, _ src: DescriptorRef) throws {
        let x = try readFloats(src, into: .activation)
        let target = try writableRuns(dst)
        if let p = contiguousFloats(target), !(try overlaps(target, src)) || p == UnsafeMutablePointer(mutating: x.baseAddress) {
            Self.roundToHalf(x, into: p)
            return markWritten(dst, target)
        }
        let rounded = buffers.floats(.accumulator, x.count)
        if let out = rounded.baseAddress { Self.roundToHalf(x, into: out) }
        try storeFloats(dst, UnsafeBufferPointer(rounded))
    }

    /// `Float16Codec.round(_:into:)`: blocks of eight that round in place with AVX2 where the
    /// host has it, the values past them one at a time.
    static func roundToHalf(_ x: UnsafeBufferPointer<Float>, into out: UnsafeMutablePointer<Float>) {
        guard let source = x.baseAddress else { return }
        var i = 0
        while i < x.count {
            let done = npucc_round_half_blocks(source + i, out + i, x.count - i)
            guard done >= 0 else { return Float16Codec.round(UnsafeBufferPointer(rebasing: x[i...]), into: out + i) }
            i += done
            if i < x.count {
                out[i] = Float16Codec.round(x[i])
                i += 1
            }
        }
    }

    /// `quant` into codes: `x` (rows of `rowLength`) rounded to `fmt`, each element's code
    /// into `dst` (u8) and the scale it multiplies into the next descriptor (f32, walked
    /// with `dst`).
    private mutating func quantizeToCodes(
        _ x: [Float], rowLength: Int, _ dst: DescriptorRef, _ fmt: PrecisionFormat, amax: Float, scale: Float?
    ) throws {
        guard ActivationCodes.codes(fmt) else { throw SimulatorError("quant writes codes of fp8 or nvfp4, not of \(fmt)") }
        let scalesRef = try codedScales(of: dst)
        var codes = [UInt8](repeating: 0, count: x.count), scales = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { x in
            codes.withUnsafeMutableBufferPointer { c in
                scales.withUnsafeMutableBufferPointer { s in
                    ActivationCodes.encode(x, rowLength: rowLength, format: fmt, amax: amax, scale: scale, codes: c, scales: s)
                }
            }
        }
        try storeElements(dst, codes)
        try storeFloats(scalesRef, scales)
    }

    /// The scales of coded operand `codes`: the next descriptor, f32, as many elements.
    private func codedScales(of codes: DescriptorRef) throws -> DescriptorRef {
        let scales = DescriptorRef(index: codes.index + 1, table: codes.table)
        guard scales.element == .f32, scales.count == codes.count else {
            throw SimulatorError(
                "the scales of coded d\(codes.index) (\(codes.count) codes) are d\(scales.index) (\(scales.text)): "
                    + "they must be \(codes.count) f32")
        }
        return scales
    }

    /// A coded `act` decoded: value(code) · scale per element (ActivationCodes). One read
    /// through a view of higher rank (a band's windows, which each column of a group
    /// multiplies in turn) is kept, with its codes' and scales' bytes, and taken as it is
    /// while those bytes stay the same.
    private func decodedActivation(_ act: DescriptorRef, _ afmt: PrecisionFormat) throws -> UnsafeMutableBufferPointer<Float> {
        guard ActivationCodes.codes(afmt) else { throw SimulatorError("a coded act needs afmt fp8 or nvfp4, not \(afmt)") }
        let scalesRef = try codedScales(of: act)
        var spans: (codes: UnsafeRawBufferPointer, scales: UnsafeRawBufferPointer)?
        if act.dims.count > 2 {
            let (codeRuns, scaleRuns) = (try writtenRuns(act), try writtenRuns(scalesRef))
            func bytes(_ runs: RunView) -> UnsafeRawBufferPointer {
                UnsafeRawBufferPointer(start: memories[runs.memory].bytes + runs.span.lowerBound, count: runs.span.count)
            }
            spans = (bytes(codeRuns), bytes(scaleRuns))
            if let kept = decodedView.values(act.index, afmt, codes: spans!.codes, scales: spans!.scales) { return kept }
        }
        let codes = try readBytes(act, into: .activationCodes)
        let scales = try readFloats(scalesRef, into: .activationScales)
        // Each code's value at scale 1 (exact), times its element's scale: the one product
        // `ActivationCodes.value` makes. The codes' bits are or-ed together on the way: an
        // E2M1 code is below 16.
        let a =
            spans.map { decodedView.keep(act.index, afmt, codes: $0.codes, scales: $0.scales, count: act.count) }
            ?? buffers.floats(.activation, act.count)
        var bits: UInt8 = 0
        (afmt == .nvfp4 ? Self.nvfp4CodeValues : Self.fp8CodeValues).withUnsafeBufferPointer { values in
            for i in 0..<act.count {
                let code = codes[i]
                bits |= code
                a[i] = values[Int(code)] * scales[i]
            }
        }
        if afmt == .nvfp4, bits >= 16, let i = codes.firstIndex(where: { $0 >= 16 }) {
            decodedView.forget()
            throw SimulatorError("act element \(i) holds \(codes[i]), which is not an E2M1 code")
        }
        return a
    }

    /// Every byte's value as a code at scale 1 (NaN where it is no code).
    private static let nvfp4CodeValues = codeValues(.nvfp4)
    private static let fp8CodeValues = codeValues(.fp8)

    private static func codeValues(_ format: PrecisionFormat) -> [Float] {
        (0..<256).map { ActivationCodes.value(UInt8($0), scale: 1, format: format) ?? .nan }
    }

    private mutating func matrixMultiply(
        _ out: DescriptorRef, _ act: DescriptorRef, _ wgt: DescriptorRef, _ scl: DescriptorRef, _ wfmt: PrecisionFormat,
        afmt: PrecisionFormat, sparse: Bool, accumulate: Bool
    ) throws {
        // A coded act may be a view of any rank: its elements in row-major order are [M, K]'s.
        guard out.dims.count == 2, out.element == .f32, let k = act.descriptor.matrixColumns(rows: out.dims[0]) else {
            throw SimulatorError("mma needs out f32 [M, N] and act f32 [M, K] or u8 codes of M x K elements")
        }
        let (m, n) = (out.dims[0], out.dims[1])
        // The operands' spans checked first: the weights decode into n x k floats made before
        // the products read or write anything.
        _ = try runs(out)
        _ = try runs(act)
        // wt[p * n + c]: reduction position p, output channel c.
        func multiply(_ wt: UnsafeBufferPointer<Float>) throws {
            let a =
                act.element == .u8
                ? UnsafeBufferPointer(try decodedActivation(act, afmt)) : try readFloats(act, into: .activation)
            let target = accumulate ? try writtenRuns(out) : try runs(out)
            // In place when `out` is one run of a writable memory that no operand overlaps.
            if let p = contiguousFloats(target), !memories[target.memory].readOnly, try !overlaps(target, act),
                try wgt.element == .packed || !overlaps(target, wgt)
            {
                let acc = UnsafeMutableBufferPointer(start: p, count: m * n)
                if !accumulate { acc.update(repeating: 0) }
                Self.parallelProduct(a, wt, into: acc, m: m, n: n, k: k, split: splitsProducts)
                return markWritten(out, target)
            }
            let acc = buffers.floats(.accumulator, m * n)
            if accumulate {
                memories[target.memory].read(target, into: UnsafeMutableRawPointer(acc.baseAddress!))
            } else {
                acc.update(repeating: 0)
            }
            Self.parallelProduct(a, wt, into: acc, m: m, n: n, k: k, split: splitsProducts)
            try storeFloats(out, UnsafeBufferPointer(acc))
        }
        switch wgt.element {
        case .packed:
            let scales = wfmt == .fp16 ? UnsafeBufferPointer(start: nil, count: 0) : try readFloats(scl, into: .scales)
            let packed = try readBytes(wgt, into: .packed)
            if wfmt == .fp16 {
                // fp16 tiles decode about as fast as they are looked up, and are not kept.
                let w = buffers.floats(.weight, n * k)
                try Self.decode(packed, wfmt, sparse: sparse, rows: n, length: k, scales: scales, into: w)
                try multiply(UnsafeBufferPointer(w))
            } else {
                try keptTile(packed, wfmt, sparse: sparse, rows: n, length: k, scales: scales).withUnsafeBufferPointer {
                    try multiply($0)
                }
            }
        case .f32:
            // A computed operand [K, N], already on the `wfmt` grid.
            guard wgt.dims == [k, n], !sparse, wfmt == .fp16 || wfmt == .fp32 else {
                throw SimulatorError("an f32 wgt must be [\(k), \(n)] (act's K, out's N), dense, fp16 or fp32")
            }
            let w = try readFloats(wgt, into: .weight)
            if wfmt == .fp16, let v = w.first(where: { !$0.isNaN && Float16Codec.decode(Float16Codec.encode($0)) != $0 }) {
                throw SimulatorError("an fp16 wgt holds \(v), which is not an fp16 value (quant it first)")
            }
            try multiply(w)
        default:
            throw SimulatorError("mma's wgt is a packed weight tile or f32 [K, N], not \(wgt.element.rawValue)")
        }
    }

    /// Weight tile `packed` decoded transposed ([length, rows]: position p's row of channels).
    private static func decode(
        _ packed: UnsafeRawBufferPointer, _ wfmt: PrecisionFormat, sparse: Bool, rows: Int, length: Int,
        scales: UnsafeBufferPointer<Float>, into w: UnsafeMutableBufferPointer<Float>
    ) throws {
        do {
            try WeightPacking.unpackTile(
                packed, format: wfmt, sparse: sparse, rows: rows, length: length, scales: scales, into: w, transposed: true)
        } catch let e as PackingError {
            throw SimulatorError("weight tile: \(e)")
        }
    }

    /// `decode`'s tile, kept for the next product that reads the same bytes and scales.
    private mutating func keptTile(
        _ packed: UnsafeRawBufferPointer, _ wfmt: PrecisionFormat, sparse: Bool, rows: Int, length: Int,
        scales: UnsafeBufferPointer<Float>
    ) throws -> [Float] {
        let key = DecodedTiles.Key(
            packed: Array(packed), scales: Array(scales), format: wfmt, sparse: sparse, rows: rows, length: length)
        if let known = decodedTiles.tile(key) { return known }
        let w = buffers.floats(.weight, rows * length)
        try Self.decode(packed, wfmt, sparse: sparse, rows: rows, length: length, scales: scales, into: w)
        let kept = Array(w)
        decodedTiles.keep(key, kept)
        return kept
    }

    /// `mmag`: G products of `mma` side by side, group j's [M, K] columns of act times
    /// weight tile j into out's columns j·N/G ..< (j + 1)·N/G, each as `orderedProduct`
    /// sums (so each element has the bits one `mma` of its group gives).
    private mutating func groupedMatrixMultiply(
        _ out: DescriptorRef, _ act: DescriptorRef, _ wgt: DescriptorRef, _ scl: DescriptorRef, _ wfmt: PrecisionFormat,
        afmt: PrecisionFormat, sparse: Bool, accumulate: Bool, groups g: Int
    ) throws {
        // A coded act may be a view of any rank, as `mma`'s: its elements in row-major order are [M, G x K]'s.
        guard g >= 2, out.dims.count == 2, out.element == .f32, let columns = act.descriptor.matrixColumns(rows: out.dims[0]),
            out.dims[1] % g == 0, columns % g == 0, wgt.element == .packed
        else {
            throw SimulatorError(
                "mmag needs groups of 2 or more, out f32 [M, N] and act f32 [M, G x K] or u8 codes of M x G x K elements "
                    + "with N a multiple of G, and packed weight tiles"
            )
        }
        let (m, n, k) = (out.dims[0], out.dims[1] / g, columns / g)
        _ = try runs(out)
        _ = try runs(act)
        let tileBytes = WeightPacking.tileByteCount(format: wfmt, sparse: sparse, rows: n, length: k)
        let packed = Array(try readBytes(wgt, into: .packed))
        guard packed.count == g * tileBytes else {
            throw SimulatorError(
                "mmag's weights are \(packed.count) bytes; \(g) tiles of \(n) x \(k) \(wfmt.rawValue) take \(g * tileBytes)")
        }
        let scales = wfmt == .fp16 ? [] : Array(try readFloats(scl, into: .scales))
        guard wfmt != .fp8 || scales.count == g * n else {
            throw SimulatorError("mmag's fp8 weights need \(g * n) scales, one per output channel, not \(scales.count)")
        }
        let a = act.element == .u8 ? Array(try decodedActivation(act, afmt)) : Array(try readFloats(act, into: .activation))
        var result = accumulate ? Array(try readFloats(out, into: .accumulator)) : [Float](repeating: 0, count: m * g * n)
        var part = [Float](repeating: 0, count: m * k), sums = [Float](repeating: 0, count: m * n)
        for j in 0..<g {
            let tileScales = wfmt == .fp8 ? Array(scales[(j * n)..<((j + 1) * n)]) : scales
            let w = try packed[(j * tileBytes)..<((j + 1) * tileBytes)].withUnsafeBytes { tile in
                try tileScales.withUnsafeBufferPointer {
                    try keptTile(tile, wfmt, sparse: sparse, rows: n, length: k, scales: $0)
                }
            }
            for r in 0..<m {
                for p in 0..<k { part[r * k + p] = a[r * g * k + j * k + p] }
                for c in 0..<n { sums[r * n + c] = result[r * g * n + j * n + c] }
            }
            part.withUnsafeBufferPointer { pa in
                w.withUnsafeBufferPointer { pw in
                    sums.withUnsafeMutableBufferPointer { Self.orderedProduct(pa, pw, into: $0, m: m, n: n, k: k) }
                }
            }
            for r in 0..<m {
                for c in 0..<n { result[r * g * n + j * n + c] = sums[r * n + c] }
            }
        }
        try storeFloats(out, result)
    }

    /// Whether `runs` share a byte's memory and span with `d`'s.
    private func overlaps(_ runs: RunView, _ d: DescriptorRef) throws -> Bool {
        let other = try self.runs(d)
        return other.memory == runs.memory && other.span.overlaps(runs.span)
    }

    /// `orderedProduct` with the rows split between two threads when the product is large
    /// enough to pay for it; every row is summed as before, so the result is the same.
    static func parallelProduct(
        _ a: UnsafeBufferPointer<Float>, _ wt: UnsafeBufferPointer<Float>, into acc: UnsafeMutableBufferPointer<Float>,
        m: Int, n: Int, k: Int, split: Bool = true
    ) {
        guard split, m >= 8, m * n * k >= 1 << 16 else { return orderedProduct(a, wt, into: acc, m: m, n: n, k: k) }
        let half = (m / 2 + 3) / 4 * 4
        // The two halves touch disjoint rows of `acc` and only read `a` and `wt`.
        nonisolated(unsafe) let (a, wt, acc) = (a, wt, acc)
        DispatchQueue.concurrentPerform(iterations: 2) { part in
            let (first, rows) = part == 0 ? (0, half) : (half, m - half)
            orderedProduct(
                UnsafeBufferPointer(rebasing: a[(first * k)..<((first + rows) * k)]), wt,
                into: UnsafeMutableBufferPointer(rebasing: acc[(first * n)..<((first + rows) * n)]), m: rows, n: n, k: k)
        }
    }

    /// acc[r, c] += a[r, p] * wt[p, c] for p in increasing order, each product rounded to
    /// float32 and then added, and every NaN among the sums made the canonical one
    /// (schemas/formats.md, matrix arithmetic). Blocks of rows and columns are accumulated
    /// side by side; each accumulator still sees its products in increasing p. With AVX
    /// when the host has it (SimulatorKernels, which canonicalizes as it stores), else in Swift.
    static func orderedProduct(
        _ a: UnsafeBufferPointer<Float>, _ wt: UnsafeBufferPointer<Float>, into acc: UnsafeMutableBufferPointer<Float>,
        m: Int, n: Int, k: Int
    ) {
        guard m > 0, n > 0, k > 0 else { return MatrixArithmetic.canonicalizeNaNs(acc) }
        if npucc_ordered_product(a.baseAddress!, wt.baseAddress!, acc.baseAddress!, m, n, k) { return }
        portableProduct(a, wt, into: acc, m: m, n: n, k: k)
    }

    /// `orderedProduct` in Swift, for hosts without AVX: Swift's SIMD8<Float> is two SSE
    /// halves on baseline x86-64.
    static func portableProduct(
        _ a: UnsafeBufferPointer<Float>, _ wt: UnsafeBufferPointer<Float>, into acc: UnsafeMutableBufferPointer<Float>,
        m: Int, n: Int, k: Int
    ) {
        defer { MatrixArithmetic.canonicalizeNaNs(acc) }
        guard m > 0, n > 0, k > 0 else { return }
        let wt = UnsafeRawPointer(wt.baseAddress!), rowBytes = 4 &* n
        var r = 0
        // Four rows at a time: one load of w feeds four independent chains; eight columns
        // at a time where they fit, so eight chains are in flight.
        while r &+ 4 <= m {
            let row = UnsafeMutableRawPointer(acc.baseAddress! + r * n), x = a.baseAddress! + r * k
            var c = 0
            while c &+ 8 <= n {
                fourRows(SIMD8<Float>.self, row: row, x: x, wt: wt, at: 4 &* c, rowBytes: rowBytes, k: k)
                c &+= 8
            }
            if c &+ 4 <= n {
                fourRows(SIMD4<Float>.self, row: row, x: x, wt: wt, at: 4 &* c, rowBytes: rowBytes, k: k)
                c &+= 4
            }
            for rr in r..<(r + 4) {
                Self.orderedColumns(x: a.baseAddress! + rr * k, wt, acc.baseAddress! + rr * n, c, n, k)
            }
            r &+= 4
        }
        for rr in r..<m { Self.orderedRow(x: a.baseAddress! + rr * k, wt, acc.baseAddress! + rr * n, n, k) }
    }

    /// Four rows' columns `at / 4 ..< at / 4 + V.scalarCount` of `orderedProduct`, each
    /// lane of `V` a chain of its own.
    @inline(__always)
    private static func fourRows<V: SIMD>(
        _: V.Type, row: UnsafeMutableRawPointer, x: UnsafePointer<Float>, wt: UnsafeRawPointer, at: Int, rowBytes: Int, k: Int
    ) where V.Scalar == Float {
        var s0 = row.loadUnaligned(fromByteOffset: at, as: V.self)
        var s1 = row.loadUnaligned(fromByteOffset: at &+ rowBytes, as: V.self)
        var s2 = row.loadUnaligned(fromByteOffset: at &+ 2 &* rowBytes, as: V.self)
        var s3 = row.loadUnaligned(fromByteOffset: at &+ 3 &* rowBytes, as: V.self)
        var w = wt + at
        for p in 0..<k {
            let v = w.loadUnaligned(as: V.self)
            let p0 = V(repeating: x[p]) * v, p1 = V(repeating: x[k &+ p]) * v
            let p2 = V(repeating: x[2 &* k &+ p]) * v, p3 = V(repeating: x[3 &* k &+ p]) * v
            s0 = s0 + p0
            s1 = s1 + p1
            s2 = s2 + p2
            s3 = s3 + p3
            w += rowBytes
        }
        row.storeBytes(of: s0, toByteOffset: at, as: V.self)
        row.storeBytes(of: s1, toByteOffset: at &+ rowBytes, as: V.self)
        row.storeBytes(of: s2, toByteOffset: at &+ 2 &* rowBytes, as: V.self)
        row.storeBytes(of: s3, toByteOffset: at &+ 3 &* rowBytes, as: V.self)
    }

    /// One row of `orderedProduct`: sixteen columns at a time (four chains), then four,
    /// then one.
    private static func orderedRow(
        x: UnsafePointer<Float>, _ wt: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ n: Int, _ k: Int
    ) {
        let row = UnsafeMutableRawPointer(out), rowBytes = 4 &* n
        var c = 0
        while c &+ 16 <= n {
            let at = 4 &* c
            var s0 = row.loadUnaligned(fromByteOffset: at, as: SIMD4<Float>.self)
            var s1 = row.loadUnaligned(fromByteOffset: at &+ 16, as: SIMD4<Float>.self)
            var s2 = row.loadUnaligned(fromByteOffset: at &+ 32, as: SIMD4<Float>.self)
            var s3 = row.loadUnaligned(fromByteOffset: at &+ 48, as: SIMD4<Float>.self)
            var w = wt + at
            for p in 0..<k {
                let v = SIMD4(repeating: x[p])
                let p0 = v * w.loadUnaligned(as: SIMD4<Float>.self)
                let p1 = v * w.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self)
                let p2 = v * w.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self)
                let p3 = v * w.loadUnaligned(fromByteOffset: 48, as: SIMD4<Float>.self)
                s0 = s0 + p0
                s1 = s1 + p1
                s2 = s2 + p2
                s3 = s3 + p3
                w += rowBytes
            }
            row.storeBytes(of: s0, toByteOffset: at, as: SIMD4<Float>.self)
            row.storeBytes(of: s1, toByteOffset: at &+ 16, as: SIMD4<Float>.self)
            row.storeBytes(of: s2, toByteOffset: at &+ 32, as: SIMD4<Float>.self)
            row.storeBytes(of: s3, toByteOffset: at &+ 48, as: SIMD4<Float>.self)
            c &+= 16
        }
        while c &+ 4 <= n {
            let at = 4 &* c
            var s0 = row.loadUnaligned(fromByteOffset: at, as: SIMD4<Float>.self)
            var w = wt + at
            for p in 0..<k {
                let p0 = SIMD4(repeating: x[p]) * w.loadUnaligned(as: SIMD4<Float>.self)
                s0 = s0 + p0
                w += rowBytes
            }
            row.storeBytes(of: s0, toByteOffset: at, as: SIMD4<Float>.self)
            c &+= 4
        }
        orderedColumns(x: x, wt, out, c, n, k)
    }

    /// One row's columns `from..<n` of `orderedProduct`, one at a time.
    private static func orderedColumns(
        x: UnsafePointer<Float>, _ wt: UnsafeRawPointer, _ row: UnsafeMutablePointer<Float>, _ from: Int, _ n: Int, _ k: Int
    ) {
        for c in from..<n {
            var s = row[c]
            var w = wt + 4 &* c
            for p in 0..<k {
                let product = x[p] * w.load(as: Float.self)
                s = s + product
                w += 4 &* n
            }
            row[c] = s
        }
    }
}

/// The last coded activation a machine decoded through a view of higher rank: its
/// descriptor, format, the bytes its codes' and scales' views span when it was decoded, and
/// its values. A view's values follow from those bytes alone.
final class DecodedView {
    private var act = -1, format = PrecisionFormat.fp32
    /// The bytes the codes' and the scales' views spanned, one after the other.
    private var bytes = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var spans = (codes: 0, scales: 0)
    private var storage = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private var count = 0

    deinit {
        bytes.deallocate()
        storage.deallocate()
    }

    /// The values kept for descriptor `act` in `format` when the bytes its views span are
    /// still `codes` and `scales`; nil otherwise.
    func values(_ act: Int, _ format: PrecisionFormat, codes: UnsafeRawBufferPointer, scales: UnsafeRawBufferPointer)
        -> UnsafeMutableBufferPointer<Float>?
    {
        guard act == self.act, format == self.format, spans == (codes.count, scales.count),
            codes.isEmpty || memcmp(bytes.baseAddress!, codes.baseAddress!, codes.count) == 0,
            scales.isEmpty || memcmp(bytes.baseAddress! + codes.count, scales.baseAddress!, scales.count) == 0
        else { return nil }
        return UnsafeMutableBufferPointer(rebasing: storage[0..<count])
    }

    /// Room for `count` values of descriptor `act` in `format`, kept with the bytes its
    /// views span (the caller fills it).
    func keep(_ act: Int, _ format: PrecisionFormat, codes: UnsafeRawBufferPointer, scales: UnsafeRawBufferPointer, count: Int)
        -> UnsafeMutableBufferPointer<Float>
    {
        (self.act, self.format, self.count, spans) = (act, format, count, (codes.count, scales.count))
        if bytes.count < codes.count + scales.count {
            bytes.deallocate()
            bytes = .allocate(byteCount: max(codes.count + scales.count, 2 * bytes.count), alignment: 64)
        }
        if !codes.isEmpty { bytes.baseAddress!.copyMemory(from: codes.baseAddress!, byteCount: codes.count) }
        if !scales.isEmpty { (bytes.baseAddress! + codes.count).copyMemory(from: scales.baseAddress!, byteCount: scales.count) }
        if storage.count < count {
            storage.deallocate()
            storage = .allocate(capacity: count)
        }
        return UnsafeMutableBufferPointer(rebasing: storage[0..<count])
    }

    /// Forgets the kept values (a failed decode leaves them unfilled).
    func forget() { act = -1 }
}

/// The weight tiles `mma` decoded, by what each was decoded from: decoding is a function of
/// the packed bytes, the scales (bit for bit), the format, sparsity and shape alone, so a
/// tile whose inputs all match one decoded before is reused as it is. A tile that would take
/// the kept ones past `capacity` floats drops them all first: the tiles used again are the
/// running layer's, and 16 MiB of them stay in cache where a larger store would be fresh
/// pages, touched once.
final class DecodedTiles {
    struct Key: Hashable {
        var packed: [UInt8]
        var scales: [Float]
        var format: PrecisionFormat
        var sparse: Bool
        var rows: Int
        var length: Int

        static func == (x: Key, y: Key) -> Bool {
            x.format == y.format && x.sparse == y.sparse && x.rows == y.rows && x.length == y.length
                && x.packed.withUnsafeBytes { a in y.packed.withUnsafeBytes { b in sameBytes(a, b) } }
                && x.scales.withUnsafeBytes { a in y.scales.withUnsafeBytes { b in sameBytes(a, b) } }
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(format)
            hasher.combine(sparse)
            hasher.combine(rows)
            hasher.combine(length)
            hasher.combine(packed.withUnsafeBytes(Self.digest))
            hasher.combine(scales.withUnsafeBytes(Self.digest))
        }

        /// A quick digest of `bytes` (four chains of 8 bytes at a time, multiplied and
        /// folded, then 8 and 1 at a time); equality still compares every byte.
        private static func digest(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
            var lanes = SIMD4<UInt64>(UInt64(bytes.count), 1, 2, 3)
            var at = 0
            while at &+ 32 <= bytes.count {
                lanes = (lanes ^ bytes.loadUnaligned(fromByteOffset: at, as: SIMD4<UInt64>.self)) &* 0x9E37_79B9_7F4A_7C15
                lanes ^= lanes &>> 29
                at &+= 32
            }
            var h = (lanes[0] ^ lanes[1] &* 3 ^ lanes[2] &* 5 ^ lanes[3] &* 7) &* 0x9E37_79B9_7F4A_7C15
            while at &+ 8 <= bytes.count {
                h = (h ^ bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
                h ^= h >> 29
                at &+= 8
            }
            while at < bytes.count {
                h = (h ^ UInt64(bytes[at])) &* 0x9E37_79B9_7F4A_7C15
                at &+= 1
            }
            return h
        }

        private static func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
            a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
        }
    }

    static let capacity = 4 << 20
    private var tiles: [Key: [Float]] = [:]
    private var floats = 0

    /// The decoded tile of `key`, transposed to [length, rows], if kept.
    func tile(_ key: Key) -> [Float]? { tiles[key] }

    func keep(_ key: Key, _ transposed: [Float]) {
        if floats + transposed.count > Self.capacity {
            tiles.removeAll(keepingCapacity: true)
            floats = 0
        }
        tiles[key] = transposed
        floats += transposed.count
    }
}
