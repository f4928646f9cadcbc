// Scatters: MaxUnpool, ScatterND of computed index tuples (torch's dynamo exporter writes
// max_unpool2d so; ScatterElements and Scatter are read as ScatterND) and ScatterND with a
// reduction. The output is first filled (with zeros) or copied (from the data), then one
// `scatter` per block of rows writes each row where its index points, or combines it with
// the row there. Which bytes a row lands on is known only when the model runs, so every
// scatter counts as writing the whole output and the scatters run one after another, in the
// rows' order: of two rows sent to one place the later one stays (or is combined last), as
// the interpreter does it. Where the program knows which part of the output rows go to,
// the parts are scattered apart, side by side on the tiles: a MaxUnpool of a MaxPool's
// Indices (each lies in its own plane), and tuples whose leading indices are constants.
import Formats
import IR
import ISA
import Reference

extension Lowering {
    /// MaxUnpool: zeros of the output's shape, then each input value at the place its index
    /// names (flattened over the whole output, as MaxPool's Indices are): one `scatter` of
    /// one-element rows. When the Indices are a MaxPool's over an input of the output's shape,
    /// each plane's (image and channel's) indices lie in that plane, so the planes are
    /// scattered apart, dealt over the tiles (`scatterPlanes`).
    static func lowerMaxUnpool(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let (x, n) = try staticActivation(node, graph, memory, node.inputs[0], .float32, "input")
        let (indices, count) = try staticActivation(node, graph, memory, node.inputs[1], .int64, "Indices")
        let (y, r) = try staticActivation(node, graph, memory, node.outputs[0], .float32, "output")
        guard count == n else {
            throw IRError("cannot lower MaxUnpool: its Indices have \(count) elements and its input \(n)", at: node)
        }
        guard r > 0 else { return }
        // Each half of a tile's SRAM past its zeros holds a block's first place and at least
        // one index.
        if n > 0, let planes = poolPlanes(node, graph), planes.count > 1,
            zeroBytes + 2 * (64 + burstAligned(8)) <= resources.sramBytes
        {
            try scatterPlanes(planes, x: x, indices: indices, y: y, resources, &constants, &b)
            return
        }
        try b.emit("fill", ["dst": b.descriptor(try y.descriptor(dims: [r])), "value": UInt64(Float(0).bitPattern)])
        guard n > 0 else { return }
        try b.emit(
            "scatter",
            [
                "dst": b.descriptor(try y.descriptor(dims: [r, 1])), "src": b.descriptor(try x.descriptor(dims: [n, 1])),
                "idx": b.descriptor(try indices.descriptor(.i64, dims: [n])), "reduction": 0,
            ])
    }

    /// The planes of a MaxUnpool whose Indices a MaxPool wrote over an input shaped as the
    /// unpooled output, [N, C, spatial...]: their count (N x C), the output's values per plane
    /// and the Indices' per plane. A MaxPool's index of plane p, flattened over its whole
    /// input (either storage order), lies in [p x plane, (p + 1) x plane). Nil for any other
    /// Indices (their places are known only when the model runs).
    static func poolPlanes(_ node: Node, _ graph: Graph) -> (count: Int, plane: Int, pooled: Int)? {
        guard let producer = graph.producers()[node.inputs[1]] else { return nil }
        let pool = graph.nodes[producer]
        guard pool.op == "MaxPool", pool.domain.isEmpty || pool.domain == "ai.onnx", pool.outputs.count > 1,
            pool.outputs[1] == node.inputs[1],
            let input = graph.type(of: pool.inputs[0])?.shape?.concrete,
            let output = graph.type(of: node.outputs[0])?.shape?.concrete,
            let pooled = graph.type(of: node.inputs[1])?.shape?.concrete,
            input == output, input.count >= 3, pooled.count == input.count, pooled[..<2] == input[..<2]
        else { return nil }
        return (input[..<2].reduce(1, *), input[2...].reduce(1, *), pooled[2...].reduce(1, *))
    }

    /// Bytes of zeros a tile that unpools planes keeps at the top of its SRAM.
    static let zeroBytes = 64

    /// A MaxUnpool's planes scattered apart: each plane zeroed by the tile of its first block
    /// (copies of a burst of zeros, filled once per tile, over the plane), then each block of
    /// its indices loaded into a tile's SRAM, made relative to the plane (less its first
    /// place), and its values scattered into the plane alone. Planes are disjoint, so their
    /// zeros and scatters run side by side on the tiles' DMA engines, where one `fill` of the
    /// whole output ran on one engine before any scatter; a plane's blocks, which share its
    /// places, follow one another in order. A tile alternates between two halves of its SRAM
    /// below the zeros, so that one block's loads overlap the last one's scatter.
    private static func scatterPlanes(
        _ planes: (count: Int, plane: Int, pooled: Int), x: Place, indices: Place, y: Place,
        _ resources: TileResources, _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let firsts = constants.append(integers: (0..<planes.count).map { Int64($0 * planes.plane) }, .i64)
        let zerosAt = (resources.sramBytes - zeroBytes) / 64 * 64, half = zerosAt / 2 / 64 * 64
        let step = mostFitting(planes.pooled, sramBytes: half) { 64 + burstAligned(8 * $0) }
        let burst = zeroBytes / 4
        var unit = 0, zeroed = Set<Int>()
        try forEachBlock(groups: planes.count, of: planes.pooled, step: step, resources) { p, first, m, cluster, tile in
            // Blocks are dealt to the tiles in turn: a tile's next block is a round later.
            let at = half * (unit / resources.tileCount % 2)
            unit += 1
            func sram(_ address: Int, _ dims: [Int], _ strides: [Int]? = nil) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(
                        .sram, .i64, cluster: cluster, tile: tile, address: UInt64(address), dims: dims, strides: strides))
            }
            if first == 0 {
                func zeros(_ dims: [Int], _ strides: [Int]) throws -> UInt64 {
                    b.descriptor(
                        try TensorDescriptor(
                            .sram, .f32, cluster: cluster, tile: tile, address: UInt64(zerosAt), dims: dims,
                            strides: strides))
                }
                if zeroed.insert(cluster * resources.tilesPerCluster + tile).inserted {
                    try b.emit("fill", ["dst": try zeros([burst], [1]), "value": UInt64(Float(0).bitPattern)])
                }
                let plane = y.advanced(by: 4 * p * planes.plane), whole = planes.plane / burst * burst
                if whole > 0 {
                    try b.emit(
                        "dma",
                        [
                            "dst": b.descriptor(try plane.descriptor(dims: [whole / burst, burst])),
                            "src": try zeros([whole / burst, burst], [0, 1]),
                        ])
                }
                if whole < planes.plane {
                    try b.emit(
                        "dma",
                        [
                            "dst": b.descriptor(try plane.advanced(by: 4 * whole).descriptor(dims: [planes.plane - whole])),
                            "src": try zeros([planes.plane - whole], [1]),
                        ])
                }
            }
            let start = try sram(at, [1]), places = try sram(at + 64, [m])
            let row = p * planes.pooled + first
            try b.emit(
                "dma",
                [
                    "dst": start,
                    "src": b.descriptor(
                        try TensorDescriptor(.constants, .i64, address: UInt64(firsts + 8 * p), dims: [1])),
                ])
            try b.emit(
                "dma", ["dst": places, "src": b.descriptor(try indices.advanced(by: 8 * row).descriptor(.i64, dims: [m]))])
            try b.vop("sub", places, places, try sram(at, [m], [0]))
            try b.emit(
                "scatter",
                [
                    "dst": b.descriptor(try y.advanced(by: 4 * p * planes.plane).descriptor(dims: [planes.plane, 1])),
                    "src": b.descriptor(try x.advanced(by: 4 * row).descriptor(dims: [m, 1])),
                    "idx": places, "reduction": 0,
                ])
        }
    }

    /// ScatterND of index tuples the model computes, or of constant ones with a reduction
    /// (constant ones without are runs of DMAs, `lowerDataMovement`): the data copied, then
    /// the update slabs scattered to the slab numbers of their tuples. Constant tuples are
    /// numbered when the model compiles. Computed ones are numbered per block of tuples on a
    /// tile's vector unit: a negative index plus its axis's extent, and an index still outside
    /// its axis made one that puts the slab past the output's end, so that the scatter
    /// refuses it, as the interpreter refuses the tuple; each index times its axis's step in
    /// slabs, summed.
    static func lowerIndexedScatter(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let name = node.string("reduction", default: "none")
        guard let reduction = ScatterReduction(rawValue: name) else {
            throw IRError("cannot lower ScatterND with reduction \(name)", at: node)
        }
        guard node.inputs.count == 3, let dtype = graph.type(of: node.inputs[0])?.dtype, let element = dtype.vectorElement,
            let dims = graph.type(of: node.inputs[0])?.shape?.concrete
        else {
            throw IRError(
                "cannot lower ScatterND of \"\(node.inputs[0])\": not a static float32, bool, int32 or int64 value", at: node)
        }
        guard reduction == .none || dtype != .bool else {
            throw IRError("cannot lower ScatterND with reduction \(name) of bool values", at: node)
        }
        let reductionField = UInt64(InstructionSet.scatterReductions.firstIndex(of: name)!)
        let total = dims.reduce(1, *)
        let (y, _) = try staticActivation(node, graph, memory, node.outputs[0], dtype, "output")
        /// Where the data or the updates are read: an activation, or a constant's elements
        /// appended to the constant section.
        func source(_ value: String, _ role: String) throws -> (Place, Int) {
            guard let t = graph.constants[value], t.dtype == dtype else {
                return try staticActivation(node, graph, memory, value, dtype, role)
            }
            return (Place(.constants, UInt64(constants.append(t, as: element))), t.count)
        }
        let (data, _) = try source(node.inputs[0], "data")
        try b.emit(
            "dma",
            [
                "dst": b.descriptor(try y.descriptor(element, dims: [total])),
                "src": b.descriptor(try data.descriptor(element, dims: [total])),
            ])
        if let indices = graph.constants[node.inputs[1]] {
            let offsets = try scatterOffsets(node, dataShape: dims, indices: indices)
            let slab = dims[(indices.shape.last ?? 0)...].reduce(1, *)
            let (updates, updateCount) = try source(node.inputs[2], "updates")
            guard updateCount == offsets.count * slab else {
                throw IRError(
                    "cannot lower ScatterND: its updates do not give \(offsets.count) slabs of \(slab) values", at: node)
            }
            guard !offsets.isEmpty, slab > 0 else { return }
            let numbers = constants.append(integers: offsets.map { Int64($0 / slab) }, .i64)
            try b.emit(
                "scatter",
                [
                    "dst": b.descriptor(try y.descriptor(element, dims: [total / slab, slab])),
                    "src": b.descriptor(try updates.descriptor(element, dims: [offsets.count, slab])),
                    "idx": b.descriptor(try TensorDescriptor(.constants, .i64, address: UInt64(numbers), dims: [offsets.count])),
                    "reduction": reductionField,
                ])
            return
        }
        let (tuples, indexCount) = try staticActivation(node, graph, memory, node.inputs[1], .int64, "indices")
        let (updates, updateCount) = try source(node.inputs[2], "updates")
        guard let k = graph.type(of: node.inputs[1])?.shape?.concrete?.last, (1...dims.count).contains(k) else {
            throw IRError("cannot lower ScatterND: its index tuples do not hold 1 to \(dims.count) indices", at: node)
        }
        let slab = dims[k...].reduce(1, *), rows = indexCount / k
        guard updateCount == rows * slab else {
            throw IRError("cannot lower ScatterND: its updates do not give \(rows) slabs of \(slab) values", at: node)
        }
        guard rows > 0, slab > 0 else { return }
        // The tuples' leading indices, when constants give them: each run of tuples sharing
        // them is scattered into its own part of the output.
        let (leading, runs) = constantLeadingIndices(node, graph, dims: dims, k: k, rows: rows) ?? (0, [(0..<rows, 0)])
        let axes = Array(dims[leading..<k]), width = k - leading
        let slabs = axes.reduce(1, *)
        // A slab number past the end: an out-of-range index is replaced by `slabs`, at least
        // `slabs` times its step of at least 1, and the k such products stay within int64.
        guard slabs < 1 << 28 else {
            throw IRError("cannot lower ScatterND into \(slabs) slabs: a computed slab number is checked below 2^28", at: node)
        }
        var steps = [Int](repeating: 1, count: width)
        for j in stride(from: width - 2, through: 0, by: -1) { steps[j] = steps[j + 1] * axes[j + 1] }
        // Four rows of the computed indices' width: zeros, the axes' extents, the replacement
        // past the end, the steps.
        let table = constants.append(
            integers: ([Int](repeating: 0, count: width) + axes + [Int](repeating: slabs, count: width) + steps).map {
                Int64($0)
            }, .i64)
        let tableBytes = burstAligned(4 * 8 * width)
        func footprint(_ m: Int) -> Int {
            tableBytes + 2 * burstAligned(8 * m * width) + 2 * burstAligned(4 * m * width) + burstAligned(8 * m)
        }
        guard footprint(1) <= resources.sramBytes else {
            throw IRError("cannot lower ScatterND: one index tuple of \(k) does not fit a tile's SRAM", at: node)
        }
        let step = mostFitting(rows, sramBytes: resources.sramBytes, footprint)
        let record = UInt64(constants.record([width] + [Int](repeating: 0, count: 15)))
        var loaded = Set<Int>()
        var unit = 0
        for (run, part) in runs {
            for first in stride(from: run.lowerBound, to: run.upperBound, by: step) {
                let m = min(step, run.upperBound - first)
                let (cluster, tile) = resources.place(unit)
                unit += 1
                var at = 0
                func sram(_ element: ElementType, _ dims: [Int], _ strides: [Int]? = nil, fixed: Int? = nil) throws -> UInt64 {
                    let address = fixed ?? at
                    if fixed == nil { at += burstAligned(dims.reduce(element.addressBytes, *)) }
                    return b.descriptor(
                        try TensorDescriptor(
                            .sram, element, cluster: cluster, tile: tile, address: UInt64(address), dims: dims,
                            strides: strides))
                }
                // The four rows of constants, loaded once per tile, each read for every tuple.
                let rowsOfTable = try sram(.i64, [4, width], fixed: 0)
                at = tableBytes
                if loaded.insert(cluster * resources.tilesPerCluster + tile).inserted {
                    try b.emit(
                        "dma",
                        [
                            "dst": rowsOfTable,
                            "src": b.descriptor(
                                try TensorDescriptor(.constants, .i64, address: UInt64(table), dims: [4, width])),
                        ])
                }
                func broadcast(_ row: Int) throws -> UInt64 { try sram(.i64, [m, width], [0, 1], fixed: 8 * width * row) }
                let (zeros, extents, past, steps) = (try broadcast(0), try broadcast(1), try broadcast(2), try broadcast(3))
                let t = try sram(.i64, [m, width]), wrapped = try sram(.i64, [m, width])
                let mask = try sram(.f32, [m, width]), above = try sram(.f32, [m, width]), slabNumbers = try sram(.i64, [m])
                try b.emit(
                    "dma",
                    [
                        "dst": t,
                        "src": b.descriptor(
                            try tuples.advanced(by: 8 * (first * k + leading)).descriptor(
                                .i64, dims: [m, width], strides: [k, 1])),
                    ])
                try b.vop("less", mask, t, zeros)
                try b.vop("add", wrapped, t, extents)
                try b.vop("where", t, mask, wrapped)
                try b.vop("less", mask, t, zeros)
                try b.vop("greater_equal", above, t, extents)
                try b.vop("or", mask, mask, above)
                try b.vop("where", t, mask, past)
                try b.vop("mul", t, t, steps)
                try b.emit("vopp", ["op": vectorOp("reduce_sum"), "dst": slabNumbers, "a": t, "b": 0, "params": record])
                try b.emit(
                    "scatter",
                    [
                        "dst": b.descriptor(
                            try y.advanced(by: element.addressBytes * part * slabs * slab).descriptor(
                                element, dims: [slabs, slab])),
                        "src": b.descriptor(
                            try updates.advanced(by: element.addressBytes * first * slab).descriptor(element, dims: [m, slab])),
                        "idx": slabNumbers, "reduction": reductionField,
                    ])
            }
        }
    }

    /// When the index tuples of ScatterND `node` are a Concat along their last axis whose
    /// first inputs are constants (the batch and channel of each tuple, as torch's dynamo
    /// exporter writes max_unpool2d and index_put_), those constants fix each tuple's first
    /// `leading` indices: the tuples in runs that share them, each run's part of the output
    /// (its number among the parts the leading axes make) and the rows of the tuples it
    /// holds. Different parts are different bytes of the output, so their runs' scatters
    /// run side by side; a part's runs are scattered in the tuples' order. Nil when no
    /// constants lead, when one of their indices lies outside its axis (the tuple is then
    /// refused when the model runs), or when the runs would average fewer than 16 tuples.
    static func constantLeadingIndices(
        _ node: Node, _ graph: Graph, dims: [Int], k: Int, rows: Int
    ) -> (leading: Int, runs: [(rows: Range<Int>, part: Int)])? {
        guard let producer = graph.producers()[node.inputs[1]] else { return nil }
        let concat = graph.nodes[producer]
        guard concat.op == "Concat", concat.domain.isEmpty || concat.domain == "ai.onnx",
            let rank = graph.type(of: node.inputs[1])?.shape?.concrete?.count,
            concat.int("axis", default: 0) == -1 || concat.int("axis", default: 0) == rank - 1
        else { return nil }
        var columns: [[Int64]] = []
        for input in concat.inputs {
            guard let t = graph.constants[input], t.dtype == .int64, let width = t.shape.last, width > 0,
                t.count == rows * width, columns.count + width < k
            else { break }
            let values = t.int64s()
            for j in 0..<width { columns.append((0..<rows).map { values[$0 * width + j] }) }
        }
        let leading = columns.count
        guard leading > 0 else { return nil }
        let parts = dims[..<leading].reduce(1, *)
        var runs: [(rows: Range<Int>, part: Int)] = []
        for r in 0..<rows {
            var part = 0
            for j in 0..<leading {
                var index = Int(columns[j][r])
                if index < 0 { index += dims[j] }
                guard (0..<dims[j]).contains(index) else { return nil }
                part = part * dims[j] + index
            }
            if let last = runs.last, last.part == part, last.rows.upperBound == r {
                runs[runs.count - 1].rows = last.rows.lowerBound..<(r + 1)
            } else {
                runs.append((r..<(r + 1), part))
            }
        }
        guard parts > 1, runs.count * 16 <= rows else { return nil }
        return (leading, runs)
    }

    /// The place and element count of `value`, a static activation of `dtype`.
    private static func staticActivation(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, _ value: String, _ dtype: DType, _ role: String
    ) throws -> (Place, Int) {
        guard graph.type(of: value)?.dtype == dtype, let dims = graph.type(of: value)?.shape?.concrete,
            let place = memory.place(of: value)
        else {
            throw IRError("cannot lower \(node.op): its \(role) \"\(value)\" is not a static \(dtype.name) activation", at: node)
        }
        return (place, dims.reduce(1, *))
    }
}
