// LRN (local response normalization across channels, as AlexNet and GoogLeNet were exported)
// on the vector unit: per image, every channel of as many positions as a tile holds (in and
// out) goes to SRAM as [C, positions] and through one `vopp lrn`.
import IR
import ISA

extension Lowering {
    static func lowerLocalResponseNorm(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let (dims, x, y) = try rowOperands(node, graph, memory)
        guard dims.count >= 2, let size = node.int("size"), size > 0 else {
            throw IRError("cannot lower an LRN without channels or a positive size", at: node)
        }
        let (n, c, plane) = (dims[0], dims[1], dims[2...].reduce(1, *))
        func bits(_ name: String, _ value: Float) -> Int { Int(Int32(bitPattern: node.float(name, default: value).bitPattern)) }
        let record = [size, bits("alpha", 1e-4), bits("beta", 0.75), bits("bias", 1)] + [Int](repeating: 0, count: 12)
        let params = UInt64(constants.record(record))
        guard 2 * burstAligned(4 * c) <= resources.sramBytes else {
            throw IRError("cannot lower an LRN whose \(c) channels of one position do not fit a tile's SRAM twice", at: node)
        }
        let step = spreadFitting(plane, groups: n, values: c, resources) { 2 * burstAligned(4 * c * $0) }
        let op = UInt64(InstructionSet.vectorOps.firstIndex(of: "lrn")!)
        try forEachBlock(groups: n, of: plane, step: step, resources) { image, p0, positions, cluster, tile in
            let block = [c, positions]
            func sram(_ address: Int) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(.sram, .f32, cluster: cluster, tile: tile, address: UInt64(address), dims: block))
            }
            let (inTile, outTile) = (try sram(0), try sram(burstAligned(4 * c * step)))
            let at = 4 * (image * c * plane + p0)
            let src = try x.advanced(by: at).descriptor(dims: block, strides: [plane, 1])
            try b.emit("dma", ["dst": inTile, "src": b.descriptor(src)])
            try b.emit("vopp", ["op": op, "dst": outTile, "a": inTile, "b": 0, "params": params])
            let dst = try y.advanced(by: at).descriptor(dims: block, strides: [plane, 1])
            try b.emit("dma", ["dst": b.descriptor(dst), "src": outTile])
        }
    }
}
