// Nearest-neighbour Resize as data movement: each output index along an axis reads the source
// slice its index names (IR's ResizeGeometry, which the interpreter also follows), copied
// axis by axis as CopyLowering.swift's copyAlongAxes does, so the result is a copy, bit for
// bit. Linear Resize whose changed axes lie within three (the others left as they are) runs
// on the vector unit (`vopp resize`, the interpreter's arithmetic), as many [H, W] planes or
// [D, H, W] volumes at a time as a tile holds; cubic Resize of the last two axes likewise
// (`vopp resize_cubic`), plane by plane.
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
        if geometry.cubic {
            guard let planes = geometry.cubicPlanes(inputShape: dims) else {
                throw IRError(
                    "cannot lower a cubic Resize of \(dims) to \(geometry.outputShape) yet (it changes an axis before the last two)",
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
        try resamplePlanes(
            node, "resize_cubic", params: UInt64(constants.record(record + [Int](repeating: 0, count: 8))),
            planes: c.planes, inner: [c.height, c.width], outer: [c.outputHeight, c.outputWidth],
            what: "a cubic Resize whose [\(c.height), \(c.width)] plane", x: x, y: y, resources, &b)
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
            throw IRError("cannot lower \(what) does not fit a tile's SRAM yet", at: node)
        }
        let step = mostFitting(planes, sramBytes: resources.sramBytes, bytes)
        let code = UInt64(InstructionSet.vectorOps.firstIndex(of: op)!)
        for (unit, p0) in stride(from: 0, to: planes, by: step).enumerated() {
            let count = min(step, planes - p0)
            let (cluster, tile) = resources.place(unit)
            func sram(_ address: Int, _ dims: [Int]) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(.sram, .f32, cluster: cluster, tile: tile, address: UInt64(address), dims: dims))
            }
            let (inTile, outTile) = (try sram(0, [count] + inner), try sram(burstAligned(4 * count * inCount), [count] + outer))
            let src = try x.advanced(by: 4 * p0 * inCount).descriptor(dims: [count] + inner)
            try b.emit("dma", ["dst": inTile, "src": b.descriptor(src)])
            try b.emit("vopp", ["op": code, "dst": outTile, "a": inTile, "b": 0, "params": params])
            let dst = try y.advanced(by: 4 * p0 * outCount).descriptor(dims: [count] + outer)
            try b.emit("dma", ["dst": b.descriptor(dst), "src": outTile])
        }
    }
}
