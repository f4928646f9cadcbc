// A matrix product's activations rounded once into codes. A MatMul or Gemm whose fp8 or
// nvfp4 activations its tiles would otherwise read as float32 once per group of output
// columns, and round on every tile that reads them, first rounds its input [M, K] into an
// image of codes, a byte each, [M, K] row-major, and for nvfp4 the float32 scales of its
// blocks of 16 along K, [M, K / 16]: a pass over the input dealt to every tile. Its tiles
// then load 1.25 bytes a value (fp8: 1) and multiply them coded (`mma`, `schemas/isa.md`).
// `value(code) * scale` is bit for bit the float32 the rounding on the tile gave, so the
// results are those of the float32 path.
import Formats
import ISA

/// Where a product's image of codes is: its codes, then (nvfp4) its blocks' scales.
public struct CodedRows: Sendable {
    public var space: MemorySpace
    public var codes: UInt64
    public var m: Int, k: Int
    public var format: PrecisionFormat

    /// Values along K per block scale (nvfp4); fp8 keeps one tensor scale, in each tile.
    static let block = 16

    public init(space: MemorySpace, codes: UInt64, m: Int, k: Int, format: PrecisionFormat) {
        precondition(CodedRows.codable(format, k: k))
        (self.space, self.codes, self.m, self.k, self.format) = (space, codes, m, k, format)
    }

    /// Whether activations of `format` over `k` reduction positions can travel coded:
    /// fp8, or nvfp4 in whole blocks.
    static func codable(_ format: PrecisionFormat, k: Int) -> Bool {
        format == .fp8 || format == .nvfp4 && k % block == 0
    }

    var blocks: Int { format == .nvfp4 ? k / CodedRows.block : 0 }

    /// Where the blocks' scales begin: after the codes, 64-byte aligned.
    var scales: UInt64 { codes + UInt64(aligned(m * k)) }

    /// Bytes of the image: its codes and its blocks' scales.
    static func bytes(m: Int, k: Int, format: PrecisionFormat) -> Int {
        aligned(m * k) + (format == .nvfp4 ? aligned(4 * m * (k / block)) : 0)
    }

    /// Latencies of the global buffer the pass costs besides its bytes and its rounding:
    /// its loads, its stores, the waits that order them before the products' loads, and
    /// those loads. On npu-seed a pass made small products 350 to 420 cycles slower, and
    /// one estimated to save a few percent over a product of 128 x 512 x 256 at fp8 lost
    /// 10%: the estimate counts none of what overlaps, and this many latencies (576
    /// cycles there) keep such products as they were.
    static let passLatencies = 12

    /// Whether a product tiled as `direct` (reading its float32 input, from DRAM or else the
    /// global buffer) should round its input into codes first: when the pass's cost, its
    /// `passLatencies`, its share of rounding on a tile, its read of the input and the
    /// tiles' reads of the codes, comes to less than what the direct tiling's rounding on
    /// its busiest tile (each of its groups of columns rounds its chunk's rows, all of K)
    /// or its float32 reads take. Not when the target leaves a latency, a bandwidth or the
    /// vector unit unknown.
    static func pays(
        _ direct: TilingPlan, m: Int, k: Int, format: PrecisionFormat, inputFromDRAM: Bool, _ resources: TileResources
    ) -> Bool {
        let bandwidth = inputFromDRAM ? resources.dramBytesPerCycle : resources.l3BytesPerCycle
        guard resources.vectorLanes > 0, resources.l3Latency > 0, bandwidth > 0, resources.l3BytesPerCycle > 0 else {
            return false
        }
        let rounded = direct.work.map { items in
            MatrixTiling.groups(items, groupN: direct.groupN).reduce(0) { values, group in
                values + (min(m, (group[0].chunk + 1) * direct.chunkM) - group[0].chunk * direct.chunkM) * k
            }
        }
        let (busiest, total) = (rounded.max() ?? 0, rounded.reduce(0, +))
        func rounding(_ values: Int) -> Int {
            values / resources.vectorLanes * resources.elementwiseCycles * (format == .nvfp4 ? 2 : 1)
        }
        let share = max(stepValues, (m + resources.tileCount - 1) / resources.tileCount * k)
        let coded =
            passLatencies * resources.l3Latency + rounding(share) + 4 * m * k / bandwidth
            + imageBytes(total, format) / resources.l3BytesPerCycle
        return coded < max(rounding(busiest), 4 * total / bandwidth)
    }

    /// Bytes `values` take in the image: a code each, and nvfp4's share of a block's scale.
    static func imageBytes(_ values: Int, _ format: PrecisionFormat) -> Int { format == .nvfp4 ? 5 * values / 4 : values }

    /// Float32 values a step of the rounding pass moves at least (about a memory's latency's
    /// worth), so that small inputs go to fewer tiles in larger steps.
    static let stepValues = 1024

    /// One step of the pass: rows of the input, and of them a run of reduction positions.
    struct Step {
        var rows: Range<Int>
        var columns: Range<Int>
    }

    /// SRAM bytes a step of `rows` x `columns` stages: the float32 values, their codes and
    /// their scales (nvfp4: one per block of each row; fp8: the tensor scale's word).
    func stagingBytes(rows: Int, columns: Int) -> Int {
        aligned(4 * rows * columns) + aligned(rows * columns)
            + aligned(format == .nvfp4 ? 4 * rows * (columns / CodedRows.block) : 4)
    }

    /// The pass's steps: whole rows (or, when a row does not fit half a tile's SRAM, runs of
    /// whole blocks of it), an even share of the rows per tile but at least `stepValues`
    /// values, and no more than half a tile's SRAM.
    func steps(_ resources: TileResources) -> [Step] {
        let half = resources.sramBytes / 2
        var columns = k
        if stagingBytes(rows: 1, columns: k) > half {
            // Runs of whole nvfp4 blocks (fp8's, as long: no two steps write one word of codes).
            let unit = CodedRows.block
            columns = max(unit, half / 6 / unit * unit)
            while columns > unit && stagingBytes(rows: 1, columns: columns) > half { columns -= unit }
        }
        let fitting = max(1, half / stagingBytes(rows: 1, columns: columns))
        let share = (m + resources.tileCount - 1) / resources.tileCount
        let rows = max(1, min(fitting, max(share, (CodedRows.stepValues + columns - 1) / columns)))
        return stride(from: 0, to: m, by: rows).flatMap { r0 in
            stride(from: 0, to: k, by: columns).map { Step(rows: r0..<min(m, r0 + rows), columns: $0..<min(k, $0 + columns)) }
        }
    }

    /// Emits the pass that rounds `layer`'s float32 input into the image: each step on the
    /// next tile, in two buffers per tile where two fit, each tile's next load emitted
    /// before its step rounds so that it streams in meanwhile.
    func round(_ layer: MatrixLayer, _ resources: TileResources, into b: inout ProgramBuilder) throws {
        precondition(layer.activationFormat == format && layer.m == m && layer.k == k && layer.inputColumnStride == 1)
        let steps = steps(resources)
        let stepBytes = steps.map { stagingBytes(rows: $0.rows.count, columns: $0.columns.count) }.max() ?? 0
        let buffers = 2 * stepBytes <= resources.sramBytes ? 2 : 1
        func place(_ index: Int) -> (cluster: Int, tile: Int, base: Int) {
            let (cluster, tile) = resources.place(index)
            return (cluster, tile, index / resources.tileCount % buffers * stepBytes)
        }
        func staged(_ index: Int) throws -> UInt64 {
            let step = steps[index], (cluster, tile, base) = place(index)
            return b.descriptor(
                try TensorDescriptor(
                    .sram, .f32, cluster: cluster, tile: tile, address: UInt64(base),
                    dims: [step.rows.count, step.columns.count]))
        }
        func load(_ index: Int) throws {
            let step = steps[index]
            let src = try TensorDescriptor(
                layer.inputSpace, .f32,
                address: layer.input + UInt64(4 * (step.rows.lowerBound * layer.inputRowStride + step.columns.lowerBound)),
                dims: [step.rows.count, step.columns.count], strides: [layer.inputRowStride, 1])
            try b.emit("dma", ["dst": try staged(index), "src": b.descriptor(src)])
        }
        let ahead = (buffers - 1) * resources.tileCount
        for index in 0..<min(ahead, steps.count) { try load(index) }
        for (index, step) in steps.enumerated() {
            if index + ahead < steps.count { try load(index + ahead) }
            let (cluster, tile, base) = place(index)
            let (rows, columns) = (step.rows.count, step.columns.count)
            let codesAt = base + aligned(4 * rows * columns), scalesAt = codesAt + aligned(rows * columns)
            func sram(_ element: ElementType, _ at: Int, _ dims: [Int], _ strides: [Int]? = nil) throws -> TensorDescriptor {
                try TensorDescriptor(
                    .sram, element, cluster: cluster, tile: tile, address: UInt64(at), dims: dims, strides: strides)
            }
            let stepBlocks = columns / CodedRows.block
            let codes = try sram(.u8, codesAt, [rows, columns])
            let scales =
                format == .nvfp4
                ? try sram(.f32, scalesAt, [rows, stepBlocks, CodedRows.block], [stepBlocks, 1, 0])
                : try sram(.f32, scalesAt, [rows, columns], [0, 0])
            try MatrixLowering.emitRounding(
                layer, dst: b.codedDescriptor(codes: codes, scales: scales), src: try staged(index), into: &b)
            let (r0, c0) = (step.rows.lowerBound, step.columns.lowerBound)
            let image = try TensorDescriptor(
                space, .u8, address: self.codes + UInt64(r0 * k + c0), dims: [rows, columns], strides: [k, 1])
            try b.emit("dma", ["dst": b.descriptor(image), "src": b.descriptor(codes)])
            guard format == .nvfp4 else { continue }
            let blockScales = try TensorDescriptor(
                space, .f32, address: self.scales + UInt64(4 * (r0 * blocks + c0 / CodedRows.block)),
                dims: [rows, stepBlocks], strides: [blocks, 1])
            try b.emit(
                "dma", ["dst": b.descriptor(blockScales), "src": b.descriptor(try sram(.f32, scalesAt, [rows, stepBlocks]))])
        }
    }

    /// Loads the coded activation tile of `rows` x `columns` into a tile's SRAM (its codes at
    /// `at`, its scales at `scalesAt`; fp8's tensor scale written there once per buffer,
    /// `fillScale`) and returns the coded operand, each block's scale repeated over its
    /// values.
    func load(
        _ layer: MatrixLayer, rows: Range<Int>, columns: Range<Int>, at: Int, scalesAt: Int, fillScale: Bool,
        cluster: Int, tile: Int, into b: inout ProgramBuilder
    ) throws -> UInt64 {
        func sram(_ element: ElementType, _ address: Int, _ dims: [Int], _ strides: [Int]? = nil) throws -> TensorDescriptor {
            try TensorDescriptor(
                .sram, element, cluster: cluster, tile: tile, address: UInt64(address), dims: dims, strides: strides)
        }
        let codes = try sram(.u8, at, [rows.count, columns.count])
        let src = try TensorDescriptor(
            space, .u8, address: self.codes + UInt64(rows.lowerBound * k + columns.lowerBound),
            dims: [rows.count, columns.count], strides: [k, 1])
        try b.emit("dma", ["dst": b.descriptor(codes), "src": b.descriptor(src)])
        guard format == .nvfp4 else {
            if fillScale { try MatrixLowering.fillFP8Scale(layer, at: scalesAt, cluster: cluster, tile: tile, into: &b) }
            return b.codedDescriptor(codes: codes, scales: try sram(.f32, scalesAt, [rows.count, columns.count], [0, 0]))
        }
        precondition(columns.lowerBound % CodedRows.block == 0 && columns.count % CodedRows.block == 0)
        let tileBlocks = columns.count / CodedRows.block
        let blockScales = try TensorDescriptor(
            space, .f32, address: scales + UInt64(4 * (rows.lowerBound * blocks + columns.lowerBound / CodedRows.block)),
            dims: [rows.count, tileBlocks], strides: [blocks, 1])
        try b.emit(
            "dma", ["dst": b.descriptor(try sram(.f32, scalesAt, [rows.count, tileBlocks])), "src": b.descriptor(blockScales)])
        return b.codedDescriptor(
            codes: codes,
            scales: try sram(.f32, scalesAt, [rows.count, tileBlocks, CodedRows.block], [tileBlocks, 1, 0]))
    }
}

private func aligned(_ bytes: Int) -> Int { (bytes + 63) / 64 * 64 }
