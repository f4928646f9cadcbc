// CumSum and CumProd along any axis of float32, int32 or int64 elements, on the vector unit:
// blocks of lines (the values one running sum or product runs over, in increasing index) go
// from where the input lives to a tile's SRAM, through one `vopp cumsum` or `cumprod`
// (record: the line's length, exclusive, reverse), and back to the same places in the
// output; blocks are spread over every tile.
// Along the last axis a line is contiguous; along another a strided DMA gathers it (one
// column per position after the axis, side by side) and the same strides scatter it back.
import IR
import ISA

extension Lowering {
    static func lowerCumulative(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let element = graph.type(of: node.inputs[0])?.dtype.vectorElement
        guard let element, element == .f32 || element == .i32 || element == .i64,
            graph.type(of: node.inputs[0])?.dtype != .bool
        else {
            throw IRError("cannot lower \(node.op) of other than float32, int32 or int64 elements", at: node)
        }
        let (dims, x, y) = try rowOperands(node, graph, memory, anyElement: true)
        guard let name = node.input(1), let axisTensor = graph.constants[name], axisTensor.count == 1 else {
            throw IRError("cannot lower \(node.op) whose axis is not a constant", at: node)
        }
        guard !dims.isEmpty else { throw IRError("cannot lower \(node.op) of a scalar", at: node) }
        var axis = Int(axisTensor.int64(at: 0))
        if axis < 0 { axis += dims.count }
        guard axis >= 0, axis < dims.count else {
            throw IRError("\(node.op)'s axis \(axisTensor.int64(at: 0)) is out of range for \(dims)", at: node)
        }
        // Per line: `outer` before the axis, `inner` after it; `c` values `inner` apart.
        let c = dims[axis], inner = dims[(axis + 1)...].reduce(1, *), outer = dims[..<axis].reduce(1, *)
        guard c > 0, inner > 0, outer > 0 else { throw IRError("cannot lower \(node.op) of an empty tensor", at: node) }
        let size = element == .i64 ? 8 : 4
        let params = UInt64(
            constants.record(
                [c, node.int("exclusive", default: 0) != 0 ? 1 : 0, node.int("reverse", default: 0) != 0 ? 1 : 0]
                    + [Int](repeating: 0, count: 13)))
        func footprint(_ r: Int) -> Int { 2 * burstAligned(size * r * c) }
        guard footprint(1) <= resources.sramBytes else {
            throw IRError("a line of \(c) values does not fit a tile's SRAM twice", at: node)
        }
        // Lines of one outer index at a time when they are gathered (inner > 1), else all in one run.
        let (groups, lines) = inner == 1 ? (1, outer) : (outer, inner)
        let step = spreadFitting(lines, groups: groups, values: c, resources, footprint)
        let op = UInt64(InstructionSet.vectorOps.firstIndex(of: node.op == "CumProd" ? "cumprod" : "cumsum")!)
        try forEachBlock(groups: groups, of: lines, step: step, resources) { o, r0, count, cluster, tile in
            func sram(_ address: Int) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(
                        .sram, element, cluster: cluster, tile: tile, address: UInt64(address), dims: [count, c]))
            }
            let (inTile, outTile) = (try sram(0), try sram(burstAligned(size * step * c)))
            // The same elements of x and of y: a block of whole lines, or gathered columns.
            func place(_ p: Place) throws -> TensorDescriptor {
                try lineBlock(p, element, group: o, first: r0, count: count, length: c, inner: inner)
            }
            try b.emit("dma", ["dst": inTile, "src": b.descriptor(try place(x))])
            try b.emit("vopp", ["op": op, "dst": outTile, "a": inTile, "b": 0, "params": params])
            try b.emit("dma", ["dst": b.descriptor(try place(y)), "src": outTile])
        }
    }
}
