// ReduceSum, ReduceMean, ReduceMax, ReduceMin and ReduceProd over consecutive axes (the
// trailing ones: LayerNormalization as exporters before opset 17 write it, global pooling;
// or inner ones: a mean over channels), and ArgMax and ArgMin over any axis (a segmentation
// network's over its classes), of float32, int32 or int64 elements (the arg ops into int64
// indices), on the vector unit: blocks of rows go from where the input lives (L3 or DRAM)
// to a tile's SRAM, through one `vopp` reduction (record: the row length, and for the arg
// ops select_last_index) into one value per row, and back; blocks are spread over every
// tile. A row is the values one output reduces, in increasing index: contiguous over
// trailing axes, gathered by a strided DMA (one column per output position, the positions
// after the reduced axes side by side) over inner ones. A float32 row too long for a tile
// reduces in pieces, its running value carried between them (`lowerLongRows`); an arg op's
// row of any element type, the best so far leading each piece (`lowerLongArgRows`).
import Formats
import IR
import ISA

extension Lowering {
    static let reductionOps: [String: String] = [
        "ReduceSum": "reduce_sum", "ReduceMean": "reduce_mean", "ReduceMax": "reduce_max", "ReduceMin": "reduce_min",
        "ReduceProd": "reduce_prod", "ArgMax": "argmax", "ArgMin": "argmin",
    ]

    static func lowerReduction(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let arg = node.op.hasPrefix("Arg")
        let element = graph.type(of: node.inputs[0])?.dtype.vectorElement ?? .f32
        // Integers reduce exactly (ReduceSum, ReduceMax, ReduceMin), into their own type.
        let integer = element == .i32 || element == .i64
        guard !integer || arg || (node.op != "ReduceMean" && node.op != "ReduceProd") else {
            throw IRError(
                "cannot lower ReduceMean of integers (the vector unit reduces integers to their sum, max or min)", at: node)
        }
        let (dims, x, y) = try rowOperands(node, graph, memory, anyElement: arg || integer)
        let (inSize, outElement): (Int, ElementType) = (element == .i64 ? 8 : 4, arg ? .i64 : element)
        var axes = arg ? [node.int("axis", default: 0)] : (node.ints("axes") ?? [])
        if let name = node.input(1) {
            guard let t = graph.constants[name] else {
                throw IRError("cannot lower \(node.op) whose axes \"\(name)\" are not a constant", at: node)
            }
            axes = t.int64s().map(Int.init)
        }
        if axes.isEmpty {
            guard node.int("noop_with_empty_axes", default: 0) == 0 else {
                throw IRError("cannot lower \(node.op) with noop_with_empty_axes (an identity): canonicalize it first", at: node)
            }
            axes = Array(0..<dims.count)
        }
        var reduced = Set(axes.map { $0 < 0 ? $0 + dims.count : $0 })
        // Axes of extent 1 reduce nothing: left out, and bridged where they part reduced
        // ones (a batch of one under MeanVarianceNormalization's axes [0, 2, 3]).
        if reduced.allSatisfy({ (0..<dims.count).contains($0) }) {
            let real = reduced.filter { dims[$0] != 1 }
            if let low = real.min(), let high = real.max() {
                if (low...high).allSatisfy({ real.contains($0) || dims[$0] == 1 }) { reduced = Set(low...high) }
            } else if let any = reduced.min() {
                reduced = [any]
            }
        }
        guard let first = reduced.min(), let last = reduced.max(), reduced.count == last - first + 1,
            first >= 0, last < dims.count
        else {
            throw IRError(
                "cannot lower \(node.op) over axes \(axes.sorted()) of \(dims): the vector unit reduces consecutive axes",
                at: node)
        }
        // Per output position: `outer` before the reduced axes, `inner` after them; each
        // reduces `c` values `inner` apart.
        let c = dims[first...last].reduce(1, *), inner = dims[(last + 1)...].reduce(1, *)
        let outer = dims[..<first].reduce(1, *)
        guard c > 0, inner > 0, outer > 0 else { throw IRError("cannot lower \(node.op) of an empty tensor", at: node) }
        let selectLast = arg ? node.int("select_last_index", default: 0) : 0
        let params = UInt64(constants.record([c, selectLast] + [Int](repeating: 0, count: 14)))
        let outSize = outElement == .i64 ? 8 : 4
        func footprint(_ r: Int) -> Int { burstAligned(inSize * r * c) + burstAligned(outSize * r) }
        guard footprint(1) <= resources.sramBytes else {
            if arg {
                try lowerLongArgRows(
                    node, x, y, element: element, rows: outer * inner, length: c, inner: inner, selectLast: selectLast,
                    resources, &constants, &b)
                return
            }
            guard !integer else {
                throw IRError(
                    "cannot lower \(node.op): a row of \(c) integers does not fit a tile's SRAM (rows that long reduce "
                        + "in pieces only for float32 ReduceSum, ReduceMean, ReduceMax, ReduceMin and ReduceProd, and for "
                        + "ArgMax and ArgMin)", at: node)
            }
            try lowerLongRows(node, x, y, rows: outer * inner, length: c, inner: inner, resources, &constants, &b)
            return
        }
        // Rows of one outer index at a time when they are gathered (inner > 1), else all
        // rows in one run.
        let (groups, rows) = inner == 1 ? (1, outer) : (outer, inner)
        let step = spreadFitting(rows, groups: groups, values: c, resources, footprint)
        let op = UInt64(InstructionSet.vectorOps.firstIndex(of: reductionOps[node.op]!)!)
        try forEachBlock(groups: groups, of: rows, step: step, resources) { o, r0, count, cluster, tile in
            func sram(_ address: Int, _ dims: [Int], _ element: ElementType) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(.sram, element, cluster: cluster, tile: tile, address: UInt64(address), dims: dims))
            }
            let inTile = try sram(0, [count, c], element)
            let outTile = try sram(burstAligned(inSize * step * c), [count, 1], outElement)
            let src = try lineBlock(x, element, group: o, first: r0, count: count, length: c, inner: inner)
            try b.emit("dma", ["dst": inTile, "src": b.descriptor(src)])
            try b.emit("vopp", ["op": op, "dst": outTile, "a": inTile, "b": 0, "params": params])
            let dst = try y.advanced(by: outSize * (o * rows + r0)).descriptor(outElement, dims: [count, 1])
            try b.emit("dma", ["dst": b.descriptor(dst), "src": outTile])
        }
    }

    /// ArgMax or ArgMin of rows too long for a tile's SRAM: each row on the next tile, in
    /// pieces. A piece after the first is read behind the best element so far, which a
    /// `gather` fetches from the row by its index, so that `vopp argmax` (`argmin`) over the
    /// two continues the row's scan as one pass over it would: the best stays unless a later
    /// element compares larger (smaller), or equal with select_last_index, and a NaN that
    /// leads the row stays best. The position picked becomes the row's index (`add` of the
    /// piece's start less one), or keeps the best's at position 0 (`equal`, `where`).
    private static func lowerLongArgRows(
        _ node: Node, _ x: Place, _ y: Place, element: ElementType, rows: Int, length: Int, inner: Int,
        selectLast: Int, _ resources: TileResources, _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let size = element.addressBytes
        // The row buffer (the best, then a piece) in half the SRAM, the pieces' offsets, then
        // four slots: the position picked, the best's index, the candidate index, the mask.
        let piece = (resources.sramBytes - 64 * 4) / 2 / size / 16 * 16 - 1
        guard piece >= 15 else {
            throw IRError("cannot lower \(node.op): a tile's SRAM holds no piece of a row", at: node)
        }
        let starts =
            Array(stride(from: 0, to: length, by: piece + 1).prefix(1))
            + Array(stride(from: piece + 1, to: length, by: piece))
        // Per piece the amount added to the position picked: its start less one (the best
        // leads it); 0 for the first, which has no best before it. Then a zero.
        let offsets = starts.enumerated().map { Int64($0.offset == 0 ? 0 : $0.element - 1) } + [0]
        let table = constants.append(integers: offsets, .i64)
        let tableAt = burstAligned(size * (piece + 1)), slots = tableAt + burstAligned(8 * offsets.count)
        let (picked, best, candidate, mask) = (slots, slots + 64, slots + 128, slots + 192)
        guard mask + 64 <= resources.sramBytes else {
            throw IRError("cannot lower \(node.op): a row's \(starts.count) pieces do not fit a tile's SRAM", at: node)
        }
        let op = UInt64(InstructionSet.vectorOps.firstIndex(of: reductionOps[node.op]!)!)
        var records: [Int: UInt64] = [:]
        var loaded = Set<Int>()
        for row in 0..<rows {
            let unit = resources.place(row)
            func sram(_ address: Int, _ element: ElementType, _ count: Int = 1) throws -> UInt64 {
                try sramRow(&b, unit, address, element, count)
            }
            if loaded.insert(unit.cluster * resources.tilesPerCluster + unit.tile).inserted {
                let src = try TensorDescriptor(.constants, .i64, address: UInt64(table), dims: [1, offsets.count])
                try b.emit("dma", ["dst": try sram(tableAt, .i64, offsets.count), "src": b.descriptor(src)])
            }
            let first = (row / inner) * length * inner + row % inner
            for (index, start) in starts.enumerated() {
                let end = index + 1 < starts.count ? starts[index + 1] : length
                // The first piece fills the buffer; later ones follow the best, gathered from the row.
                let count = end - start, at = index == 0 ? 0 : 1
                if index > 0 {
                    let whole = try x.advanced(by: size * first).descriptor(element, dims: [length, 1], strides: [inner, 1])
                    try b.emit(
                        "gather", ["dst": try sram(0, element), "src": b.descriptor(whole), "idx": try sram(best, .i64)])
                }
                let src = try x.advanced(by: size * (first + start * inner)).descriptor(
                    element, dims: [1, count], strides: [count * inner, inner])
                try b.emit("dma", ["dst": try sram(size * at, element, count), "src": b.descriptor(src)])
                let n = at + count
                if records[n] == nil {
                    records[n] = UInt64(constants.record([n, selectLast] + [Int](repeating: 0, count: 14)))
                }
                try b.emit(
                    "vopp",
                    ["op": op, "dst": try sram(picked, .i64), "a": try sram(0, element, n), "b": 0, "params": records[n]!])
                let offset = try sram(tableAt + 8 * index, .i64), zero = try sram(tableAt + 8 * starts.count, .i64)
                if index == 0 {
                    try b.vop("add", try sram(best, .i64), try sram(picked, .i64), offset)
                } else {
                    try b.vop("add", try sram(candidate, .i64), try sram(picked, .i64), offset)
                    try b.vop("equal", try sram(mask, .f32), try sram(picked, .i64), zero)
                    try b.vop("where", try sram(candidate, .i64), try sram(mask, .f32), try sram(best, .i64))
                    try b.vop("copy", try sram(best, .i64), try sram(candidate, .i64))
                }
            }
            let dst = try y.advanced(by: 8 * row).descriptor(.i64, dims: [1, 1])
            try b.emit("dma", ["dst": b.descriptor(dst), "src": try sram(best, .i64)])
        }
    }

    /// A float32 reduction whose rows are too long for a tile's SRAM: each row on the next
    /// tile, in pieces that alternate between two buffers, through `vopp reduce_carry`
    /// carrying the running Double from piece to piece in an 8-byte slot; the last piece
    /// rounds it (a mean divided by the whole row's length), as the one-pass reduction does.
    /// Row r's elements are `inner` apart, from (r / inner) · length · inner + r % inner.
    private static func lowerLongRows(
        _ node: Node, _ x: Place, _ y: Place, rows: Int, length: Int, inner: Int, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let kind = VectorArithmetic.ReductionKind(reduction: reductionOps[node.op]!)!
        let mean = node.op == "ReduceMean"
        // Two buffers, then the running value's slot and the result's.
        guard let pieces = pieces(ofLength: length, sramBytes: resources.sramBytes, slots: 2) else {
            throw IRError("cannot lower \(node.op): a tile's SRAM holds no piece of a row", at: node)
        }
        let (slot, result) = (2 * pieces.buffer, 2 * pieces.buffer + 64)
        for row in 0..<rows {
            let unit = resources.place(row)
            func sram(_ address: Int, _ count: Int, _ element: ElementType) throws -> UInt64 {
                try sramRow(&b, unit, address, element, count)
            }
            let running = try sram(slot, 1, .i64), first = (row / inner) * length * inner + row % inner
            for (index, start) in pieces.starts.enumerated() {
                let count = min(pieces.size, length - start), last = start + count == length
                let chunk = try sram(index % 2 * pieces.buffer, count, .f32)
                let src = try x.advanced(by: 4 * (first + start * inner)).descriptor(
                    dims: [1, count], strides: [count * inner, inner])
                try b.emit("dma", ["dst": chunk, "src": b.descriptor(src)])
                try emitCarry(
                    kind, count: count, first: index == 0, finish: last ? (mean ? 2 : 1) : 0, divisor: mean ? length : 0,
                    dst: last ? try sram(result, 1, .f32) : running, a: chunk, running: running, &constants, &b)
            }
            let dst = try y.advanced(by: 4 * row).descriptor(dims: [1, 1])
            try b.emit("dma", ["dst": b.descriptor(dst), "src": try sram(result, 1, .f32)])
        }
    }
}
