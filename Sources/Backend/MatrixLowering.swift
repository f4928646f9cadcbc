// Lowering one matrix layer, out[M, N] = act[M, K] · W[K, N] (+ bias, + a fused activation),
// to the ISA with a tiling plan: per unit of work (a column of output tiles over a chunk of
// rows) on its MAC tile, the weight tile of each reduction step is loaded once and every
// row tile of the chunk streams past it; activations are rounded onto their format's grid
// on the tile as they arrive; the float32 accumulators stay in SRAM until the chunk is done,
// then take the bias and the activation and go back to where the output lives.
import Formats
import ISA

/// One matrix layer as the lowering sees it: where its operands are and how it is quantized.
public struct MatrixLayer: Sendable {
    public var m: Int, k: Int, n: Int
    /// act [M, K] in `inputSpace` at `input`, row r at `input + 4 * r * inputRowStride` elements apart.
    public var input: UInt64
    public var inputSpace = MemorySpace.dram
    public var inputRowStride: Int
    /// Elements between neighbouring columns of act (1: rows are contiguous).
    public var inputColumnStride = 1
    /// out [M, N] in `outputSpace`: element (r, c) at `output` + 4 * (r * outputStrides.0 + c * outputStrides.1).
    public var output: UInt64
    public var outputSpace = MemorySpace.dram
    public var outputStrides: (Int, Int)
    /// The packed weights at `weightOffset` in the weight section.
    public var weights: WeightLayout
    public var weightOffset: Int
    /// A float32 [N] bias at this offset in the constant section.
    public var bias: Int?
    public var activationFormat: PrecisionFormat
    public var activationAmax: Float
    /// A model's own fp8 activation scale or nvfp4 tensor scale (the model's rounding the
    /// import folded into the layer), which rounding then uses instead of `activationAmax`.
    public var activationScale: Float?
    /// "Relu", "LeakyRelu" (alpha) or "Clip" (lo, hi).
    public var fusedActivation: String?
    public var activationParameters: [Float]
    /// False when the input already holds values on the activation format's grid (a
    /// convolution rounds its input once, along channels, before unfolding it).
    public var quantizeInput = true
    /// The first weight row (output channel) of the layer's N: one group of a grouped
    /// convolution is rows firstRow..<firstRow + N of its weights, a whole number of tiles.
    public var firstRow = 0
    /// The weight tile of `firstRow`: the layer's columns of output tiles start there.
    var firstTile: Int { firstRow / weights.tileRows }
    /// A convolution's input as windows: activation tiles are gathered from the image, and
    /// `input` and `inputRowStride` are unused.
    public var windows: ConvolutionWindows?
    /// Or the input rounded into an image of codes first (`CodedRows`), which the tiles
    /// load coded.
    public var codedRows: CodedRows?
    /// Coded activations: `windows` gathers their codes (u8), or the tiles load them from
    /// `codedRows`.
    public var codedInput: Bool { windows?.element == .u8 || codedRows != nil }
    /// For coded nvfp4 activations, the windows of the image of their block scales, whose
    /// channels are the blocks of `blockChannels` channels.
    public var scaleWindows: ConvolutionWindows?
    /// Channels of a pixel's nvfp4 block (16, or all of fewer).
    public var blockChannels = 16
    /// An activation added to the output after the bias and the fused activation, element
    /// for element: [M, N] in `residualSpace` at `residual`, with the output's strides.
    public var residual: UInt64?
    public var residualSpace = MemorySpace.dram
    /// A Relu after the residual.
    public var reluAfterResidual = false
    /// Or a Clip after it: the constants' parameter record of its bounds (`clamp`).
    public var clampAfterResidual: Int?
    /// The parameter record of a fused Clip's bounds (`clamp`).
    public var clampRecord: Int?
    /// Bytes of each cluster's L2 free for the layer's weights: a cluster whose columns of
    /// weight tiles fit there loads them once and its tiles read their weight tiles from it.
    public var weightStaging = 0..<0
    /// Where the whole packed blob already lies in every cluster's L2 (weights preloaded at
    /// the program's start), if it does: no staging then.
    public var preloaded: UInt64?
    /// The regions the layer stages in L2 (its weights, a convolution's band) are laid out
    /// from its top down instead of from address 0 up: consecutive matrix layers take
    /// opposite ends, so that a layer's staging need not wait for the last one's tiles to
    /// finish reading theirs, unless the two together fill the L2.
    public var l2FromTop = false
    /// Where the layer's L2 layout starts (a grouped convolution's group takes its own
    /// slot, so that groups running side by side on one cluster stage apart).
    public var l2Base = 0
    /// Groups one product multiplies side by side (`mmag`): the layer's N output channels and
    /// K activation columns are this many groups' (a grouped convolution's consecutive
    /// groups), and its weight tiles hold each group's rows over one group's K columns.
    public var diagonal = 1
    /// Element-wise steps the epilogue runs last, on each row tile of the result.
    var tail: [TailStep] = []

    /// The L2 address of a region of `size` bytes `offset` bytes into the layout of an L2 of
    /// `l2Bytes` from `l2Base` (`l2FromTop` mirrors it).
    func l2Address(_ offset: Int, size: Int, l2Bytes: Int) -> UInt64 {
        UInt64(l2FromTop ? l2Bytes - l2Base - offset - size : l2Base + offset)
    }

    public init(
        m: Int, k: Int, n: Int, input: UInt64, inputRowStride: Int, output: UInt64, outputStrides: (Int, Int),
        weights: WeightLayout, weightOffset: Int, bias: Int?, activationFormat: PrecisionFormat,
        activationAmax: Float, fusedActivation: String? = nil, activationParameters: [Float] = []
    ) {
        (self.m, self.k, self.n) = (m, k, n)
        self.input = input
        self.inputRowStride = inputRowStride
        self.output = output
        self.outputStrides = outputStrides
        self.weights = weights
        self.weightOffset = weightOffset
        self.bias = bias
        self.activationFormat = activationFormat
        self.activationAmax = activationAmax
        self.fusedActivation = fusedActivation
        self.activationParameters = activationParameters
    }
}

/// An element-wise step a matrix layer's epilogue runs last (`Epilogue.tail`): `vop` `op`
/// with `imm`, or with a parameter record of the constants `vopp`, on the layer's result
/// (`input(0)`) and the steps' result so far.
struct TailStep: Sendable {
    var op: String
    var imm: Float
    var record: Int?
    var a: Lowering.Operand
    var b: Lowering.Operand?
}

/// Where `MatrixLowering.stageWeights` put a layer's weights in each cluster's L2: per
/// cluster, each staged column's address, and the addresses of the layer's weight scales
/// and bias when they were staged too (read from there instead of from DRAM, whose latency
/// a column's first products would otherwise wait out).
public struct StagedWeights: Sendable {
    public var columns: [Int: [Int: UInt64]] = [:]
    public var scales: [Int: UInt64] = [:]
    public var bias: [Int: UInt64] = [:]
}

/// What runs on from one matrix layer into the next on the same tiles, for layers that share
/// one plan and so one SRAM layout (a grouped convolution's groups): each tile's last
/// epilogue, held back until the tile's next layer has issued its first loads, so that those
/// loads do not queue behind its stores on the tile's DMA engines; and where each tile's
/// activation and weight buffers had turned to, so that those loads take the next buffers.
/// When the SRAM holds a second set of column regions (scales, bias, accumulators) after the
/// plan's, consecutive layers on a tile take the two in turn: the next layer's products then
/// need not wait for the last one's stores to finish reading its accumulators.
struct EpilogueCarry {
    fileprivate var pending: [Int: (inout ProgramBuilder) throws -> Void] = [:]
    fileprivate var turns: [Int: (activations: Int, weights: Int, columns: Int)] = [:]

    /// Emits the epilogues held back, tile by tile; the buffers' turns start over.
    mutating func flush(into b: inout ProgramBuilder) throws {
        for key in pending.keys.sorted() { try pending[key]!(&b) }
        (pending, turns) = ([:], [:])
    }
}

/// One tile's share of a matrix layer, as the steps that emit it: its start (the last
/// layer's held-back epilogue and this one's first loads), each group of its work, and at
/// the end what it holds back for the next layer and its buffers' turns.
private struct TileWork {
    var key: Int
    var groups: Int
    var start: (inout ProgramBuilder) throws -> Void
    var group: (Int, inout ProgramBuilder) throws -> Void
    var end: () -> (held: ((inout ProgramBuilder) throws -> Void)?, turns: (activations: Int, weights: Int, columns: Int))
}

public enum MatrixLowering {
    /// Appends `layer`'s instructions to `builder` following `plan` on `resources`; its
    /// weights staged first, unless `staged` says where `stageWeights` put them already.
    public static func lower(
        _ layer: MatrixLayer, plan: TilingPlan, resources: TileResources, staged: StagedWeights? = nil,
        into b: inout ProgramBuilder
    ) throws {
        var carry: EpilogueCarry?
        try lower(layer, plan: plan, resources: resources, staged: staged, carry: &carry, into: &b)
    }

    /// As `lower`, running on from the layer `carry` holds the last epilogues of (nil: none),
    /// and holding back this layer's last ones there in turn when it holds any. The tiles'
    /// work is emitted a group of each tile at a time, tile after tile, so that the program
    /// walks the tiles' queues about as they run.
    static func lower(
        _ layer: MatrixLayer, plan: TilingPlan, resources: TileResources, staged: StagedWeights?,
        carry: inout EpilogueCarry?, into b: inout ProgramBuilder
    ) throws {
        let w = layer.weights
        precondition(
            layer.firstRow % w.tileRows == 0 && layer.firstRow + layer.n <= w.rows && w.columns * layer.diagonal == layer.k
                && plan.tileK == min(w.tileColumns, layer.k) && plan.tileN == min(w.tileRows, layer.n))
        precondition(
            layer.diagonal == 1 || (w.columns <= w.tileColumns && layer.n == w.tileRows),
            "side by side, the groups' weights are one tile of the reduction and the layer one column of tiles")
        let firstTile = layer.firstTile
        let formats = InstructionSet.formats
        let wfmt = UInt64(formats.firstIndex(of: w.format.rawValue)!)
        let afmt = UInt64(formats.firstIndex(of: layer.activationFormat.rawValue)!)
        // The activation and weight tiles used in turn (`MatrixTiling.buffers`).
        let g = plan.groupN
        let regions = plan.layout
        precondition((regions.codes > 0) == layer.codedInput, "the plan lays out the activations the layer reads")
        let (actBytes, codesBytes, maxWeightTile, scaleBytes, perColumn) = (
            regions.activationTile, regions.codes, regions.weightTile, regions.scales, regions.column
        )
        precondition(maxWeightTile >= w.tileByteCount(rows: plan.tileN, length: plan.tileK))
        // Two sets of column regions: in the plan's layout, for a tile's groups of columns to
        // take in turn; or when the layer runs on from another and the plan's double buffers
        // fit beside a second set, for consecutive layers (the buffers past those then share
        // what is left).
        let turnsPerGroup = regions.columnSets == 2
        let columnSets =
            turnsPerGroup || carry != nil && regions.bytes(buffers: 2, columns: g) + g * perColumn <= resources.sramBytes
            ? 2 : 1
        let (actBuffers, buffers) = MatrixTiling.buffers(
            regions, rowTiles: (plan.chunkM + plan.tileM - 1) / plan.tileM, groupN: g,
            deepest: MatrixTiling.weightBuffers(format: w.format, sparse: w.sparse),
            sramBytes: resources.sramBytes - (turnsPerGroup ? 0 : (columnSets - 1) * g * perColumn))
        let weightAt = actBuffers * actBytes
        let columnAt = weightAt + buffers * g * maxWeightTile
        let tailAt = columnAt + g * perColumn
        let secondColumnsAt = tailAt + regions.tail
        precondition(columnSets == 1 || secondColumnsAt + g * perColumn <= resources.sramBytes)
        guard tailAt + regions.tail <= resources.sramBytes else {
            throw PackingError(
                "the layer's tiles need \(tailAt + regions.tail) bytes of SRAM, a tile has \(resources.sramBytes)")
        }
        precondition(layer.tail.isEmpty || regions.tail > 0, "the plan lays out the epilogue's element-wise steps")
        let staged = try staged ?? stageWeights(layer, plan: plan, resources, into: &b)
        // The next group's first reduction tile is loaded before this group's epilogue,
        // so that the epilogue's stores (and the waits before them, which hold the tile's
        // DMA queue) do not delay it. Not when the epilogue stages a residual through the
        // activation buffers.
        let prefetches = !(layer.residual != nil && regions.residual == 0)
        // Each tile's work as closures, emitted below a group of each tile at a time.
        let carrying = carry != nil
        var works: [TileWork] = []
        for (tileIndex, items) in plan.work.enumerated() {
            let (cluster, tile) = resources.place(tileIndex)
            let key = cluster * resources.tilesPerCluster + tile
            var (actTurn, weightTurn, columnTurn) = carry?.turns[key] ?? (0, 0, 0)
            /// The column regions of the tile's group `index`.
            func columnBase(_ index: Int) -> Int {
                (columnTurn + (turnsPerGroup ? index : 0)) % 2 == 0 ? columnAt : secondColumnsAt
            }
            var scaleFilled = Set<Int>()
            // Per column slot (by its address), the column of output tiles whose scales and
            // bias it holds: a tile's next chunk of the same column reads them where they are.
            var held: [Int: Int] = [:]
            // With one reduction tile, the weight tiles of the tile's last group of columns:
            // a next chunk of the same columns multiplies them where they are.
            var heldWeights: (columns: [Int], tiles: [UInt64])?
            func sram(
                _ element: ElementType, _ address: Int, _ dims: [Int], _ strides: [Int]? = nil, _ b: inout ProgramBuilder
            ) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(
                        .sram, element, cluster: cluster, tile: tile, address: UInt64(address),
                        dims: dims, strides: strides))
            }
            let groups = MatrixTiling.groups(items, groupN: g)
            /// The weight tiles of reduction tile `kt` for `columns`, loaded into the next
            /// buffer (or, with one reduction tile, those of the same columns held already).
            func loadWeights(
                _ columns: [(nTile: Int, nRange: Range<Int>)], _ kt: Int, _ b: inout ProgramBuilder
            ) throws -> [UInt64] {
                if plan.kTiles == 1, let h = heldWeights, h.columns == columns.map(\.nTile) { return h.tiles }
                var weights: [UInt64] = []
                for (j, c) in columns.enumerated() {
                    let (_, kRange) = w.tileRange(nTile: c.nTile, kTile: kt)
                    let tileBytes = w.tileByteCount(rows: c.nRange.count, length: kRange.count)
                    let wgt = try sram(.packed, weightAt + (weightTurn % buffers * g + j) * maxWeightTile, [tileBytes], nil, &b)
                    let src =
                        if let column = staged.columns[cluster]?[c.nTile] {
                            try TensorDescriptor(
                                .l2, .packed, cluster: cluster,
                                address: column
                                    + UInt64(w.tileOffset(nTile: c.nTile, kTile: kt) - w.tileOffset(nTile: c.nTile, kTile: 0)),
                                dims: [tileBytes])
                        } else {
                            try TensorDescriptor(
                                .weights, .packed,
                                address: UInt64(layer.weightOffset + w.tileOffset(nTile: c.nTile, kTile: kt)),
                                dims: [tileBytes])
                        }
                    try b.emit("dma", ["dst": wgt, "src": b.descriptor(src)])
                    weights.append(wgt)
                }
                weightTurn += 1
                heldWeights = (columns.map(\.nTile), weights)
                return weights
            }
            /// The activation tile of rows `m0 ..< m0 + mLen` and reduction positions `kRange`,
            /// loaded (and rounded, or read coded) into the next buffer.
            func loadActivations(_ m0: Int, _ mLen: Int, _ kRange: Range<Int>, _ b: inout ProgramBuilder) throws -> UInt64 {
                let actAddress = actTurn % actBuffers * actBytes
                var act = try sram(.f32, actAddress, [mLen, kRange.count], nil, &b)
                actTurn += 1
                if layer.codedInput, let windows = layer.windows {
                    act = try codedTile(
                        layer, windows, rows: m0..<(m0 + mLen), columns: kRange, at: actAddress,
                        scalesAt: actAddress + codesBytes, capacity: (codesBytes, actBytes - codesBytes),
                        fillScale: scaleFilled.insert(actAddress).inserted, cluster: cluster, tile: tile, into: &b)
                } else if let image = layer.codedRows {
                    act = try image.load(
                        layer, rows: m0..<(m0 + mLen), columns: kRange, at: actAddress, scalesAt: actAddress + codesBytes,
                        fillScale: scaleFilled.insert(actAddress).inserted, cluster: cluster, tile: tile, into: &b)
                } else if let windows = layer.windows {
                    try windows.gather(
                        rows: m0..<(m0 + mLen), columns: kRange, cluster: cluster, tile: tile, tileAddress: actAddress,
                        into: &b)
                } else {
                    let src = try TensorDescriptor(
                        layer.inputSpace, .f32,
                        address: layer.input
                            + UInt64(4 * (m0 * layer.inputRowStride + kRange.lowerBound * layer.inputColumnStride)),
                        dims: [mLen, kRange.count], strides: [layer.inputRowStride, layer.inputColumnStride])
                    try b.emit("dma", ["dst": act, "src": b.descriptor(src)])
                }
                if layer.activationFormat != .fp32 && layer.quantizeInput && !layer.codedInput {
                    try emitRounding(layer, dst: act, src: act, into: &b)
                }
                return act
            }
            func rowRange(of group: [TilingPlan.WorkItem]) -> Range<Int> {
                (group[0].chunk * plan.chunkM)..<min(layer.m, (group[0].chunk + 1) * plan.chunkM)
            }
            func columnRanges(of group: [TilingPlan.WorkItem]) -> [(nTile: Int, nRange: Range<Int>)] {
                group.map { item in (firstTile + item.nTile, w.tileRange(nTile: firstTile + item.nTile, kTile: 0).0) }
            }
            /// The activation columns reduction tile `kt` of output tile `nTile` multiplies: the
            /// weight tile's, or with groups side by side all of the layer's, each group's K
            /// against its own weight tile.
            func activationRange(_ nTile: Int, _ kt: Int) -> Range<Int> {
                layer.diagonal > 1 ? 0..<layer.k : w.tileRange(nTile: nTile, kTile: kt).columns
            }
            /// A group's first reduction tile's weights and activation tiles, one per row tile.
            func loadFirst(
                _ group: [TilingPlan.WorkItem], _ b: inout ProgramBuilder
            ) throws -> (weights: [UInt64], acts: [UInt64]) {
                let columns = columnRanges(of: group), rows = rowRange(of: group)
                let weights = try loadWeights(columns, 0, &b)
                var acts: [UInt64] = []
                for m0 in stride(from: rows.lowerBound, to: rows.upperBound, by: plan.tileM) {
                    acts.append(
                        try loadActivations(m0, min(plan.tileM, rows.upperBound - m0), activationRange(columns[0].nTile, 0), &b))
                }
                return (weights, acts)
            }
            var prefetched: (weights: [UInt64], acts: [UInt64])?
            // The last layer's epilogue on this tile: after this layer's first loads, and
            // before anything that writes its scales, bias or accumulators; with two sets of
            // column regions, this layer's take the other set, and it comes after their loads
            // too (a queue's signal covers every instruction before it on the queue: the
            // products would otherwise wait for the epilogue's stores).
            var lastEpilogue = carry?.pending.removeValue(forKey: key)
            // This layer's last epilogue on the tile, when it is held back for the next layer.
            var heldBack: ((inout ProgramBuilder) throws -> Void)?
            // With the groups taking the column regions in turn, the last group's epilogue,
            // emitted after this group's products.
            var lastGroupEpilogue: ((inout ProgramBuilder) throws -> Void)?
            let start = { (b: inout ProgramBuilder) throws in
                guard lastEpilogue != nil else { return }
                if prefetches, let first = groups.first { prefetched = try loadFirst(first, &b) }
                if columnSets == 1 || groups.isEmpty {
                    try lastEpilogue!(&b)
                    lastEpilogue = nil
                }
            }
            let emitGroup = { (groupIndex: Int, b: inout ProgramBuilder) throws in
                let group = groups[groupIndex]
                let rows = rowRange(of: group)
                // Each column's output channels, scales (at `at`), bias (after them) and accumulators.
                var columns: [(nTile: Int, nRange: Range<Int>, scl: UInt64, at: Int)] = []
                for (j, (nTile, nRange)) in columnRanges(of: group).enumerated() {
                    let at = columnBase(groupIndex) + j * perColumn
                    var scl: UInt64 = 0
                    let loaded = held.updateValue(nTile, forKey: at) == nTile
                    if w.format != .fp16 {
                        let count = w.format == .fp8 ? nRange.count : 1
                        let from =
                            w.weightOffsetOfScales(layerOffset: layer.weightOffset)
                            + (w.format == .fp8 ? 4 * nRange.lowerBound : 0)
                        scl = try sram(.f32, at, [count], nil, &b)
                        // From the blob's preloaded copy in the cluster's L2 when there is one, or
                        // the table staged there.
                        let src =
                            if let base = layer.preloaded {
                                try TensorDescriptor(
                                    .l2, .f32, cluster: cluster, address: base + UInt64(from - layer.weightOffset),
                                    dims: [count])
                            } else if let table = staged.scales[cluster] {
                                // The staged table starts at the layer's first row (fp8).
                                try TensorDescriptor(
                                    .l2, .f32, cluster: cluster,
                                    address: table
                                        + UInt64(
                                            from - w.weightOffsetOfScales(layerOffset: layer.weightOffset)
                                                - (w.format == .fp8 ? 4 * layer.firstRow : 0)),
                                    dims: [count])
                            } else {
                                try TensorDescriptor(.weights, .f32, address: UInt64(from), dims: [count])
                            }
                        if !loaded { try b.emit("dma", ["dst": scl, "src": b.descriptor(src)]) }
                    }
                    if let bias = layer.bias, !loaded {
                        try b.emit(
                            "dma",
                            [
                                "dst": try sram(.f32, at + scaleBytes, [nRange.count], nil, &b),
                                "src": b.descriptor(
                                    try staged.bias[cluster].map {
                                        try TensorDescriptor(
                                            .l2, .f32, cluster: cluster,
                                            address: $0 + UInt64(4 * (nRange.lowerBound - layer.firstRow)),
                                            dims: [nRange.count])
                                    }
                                        ?? TensorDescriptor(
                                            .constants, .f32, address: UInt64(bias + 4 * nRange.lowerBound),
                                            dims: [nRange.count])),
                            ])
                    }
                    if let residual = layer.residual, regions.residual > 0 {
                        // The chunk's residual, [rows, columns], loaded while the products run.
                        let (rs, cs) = layer.outputStrides
                        let src = try TensorDescriptor(
                            layer.residualSpace, .f32,
                            address: residual + UInt64(4 * (rows.lowerBound * rs + nRange.lowerBound * cs)),
                            dims: [rows.count, nRange.count], strides: [rs, cs])
                        try b.emit(
                            "dma",
                            [
                                "dst": try sram(.f32, at + perColumn - regions.residual, [rows.count, nRange.count], nil, &b),
                                "src": b.descriptor(src),
                            ])
                    }
                    columns.append((nTile, nRange, scl, at))
                }
                if let epilogue = lastEpilogue {
                    try epilogue(&b)
                    lastEpilogue = nil
                }
                // Each reduction tile's products, output tile by output tile (row tiles, then the
                // columns of each). With two output tiles whose products pass through the array
                // faster than its pipeline drains, every other reduction tile takes them in
                // reverse: each tile's products then follow one another across the turn (the
                // array keeps the partial sums), and the other's are three products apart
                // instead of two, where two in turn would each wait for the other's to complete.
                let rowStarts = Array(stride(from: rows.lowerBound, to: rows.upperBound, by: plan.tileM))
                let outputs = rowStarts.indices.flatMap { r in columns.indices.map { (r, $0) } }
                let turns =
                    outputs.count == 2
                    && passCycles(
                        rows: min(plan.tileM, rows.count), columns: columns[0].nRange.count,
                        reduction: activationRange(columns[0].nTile, 0).count, layer, resources)
                        < resources.arrayRows + resources.arrayColumns - 1
                for kt in 0..<plan.kTiles {
                    let first = kt == 0 ? prefetched : nil
                    let weights = try first?.weights ?? loadWeights(columns.map { ($0.nTile, $0.nRange) }, kt, &b)
                    let kRange = activationRange(columns[0].nTile, kt)
                    var acts = [UInt64?](repeating: nil, count: rowStarts.count)
                    for (r, j) in turns && kt % 2 == 1 ? outputs.reversed() : outputs {
                        let m0 = rowStarts[r], mLen = min(plan.tileM, rows.upperBound - rowStarts[r])
                        let act = try acts[r] ?? first?.acts[r] ?? loadActivations(m0, mLen, kRange, &b)
                        acts[r] = act
                        let c = columns[j]
                        let out = try sram(
                            .f32, c.at + 2 * scaleBytes + r * regions.accumulatorRowTile, [mLen, c.nRange.count], nil, &b)
                        if layer.diagonal > 1 {
                            try b.emit(
                                "mmag",
                                [
                                    "out": out, "act": act, "wgt": weights[j], "scl": c.scl, "wfmt": wfmt, "afmt": afmt,
                                    "sparse": w.sparse ? 1 : 0, "accumulate": kt > 0 ? 1 : 0,
                                    "groups": UInt64(layer.diagonal),
                                ])
                        } else {
                            try b.emit(
                                "mma",
                                [
                                    "out": out, "act": act, "wgt": weights[j], "scl": c.scl, "wfmt": wfmt, "afmt": afmt,
                                    "sparse": w.sparse ? 1 : 0, "accumulate": kt > 0 ? 1 : 0,
                                ])
                        }
                    }
                }
                prefetched = prefetches && groupIndex + 1 < groups.count ? try loadFirst(groups[groupIndex + 1], &b) : nil
                let finish = { [columns] (b: inout ProgramBuilder) throws in
                    for c in columns {
                        try epilogue(
                            layer, rows: rows, columns: c.nRange, tileM: plan.tileM, bias: c.at + scaleBytes,
                            accumulators: c.at + 2 * scaleBytes, accumulatorRowTile: regions.accumulatorRowTile,
                            residual: regions.residual > 0 ? c.at + perColumn - regions.residual : nil,
                            spare: layer.codedInput ? codesBytes : actBuffers * actBytes, tail: tailAt,
                            cluster: cluster, tile: tile, into: &b)
                    }
                }
                if turnsPerGroup {
                    if let last = lastGroupEpilogue { try last(&b) }
                    lastGroupEpilogue = finish
                }
                if carrying && prefetches && groupIndex == groups.count - 1 {
                    heldBack = finish
                } else if !turnsPerGroup || groupIndex == groups.count - 1 {
                    try finish(&b)
                }
            }
            works.append(
                TileWork(
                    key: key, groups: groups.count, start: start, group: emitGroup,
                    end: {
                        (heldBack, (actTurn, weightTurn, (columnTurn + (turnsPerGroup ? groups.count : 1)) % columnSets))
                    }))
        }
        for work in works { try work.start(&b) }
        for turn in 0..<(works.map(\.groups).max() ?? 0) {
            for work in works where turn < work.groups { try work.group(turn, &b) }
        }
        for work in works where carrying {
            let (held, turns) = work.end()
            if let held { carry!.pending[work.key] = held }
            carry!.turns[work.key] = turns
        }
    }

    /// A coded activation tile (rows x columns of the windows' matrix) in SRAM: its codes at
    /// `at`, and at `scalesAt` for nvfp4 the block scales of its windows (`columns` holds
    /// whole blocks of channels at every kernel position), or for fp8 the tensor scale,
    /// filled once per buffer (`fillScale`). When the rows are a rectangle of the output,
    /// the columns whole channels' windows and the band of the image those windows read
    /// fits `capacity` (bytes for the codes, for the scales), the band is copied and its
    /// windows read in place (`ConvolutionWindows.band`); else the windows are gathered.
    /// Returns the coded operand: the codes, and the scales as the mma walks them, each
    /// block's scale repeated over its channels.
    private static func codedTile(
        _ layer: MatrixLayer, _ windows: ConvolutionWindows, rows: Range<Int>, columns: Range<Int>, at: Int, scalesAt: Int,
        capacity: (codes: Int, scales: Int), fillScale: Bool, cluster: Int, tile: Int, into b: inout ProgramBuilder
    ) throws -> UInt64 {
        let taps = windows.kernel.0 * windows.kernel.1, block = layer.blockChannels
        if fillScale && layer.scaleWindows == nil {
            try fillFP8Scale(layer, at: scalesAt, cluster: cluster, tile: tile, into: &b)
        }
        /// fp8's scales: the tensor scale's word, read for every element.
        func tensorScale(_ count: Int) throws -> TensorDescriptor {
            try TensorDescriptor(
                .sram, .f32, cluster: cluster, tile: tile, address: UInt64(scalesAt), dims: [count, columns.count],
                strides: [0, 0])
        }
        let unit = taps * (layer.scaleWindows == nil ? 1 : block)
        if columns.lowerBound % unit == 0 && columns.count % unit == 0, let band = windows.band(rows) {
            let channels = (columns.lowerBound / taps)..<(columns.upperBound / taps), blocks = channels.count / block
            let codeBytes = channels.count * band.rows * band.columns
            let scaleBytes = layer.scaleWindows == nil ? 0 : 4 * blocks * band.rows * band.columns
            if codeBytes <= capacity.codes && scaleBytes <= capacity.scales {
                try windows.copy(band, channels: channels, cluster: cluster, tile: tile, at: at, into: &b)
                try layer.scaleWindows?.copy(
                    band, channels: (channels.lowerBound / block)..<(channels.upperBound / block), cluster: cluster,
                    tile: tile, at: scalesAt, into: &b)
                let codes = try windows.view(band, channels: channels.count, cluster: cluster, tile: tile, at: at)
                let scales =
                    try layer.scaleWindows?.view(
                        band, channels: blocks, repeating: block, cluster: cluster, tile: tile, at: scalesAt)
                    ?? tensorScale(rows.count)
                return b.codedDescriptor(codes: codes, scales: scales)
            }
        }
        try windows.gather(rows: rows, columns: columns, cluster: cluster, tile: tile, tileAddress: at, into: &b)
        let codes = try TensorDescriptor(
            .sram, .u8, cluster: cluster, tile: tile, address: UInt64(at), dims: [rows.count, columns.count])
        let scales: TensorDescriptor
        if let scaleWindows = layer.scaleWindows {
            precondition(columns.lowerBound % (block * taps) == 0 && columns.count % (block * taps) == 0)
            let blocks = columns.count / (block * taps)
            try scaleWindows.gather(
                rows: rows, columns: (columns.lowerBound / block)..<(columns.upperBound / block), cluster: cluster,
                tile: tile, tileAddress: scalesAt, into: &b)
            scales = try TensorDescriptor(
                .sram, .f32, cluster: cluster, tile: tile, address: UInt64(scalesAt), dims: [rows.count, blocks, block, taps],
                strides: [blocks * taps, taps, 0, 1])
        } else {
            scales = try tensorScale(rows.count)
        }
        return b.codedDescriptor(codes: codes, scales: scales)
    }

    /// Writes the scale coded fp8 activations multiply their codes by (the model's own, or
    /// amax / 448) into the word at `at` of a tile's SRAM, which their scales descriptor reads
    /// for every element.
    static func fillFP8Scale(_ layer: MatrixLayer, at: Int, cluster: Int, tile: Int, into b: inout ProgramBuilder) throws {
        let word = try TensorDescriptor(.sram, .f32, cluster: cluster, tile: tile, address: UInt64(at), dims: [1])
        let scale = layer.activationScale ?? FP8.scale(amax: layer.activationAmax)
        try b.emit("fill", ["dst": b.descriptor(word), "value": UInt64(scale.bitPattern)])
    }

    /// Rounds the float32 activations `src` (in a tile's SRAM) onto `layer`'s format into
    /// `dst`: float32 values in place, or a coded operand (its codes, its scales the next
    /// descriptor). `quant` with the calibrated amax; with a model's own nvfp4 tensor scale,
    /// `quant` with that scale (its scale flag); with a model's own fp8 scale s, x / s
    /// (in `src`, which it changes) rounded at scale 1 (amax 448) and, as values, times s:
    /// the interpreter's e4m3(x / s) · s. Coded, the scale the mma multiplies is then s (the
    /// tile's fp8 scale word), not the 1 `quant` writes.
    static func emitRounding(_ layer: MatrixLayer, dst: UInt64, src: UInt64, into b: inout ProgramBuilder) throws {
        let fmt = UInt64(InstructionSet.formats.firstIndex(of: layer.activationFormat.rawValue)!)
        guard let scale = layer.activationScale else {
            try b.emit(
                "quant", ["dst": dst, "src": src, "fmt": fmt, "amax": UInt64(layer.activationAmax.bitPattern), "scale": 0])
            return
        }
        if layer.activationFormat == .nvfp4 {
            // The model's tensor scale, as it is.
            try b.emit("quant", ["dst": dst, "src": src, "fmt": fmt, "amax": UInt64(scale.bitPattern), "scale": 1])
            return
        }
        precondition(layer.activationFormat == .fp8)
        try b.emit("vop", ["op": op("div_scalar"), "dst": src, "a": src, "b": 0, "imm": UInt64(scale.bitPattern)])
        try b.emit("quant", ["dst": dst, "src": src, "fmt": fmt, "amax": UInt64(Float(448).bitPattern), "scale": 0])
        if b.program.descriptors[Int(dst)].element != .u8 {
            try b.emit("vop", ["op": op("mul_scalar"), "dst": dst, "a": dst, "b": 0, "imm": UInt64(scale.bitPattern)])
        }
    }

    /// Per cluster with work under `plan`, the columns of weight tiles (absolute output-tile
    /// indices) its tiles compute, in increasing order.
    static func clusterColumns(_ plan: TilingPlan, firstTile: Int, _ resources: TileResources) -> [(Int, [Int])] {
        var columnsOf: [Int: Set<Int>] = [:]
        for (tileIndex, items) in plan.work.enumerated() {
            for item in items { columnsOf[resources.place(tileIndex).cluster, default: []].insert(firstTile + item.nTile) }
        }
        return columnsOf.sorted { $0.key < $1.key }.map { ($0.key, $0.value.sorted()) }
    }

    /// Bytes of a column of weight tiles (all its k-tiles), as staged: 64-byte aligned.
    static func stagedBytes(_ w: WeightLayout, column nTile: Int) -> Int {
        (w.columnByteCount(nTile: nTile) + 63) / 64 * 64
    }

    /// Copies each cluster's columns of weight tiles (every k-tile of the output tiles its
    /// tiles compute; a column's tiles are contiguous in the packed layout) into its L2 from
    /// `layer.weightStaging`'s start, in increasing column order while they fit, one DMA per
    /// column; then, when every column fitted, the layer's weight scales and its bias after
    /// them, while they fit. Preloaded weights are there already: their addresses, and no
    /// copy (their scales are in the blob; their bias is read from DRAM).
    static func stageWeights(
        _ layer: MatrixLayer, plan: TilingPlan, _ resources: TileResources, into b: inout ProgramBuilder
    ) throws -> StagedWeights {
        let w = layer.weights, firstTile = layer.firstTile
        var staged = StagedWeights()
        if let base = layer.preloaded {
            for (cluster, columns) in clusterColumns(plan, firstTile: firstTile, resources) {
                staged.columns[cluster] = Dictionary(
                    uniqueKeysWithValues: columns.map { ($0, base + UInt64(w.tileOffset(nTile: $0, kTile: 0))) })
            }
            return staged
        }
        guard !layer.weightStaging.isEmpty else { return staged }
        // The scale table (fp8: a float32 per output channel; nvfp4: the tensor scale) and the
        // bias (a float32 per output channel), from the weight and constant sections: the
        // layer's rows of them (a group's, of a grouped convolution).
        let scales = w.weightOffsetOfScales(layerOffset: layer.weightOffset)
        let tables: [(space: MemorySpace, from: Int, count: Int, isScales: Bool)] =
            (w.format == .fp8 ? [(.weights, scales + 4 * layer.firstRow, layer.n, true)] : [])
            + (w.format == .nvfp4 ? [(.weights, scales, 1, true)] : [])
            + (layer.bias.map { [(.constants, $0 + 4 * layer.firstRow, layer.n, false)] } ?? [])
        for (cluster, columns) in clusterColumns(plan, firstTile: firstTile, resources) {
            var at = layer.weightStaging.lowerBound
            for n in columns {
                let bytes = stagedBytes(w, column: n)
                guard at + bytes <= layer.weightStaging.upperBound else { break }
                let size = w.columnByteCount(nTile: n), address = layer.l2Address(at, size: bytes, l2Bytes: resources.l2Bytes)
                let dst = try TensorDescriptor(.l2, .packed, cluster: cluster, address: address, dims: [size])
                let src = try TensorDescriptor(
                    .weights, .packed, address: UInt64(layer.weightOffset + w.tileOffset(nTile: n, kTile: 0)), dims: [size])
                try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
                staged.columns[cluster, default: [:]][n] = address
                at += bytes
            }
            guard staged.columns[cluster]?.count == columns.count else { continue }
            for table in tables {
                let bytes = (4 * table.count + 63) / 64 * 64
                guard at + bytes <= layer.weightStaging.upperBound else { break }
                let address = layer.l2Address(at, size: bytes, l2Bytes: resources.l2Bytes)
                let dst = try TensorDescriptor(.l2, .f32, cluster: cluster, address: address, dims: [table.count])
                let src = try TensorDescriptor(table.space, .f32, address: UInt64(table.from), dims: [table.count])
                try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
                if table.isScales { staged.scales[cluster] = address } else { staged.bias[cluster] = address }
                at += bytes
            }
        }
        return staged
    }

    /// The most L2 bytes a cluster holds for `layer` under `plan`: from its layout's start,
    /// the band (`weightStaging`'s start), then what `stageWeights` stages there: the
    /// columns of weight tiles its tiles compute and the layer's rows of the scale and bias
    /// tables (none of them for preloaded weights).
    static func stagingFootprint(_ layer: MatrixLayer, plan: TilingPlan, _ resources: TileResources) -> Int {
        let w = layer.weights
        guard layer.preloaded == nil else { return layer.weightStaging.lowerBound }
        func aligned(_ x: Int) -> Int { (x + 63) / 64 * 64 }
        let tables =
            (w.format == .fp8 ? aligned(4 * layer.n) : w.format == .nvfp4 ? aligned(4) : 0)
            + (layer.bias != nil ? aligned(4 * layer.n) : 0)
        let columns = clusterColumns(plan, firstTile: layer.firstTile, resources).map { _, columns in
            columns.reduce(0) { $0 + stagedBytes(w, column: $1) }
        }
        return layer.weightStaging.lowerBound + (columns.max() ?? 0) + tables
    }

    /// A column of output tiles done, row tile by row tile (the accumulators of each
    /// `accumulatorRowTile` bytes after the last's): bias, activation, residual (the
    /// chunk's, loaded at `residual` with the column; without that region, read in blocks
    /// into the `spare` bytes from SRAM address 0, the activation tiles' buffers), Relu,
    /// the element-wise tail (its results at `tail`, the last step's over the
    /// accumulators), out of the tile.
    private static func epilogue(
        _ layer: MatrixLayer, rows: Range<Int>, columns nRange: Range<Int>, tileM: Int, bias biasAt: Int,
        accumulators accumulatorsAt: Int, accumulatorRowTile: Int, residual residualAt: Int?, spare: Int, tail tailAt: Int,
        cluster: Int, tile: Int, into b: inout ProgramBuilder
    ) throws {
        func sram(_ element: ElementType, _ address: Int, _ dims: [Int], _ strides: [Int]?) throws -> UInt64 {
            b.descriptor(
                try TensorDescriptor(
                    .sram, element, cluster: cluster, tile: tile, address: UInt64(address), dims: dims, strides: strides))
        }
        let nLen = nRange.count
        for m0 in stride(from: rows.lowerBound, to: rows.upperBound, by: tileM) {
            let mLen = min(tileM, rows.upperBound - m0)
            let accAt = accumulatorsAt + (m0 - rows.lowerBound) / tileM * accumulatorRowTile
            let acc = try sram(.f32, accAt, [mLen, nLen], nil)
            let none = UInt64(Float(0).bitPattern)
            if layer.bias != nil {
                try b.emit(
                    "vop",
                    [
                        "op": op("add"), "dst": acc, "a": acc, "b": try sram(.f32, biasAt, [mLen, nLen], [0, 1]),
                        "imm": none,
                    ])
            }
            switch layer.fusedActivation {
            case nil: break
            case "Relu": try b.emit("vop", ["op": op("relu"), "dst": acc, "a": acc, "b": 0, "imm": none])
            case "LeakyRelu":
                try b.emit(
                    "vop",
                    [
                        "op": op("leaky_relu"), "dst": acc, "a": acc, "b": 0,
                        "imm": UInt64(layer.activationParameters[0].bitPattern),
                    ])
            case "Clip":
                guard let record = layer.clampRecord else { throw PackingError("a fused Clip has no bounds record") }
                try b.emit("vopp", ["op": op("clamp"), "dst": acc, "a": acc, "b": 0, "params": UInt64(record)])
            default: throw PackingError("no lowering for fused activation \(layer.fusedActivation!)")
            }
            let (rs, cs) = layer.outputStrides
            if layer.residual != nil, let residualAt {
                let offset = 4 * (m0 - rows.lowerBound) * nLen
                try b.emit(
                    "vop",
                    [
                        "op": op("add"), "dst": acc, "a": acc, "b": try sram(.f32, residualAt + offset, [mLen, nLen], nil),
                        "imm": none,
                    ])
            } else if let residual = layer.residual {
                let blockColumns = max(1, min(nLen, spare / 4)), blockRows = max(1, spare / (4 * blockColumns))
                for r0 in stride(from: 0, to: mLen, by: blockRows) {
                    for c0 in stride(from: 0, to: nLen, by: blockColumns) {
                        let dims = [min(blockRows, mLen - r0), min(blockColumns, nLen - c0)]
                        let block = try sram(.f32, 0, dims, nil)
                        let src = try TensorDescriptor(
                            layer.residualSpace, .f32,
                            address: residual + UInt64(4 * ((m0 + r0) * rs + (nRange.lowerBound + c0) * cs)), dims: dims,
                            strides: [rs, cs])
                        try b.emit("dma", ["dst": block, "src": b.descriptor(src)])
                        let sum = try sram(.f32, accAt + 4 * (r0 * nLen + c0), dims, [nLen, 1])
                        try b.emit("vop", ["op": op("add"), "dst": sum, "a": sum, "b": block, "imm": none])
                    }
                }
            }
            if layer.residual != nil && layer.reluAfterResidual {
                try b.emit("vop", ["op": op("relu"), "dst": acc, "a": acc, "b": 0, "imm": none])
            }
            if layer.residual != nil, let record = layer.clampAfterResidual {
                // As the interpreter's Clip: min(max(x, low), high).
                try b.emit("vopp", ["op": op("clamp"), "dst": acc, "a": acc, "b": 0, "params": UInt64(record)])
            }
            if !layer.tail.isEmpty {
                let result = try sram(.f32, tailAt, [mLen, nLen], nil)
                func operand(_ o: Lowering.Operand?) -> UInt64 {
                    switch o {
                    case .input: return acc
                    case .result: return result
                    case nil: return 0
                    }
                }
                for (s, step) in layer.tail.enumerated() {
                    try Lowering.emitStep(
                        step.op, imm: step.imm, record: step.record, dst: s == layer.tail.count - 1 ? acc : result,
                        a: operand(step.a), b: operand(step.b), into: &b)
                }
            }
            let dst = try TensorDescriptor(
                layer.outputSpace, .f32, address: layer.output + UInt64(4 * (m0 * rs + nRange.lowerBound * cs)),
                dims: [mLen, nLen], strides: [rs, cs])
            try b.emit("dma", ["dst": b.descriptor(dst), "src": acc])
        }
    }

    /// The cycles a product of `rows` x `reduction` by `reduction` x `columns` holds the
    /// array (`schemas/cycles.md`): the rows stream past each block of the array's columns
    /// by its depth of reduction positions at the wider format's rate.
    private static func passCycles(
        rows: Int, columns: Int, reduction: Int, _ layer: MatrixLayer, _ resources: TileResources
    ) -> Int {
        let formats = [layer.weights.format, layer.activationFormat].map { $0 == .fp32 ? .fp16 : $0 }
        let wider = formats.min { resources.rates[$0] ?? 1 < resources.rates[$1] ?? 1 }!
        let depth = resources.tileColumns(wider, sparse: layer.weights.sparse)
        return rows * ((columns + resources.arrayColumns - 1) / resources.arrayColumns) * ((reduction + depth - 1) / depth)
    }

    private static func op(_ name: String) -> UInt64 { UInt64(InstructionSet.vectorOps.firstIndex(of: name)!) }
}

extension WeightLayout {
    /// The weight-section offset of the scale table of a blob at `layerOffset`.
    func weightOffsetOfScales(layerOffset: Int) -> Int { layerOffset + scaleOffset }
}
