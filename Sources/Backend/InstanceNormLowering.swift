// InstanceNormalization on the vector unit: each (image, channel) plane is one row of H·W
// that `vopp instance_norm` normalizes with its channel's scale and bias, as many planes of
// one image at a time as a tile holds (in, out, and their scales and biases).
import IR
import ISA

extension Lowering {
    static func lowerInstanceNorm(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let (dims, x, y) = try rowOperands(node, graph, memory)
        guard dims.count >= 3 else { throw IRError("cannot lower InstanceNormalization of rank \(dims.count)", at: node) }
        let (n, c, size) = (dims[0], dims[1], dims[2...].reduce(1, *))
        // The constants' [2, C]: the scales, then the biases.
        let affine = try (1...2).flatMap { index -> [Float] in
            guard let name = node.input(index), let t = graph.constants[name], t.count == c else {
                throw IRError(
                    "cannot lower InstanceNormalization whose \(index == 1 ? "scale" : "bias") is not a constant of \(c) values",
                    at: node)
            }
            return t.cast(to: .float32).floats()
        }
        let affineAt = UInt64(constants.append(affine))
        let epsilon = Int(Int32(bitPattern: node.float("epsilon", default: 1e-5).bitPattern))
        let params = UInt64(constants.record([size, epsilon] + [Int](repeating: 0, count: 14)))
        func footprint(_ planes: Int) -> Int { 2 * burstAligned(4 * planes * size) + burstAligned(8 * planes) }
        guard footprint(1) <= resources.sramBytes else {
            throw IRError("cannot lower InstanceNormalization whose plane of \(size) values does not fit a tile's SRAM", at: node)
        }
        let step = mostFitting(c, sramBytes: resources.sramBytes, footprint)
        let slot = burstAligned(4 * step * size)
        let op = UInt64(InstructionSet.vectorOps.firstIndex(of: "instance_norm")!)
        try forEachBlock(groups: n, of: c, step: step, resources) { image, c0, planes, cluster, tile in
            let block = [planes, size]
            func sram(_ address: Int, _ dims: [Int]) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(.sram, .f32, cluster: cluster, tile: tile, address: UInt64(address), dims: dims))
            }
            let (inTile, outTile, affineTile) = (
                try sram(0, block), try sram(slot, block), try sram(2 * slot, [2, block[0]])
            )
            let channels = try TensorDescriptor(
                .constants, .f32, address: affineAt + UInt64(4 * c0), dims: [2, block[0]], strides: [c, 1])
            try b.emit("dma", ["dst": affineTile, "src": b.descriptor(channels)])
            let at = 4 * (image * c + c0) * size
            try b.emit("dma", ["dst": inTile, "src": b.descriptor(try x.advanced(by: at).descriptor(dims: block))])
            try b.emit("vopp", ["op": op, "dst": outTile, "a": inTile, "b": affineTile, "params": params])
            try b.emit("dma", ["dst": b.descriptor(try y.advanced(by: at).descriptor(dims: block)), "src": outTile])
        }
    }
}
