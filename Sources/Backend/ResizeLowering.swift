// Nearest-neighbour Resize as data movement: each output index along an axis reads the source
// slice its index names (IR's ResizeGeometry, which the interpreter also follows), copied
// axis by axis as CopyLowering.swift's copyAlongAxes does, so the result is a copy, bit for
// bit. Linear Resize whose changed axes lie within three (the others left as they are) runs
// on the vector unit (`vopp resize`, the interpreter's arithmetic), as many [H, W] planes or
// [D, H, W] volumes at a time as a tile holds; cubic Resize of the last two axes likewise
// (`vopp resize_cubic`), plane by plane, and so an antialiased one whose outputs read at most
// 4 inputs along each axis (a linear one shrinking by 1/2 or less). A plane too large for a tile, in and out together
// (a segmentation head's upsampling to the image), is cut into windows of output rows and
// columns, each with the input rows and columns its taps read and its tables rebased onto
// them: every output value is the same sum of the same values.
import IR
import ISA

extension Lowering {
    /// Lowers Resize `node`; returns the scratch bytes it used at `scratch`.
    static func lowerResize(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, scratch: UInt64, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws -> Int {
        let (dims, x, y) = try rowOperands(node, graph, memory)
        func constant(_ index: Int) throws -> Tensor? {
            guard let name = node.input(index) else { return nil }
            guard let t = graph.constants[name] else {
                throw IRError("cannot lower Resize whose input \(index) \"\(name)\" is not a constant", at: node)
            }
            return t
        }
        let geometry = try ResizeGeometry(
            node, inputShape: dims, roi: try constant(1)?.cast(to: .float32).floats(),
            scales: try constant(2)?.floats(), sizes: try constant(3)?.int64s().map(Int.init))
        if geometry.tapped {
            guard geometry.mostTaps <= 4 else {
                throw IRError(
                    "cannot lower an antialiased Resize of \(dims) to \(geometry.outputShape) whose outputs each read up to "
                        + "\(geometry.mostTaps) inputs along an axis (the vector unit's resize reads 4; give the scales or "
                        + "sizes as constants, and the input's extents, so that npucc imports it as products)", at: node)
            }
            guard let planes = geometry.cubicPlanes(inputShape: dims) else {
                let kind = node.int("antialias", default: 0) != 0 ? "an antialiased" : "a cubic"
                throw IRError(
                    "cannot lower \(kind) Resize of \(dims) to \(geometry.outputShape) yet (it changes an axis before the last two)",
                    at: node)
            }
            try lowerCubic(node, planes, x: x, y: y, resources, &constants, &b)
            return 0
        }
        if !geometry.nearest {
            guard let volume = geometry.linearVolume(inputShape: dims) else {
                throw IRError(
                    "cannot lower a linear Resize of \(dims) to \(geometry.outputShape) yet (the axes it changes span more than three)",
                    at: node)
            }
            try lowerLinear(node, volume, x: x, y: y, resources, &constants, &b)
            return 0
        }
        return try copyAlongAxes(from: x, dims, geometry.lower, to: y, scratch: scratch, .f32, &b)
    }

    /// Linear volumes (IR's ResizeGeometry.linearVolume): one `vopp resize` per step of
    /// `resamplePlanes`. Volumes of one depth index run as [C, H, W] planes.
    private static func lowerLinear(
        _ node: Node, _ v: ResizeGeometry.LinearVolume, x: Place, y: Place, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        func tables(_ axis: Int) -> [Int] {
            func indices(_ values: [Int]) -> Int { constants.words(values.map { UInt32(bitPattern: Int32($0)) }) }
            return [indices(v.lower[axis]), indices(v.upper[axis]), constants.words(v.weight[axis].map(\.bitPattern))]
        }
        let (h, w, oh, ow) = (v.dims[1], v.dims[2], v.outputDims[1], v.outputDims[2])
        let volume = v.dims[0] != 1 || v.outputDims[0] != 1
        var record = [h, w, oh, ow] + tables(1) + tables(2)
        record += volume ? [v.dims[0], v.outputDims[0]] + tables(0) + [0] : [Int](repeating: 0, count: 6)
        let (inner, outer) = volume ? (v.dims, v.outputDims) : ([h, w], [oh, ow])
        if !volume && !fitsTile(inner: inner, outer: outer, resources) {
            // Rows and columns each read their lower and upper index (the upper one is in
            // range even where its weight is 0).
            func reach(_ axis: Int) -> (Range<Int>) -> Range<Int> {
                { o in o.map { v.lower[axis][$0] }.min()!..<(o.map { v.upper[axis][$0] }.max()! + 1) }
            }
            func rebased(_ axis: Int, _ o: Range<Int>, from first: Int) -> [Int] {
                let lower = o.map { v.lower[axis][$0] - first }, upper = o.map { v.upper[axis][$0] - first }
                func indices(_ values: [Int]) -> Int { constants.words(values.map { UInt32(bitPattern: Int32($0)) }) }
                return [indices(lower), indices(upper), constants.words(o.map { v.weight[axis][$0].bitPattern })]
            }
            try resampleWindows(
                node, "resize", planes: v.planes, inner: (h, w), outer: (oh, ow), rowReach: reach(1), columnReach: reach(2),
                x: x, y: y, resources, &b
            ) { window in
                let record =
                    [window.inRows.count, window.inColumns.count, window.rows.count, window.columns.count]
                    + rebased(1, window.rows, from: window.inRows.lowerBound)
                    + rebased(2, window.columns, from: window.inColumns.lowerBound) + [Int](repeating: 0, count: 6)
                return UInt64(constants.record(record))
            }
            return
        }
        try resamplePlanes(
            node, "resize", params: UInt64(constants.record(record)), planes: v.planes, inner: inner, outer: outer,
            what: "a linear Resize whose \(inner) \(volume ? "volume" : "plane")", x: x, y: y, resources, &b)
    }

    /// Cubic planes (IR's ResizeGeometry.cubicPlanes): one `vopp resize_cubic` per step of
    /// `resamplePlanes`.
    private static func lowerCubic(
        _ node: Node, _ c: ResizeGeometry.CubicPlanes, x: Place, y: Place, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        func indices(_ values: [Int]) -> Int { constants.words(values.map { UInt32(bitPattern: Int32($0)) }) }
        let record = [
            c.height, c.width, c.outputHeight, c.outputWidth, indices(c.rowIndex), constants.words(c.rowWeight.map(\.bitPattern)),
            indices(c.columnIndex), constants.words(c.columnWeight.map(\.bitPattern)),
        ]
        if !fitsTile(inner: [c.height, c.width], outer: [c.outputHeight, c.outputWidth], resources) {
            // An output index reads its taps of nonzero weight; a tap of weight 0 is skipped,
            // and its index becomes the window's first.
            func reach(_ index: [Int], _ weight: [Float]) -> (Range<Int>) -> Range<Int> {
                { o in
                    // Spelled as loops: the same as one chain of flatMap, filter and map,
                    // which took the type checker seconds.
                    var first = Int.max, last = Int.min
                    for tap in 4 * o.lowerBound..<4 * o.upperBound where weight[tap] != 0 {
                        first = min(first, index[tap])
                        last = max(last, index[tap])
                    }
                    return first <= last ? first..<(last + 1) : 0..<1
                }
            }
            func rebased(_ index: [Int], _ weight: [Float], _ o: Range<Int>, from first: Int) -> [Int] {
                let taps = o.flatMap { i in (0..<4).map { 4 * i + $0 } }
                return [
                    indices(taps.map { weight[$0] == 0 ? 0 : index[$0] - first }),
                    constants.words(taps.map { weight[$0].bitPattern }),
                ]
            }
            try resampleWindows(
                node, "resize_cubic", planes: c.planes, inner: (c.height, c.width), outer: (c.outputHeight, c.outputWidth),
                rowReach: reach(c.rowIndex, c.rowWeight), columnReach: reach(c.columnIndex, c.columnWeight), x: x, y: y,
                resources, &b
            ) { window in
                let record =
                    [window.inRows.count, window.inColumns.count, window.rows.count, window.columns.count]
                    + rebased(c.rowIndex, c.rowWeight, window.rows, from: window.inRows.lowerBound)
                    + rebased(c.columnIndex, c.columnWeight, window.columns, from: window.inColumns.lowerBound)
                return UInt64(constants.record(record + [Int](repeating: 0, count: 8)))
            }
            return
        }
        try resamplePlanes(
            node, "resize_cubic", params: UInt64(constants.record(record + [Int](repeating: 0, count: 8))),
            planes: c.planes, inner: [c.height, c.width], outer: [c.outputHeight, c.outputWidth],
            what: "a cubic Resize whose [\(c.height), \(c.width)] plane", x: x, y: y, resources, &b)
    }

    /// Whether one block of `inner` and its `outer` fit a tile's SRAM together.
    private static func fitsTile(inner: [Int], outer: [Int], _ resources: TileResources) -> Bool {
        burstAligned(4 * inner.reduce(1, *)) + burstAligned(4 * outer.reduce(1, *)) <= resources.sramBytes
    }

    /// A window of a resampled plane: output rows and columns, and the input rows and
    /// columns their taps read.
    struct ResampleWindow: Equatable {
        var rows: Range<Int>, columns: Range<Int>
        var inRows: Range<Int>, inColumns: Range<Int>
    }

    /// The windows that cut an [`outer`] output plane from an [`inner`] one so that each fits
    /// a tile's `sramBytes` with the input it reads (`rowReach` and `columnReach`: the input
    /// indices a range of output indices reads, contiguous). Whole output rows when one row
    /// with the input rows it reads fits, else bands of columns as wide as fit beside the
    /// most input rows one output row reads; then, in each band, as many rows as fit.
    /// Nil when not even one output value fits.
    static func resampleWindows(
        outer: (Int, Int), sramBytes: Int, rowReach: (Range<Int>) -> Range<Int>,
        columnReach: (Range<Int>) -> Range<Int>
    ) -> [ResampleWindow]? {
        func bytes(_ inRows: Int, _ inColumns: Int, _ rows: Int, _ columns: Int) -> Int {
            burstAligned(4 * inRows * inColumns) + burstAligned(4 * rows * columns)
        }
        let rowTaps = (0..<outer.0).map { rowReach($0..<($0 + 1)).count }.max() ?? 1
        var bands: [Range<Int>] = []
        var c0 = 0
        while c0 < outer.1 {
            var c1 = c0 + 1
            guard bytes(rowTaps, columnReach(c0..<c1).count, 1, 1) <= sramBytes else { return nil }
            while c1 < outer.1 && bytes(rowTaps, columnReach(c0..<(c1 + 1)).count, 1, c1 + 1 - c0) <= sramBytes { c1 += 1 }
            bands.append(c0..<c1)
            c0 = c1
        }
        var windows: [ResampleWindow] = []
        for band in bands {
            let inColumns = columnReach(band)
            var r0 = 0
            while r0 < outer.0 {
                var r1 = r0 + 1
                while r1 < outer.0
                    && bytes(rowReach(r0..<(r1 + 1)).count, inColumns.count, r1 + 1 - r0, band.count) <= sramBytes
                {
                    r1 += 1
                }
                windows.append(ResampleWindow(rows: r0..<r1, columns: band, inRows: rowReach(r0..<r1), inColumns: inColumns))
                r0 = r1
            }
        }
        return windows
    }

    /// `planes` [`inner`] planes resampled into [`outer`] by vector op `op`, window by window
    /// (`resampleWindows`), each window's record from `record`: per plane and window, its
    /// input rows and columns loaded, resampled and stored, the steps dealt over the tiles.
    private static func resampleWindows(
        _ node: Node, _ op: String, planes: Int, inner: (Int, Int), outer: (Int, Int),
        rowReach: (Range<Int>) -> Range<Int>, columnReach: (Range<Int>) -> Range<Int>, x: Place, y: Place,
        _ resources: TileResources, _ b: inout ProgramBuilder, record: (ResampleWindow) -> UInt64
    ) throws {
        guard
            let windows = resampleWindows(
                outer: outer, sramBytes: resources.sramBytes, rowReach: rowReach, columnReach: columnReach)
        else {
            throw IRError("cannot lower a Resize of which one output value and its input do not fit a tile's SRAM", at: node)
        }
        let records = windows.map(record)
        let (inCount, outCount) = (inner.0 * inner.1, outer.0 * outer.1)
        let code = UInt64(InstructionSet.vectorOps.firstIndex(of: op)!)
        var unit = 0
        for plane in 0..<planes {
            for (window, params) in zip(windows, records) {
                let (ih, iw, oh, ow) = (window.inRows.count, window.inColumns.count, window.rows.count, window.columns.count)
                let source = x.advanced(
                    by: 4 * (plane * inCount + window.inRows.lowerBound * inner.1 + window.inColumns.lowerBound))
                let target = y.advanced(by: 4 * (plane * outCount + window.rows.lowerBound * outer.1 + window.columns.lowerBound))
                try resampleStep(
                    code, params: params, on: resources.place(unit),
                    from: try source.descriptor(dims: [1, ih, iw], strides: [inCount, inner.1, 1]),
                    to: try target.descriptor(dims: [1, oh, ow], strides: [outCount, outer.1, 1]), &b)
                unit += 1
            }
        }
    }

    /// `planes` blocks of `inner` resampled into `outer` by vector op `op` with record
    /// `params`: as many as fit a tile (in and out) at a time, loaded, resampled and stored,
    /// the steps dealt over the tiles.
    private static func resamplePlanes(
        _ node: Node, _ op: String, params: UInt64, planes: Int, inner: [Int], outer: [Int], what: String, x: Place,
        y: Place, _ resources: TileResources, _ b: inout ProgramBuilder
    ) throws {
        let (inCount, outCount) = (inner.reduce(1, *), outer.reduce(1, *))
        func bytes(_ count: Int) -> Int { burstAligned(4 * count * inCount) + burstAligned(4 * count * outCount) }
        guard bytes(1) <= resources.sramBytes else {
            throw IRError("cannot lower \(what) and its \(outer) output do not fit a tile's SRAM together yet", at: node)
        }
        let step = spreadFitting(planes, values: outCount, resources, bytes)
        let code = UInt64(InstructionSet.vectorOps.firstIndex(of: op)!)
        for (unit, p0) in stride(from: 0, to: planes, by: step).enumerated() {
            let count = min(step, planes - p0)
            try resampleStep(
                code, params: params, on: resources.place(unit),
                from: try x.advanced(by: 4 * p0 * inCount).descriptor(dims: [count] + inner),
                to: try y.advanced(by: 4 * p0 * outCount).descriptor(dims: [count] + outer), &b)
        }
    }

    /// One resampling step on the tile at `place`: `source` loaded into its SRAM, resampled by
    /// vector op `code` with record `params`, and stored to `target`.
    private static func resampleStep(
        _ code: UInt64, params: UInt64, on place: (cluster: Int, tile: Int), from source: TensorDescriptor,
        to target: TensorDescriptor, _ b: inout ProgramBuilder
    ) throws {
        func sram(_ address: Int, _ dims: [Int]) throws -> UInt64 {
            b.descriptor(
                try TensorDescriptor(
                    .sram, .f32, cluster: place.cluster, tile: place.tile, address: UInt64(address), dims: dims))
        }
        let inTile = try sram(0, source.dims)
        let outTile = try sram(burstAligned(4 * source.dims.reduce(1, *)), target.dims)
        try b.emit("dma", ["dst": inTile, "src": b.descriptor(source)])
        try b.emit("vopp", ["op": code, "dst": outTile, "a": inTile, "b": 0, "params": params])
        try b.emit("dma", ["dst": b.descriptor(target), "src": outTile])
    }
}
