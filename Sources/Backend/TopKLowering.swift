// TopK along any axis of float32 elements, on the vector unit. A row is the values along
// the axis, in increasing index: contiguous along the last axis, else gathered by a strided
// DMA (one column per position after the axis, side by side) and scattered back the same way.
// `vopp topk` writes a row's K chosen values, `vopp topk_index` the entries of its `b` (int64,
// one per value) at the chosen positions: for a row held whole, the positions themselves,
// copied from a table 0, 1, ... in the constant section. Blocks of rows are spread over every
// tile. A row too long for a tile's SRAM is taken in pieces on one tile, the K chosen so far
// (values and their indices) kept in front of each next piece and chosen again with it: the
// chosen come from earlier pieces, so equal values still go by index. K must be a constant by
// the time the graph lowers (a shape chain folds to one once the input's extents are known).
import IR
import ISA

extension Lowering {
    static func lowerTopK(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        // Its Values output may be omitted (""): only the input's place is required here.
        guard let input = node.input(0), graph.type(of: input)?.dtype == .float32,
            let dims = graph.type(of: input)?.shape?.concrete, let x = memory.place(of: input)
        else { throw IRError("cannot lower TopK of a value that is not a static float32 activation", at: node) }
        guard let name = node.input(1), let kTensor = graph.constants[name], kTensor.count == 1 else {
            throw IRError("cannot lower TopK whose K \"\(node.inputs[1])\" is not a constant", at: node)
        }
        guard !dims.isEmpty else { throw IRError("cannot lower TopK of a scalar", at: node) }
        var axis = node.int("axis", default: -1)
        if axis < 0 { axis += dims.count }
        guard (0..<dims.count).contains(axis) else {
            throw IRError("TopK's axis \(node.int("axis", default: -1)) is out of range for \(dims)", at: node)
        }
        // Per row: `outer` before the axis, `inner` after it; `c` values `inner` apart.
        let c = dims[axis], inner = dims[(axis + 1)...].reduce(1, *), outer = dims[..<axis].reduce(1, *)
        let k = Int(kTensor.int64(at: 0))
        guard (0...c).contains(k) else { throw IRError("TopK's K \(k) is out of range for axis \(axis) of \(dims)", at: node) }
        // K = 0 or an empty input: both outputs are empty.
        guard k > 0, inner > 0, outer > 0 else { return }
        let largest = node.int("largest", default: 1) != 0 ? 1 : 0
        let outputs = TopKOutputs(node, memory)
        // The table of positions, 0 to c - 1, that topk_index picks from.
        let positions = constants.append(integers: (0..<Int64(c)).map { $0 }, .i64)
        // A block's rows of values, their positions, the chosen values and the chosen indices.
        func footprint(_ r: Int) -> Int {
            burstAligned(4 * r * c) + burstAligned(8 * r * c) + burstAligned(4 * r * k) + burstAligned(8 * r * k)
        }
        guard footprint(1) <= resources.sramBytes else {
            try lowerLongTopK(
                node, x, outputs, rows: outer * inner, length: c, inner: inner, k: k, largest: largest,
                positions: positions, resources, &constants, &b)
            return
        }
        let params = UInt64(constants.record([c, k, largest] + [Int](repeating: 0, count: 13)))
        // Rows of one outer index at a time when they are gathered (inner > 1), else all in one run.
        let (groups, rows) = inner == 1 ? (1, outer) : (outer, inner)
        let step = spreadFitting(rows, groups: groups, values: c, resources, footprint)
        try forEachBlock(groups: groups, of: rows, step: step, resources) { o, r0, count, cluster, tile in
            func sram(_ address: Int, _ element: ElementType, _ length: Int) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(
                        .sram, element, cluster: cluster, tile: tile, address: UInt64(address), dims: [count, length]))
            }
            let (values, indices) = (try sram(0, .f32, c), try sram(burstAligned(4 * step * c), .i64, c))
            let src = try lineBlock(x, .f32, group: o, first: r0, count: count, length: c, inner: inner)
            try b.emit("dma", ["dst": values, "src": b.descriptor(src)])
            if outputs.indices != nil {
                let table = try TensorDescriptor(
                    .constants, .i64, address: UInt64(positions), dims: [count, c], strides: [0, 1])
                try b.emit("dma", ["dst": indices, "src": b.descriptor(table)])
            }
            let chosen = burstAligned(4 * step * c) + burstAligned(8 * step * c)
            try outputs.emit(
                a: values, b: indices, valuesAt: try sram(chosen, .f32, k),
                indicesAt: try sram(chosen + burstAligned(4 * step * k), .i64, k), params: params, &b
            ) { place, element in
                try lineBlock(place, element, group: o, first: r0, count: count, length: k, inner: inner)
            }
        }
    }

    /// Rows too long for a tile's SRAM: each on the next tile, its values in pieces of at most
    /// `piece` after the K chosen so far, their indices alike after the chosen ones' (the first
    /// piece fills both regions); each piece's topk_index, then topk, write the new chosen in
    /// front, and after the last piece they go to the outputs.
    private static func lowerLongTopK(
        _ node: Node, _ x: Place, _ outputs: TopKOutputs, rows: Int, length: Int, inner: Int, k: Int, largest: Int,
        positions: Int, _ resources: TileResources, _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        // Values and indices of K + piece each, 12 bytes an entry, two bursts of alignment.
        let piece = (resources.sramBytes - 128) / 12 / 16 * 16 - k
        guard piece >= 16 else {
            throw IRError(
                "cannot lower TopK: the \(k) chosen values and indices leave no room in a tile's SRAM for a row's values",
                at: node)
        }
        let indicesAt = burstAligned(4 * (k + piece))
        var records: [Int: UInt64] = [:]
        for row in 0..<rows {
            let unit = resources.place(row)
            func sram(_ address: Int, _ element: ElementType, _ count: Int) throws -> UInt64 {
                try sramRow(&b, unit, address, element, count)
            }
            let first = (row / inner) * length * inner + row % inner
            var start = 0
            while start < length {
                // The first piece fills the chosen region too; later ones go after it.
                let (count, at) = start == 0 ? (min(length, k + piece), 0) : (min(piece, length - start), k)
                let src = try x.advanced(by: 4 * (first + start * inner)).descriptor(
                    dims: [1, count], strides: [count * inner, inner])
                try b.emit("dma", ["dst": try sram(4 * at, .f32, count), "src": b.descriptor(src)])
                if outputs.indices != nil {
                    let table = try TensorDescriptor(
                        .constants, .i64, address: UInt64(positions + 8 * start), dims: [1, count])
                    try b.emit("dma", ["dst": try sram(indicesAt + 8 * at, .i64, count), "src": b.descriptor(table)])
                }
                let n = at + count
                if records[n] == nil { records[n] = UInt64(constants.record([n, k, largest] + [Int](repeating: 0, count: 13))) }
                let params = records[n]!
                // The chosen values are the next piece's running ones, used output or not.
                try outputs.emit(
                    a: try sram(0, .f32, n), b: try sram(indicesAt, .i64, n), valuesAt: try sram(0, .f32, k),
                    indicesAt: try sram(indicesAt, .i64, k), params: params, &b, keepingValues: true, store: nil)
                start += count
            }
            try outputs.store(
                values: try sram(0, .f32, k), indices: try sram(indicesAt, .i64, k), &b
            ) { place, element in
                try place.advanced(by: (element == .i64 ? 8 : 4) * ((row / inner) * k * inner + row % inner)).descriptor(
                    element, dims: [1, k], strides: [k * inner, inner])
            }
        }
    }
}

/// A TopK node's outputs that are used: where each lives.
private struct TopKOutputs {
    let values: Place?, indices: Place?

    init(_ node: Node, _ memory: MemoryPlan) {
        func place(_ i: Int) -> Place? {
            guard i < node.outputs.count, !node.outputs[i].isEmpty else { return nil }
            return memory.place(of: node.outputs[i])
        }
        (values, indices) = (place(0), place(1))
    }

    /// The selection over rows `a` (values) and `b` (their indices), topk_index first (into
    /// `indicesAt`), then topk (into `valuesAt`), each for an output that is used (topk also
    /// when `keepingValues`); with `store`, each result then goes to its output's block
    /// (`store(place, element)`).
    func emit(
        a: UInt64, b indices: UInt64, valuesAt: UInt64, indicesAt: UInt64, params: UInt64, _ b: inout ProgramBuilder,
        keepingValues: Bool = false, store: ((Place, ElementType) throws -> TensorDescriptor)?
    ) throws {
        if self.indices != nil {
            try b.emit("vopp", ["op": Self.op("topk_index"), "dst": indicesAt, "a": a, "b": indices, "params": params])
        }
        if values != nil || keepingValues {
            try b.emit("vopp", ["op": Self.op("topk"), "dst": valuesAt, "a": a, "b": 0, "params": params])
        }
        if let store { try self.store(values: valuesAt, indices: indicesAt, &b, store) }
    }

    /// DMAs of the chosen values and indices (for the outputs that are used) to their blocks.
    func store(
        values chosen: UInt64, indices picked: UInt64, _ b: inout ProgramBuilder,
        _ block: (Place, ElementType) throws -> TensorDescriptor
    ) throws {
        if let values { try b.emit("dma", ["dst": b.descriptor(try block(values, .f32)), "src": chosen]) }
        if let indices { try b.emit("dma", ["dst": b.descriptor(try block(indices, .i64)), "src": picked]) }
    }

    static func op(_ name: String) -> UInt64 { UInt64(InstructionSet.vectorOps.firstIndex(of: name)!) }
}
