// LayerNormalization (over the axes from its axis on), Softmax and LogSoftmax (along any
// one axis) on the vector unit: blocks of whole rows go from where the input lives (L3 or
// DRAM) to a tile's SRAM, through one `vopp` with a parameter record (row length;
// layer_norm's epsilon, its scale and bias loaded once per tile), and back; blocks are
// spread over every tile in turn. A Softmax row along an axis before the last is gathered
// by a strided DMA and scattered back the same way (a detector's softmax over its bins).
// A row too long for a tile runs in pieces (`lowerRowsInPieces`).
import IR
import ISA

extension Lowering {
    static let rowOps: [String: String] = [
        "LayerNormalization": "layer_norm", "Softmax": "softmax", "LogSoftmax": "log_softmax",
    ]

    /// The input's static dimensions and the input's and output's places of a node working
    /// on rows of its first input: a float32 one, or with `anyElement` any the vector unit holds.
    static func rowOperands(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, anyElement: Bool = false, scaled: Node? = nil
    ) throws -> (dims: [Int], x: Place, y: Place) {
        guard let input = (scaled ?? node).input(0), let out = node.outputs.first,
            graph.type(of: input)?.dtype == .float32 || anyElement && graph.type(of: input)?.dtype.vectorElement != nil,
            let dims = graph.type(of: input)?.shape?.dims.compactMap(\.value), dims.count == graph.type(of: input)?.shape?.rank,
            let x = memory.place(of: input), let y = memory.place(of: out)
        else {
            throw IRError(
                "cannot lower \(node.op) of a value that is not a static \(anyElement ? "float32, bool, int32 or int64" : "float32") "
                    + "activation", at: node)
        }
        return (dims, x, y)
    }

    /// A Div or Mul of a value by a float32 scalar constant that only a Softmax or LogSoftmax
    /// over the last axis reads (attention's scores over the square root of the head size),
    /// when its rows fit a tile: the row op's node index, the scaling node's index and its
    /// vector step. The row op scales each block in SRAM before it, as `div_scalar` or
    /// `mul_scalar` computes the node (the same float32 operation), and the scaled values are
    /// never stored.
    struct RowScale: Equatable {
        var node: Int
        var op: String
        var imm: Float
    }

    static func rowScales(_ graph: Graph, excluded: Set<Int>, _ resources: TileResources) -> [Int: RowScale] {
        var readers: [String: [Int]] = [:]
        for (i, n) in graph.nodes.enumerated() { for input in Set(n.inputs) { readers[input, default: []].append(i) } }
        var producer: [String: Int] = [:]
        for (i, n) in graph.nodes.enumerated() { for o in n.outputs { producer[o] = i } }
        let outputs = Set(graph.outputs.map(\.name))
        var found: [Int: RowScale] = [:]
        for (i, node) in graph.nodes.enumerated() where ["Softmax", "LogSoftmax"].contains(node.op) && !excluded.contains(i) {
            guard let input = node.input(0), let p = producer[input], !excluded.contains(p), readers[input] == [i],
                !outputs.contains(input), let dims = graph.type(of: input)?.shape?.dims.compactMap(\.value),
                !dims.isEmpty, dims.count == graph.type(of: input)?.shape?.rank,
                [-1, dims.count - 1].contains(node.int("axis", default: -1)),
                2 * burstAligned(4 * dims[dims.count - 1]) <= resources.sramBytes
            else { continue }
            let scale = graph.nodes[p]
            guard ["Div", "Mul"].contains(scale.op), scale.inputs.count == 2, let x = scale.input(0),
                graph.type(of: x)?.dtype == .float32, graph.constants[x] == nil, let c = scale.input(1),
                let t = graph.constants[c], t.dtype == .float32, t.count == 1, !t.floats()[0].isNaN
            else { continue }
            found[i] = RowScale(node: p, op: scale.op == "Div" ? "div_scalar" : "mul_scalar", imm: t.floats()[0])
        }
        return found
    }

    static func lowerRows(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder, scale: RowScale? = nil
    ) throws {
        let (dims, x, y) = try rowOperands(node, graph, memory, scaled: scale.map { graph.nodes[$0.node] })
        guard !dims.isEmpty else { throw IRError("cannot lower \(node.op) of a scalar", at: node) }
        var axis = node.int("axis", default: -1)
        if axis < 0 { axis += dims.count }
        guard (0..<dims.count).contains(axis) else {
            throw IRError("\(node.op)'s axis \(node.int("axis", default: -1)) is out of range for \(dims)", at: node)
        }
        // A row: LayerNormalization's axes from `axis` on (contiguous); Softmax's and
        // LogSoftmax's one axis, its values `inner` apart when it is not the last.
        let layerNorm = node.op == "LayerNormalization"
        let c = layerNorm ? dims[axis...].reduce(1, *) : dims[axis]
        let inner = layerNorm ? 1 : dims[(axis + 1)...].reduce(1, *)
        let rows = dims.reduce(1, *) / max(c, 1)
        var record = [c] + [Int](repeating: 0, count: 15)
        // layer_norm's b: scale, then bias when there is one, [1 or 2, C] float32.
        var affine: [Float] = []
        if node.op == "LayerNormalization" {
            guard node.outputs.dropFirst().allSatisfy(\.isEmpty) else {
                throw IRError("cannot lower LayerNormalization's Mean and InvStdDev outputs", at: node)
            }
            for index in 1...2 {
                guard let name = node.input(index) else {
                    if index == 1 { throw IRError("LayerNormalization needs its scale (input 1)", at: node) }
                    continue
                }
                guard let t = graph.constants[name], t.dtype == .float32, t.count == c || t.count == 1 else {
                    throw IRError(
                        "cannot lower LayerNormalization whose \(index == 1 ? "scale" : "bias") \"\(name)\" is not a float32 "
                            + "constant of \(c) values", at: node)
                }
                affine += t.count == c ? t.floats() : [Float](repeating: t.floats()[0], count: c)
            }
            record[1] = Int(Int32(bitPattern: node.float("epsilon", default: 1e-5).bitPattern))
        }
        func footprint(_ r: Int) -> Int { 2 * burstAligned(4 * r * c) + burstAligned(4 * affine.count) }
        precondition(scale == nil || (inner == 1 && footprint(1) <= resources.sramBytes), "rowScales checks both")
        guard footprint(1) <= resources.sramBytes else {
            try lowerRowsInPieces(
                node, x, y, rows: rows, length: c, inner: inner, affine: affine, epsilon: record[1], resources,
                &constants, &b)
            return
        }
        let params = UInt64(constants.record(record))
        let affineAt = affine.isEmpty ? nil : constants.append(affine)
        // As many rows a block as spread them over every tile (at least a vector pass's
        // fewest values), at most what fits.
        let fitting = mostFitting(rows, sramBytes: resources.sramBytes, footprint)
        let spread = max((minimumBlock + c - 1) / c, (rows + resources.tileCount - 1) / resources.tileCount)
        let step = min(fitting, spread)
        let slot = burstAligned(4 * step * c)
        let op = UInt64(InstructionSet.vectorOps.firstIndex(of: rowOps[node.op]!)!)
        if inner > 1 {
            // Per index before the axis, blocks of the positions after it: each row gathered by
            // a strided DMA (one column per position), and scattered back the same way.
            try forEachBlock(groups: rows / inner, of: inner, step: min(step, inner), resources) {
                o, r0, count, cluster, tile in
                let (inTile, outTile) = (
                    b.descriptor(try TensorDescriptor(.sram, .f32, cluster: cluster, tile: tile, address: 0, dims: [count, c])),
                    b.descriptor(
                        try TensorDescriptor(.sram, .f32, cluster: cluster, tile: tile, address: UInt64(slot), dims: [count, c]))
                )
                func lines(_ p: Place) throws -> UInt64 {
                    b.descriptor(try lineBlock(p, .f32, group: o, first: r0, count: count, length: c, inner: inner))
                }
                try b.emit("dma", ["dst": inTile, "src": try lines(x)])
                try b.emit("vopp", ["op": op, "dst": outTile, "a": inTile, "b": 0, "params": params])
                try b.emit("dma", ["dst": try lines(y), "src": outTile])
            }
            return
        }
        var affineLoaded = Set<Int>()
        for (unit, r0) in stride(from: 0, to: rows, by: step).enumerated() {
            let (cluster, tile) = resources.place(unit)
            let block = [min(step, rows - r0), c]
            func sram(_ address: Int, _ dims: [Int]) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(.sram, .f32, cluster: cluster, tile: tile, address: UInt64(address), dims: dims))
            }
            let (inTile, outTile) = (try sram(0, block), try sram(slot, block))
            var affineTile: UInt64 = 0
            if let affineAt {
                affineTile = try sram(2 * slot, [affine.count / c, c])
                if affineLoaded.insert(unit % resources.tileCount).inserted {
                    let src = try TensorDescriptor(.constants, .f32, address: UInt64(affineAt), dims: [affine.count / c, c])
                    try b.emit("dma", ["dst": affineTile, "src": b.descriptor(src)])
                }
            }
            let at = 4 * r0 * c
            try b.emit("dma", ["dst": inTile, "src": b.descriptor(try x.advanced(by: at).descriptor(dims: block))])
            if let scale {
                let scaleOp = UInt64(InstructionSet.vectorOps.firstIndex(of: scale.op)!)
                try b.emit("vop", ["op": scaleOp, "dst": inTile, "a": inTile, "b": 0, "imm": UInt64(scale.imm.bitPattern)])
            }
            try b.emit("vopp", ["op": op, "dst": outTile, "a": inTile, "b": affineTile, "params": params])
            try b.emit("dma", ["dst": b.descriptor(try y.advanced(by: at).descriptor(dims: block)), "src": outTile])
        }
    }
}
