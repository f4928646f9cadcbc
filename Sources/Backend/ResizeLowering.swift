// Nearest-neighbour Resize as data movement: each output index along an axis reads the source
// slice its index names (IR's ResizeGeometry, which the interpreter also follows), copied
// axis by axis as CopyLowering.swift's copyAlongAxes does, so the result is a copy, bit for
// bit. Linear Resize of the last two axes (the others left as they are) runs on the vector
// unit (`vopp resize`, the interpreter's arithmetic), as many [H, W] planes at a time as a
// tile holds.
import IR
import ISA

extension Lowering {
    /// Lowers nearest Resize `node`; returns the scratch bytes it used at `scratch`.
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
        if !geometry.nearest {
            guard geometry.planes(inputShape: dims) != nil else {
                throw IRError(
                    "cannot lower a linear Resize of \(dims) to \(geometry.outputShape) yet (the last two axes only)",
                    at: node)
            }
            try lowerBilinear(node, dims, geometry, x: x, y: y, resources, &constants, &b)
            return 0
        }
        return try copyAlongAxes(from: x, dims, geometry.lower, to: y, scratch: scratch, &b)
    }

    /// Bilinear planes: per image, as many channels as fit a tile (in and out), one `vopp
    /// resize` each, the steps dealt over the tiles.
    private static func lowerBilinear(
        _ node: Node, _ dims: [Int], _ g: ResizeGeometry, x: Place, y: Place, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        // Every axis but the last two is left as it is: the input is planes of [H, W].
        let (r, k) = (dims.count - 2, dims.count - 1)
        let (n, c) = (1, dims.dropLast(2).reduce(1, *))
        let (h, w, oh, ow) = (dims[r], dims[k], g.outputShape[r], g.outputShape[k])
        func table(_ v: [Int]) -> Int { constants.words(v.map { UInt32(bitPattern: Int32($0)) }) }
        let tables = [
            table(g.lower[r]), table(g.upper[r]), constants.words(g.weight[r].map(\.bitPattern)),
            table(g.lower[k]), table(g.upper[k]), constants.words(g.weight[k].map(\.bitPattern)),
        ]
        let params = UInt64(constants.record([h, w, oh, ow] + tables + [Int](repeating: 0, count: 6)))
        func aligned(_ bytes: Int) -> Int { (bytes + 63) / 64 * 64 }
        func bytes(_ channels: Int) -> Int { aligned(4 * channels * h * w) + aligned(4 * channels * oh * ow) }
        guard bytes(1) <= resources.sramBytes else {
            throw IRError("cannot lower a linear Resize whose [\(h), \(w)] plane does not fit a tile's SRAM yet", at: node)
        }
        var step = 1
        while step < c && bytes(step + 1) <= resources.sramBytes { step += 1 }
        let op = UInt64(InstructionSet.vectorOps.firstIndex(of: "resize")!)
        var unit = 0
        for image in 0..<n {
            for c0 in stride(from: 0, to: c, by: step) {
                let cs = min(step, c - c0)
                let (cluster, tile) = resources.place(unit)
                unit += 1
                func sram(_ address: Int, _ dims: [Int]) throws -> UInt64 {
                    b.descriptor(
                        try TensorDescriptor(.sram, .f32, cluster: cluster, tile: tile, address: UInt64(address), dims: dims))
                }
                let (inTile, outTile) = (try sram(0, [cs, h, w]), try sram(aligned(4 * cs * h * w), [cs, oh, ow]))
                let plane0 = image * c + c0
                let src = try x.advanced(by: 4 * plane0 * h * w).descriptor(dims: [cs, h, w])
                try b.emit("dma", ["dst": inTile, "src": b.descriptor(src)])
                try b.emit("vopp", ["op": op, "dst": outTile, "a": inTile, "b": 0, "params": params])
                let dst = try y.advanced(by: 4 * plane0 * oh * ow).descriptor(dims: [cs, oh, ow])
                try b.emit("dma", ["dst": b.descriptor(dst), "src": outTile])
            }
        }
    }
}
