// How the vector lowerings size their blocks in a tile's SRAM and deal them to the tiles:
// regions rounded up to whole 64-byte bursts, as many units (rows, planes, positions) a
// block as fit, the blocks handed to the tiles in turn, and where a block of lines (rows,
// or values one stride apart) lies; and for a line too long for a tile, the pieces it is
// taken in and the `vopp reduce_carry` each piece runs.
import Formats
import IR
import ISA

extension Lowering {
    /// The `op` field of the vector op `name` (`InstructionSet.vectorOps`).
    static func vectorOp(_ name: String) -> UInt64 { UInt64(InstructionSet.vectorOps.firstIndex(of: name)!) }

    /// `bytes` rounded up to a whole number of 64-byte bursts.
    static func burstAligned(_ bytes: Int) -> Int { (bytes + 63) / 64 * 64 }

    /// The most units, from 1 up to `count`, whose `footprint` fits `sramBytes`; 1 when
    /// even one does not (the caller checks that one fits). `footprint` grows with the units.
    static func mostFitting(_ count: Int, sramBytes: Int, _ footprint: (Int) -> Int) -> Int {
        var units = 1
        while units < count && footprint(units + 1) <= sramBytes { units += 1 }
        return units
    }

    /// The units a block takes of `count` in each of `groups` (each unit `values` values): as
    /// many as fit, but no more than deal the groups' blocks to every tile, and no fewer than
    /// hold a vector pass's fewest values (`minimumBlock`) where those fit; 1 when even one
    /// does not (the caller checks that one fits).
    static func spreadFitting(
        _ count: Int, groups: Int = 1, values: Int, _ resources: TileResources, _ footprint: (Int) -> Int
    ) -> Int {
        let fitting = mostFitting(count, sramBytes: resources.sramBytes, footprint)
        let blocks = (resources.tileCount + max(groups, 1) - 1) / max(groups, 1)
        let spread = (count + blocks - 1) / blocks, least = (minimumBlock + values - 1) / max(values, 1)
        return max(1, min(fitting, max(spread, least)))
    }

    /// The block of `count` lines of `length` values starting at line `first` of group
    /// `group` at `p`, as `[count, length]`: when `inner` is 1 the lines are consecutive rows;
    /// else the values of a line lie `inner` apart and the lines side by side, `group` of
    /// them `length` x `inner` values a group (the axis after the leading ones, gathered and
    /// scattered by a strided DMA).
    static func lineBlock(
        _ p: Place, _ element: ElementType, group: Int, first: Int, count: Int, length: Int, inner: Int
    ) throws -> TensorDescriptor {
        let size = element == .i64 ? 8 : 4
        guard inner > 1 else { return try p.advanced(by: size * first * length).descriptor(element, dims: [count, length]) }
        return try p.advanced(by: size * (group * length * inner + first)).descriptor(
            element, dims: [count, length], strides: [1, inner])
    }

    /// The descriptor of one row of `count` `element`s at `address` in the SRAM of `unit`
    /// (a long row's piece and what it carries).
    static func sramRow(
        _ b: inout ProgramBuilder, _ unit: (cluster: Int, tile: Int), _ address: Int, _ element: ElementType, _ count: Int
    ) throws -> UInt64 {
        b.descriptor(
            try TensorDescriptor(
                .sram, element, cluster: unit.cluster, tile: unit.tile, address: UInt64(address), dims: [1, count]))
    }

    /// For each of `groups` groups in turn, `count` units in blocks of at most `step`, the
    /// blocks dealt to the tiles in order (`resources.place`): `body(group, first, units,
    /// cluster, tile)`.
    static func forEachBlock(
        groups: Int = 1, of count: Int, step: Int, _ resources: TileResources,
        _ body: (_ group: Int, _ first: Int, _ units: Int, _ cluster: Int, _ tile: Int) throws -> Void
    ) rethrows {
        var unit = 0
        for group in 0..<groups {
            for first in stride(from: 0, to: count, by: step) {
                let (cluster, tile) = resources.place(unit)
                unit += 1
                try body(group, first, min(step, count - first), cluster, tile)
            }
        }
    }

    /// A line of `length` float32 values too long for a tile's SRAM, taken in pieces that
    /// alternate between two buffers of `buffer` bytes at 0 and `buffer` (of `buffers` in
    /// all, the others for values beside each piece), `slots` bursts after them for what
    /// the pieces carry: the pieces' starts and sizes (even, at most what a buffer holds),
    /// nil when not even a burst fits.
    static func pieces(
        ofLength length: Int, sramBytes: Int, buffers: Int = 2, slots: Int
    ) -> (starts: [Int], size: Int, buffer: Int)? {
        let most = (sramBytes - 64 * slots) / buffers / 64 * 16
        guard most > 0 else { return nil }
        let count = (length + most - 1) / most, size = (length + count - 1) / count
        return (Array(stride(from: 0, to: length, by: size)), size, burstAligned(4 * size))
    }

    /// A piece of a row's last pass, dealt to a tile: the row, its first value and count,
    /// and the buffer (0 or 1) it alternates into on that tile.
    struct SpreadPiece {
        let row: Int, start: Int, count: Int, cluster: Int, tile: Int, buffer: Int
        var unit: (cluster: Int, tile: Int) { (cluster, tile) }
    }

    /// The last pass over `rows` rows of `length` values taken in `pieces`, once what it
    /// needs of each row is stored at the end of the row's output (`rowEnd`): each piece on
    /// the next of every tile in turn (`buffer` 0 or 1, alternating on each tile), rows in
    /// order and each row's last piece, which overwrites that end, after every other piece
    /// of the row. The last piece must hold those `carried` values whole (a row of more than
    /// about 16 million values may end in a piece of one): refused by `node`'s name otherwise.
    static func spread(
        rows: Int, length: Int, pieces: (starts: [Int], size: Int, buffer: Int), carried: Int, _ node: Node,
        _ resources: TileResources
    ) throws -> [SpreadPiece] {
        let last = length - (pieces.starts.last ?? 0)
        guard last >= carried else {
            throw IRError(
                "cannot lower \(node.op): a row of \(length) values ends in a piece of \(last), too few to hold the "
                    + "\(carried) values its last pass reads", at: node)
        }
        var out: [SpreadPiece] = []
        var unit = 0
        for row in 0..<rows {
            for start in pieces.starts {
                let (cluster, tile) = resources.place(unit)
                out.append(
                    SpreadPiece(
                        row: row, start: start, count: min(pieces.size, length - start), cluster: cluster, tile: tile,
                        buffer: unit / resources.tileCount % 2))
                unit += 1
            }
        }
        return out
    }

    /// The last `count` float32 values of row `row` of `length` at `p`, where a spread last
    /// pass finds what the first passes left.
    static func rowEnd(_ p: Place, row: Int, length: Int, count: Int) throws -> TensorDescriptor {
        try p.advanced(by: 4 * ((row + 1) * length - count)).descriptor(dims: [count])
    }

    /// Loads what `piece`'s row carries (`carried` float32 values at its end in `y`) into
    /// `slot` on the piece's tile, and the piece of `x` (contiguous rows of `length`) into its
    /// buffer of `bufferBytes`; returns that buffer's descriptor.
    static func loadSpreadPiece(
        _ piece: SpreadPiece, x: Place, y: Place, length: Int, carried: Int, slot: Int, bufferBytes: Int,
        _ b: inout ProgramBuilder
    ) throws -> UInt64 {
        func sram(_ address: Int, _ count: Int) throws -> UInt64 {
            b.descriptor(
                try TensorDescriptor(
                    .sram, .f32, cluster: piece.cluster, tile: piece.tile, address: UInt64(address), dims: [count]))
        }
        let end = try rowEnd(y, row: piece.row, length: length, count: carried)
        try b.emit("dma", ["dst": try sram(slot, carried), "src": b.descriptor(end)])
        let chunk = try sram(piece.buffer * bufferBytes, piece.count)
        let src = try x.advanced(by: 4 * (piece.row * length + piece.start)).descriptor(dims: [piece.count])
        try b.emit("dma", ["dst": chunk, "src": b.descriptor(src)])
        return chunk
    }

    /// Emits `vopp reduce_carry` over the `count` values at `a` (schemas/isa.md): `kind`,
    /// from its own start when `first` or from the running values at `running`, finished as
    /// `finish` says into `dst`; `divisor` the whole line's length, `epsilon` a float32's bits.
    static func emitCarry(
        _ kind: VectorArithmetic.ReductionKind, count: Int, first: Bool, finish: Int, divisor: Int, epsilon: Int = 0,
        dst: UInt64, a: UInt64, running: UInt64, _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let record = constants.record(
            [count, kind.rawValue, first ? 1 : 0, finish, divisor, epsilon] + [Int](repeating: 0, count: 10))
        try b.emit(
            "vopp",
            [
                "op": vectorOp("reduce_carry"), "dst": dst, "a": a, "b": running,
                "params": UInt64(record),
            ])
    }
}
