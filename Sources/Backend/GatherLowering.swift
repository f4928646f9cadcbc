// Gather of computed indices, as exporters write embedding look-ups: `gather`s copy the rows
// of a table (a constant, placed at the end of the constant section, or an activation) that
// an int64 or int32 activation names, each tile a run of the indices into its SRAM and on to
// the output. The table is float32 (an embedding), bool (as the vector unit's masks) or
// int32 or int64 (token type ids gathered at computed positions). Gather of constant indices
// is a copy (CopyLowering).
import IR
import ISA

/// The constant tables gathers read (and the constant operands of products run as products
/// of activations), laid out after every other constant: a `vopp` names its parameter record
/// by 24 bits of words, so records must lie in the section's first 64 MiB, and one embedding
/// table can be larger than that. Each table is placed once however many instructions read it.
struct GatherTables {
    private var section = ConstantSection()
    private var offsets: [String: Int] = [:]
    /// The descriptors that name a table, by their offset in `section` until `place` moves them.
    private var descriptors: [UInt64] = []

    /// The descriptor of constant `name` for a gather to read: [rows, width] of `element` (as
    /// the vector unit holds `t`'s type) from its element `first`.
    mutating func descriptor(
        _ name: String, _ t: Tensor, _ element: ElementType, first: Int = 0, rows: Int, width: Int,
        rowStride: Int? = nil, _ b: inout ProgramBuilder
    ) throws -> UInt64 {
        let at: Int
        if let known = offsets[name] {
            at = known
        } else {
            at = section.append(t, as: element)
            offsets[name] = at
        }
        let size = element == .i64 ? 8 : 4
        let d = b.unsharedDescriptor(
            try TensorDescriptor(
                .constants, element, address: UInt64(at + size * first), dims: [rows, width],
                strides: rowStride.map { [$0, 1] }))
        descriptors.append(d)
        return d
    }

    /// Appends the tables to `constants` and moves their descriptors to where they landed.
    func place(after constants: inout ConstantSection, _ b: inout ProgramBuilder) {
        guard !descriptors.isEmpty else { return }
        let base = constants.append(section)
        for d in descriptors { b.move(d, by: UInt64(base)) }
    }
}

extension Lowering {
    /// True for a Gather whose indices the program computes (or reads as an input).
    static func gathersComputedIndices(_ node: Node, _ graph: Graph) -> Bool {
        node.op == "Gather" && node.input(1).map { graph.constants[$0] == nil } == true
    }

    /// Gather(table [A..., R, W...], indices [...], axis) -> [A..., indices..., W...]: for each
    /// index of the axes before `axis`, the table's block there read as R rows of its trailing
    /// elements, one row per index element in row-major order. A gather's engine fetches one
    /// row at a time, each a memory's latency (`schemas/cycles.md`), so the indices are shared
    /// out: each tile gathers its run of them into its SRAM, then stores the rows where they
    /// go, the tiles' DMA engines all fetching at once. Rows too long for a tile's SRAM, and
    /// a single index, are gathered straight into the output.
    static func lowerGather(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources, _ tables: inout GatherTables,
        _ b: inout ProgramBuilder
    ) throws {
        guard node.inputs.count == 2, let out = node.outputs.first else {
            throw IRError("Gather takes a table and indices", at: node)
        }
        let (table, indices) = (node.inputs[0], node.inputs[1])
        func staticDims(_ v: String) -> [Int]? {
            guard let shape = graph.type(of: v)?.shape else { return nil }
            let d = shape.dims.compactMap(\.value)
            return d.count == shape.rank ? d : nil
        }
        guard let type = graph.type(of: table)?.dtype, let element = type.vectorElement, let dims = staticDims(table),
            !dims.isEmpty
        else {
            throw IRError(
                "cannot lower Gather of table \"\(table)\": not a static float32, bool, int32 or int64 tensor of rank 1 or "
                    + "more", at: node)
        }
        var axis = node.int("axis", default: 0)
        if axis < 0 { axis += dims.count }
        guard (0..<dims.count).contains(axis) else {
            throw IRError("Gather's axis \(node.int("axis", default: 0)) is outside the table's \(dims.count) axes", at: node)
        }
        let indexType = graph.type(of: indices)?.dtype
        guard indexType == .int64 || indexType == .int32, let indexDims = staticDims(indices),
            let at = memory.place(of: indices)
        else {
            throw IRError("cannot lower Gather of indices \"\(indices)\": not a static int64 or int32 activation", at: node)
        }
        guard graph.type(of: out)?.dtype == type, let y = memory.place(of: out) else {
            throw IRError("cannot lower Gather into \"\(out)\": not a static \(type.name) activation", at: node)
        }
        let rows = dims[axis], width = dims[(axis + 1)...].reduce(1, *), n = indexDims.reduce(1, *)
        let size = element == .i64 ? 8 : 4
        let indexElement: ElementType = indexType == .int64 ? .i64 : .i32
        let idx = b.descriptor(try at.descriptor(indexElement, dims: [n]))
        // Indices per tile: an even share over every tile, as many rows as its SRAM holds.
        let share = min((n + resources.tileCount - 1) / resources.tileCount, resources.sramBytes / max(1, size * width))
        var unit = 0
        for block in 0..<dims[..<axis].reduce(1, *) {
            let first = block * rows * width
            let src: UInt64
            if let t = graph.constants[table] {
                src = try tables.descriptor(table, t, element, first: first, rows: rows, width: width, &b)
            } else if let x = memory.place(of: table) {
                src = b.descriptor(try x.advanced(by: size * first).descriptor(element, dims: [rows, width]))
            } else {
                throw IRError("Gather's table \"\(table)\" has no place in memory", at: node)
            }
            guard n > 1, share > 0 else {
                let dst = try y.advanced(by: size * block * n * width).descriptor(element, dims: [n, width])
                try b.emit("gather", ["dst": b.descriptor(dst), "src": src, "idx": idx])
                continue
            }
            for first in stride(from: 0, to: n, by: share) {
                let (cluster, tile) = resources.place(unit)
                unit += 1
                let count = min(share, n - first)
                let rows = b.descriptor(
                    try TensorDescriptor(.sram, element, cluster: cluster, tile: tile, address: 0, dims: [count, width]))
                let part = b.descriptor(
                    try at.advanced(by: indexElement.addressBytes * first).descriptor(indexElement, dims: [count]))
                try b.emit("gather", ["dst": rows, "src": src, "idx": part])
                let dst = try y.advanced(by: size * (block * n + first) * width).descriptor(element, dims: [count, width])
                try b.emit("dma", ["dst": b.descriptor(dst), "src": rows])
            }
        }
    }
}
