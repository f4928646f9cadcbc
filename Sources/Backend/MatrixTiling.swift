// Tiling a matrix layer for the NPU: out[M, N] = act[M, K] · W[K, N] cut into tiles that fit
// one MAC tile's SRAM with double buffering, scheduled weight-stationary (a weight tile is
// loaded once per chunk of output rows and every row tile of the chunk streams past it),
// and the work spread over every MAC tile of every cluster.
import Formats

/// What a MAC tile offers: its SRAM, its array, each format's MACs per cell and cycle,
/// and how many tiles there are.
public struct TileResources: Sendable, Equatable {
    public var sramBytes: Int
    public var arrayRows: Int
    public var arrayColumns: Int
    public var rates: [PrecisionFormat: Int]
    public var clusters: Int
    public var tilesPerCluster: Int
    /// The global on-chip buffer (0: none), where a convolution keeps its image when it fits.
    public var l3Bytes: Int
    /// Each cluster's shared buffer (0: none), where a convolution stages the rows of its
    /// image the cluster's tiles gather windows from.
    public var l2Bytes: Int
    /// Bytes of DRAM, the last memory: what the activations, scratch and all may use.
    public var dramBytes = Int.max
    /// Bytes a cycle each cluster's shared buffer moves (0: not known), which its tiles'
    /// loads of activations and weights share.
    public var l2BytesPerCycle = 0
    /// Bytes a cycle DRAM moves (0: not known), which every cluster's weight loads share.
    public var dramBytesPerCycle = 0
    /// Bytes a cycle the global buffer moves (0: not known), which every tile's loads of a
    /// convolution's float32 windows share.
    public var l3BytesPerCycle = 0
    /// Cycles from a load from DRAM to its bytes (0: not known): a weight tile loaded from
    /// there into a buffer the products free only as they complete arrives that late.
    public var dramLatency = 0
    /// Cycles from a load from the global buffer to its bytes (0: not known).
    public var l3Latency = 0
    /// Elements a tile's vector unit takes a step (0: not known), and cycles a step of an
    /// element-wise op takes (`quant` into nvfp4 takes two).
    public var vectorLanes = 0
    public var elementwiseCycles = 1
    /// Cycles a step of a transcendental op (exp, erf, a division) takes.
    public var transcendentalCycles = 1
    /// Cycles from a product's start to its results in the array's accumulators (the
    /// pipeline fill: rows + columns - 1).
    public var drain: Int { arrayRows + arrayColumns - 1 }

    public init(
        sramBytes: Int, arrayRows: Int, arrayColumns: Int, rates: [PrecisionFormat: Int], clusters: Int,
        tilesPerCluster: Int, l3Bytes: Int = 0, l2Bytes: Int = 0
    ) {
        self.l3Bytes = l3Bytes
        self.l2Bytes = l2Bytes
        self.sramBytes = sramBytes
        self.arrayRows = arrayRows
        self.arrayColumns = arrayColumns
        self.rates = rates
        self.clusters = clusters
        self.tilesPerCluster = tilesPerCluster
    }

    public var tileCount: Int { clusters * tilesPerCluster }

    /// Where a layer's dealing of work starts: its first unit goes to cluster `firstTile`
    /// and tile `firstTile` of it (each modulo their count), so that consecutive small
    /// layers land on different tiles of different clusters.
    public var firstTile = 0

    /// Units of work dealt before the first: a grouped convolution's group starts its
    /// dealing past the tiles the groups running beside it took.
    public var firstUnit = 0

    /// The cluster and tile of the `index`-th unit of work dealt round-robin over every
    /// tile, cluster-major, both counted from `firstTile` (after `firstUnit` units):
    /// independent units on different tiles run concurrently, and units
    /// `tilesPerCluster` x c ..< `tilesPerCluster` x (c + 1) share a cluster.
    public func place(_ index: Int) -> (cluster: Int, tile: Int) {
        let t = (index + firstUnit) % tileCount
        return ((t / tilesPerCluster + firstTile) % clusters, (t % tilesPerCluster + firstTile) % tilesPerCluster)
    }

    /// Dense reduction positions per tile for `format` (as the packed weights are cut).
    public func tileColumns(_ format: PrecisionFormat, sparse: Bool) -> Int {
        arrayRows * (rates[format] ?? 1) * (sparse ? 2 : 1)
    }
}

/// One matrix layer to tile.
public struct MatrixShape: Sendable, Equatable {
    public var m: Int, k: Int, n: Int
    public var weightFormat: PrecisionFormat
    public var sparse: Bool
    public var activationFormat: PrecisionFormat
    /// Reduction positions per weight tile when the packed weights' differ from the MAC
    /// array's depth (a convolution with coded nvfp4 activations: whole blocks of 16
    /// channels at every kernel position).
    public var reductionTile: Int?
    /// The epilogue adds a residual: each column keeps its chunk of it beside the
    /// accumulators, loaded before the products.
    public var residual = false
    /// The epilogue runs element-wise steps last, keeping their results in a row tile of
    /// accumulators' bytes of its own.
    public var tail = false
    /// The cycles the epilogue's steps after the products take per `TileResources.vectorLanes`
    /// output elements (its bias, activation, residual and tail; 0: not known).
    public var epilogueCycles = 0
    /// Sets of column regions a tile's groups of columns take in turn (`SRAMLayout.columnSets`).
    public var columnSets = 1
    /// The activations arrive coded (a byte per code, and for nvfp4 a float32 scale per
    /// block of 16) instead of as float32 to be rounded on the tile.
    public var codedActivations = false
    /// Channels per nvfp4 block of coded activations (16, or a pixel's fewer).
    public var activationBlock = 16
    /// The rows are windows a convolution gathers from its image, which each cluster
    /// stages a band of in its L2 when the band fits.
    public var windowed = false
    /// A convolution whose tiles read the windows of a rectangle of output positions (part
    /// of an output row, or whole rows) in place from the band of its image they cover
    /// (coded activations, a kernel larger than 1x1): row tiles that are such rectangles are
    /// then preferred, and the activation bytes a plan moves are its bands'.
    public var bands: Bands?

    public struct Bands: Sendable, Equatable {
        public var outWidth: Int
        public var kernel: (Int, Int), strides: (Int, Int), dilations: (Int, Int)

        public init(outWidth: Int, kernel: (Int, Int), strides: (Int, Int), dilations: (Int, Int)) {
            self.outWidth = outWidth
            (self.kernel, self.strides, self.dilations) = (kernel, strides, dilations)
        }

        public static func == (a: Bands, b: Bands) -> Bool {
            a.outWidth == b.outWidth && a.kernel == b.kernel && a.strides == b.strides && a.dilations == b.dilations
        }

        /// Whether row tiles of `rows` output positions are rectangles of the output.
        func rectangular(_ rows: Int) -> Bool { outWidth % rows == 0 || rows % outWidth == 0 }

        /// The image rows and columns the windows of `outRows` output rows of `width`
        /// positions each cover.
        func extent(outRows: Int, width: Int) -> (rows: Int, columns: Int) {
            (
                (outRows - 1) * strides.0 + (kernel.0 - 1) * dilations.0 + 1,
                (width - 1) * strides.1 + (kernel.1 - 1) * dilations.1 + 1
            )
        }

        /// Image pixels (per channel) the band of a rectangular row tile of `rows` covers.
        func pixels(_ rows: Int) -> Int {
            let band = rows >= outWidth ? extent(outRows: rows / outWidth, width: outWidth) : extent(outRows: 1, width: rows)
            return band.rows * band.columns
        }
    }

    public init(
        m: Int, k: Int, n: Int, weightFormat: PrecisionFormat, sparse: Bool, activationFormat: PrecisionFormat,
        reductionTile: Int? = nil, codedActivations: Bool = false
    ) {
        (self.m, self.k, self.n) = (m, k, n)
        self.weightFormat = weightFormat
        self.sparse = sparse
        self.activationFormat = activationFormat
        self.reductionTile = reductionTile
        self.codedActivations = codedActivations
    }

    /// Bytes an activation element moves with: a code and its share of a block scale
    /// (nvfp4: 1.25, counted in quarters), else its float32.
    var activationQuarterBytes: Int {
        codedActivations ? (activationFormat == .nvfp4 ? 4 + 16 / activationBlock : 4) : 16
    }
}

public struct TilingPlan: Sendable, Equatable {
    /// Rows of the output per `mma`, output rows per weight-stationary chunk (a multiple of
    /// `tileM`, or all of M), dense reduction positions and output channels per tile.
    public var tileM: Int
    public var chunkM: Int
    public var tileK: Int
    public var tileN: Int
    /// Where a MAC tile keeps the layer's operands, and the SRAM that takes with its
    /// activation buffers and two weight tiles per column.
    public var layout: MatrixTiling.SRAMLayout
    public var sramBytes: Int { layout.bytes(buffers: 2, columns: groupN) }
    /// A unit of work: one column of output tiles (`nTile`) over one chunk of rows.
    public struct WorkItem: Sendable, Equatable, Hashable {
        public var nTile: Int
        public var chunk: Int

        public init(nTile: Int, chunk: Int) {
            self.nTile = nTile
            self.chunk = chunk
        }
    }
    /// Per MAC tile (cluster-major), its work in order. Columns `groupN` x g ..< groupN x
    /// (g + 1) of one chunk go to one tile one after another: it computes them together,
    /// reading each activation tile once for all of them.
    public var work: [[WorkItem]]
    public var groupN: Int

    public var nTiles: Int
    public var kTiles: Int
    public var chunks: Int
    /// Weight tiles loaded from DRAM in all: each once per chunk.
    public var weightTileLoads: Int { nTiles * kTiles * chunks }
}

public enum MatrixTiling {
    /// Where a tile keeps a matrix layer's operands in its SRAM, each region 64-byte aligned:
    /// the activation tiles (float32, rounded in place; or coded: the codes, then their
    /// block scales, or fp8's tensor scale), the weight tiles, then per column of output
    /// tiles computed together its weight scales, its bias and its float32 accumulators for
    /// a chunk of `chunkM` rows, each row tile's from a 64-byte boundary (and the chunk's
    /// residual the epilogue adds).
    public struct SRAMLayout: Sendable, Equatable {
        /// One activation tile, and of it the codes (coded activations; their scales follow).
        public var activationTile: Int
        public var codes: Int
        public var weightTile: Int
        /// A column's weight scales (and as much again for its bias), its residual's chunk
        /// (0 without one; the column's last bytes), and all its bytes.
        public var scales: Int
        public var residual = 0
        public var column: Int
        /// Bytes from one row tile's accumulators to the next's: whole 64-byte blocks, so
        /// that a row tile's products and epilogue never share a block with the stores of
        /// the row tile before (the cycle model orders accesses to a block as if they
        /// overlapped, `schemas/cycles.md`).
        public var accumulatorRowTile = 0
        /// Activation tiles loaded in turn: one more than a chunk has row tiles, and at least
        /// two, so that a reduction tile's first load need not wait for the last one's
        /// products.
        public var activationBuffers = 2
        /// Where the epilogue's element-wise steps keep their results (`MatrixShape.tail`; 0:
        /// none), after the columns: one row tile's accumulators.
        public var tail = 0
        /// Sets of column regions, used by a tile's groups of columns in turn: two where the
        /// epilogue's element-wise steps would hold the next group's products back.
        public var columnSets = 1

        /// Bytes with `buffers` weight tiles per column (used in turn), for `columns` columns,
        /// and `activationBuffers` activation tiles (one when `buffers` is one).
        public func bytes(buffers: Int, columns: Int) -> Int {
            (buffers == 1 ? 1 : activationBuffers) * activationTile + buffers * columns * weightTile
                + columnSets * columns * column + tail
        }
    }

    public static func layout(tileM: Int, chunkM: Int, tileK: Int, tileN: Int, shape: MatrixShape) -> SRAMLayout {
        func aligned(_ x: Int) -> Int { (x + 63) / 64 * 64 }
        let codes = shape.codedActivations ? aligned(tileM * tileK) : 0
        let activationTile =
            shape.codedActivations
            ? codes + aligned(shape.activationFormat == .nvfp4 ? tileM * (tileK / shape.activationBlock) * 4 : 4)
            : aligned(tileM * tileK * 4)
        let weights =
            (try? WeightLayout(
                format: shape.weightFormat, sparse: shape.sparse, rows: tileN, columns: tileK,
                tileRows: tileN, tileColumns: tileK
            ).byteCount) ?? tileN * tileK * 2
        let rowTile = aligned(tileM * tileN * 4), rowTiles = (chunkM + tileM - 1) / tileM
        let scales = aligned(tileN * 4), accumulators = rowTiles * rowTile
        let residual = shape.residual ? aligned(chunkM * tileN * 4) : 0
        return SRAMLayout(
            activationTile: activationTile, codes: codes, weightTile: aligned(weights), scales: scales, residual: residual,
            column: 2 * scales + accumulators + residual, accumulatorRowTile: rowTile,
            activationBuffers: max(2, rowTiles + 1), tail: shape.tail ? rowTile : 0, columnSets: shape.columnSets)
    }

    /// The most weight tiles per column a tile keeps in turn (two when its SRAM has room for
    /// no more; `buffers`), and as many activation tiles at least: so many reduction tiles
    /// are loaded ahead of the products. Dense fp16 and fp8 tiles are the shortest to
    /// multiply (20 and 40 reduction positions against nvfp4's 80 and a 2:4 tile's twice as
    /// many), so more of them cover a load's latency from DRAM.
    public static func weightBuffers(format: PrecisionFormat, sparse: Bool) -> Int { format == .nvfp4 || sparse ? 4 : 6 }

    /// The activation tiles and the weight tiles per column a tile keeps in turn with
    /// `regions` for `groupN` columns of chunks of `rowTiles` row tiles: two activation
    /// tiles and two weight tiles per column when they fit (`regions`' own count of
    /// activation buffers), used in turn, so that loading the next overlaps multiplying the
    /// last; else one of each. A chunk of several row tiles takes an activation buffer for
    /// each at every reduction tile. The layout counts one more, so that the next reduction
    /// tile's first load does not wait for this one's products; twice as many as the row
    /// tiles, and at least `deepest`, where the SRAM past the layout's bytes has room, so
    /// that all of them overlap the last reduction tile's products (and a chunk of one row
    /// tile loads several reduction tiles ahead). Then up to `deepest` weight tiles per
    /// column where the SRAM left has room: a column's loads then run that many reduction
    /// tiles ahead of its products, instead of waiting for the products two tiles back to
    /// complete before reusing their buffer.
    public static func buffers(_ regions: SRAMLayout, rowTiles: Int, groupN g: Int, deepest: Int, sramBytes: Int) -> (
        activations: Int, weights: Int
    ) {
        let planned = regions.bytes(buffers: 2, columns: g) <= sramBytes ? 2 : 1
        let counted = planned == 2 ? regions.activationBuffers : 1
        let besides = regions.bytes(buffers: planned, columns: g) - counted * regions.activationTile
        let activations =
            [max(deepest, 2 * rowTiles), 2 * rowTiles].first {
                $0 > counted && $0 * regions.activationTile + besides <= sramBytes
            } ?? counted
        var weights = planned
        while planned == 2 && weights < deepest
            && activations * regions.activationTile + (weights + 1) * g * regions.weightTile
                + regions.columnSets * g * regions.column + regions.tail <= sramBytes
        {
            weights += 1
        }
        return (activations, weights)
    }

    /// A tile's units of work in the groups it computes together: consecutive items of one
    /// chunk whose columns are of one group of `groupN`.
    public static func groups(_ items: [TilingPlan.WorkItem], groupN: Int) -> [[TilingPlan.WorkItem]] {
        var groups: [[TilingPlan.WorkItem]] = []
        for item in items {
            if let last = groups.last?.last, last.chunk == item.chunk, last.nTile / groupN == item.nTile / groupN {
                groups[groups.count - 1].append(item)
            } else {
                groups.append([item])
            }
        }
        return groups
    }

    /// The SRAM a plan needs: `layout`'s regions with its activation buffers and two weight
    /// tiles per column, for `groupN` columns computed together.
    public static func footprint(
        tileM: Int, chunkM: Int, tileK: Int, tileN: Int, shape: MatrixShape, groupN: Int = 1
    ) -> Int {
        layout(tileM: tileM, chunkM: chunkM, tileK: tileK, tileN: tileN, shape: shape).bytes(buffers: 2, columns: groupN)
    }

    /// Whether `shape`'s tiles should keep two sets of column regions, so that a group of
    /// columns' epilogue on the vector unit overlaps the next group's products instead of
    /// holding them back (its accumulators, scales and bias stay taken until its stores):
    /// when an output row's epilogue, a column tile of it, takes at least half as long as
    /// the row's products, a cycle per reduction tile (a GELU after a reduction of 768, a
    /// bias after one reduction tile). The plan then has that layout when it fits. An
    /// epilogue over many reduction tiles keeps the SRAM for wider tiles instead; so does
    /// one whose tiles round their float32 input on the same vector unit, a reduction tile
    /// at a time, ahead of the products that the epilogue would overlap (fp16 and fp8
    /// activations not rounded into codes before the layer).
    public static func overlapsEpilogue(_ shape: MatrixShape, on resources: TileResources) -> Bool {
        guard shape.epilogueCycles > 0, resources.vectorLanes > 0,
            shape.codedActivations || shape.activationFormat == .fp32
        else { return false }
        let tileK = min(shape.reductionTile ?? resources.tileColumns(shape.weightFormat, sparse: shape.sparse), shape.k)
        let kTiles = (shape.k + tileK - 1) / tileK
        return 2 * min(resources.arrayColumns, shape.n) * shape.epilogueCycles >= resources.vectorLanes * kTiles
    }

    /// The plan for `shape` on `resources`: the largest row tile (at most 32) that fits; then
    /// for each number of columns computed together and each row tile down to half that, the
    /// largest chunk that fits, smaller when too few units of work would leave tiles idle; of
    /// those that keep as many tiles working as one column at a time does, the one that reads
    /// the fewest bytes from DRAM (weights once per chunk, activations once per group of
    /// columns: a convolution's windows, or with `MatrixShape.bands` the bands they are read
    /// from), the largest row tile of those. With bands, only row tiles that are rectangles
    /// of the output are considered, when one lies in that range. Units of work are dealt to
    /// the tiles in turn, a group of columns' chunks one after another, so that a cluster's
    /// tiles share their columns of weights (which its L2 then holds once). With the L2's
    /// bandwidth known (`TileResources.l2BytesPerCycle`), a plan whose loads (through the
    /// L2, and from DRAM and the global buffer when their bandwidths are known) take longer
    /// than its products may give way to one with fewer tiles busy (below). Throws
    /// when not even one row fits. A shape whose epilogue `overlapsEpilogue` gets the plan
    /// with two sets of column regions when one fits.
    public static func plan(_ shape: MatrixShape, on resources: TileResources) throws -> TilingPlan {
        if shape.columnSets == 1, overlapsEpilogue(shape, on: resources) {
            var overlapped = shape
            overlapped.columnSets = 2
            if let plan = try? plan(overlapped, on: resources) { return plan }
        }
        guard shape.m > 0, shape.k > 0, shape.n > 0 else {
            throw PackingError("cannot tile an empty product (\(shape.m) x \(shape.k) x \(shape.n))")
        }
        let tileN = min(resources.arrayColumns, shape.n)
        let tileK = min(shape.reductionTile ?? resources.tileColumns(shape.weightFormat, sparse: shape.sparse), shape.k)
        func bytes(_ tileM: Int, _ chunkM: Int, _ groupN: Int = 1) -> Int {
            footprint(tileM: tileM, chunkM: chunkM, tileK: tileK, tileN: tileN, shape: shape, groupN: groupN)
        }
        /// The largest row tile (at most 32) one chunk of which fits with `groupN` columns.
        func largestRowTile(_ groupN: Int) -> Int {
            var t = min(32, shape.m)
            while t > 1 && bytes(t, t, groupN) > resources.sramBytes { t -= 1 }
            return t
        }
        // Bands are read when each reduction tile holds whole windows (of whole nvfp4 blocks).
        let bands = shape.bands.flatMap { bands -> MatrixShape.Bands? in
            let unit = bands.kernel.0 * bands.kernel.1 * (shape.activationFormat == .nvfp4 ? shape.activationBlock : 1)
            return tileK % unit == 0 ? bands : nil
        }
        /// The row tiles from `largest` down to half of it; those whose tiles are rectangles
        /// of the output (`MatrixShape.Bands.rectangular`) when there are any.
        func rowTiles(_ largest: Int) -> [Int] {
            let all = Array(stride(from: largest, through: (largest + 1) / 2, by: -1))
            guard let bands else { return all }
            let rectangles = all.filter(bands.rectangular)
            return rectangles.isEmpty ? all : rectangles
        }
        var tileM = largestRowTile(1)
        guard bytes(tileM, tileM) <= resources.sramBytes else {
            throw PackingError(
                "a \(tileM) x \(tileK) x \(tileN) tile needs \(bytes(tileM, tileM)) bytes of SRAM, "
                    + "the tile has \(resources.sramBytes)"
            )
        }
        let nTiles = (shape.n + tileN - 1) / tileN, kTiles = (shape.k + tileK - 1) / tileK
        let weightBytes =
            (try? WeightLayout(
                format: shape.weightFormat, sparse: shape.sparse, rows: shape.n, columns: shape.k, tileRows: tileN,
                tileColumns: tileK
            ).byteCount) ?? shape.n * shape.k * 2
        /// The largest chunk (whole row tiles of `t`, or all the rows) that fits with `groupN`
        /// columns at a time; nil when one row tile does not.
        func largestChunk(_ groupN: Int, _ t: Int) -> Int? {
            guard bytes(t, t, groupN) <= resources.sramBytes else { return nil }
            var chunkM = t
            while chunkM < shape.m && bytes(t, min(chunkM + t, shape.m), groupN) <= resources.sramBytes {
                chunkM = min(chunkM + t, shape.m)
            }
            return chunkM
        }
        /// The chunk for `groupN` columns at a time on row tiles of `t` (nil when one does not
        /// fit): the largest that fits, smaller when too few units of work would leave tiles
        /// idle (enough chunks for every tile to have work, when the rows allow it).
        func chunk(_ groupN: Int, _ t: Int) -> Int? {
            guard var chunkM = largestChunk(groupN, t) else { return nil }
            let groups = (nTiles + groupN - 1) / groupN
            let chunksWanted = (resources.tileCount + groups - 1) / groups
            if chunksWanted > 1 {
                let rows = (shape.m + chunksWanted - 1) / chunksWanted
                chunkM = min(chunkM, max(t, (rows + t - 1) / t * t))
            }
            return chunkM
        }
        // A coded convolution whose image outweighs its weights, or whose weights take at most
        // half a cluster's L2, deals each cluster a run of rows over every column: its band,
        // staged into the cluster's L2, is then a part of the image, and each cluster stages
        // every column of the weights. Weights are staged from DRAM ahead of the layer, while
        // the layer before runs; the image is there only once that layer is done, and a copy
        // of all of it into every cluster's L2 then delays the first products.
        let rowsFirst =
            shape.windowed && shape.codedActivations
            && (shape.m * (shape.k / (shape.bands.map { $0.kernel.0 * $0.kernel.1 } ?? 1)) * shape.activationQuarterBytes / 4
                > weightBytes || 2 * weightBytes <= resources.l2Bytes)
        /// The units of `groupN` columns over chunks of `chunkM` rows, a group's chunks one
        /// after another (with `rowsFirst`, a chunk's groups), each unit's columns on one
        /// tile, dealt to the tiles in turn. Rows
        /// that are windows of an image (`MatrixShape.windowed`) go to the clusters in
        /// consecutive runs, as many units to each as to the next (to one), each run dealt in
        /// turn to its cluster's tiles: a cluster then gathers from a band of the image that
        /// its L2 can hold.
        func deal(_ groupN: Int, _ chunkM: Int) -> [[TilingPlan.WorkItem]] {
            let (chunks, firsts) = (0..<((shape.m + chunkM - 1) / chunkM), stride(from: 0, to: nTiles, by: groupN))
            let order =
                rowsFirst
                ? chunks.flatMap { chunk in firsts.map { (chunk, $0) } } : firsts.flatMap { first in chunks.map { ($0, first) } }
            let units = order.map { chunk, first in
                (first..<min(nTiles, first + groupN)).map { TilingPlan.WorkItem(nTile: $0, chunk: chunk) }
            }
            var work = [[TilingPlan.WorkItem]](repeating: [], count: resources.tileCount)
            guard shape.windowed else {
                for (index, unit) in units.enumerated() { work[index % resources.tileCount] += unit }
                return work
            }
            let (clusters, perCluster) = (resources.clusters, resources.tilesPerCluster)
            var next = 0
            for cluster in 0..<clusters {
                for index in 0..<(units.count / clusters + (cluster < units.count % clusters ? 1 : 0)) {
                    work[cluster * perCluster + index % perCluster] += units[next]
                    next += 1
                }
            }
            return work
        }
        func units(_ groupN: Int, _ chunkM: Int) -> Int {
            (nTiles + groupN - 1) / groupN * ((shape.m + chunkM - 1) / chunkM)
        }
        /// Bytes read with `g` columns at a time over chunks of `c` rows in row tiles of `t`:
        /// the weights once per chunk, the activations once per group of columns (the
        /// windows, or the bands they are read from).
        func traffic(_ g: Int, _ t: Int, _ c: Int) -> Int {
            (shape.m + c - 1) / c * weightBytes + activationTraffic(g, t)
        }
        /// The activation bytes of `traffic`: read once per group of `g` columns.
        func activationTraffic(_ g: Int, _ t: Int) -> Int {
            var activations = shape.m * shape.k
            if let bands, bands.rectangular(t) {
                let channels = shape.k / (bands.kernel.0 * bands.kernel.1)
                activations = (shape.m + t - 1) / t * channels * bands.pixels(t)
            }
            return activations * shape.activationQuarterBytes / 4 * ((nTiles + g - 1) / g)
        }
        /// Weight bytes DRAM sends for a plan's work (`stagedColumns`), as
        /// `MatrixLowering.stageWeights` stages them:
        /// each cluster's columns, in increasing order while they fit its L2, once; the
        /// others once per unit of work that reads them.
        func dramWeightBytes(_ clusters: [(reads: [Int: Int], staged: Set<Int>)]) -> Int {
            let column = weightBytes / nTiles
            return clusters.reduce(0) { total, cluster in
                total + cluster.reads.reduce(0) { $0 + column * (cluster.staged.contains($1.key) ? 1 : $1.value) }
            }
        }
        /// Per cluster, how many units of `work` read each column, and the columns its L2
        /// holds: in increasing order while they fit.
        func stagedColumns(_ work: [[TilingPlan.WorkItem]]) -> [(reads: [Int: Int], staged: Set<Int>)] {
            let column = weightBytes / nTiles, perCluster = resources.tilesPerCluster
            return (0..<resources.clusters).map { cluster in
                var reads: [Int: Int] = [:]
                for items in work[(cluster * perCluster)..<((cluster + 1) * perCluster)] {
                    for item in items { reads[item.nTile, default: 0] += 1 }
                }
                let fit = resources.l2Bytes / max(column, 1)
                return (reads, Set(reads.keys.sorted().prefix(fit)))
            }
        }
        // Row tiles from the largest down to half of it; groups of columns from one.
        let first = rowTiles(tileM)[0]
        var (groupN, chosen) = (1, (tileM: first, chunkM: chunk(1, first)!))
        let busy = min(resources.tileCount, units(1, chosen.chunkM))
        for g in 1...nTiles {
            for t in rowTiles(tileM) {
                guard let c = chunk(g, t), units(g, c) >= busy, traffic(g, t, c) < traffic(groupN, chosen.tileM, chosen.chunkM)
                else {
                    continue
                }
                (groupN, chosen) = (g, (t, c))
            }
        }
        // Units are dealt in rounds: a tile given one more unit than most sets the layer's
        // time. When the busiest tile has a quarter more rows to compute than the average,
        // of every grouping of columns, row tile (down to half the largest that fits) and
        // chunk that fits, the plan whose busiest tile has the fewest, reading no more bytes.
        func busiest(_ g: Int, _ c: Int) -> Int {
            deal(g, c).map { $0.reduce(0) { $0 + min(c, shape.m - $1.chunk * c) } }.max() ?? 0
        }
        let average = (shape.m * nTiles + resources.tileCount - 1) / resources.tileCount
        var fewest = busiest(groupN, chosen.chunkM)
        if 4 * fewest >= 5 * average {
            let limit = traffic(groupN, chosen.tileM, chosen.chunkM)
            for g in 1...nTiles {
                for t in rowTiles(largestRowTile(g)) {
                    guard let c = largestChunk(g, t) else { continue }
                    for size in [c] + stride(from: (c - 1) / t * t, through: t, by: -t) where traffic(g, t, size) <= limit {
                        let rows = busiest(g, size)
                        if rows < fewest { (fewest, groupN, chosen) = (rows, g, (t, size)) }
                    }
                }
            }
        }
        // A product whose tiles' loads outrun their products: with every tile busy, the bytes
        // the plan reads take longer than the busiest tile's products: shared by each
        // cluster's tiles through its L2; the weights DRAM sends (`dramWeightBytes`: a column
        // that does not fit the cluster's L2 once per chunk, when a chunk of few rows leaves
        // many); a convolution's float32 windows, which every tile gathers from the global
        // buffer; a product's coded rows, which every tile reads from the image of codes in
        // the global buffer and not through its L2. Or whose products wait for their weights:
        // a column that comes from DRAM into a few buffers (`buffers`) arrives a load's
        // latency after the products free one. Of every grouping of columns, row tile and
        // chunk that fits and reads a twentieth fewer bytes (any, for a product of activations
        // that are not windows whose products wait for their weights, their float32 reads
        // from the global buffer then counting too; and for a product of coded rows, whose
        // codes and weights cross different memories), the one whose estimate (the longest
        // of those) is a twentieth shorter,
        // if any: fewer tiles busy, each reading its activations once for more columns, or
        // its weights for more rows; or fewer columns at a time, each with more weight
        // buffers. Of estimates within a twentieth of each other, which the estimate cannot
        // tell apart, the plan reading fewer bytes. A product takes its rows' cycles, or when
        // it accumulates onto a column `g` products back, at least a `g`th of the array's
        // drain (`TileResources.drain`), and a reduction tile of a group of columns from
        // DRAM at least the load's latency and the drain over its buffers but one; the
        // busiest cluster's share of the bytes is its share of the units of work.
        if resources.l2BytesPerCycle > 0 {
            func estimate(_ g: Int, _ t: Int, _ c: Int, globalReads: Bool) -> (cycles: Int, waits: Bool) {
                let work = deal(g, c), least = g > 1 ? (resources.drain + g - 1) / g : 0
                // A group's reduction tile takes its products' cycles, or when its weights come
                // from DRAM into `depth` buffers per column, at least the load's latency and
                // the array's drain over the reduction tiles that may run meanwhile.
                let depth = buffers(
                    layout(tileM: t, chunkM: c, tileK: tileK, tileN: tileN, shape: shape),
                    rowTiles: (c + t - 1) / t, groupN: g,
                    deepest: weightBuffers(format: shape.weightFormat, sparse: shape.sparse),
                    sramBytes: resources.sramBytes
                ).weights
                let wait =
                    resources.dramLatency > 0 && depth > 1
                    ? (resources.dramLatency + resources.drain + depth - 2) / (depth - 1) : 0
                let clusters = stagedColumns(work)
                var waits = false
                let products =
                    work.enumerated().map { index, items in
                        let staged = clusters[index / resources.tilesPerCluster].staged
                        return groups(items, groupN: g).reduce(0) { sum, group in
                            let step = group.reduce(0) { cycles, item in
                                let rows = min(c, shape.m - item.chunk * c)
                                return cycles + (0..<((rows + t - 1) / t)).reduce(0) { $0 + max(min(t, rows - $1 * t), least) }
                            }
                            guard group.contains(where: { !staged.contains($0.nTile) }) else { return sum + step }
                            if step < wait { waits = true }
                            return sum + max(step, wait)
                        }
                    }.max() ?? 0
                let perCluster = resources.tilesPerCluster
                let items = (0..<resources.clusters).map { cluster in
                    work[(cluster * perCluster)..<((cluster + 1) * perCluster)].reduce(0) { $0 + $1.count }
                }
                let share = Double(items.max() ?? 0) / Double(max(1, items.reduce(0, +)))
                let dram = resources.dramBytesPerCycle > 0 ? dramWeightBytes(clusters) / resources.dramBytesPerCycle : 0
                // Coded rows of a product come from the global buffer, past the L2.
                let codedRows = shape.codedActivations && !shape.windowed
                let l3 =
                    resources.l3BytesPerCycle > 0 && (globalReads && !shape.codedActivations || codedRows)
                    ? activationTraffic(g, t) / resources.l3BytesPerCycle : 0
                let l2 = traffic(g, t, c) - (codedRows ? activationTraffic(g, t) : 0)
                return (max(products * kTiles, Int(Double(l2) * share) / resources.l2BytesPerCycle, dram, l3), waits)
            }
            let bytes = traffic(groupN, chosen.tileM, chosen.chunkM)
            // A product whose weights' loads hold up its products may read more bytes: then
            // every tile's reads of its float32 activations from the global buffer count.
            let more = !shape.windowed && estimate(groupN, chosen.tileM, chosen.chunkM, globalReads: false).waits
            let activations = shape.windowed || more
            let current = estimate(groupN, chosen.tileM, chosen.chunkM, globalReads: activations).cycles
            var best = current, bestBytes = bytes
            for g in 1...nTiles {
                for t in rowTiles(largestRowTile(g)) {
                    guard let c = largestChunk(g, t) else { continue }
                    for size in [c] + stride(from: (c - 1) / t * t, through: t, by: -t)
                    where more || shape.codedActivations && !shape.windowed || 20 * traffic(g, t, size) <= 19 * bytes {
                        let e = estimate(g, t, size, globalReads: activations).cycles, moved = traffic(g, t, size)
                        guard 20 * e < 19 * current else { continue }
                        if 20 * e < 19 * best || (19 * e <= 20 * best && moved < bestBytes) {
                            (best, bestBytes, groupN, chosen) = (e, moved, g, (t, size))
                        }
                    }
                }
            }
        }
        tileM = chosen.tileM
        let chunkM = chosen.chunkM
        let chunks = (shape.m + chunkM - 1) / chunkM
        return TilingPlan(
            tileM: tileM, chunkM: chunkM, tileK: tileK, tileN: tileN,
            layout: layout(tileM: tileM, chunkM: chunkM, tileK: tileK, tileN: tileN, shape: shape),
            work: deal(groupN, chunkM), groupN: groupN, nTiles: nTiles, kTiles: kTiles, chunks: chunks)
    }
}
