// InstanceNormalization on the vector unit: each (image, channel) plane is one row of H·W
// that `vopp instance_norm` normalizes with its channel's scale and bias, as many planes of
// one image at a time as a tile holds (in, out, and their scales and biases). A plane too
// large for a tile (GroupNormalization of one group: the whole image) runs in pieces over
// three passes (`lowerLongPlanes`).
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
            try lowerLongPlanes(
                node, x, y, planes: n * c, channels: c, size: size, affineAt: affineAt, epsilon: epsilon, resources,
                &constants, &b)
            return
        }
        let step = spreadFitting(c, groups: n, values: size, resources, footprint)
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

    /// Planes too large for a tile's SRAM, each on the next tile, in pieces alternating
    /// between two buffers, in three passes over the plane with the interpreter's arithmetic
    /// (`VectorArithmetic.instanceNorm`): the sum, carried as a Double by `vopp reduce_carry`
    /// into the mean (kept a Double); the squared deviations from it, carried likewise, into
    /// the factors Float(inv) and Float(mean · inv); then, with s = Float(inv) · scale and
    /// shift = bias - Float(mean · inv) · scale, each piece's x · s + shift (vop mul and add
    /// against s and shift repeated), written back. The third pass's pieces, each on its own
    /// of every tile (`spread`), read s and shift where the plane's last piece goes.
    private static func lowerLongPlanes(
        _ node: Node, _ x: Place, _ y: Place, planes: Int, channels: Int, size: Int, affineAt: UInt64, epsilon: Int,
        _ resources: TileResources, _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        // Two buffers, then four slots of one burst each: the running values (i64: the sum or
        // squared deviations, the mean), the factors, the scale and bias, s and shift.
        guard let pieces = pieces(ofLength: size, sramBytes: resources.sramBytes, slots: 4) else {
            throw IRError("cannot lower InstanceNormalization: a tile's SRAM holds no piece of a plane", at: node)
        }
        let buffer = pieces.buffer
        let (state, factors, affine, applied) = (2 * buffer, 2 * buffer + 64, 2 * buffer + 128, 2 * buffer + 192)
        for plane in 0..<planes {
            let (cluster, tile) = resources.place(plane)
            func sram(_ address: Int, _ dims: [Int], _ element: ElementType = .f32) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(.sram, element, cluster: cluster, tile: tile, address: UInt64(address), dims: dims))
            }
            let channel = plane % channels
            let parameters = try TensorDescriptor(
                .constants, .f32, address: affineAt + UInt64(4 * channel), dims: [2], strides: [channels])
            try b.emit("dma", ["dst": try sram(affine, [2]), "src": b.descriptor(parameters)])
            // Each pass over the plane's pieces: `body(index, count, buffer, last)`.
            func pass(_ body: (Int, Int, UInt64, Bool) throws -> Void) throws {
                for (index, start) in pieces.starts.enumerated() {
                    let count = min(pieces.size, size - start)
                    let chunk = try sram(index % 2 * buffer, [count])
                    let src = try x.advanced(by: 4 * (plane * size + start)).descriptor(dims: [count])
                    try b.emit("dma", ["dst": chunk, "src": b.descriptor(src)])
                    try body(index, count, chunk, start + count == size)
                }
            }
            // The mean: the sum carried in the first slot, the last piece's mean into the second.
            let (sum, mean, both) = (try sram(state, [1], .i64), try sram(state + 8, [1], .i64), try sram(state, [2], .i64))
            try pass { index, count, chunk, last in
                try emitCarry(
                    .sum, count: count, first: index == 0, finish: last ? 3 : 0, divisor: size, dst: last ? mean : sum,
                    a: chunk, running: sum, &constants, &b)
            }
            // The squared deviations from it, carried beside it, into the factors.
            try pass { index, count, chunk, last in
                try emitCarry(
                    .squaredDeviation, count: count, first: index == 0, finish: last ? 4 : 0, divisor: size,
                    epsilon: epsilon, dst: last ? try sram(factors, [2]) : both, a: chunk, running: both, &constants, &b)
            }
            let (inv, meanInv) = (try sram(factors, [1]), try sram(factors + 4, [1]))
            let (scale, bias) = (try sram(affine, [1]), try sram(affine + 4, [1]))
            let (s, shift) = (try sram(applied, [1]), try sram(applied + 4, [1]))
            try b.vop("mul", s, inv, scale)
            try b.vop("mul", shift, meanInv, scale)
            try b.vop("sub", shift, bias, shift)
            let end = try rowEnd(y, row: plane, length: size, count: 2)
            try b.emit("dma", ["dst": b.descriptor(end), "src": try sram(applied, [2])])
        }
        // Each piece: s and shift, then the piece, x · s + shift, written back.
        for piece in try spread(rows: planes, length: size, pieces: pieces, carried: 2, node, resources) {
            let chunk = try loadSpreadPiece(
                piece, x: x, y: y, length: size, carried: 2, slot: applied, bufferBytes: buffer, &b)
            for (operation, at) in [("mul", applied), ("add", applied + 4)] {
                let repeated = try TensorDescriptor(
                    .sram, .f32, cluster: piece.cluster, tile: piece.tile, address: UInt64(at), dims: [piece.count],
                    strides: [0])
                try b.vop(operation, chunk, chunk, b.descriptor(repeated))
            }
            let dst = try y.advanced(by: 4 * (piece.row * size + piece.start)).descriptor(dims: [piece.count])
            try b.emit("dma", ["dst": b.descriptor(dst), "src": chunk])
        }
    }
}
