// LayerNormalization, Softmax and LogSoftmax over rows too long for a tile's SRAM (a
// language model's hidden size of 4,096, a classifier over 21,843 classes): each row on
// the next tile, taken in pieces that alternate between two buffers, over three passes
// that carry what the row's one-pass op computes from piece to piece (`vopp reduce_carry`),
// so that the result is that op's bits. LayerNormalization: the mean, then the squared
// deviations from it into the mean and inverse deviation as Doubles, then each piece
// standardized (`vopp standardize`), times its scale, plus its bias. Softmax: the maximum,
// then the Double sum of each piece's expf(x - max) rounded to float32, then each piece's
// expf(x - max) times 1 / sum, or for LogSoftmax (x - max) - logf(sum). The third pass's
// pieces are independent: they are spread over every tile, each reading what the first two
// passes left from the end of the row's output, which the row's last piece then overwrites.
import Formats
import IR
import ISA

extension Lowering {
    /// Rows of `length` values too long for a tile's SRAM: row r's values `inner` apart from
    /// (r / inner) · length · inner + r % inner (inner 1 for LayerNormalization). `affine`
    /// is LayerNormalization's scale and, when there is one, bias, `length` values each.
    static func lowerRowsInPieces(
        _ node: Node, _ x: Place, _ y: Place, rows: Int, length: Int, inner: Int, affine: [Float], epsilon: Int,
        _ resources: TileResources, _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let layerNorm = node.op == "LayerNormalization", log = node.op == "LogSoftmax"
        // Two buffers for the pieces and, for LayerNormalization, one each for the pieces'
        // scale and bias; then three slots of one burst each: the running values, what the
        // first pass finishes into, and what the third pass reads (LayerNormalization's
        // mean and inverse deviation as Doubles; Softmax's maximum, then 1 / sum or logf(sum)).
        let buffers = 2 + (layerNorm ? affine.count / length : 0)
        guard let pieces = pieces(ofLength: length, sramBytes: resources.sramBytes, buffers: buffers, slots: 3) else {
            throw IRError("cannot lower \(node.op): a tile's SRAM holds no piece of a row", at: node)
        }
        let buffer = pieces.buffer
        let (state, first, carried) = (buffers * buffer, buffers * buffer + 64, buffers * buffer + 128)
        let carriedValues = layerNorm ? 4 : 2
        let affineAt = affine.isEmpty ? 0 : constants.append(affine)
        // A row's values at `p` from `start`; its elements lie `inner` apart.
        func values(_ p: Place, row: Int, start: Int, count: Int) throws -> UInt64 {
            let origin = (row / inner) * length * inner + row % inner
            return b.descriptor(try p.advanced(by: 4 * (origin + start * inner)).descriptor(dims: [count], strides: [inner]))
        }
        // `count` elements at `address` in the SRAM of `unit`'s tile (one element repeated).
        func sramOf(
            _ unit: (cluster: Int, tile: Int), _ address: Int, _ count: Int, _ element: ElementType = .f32,
            repeated: Bool = false
        ) throws -> UInt64 {
            b.descriptor(
                try TensorDescriptor(
                    .sram, element, cluster: unit.cluster, tile: unit.tile, address: UInt64(address), dims: [count],
                    strides: repeated ? [0] : nil))
        }
        // The third pass over one piece, in `chunk` on `unit`, with what it reads at `carried`
        // there.
        func third(_ row: Int, start: Int, count: Int, chunk: UInt64, _ unit: (cluster: Int, tile: Int)) throws {
            func sram(_ address: Int, _ count: Int, _ element: ElementType = .f32, repeated: Bool = false) throws -> UInt64 {
                try sramOf(unit, address, count, element, repeated: repeated)
            }
            func vop(_ name: String, _ other: UInt64 = 0) throws {
                try b.vop(name, chunk, chunk, other)
            }
            if layerNorm {
                let params = UInt64(constants.record([count] + [Int](repeating: 0, count: 15)))
                try b.emit(
                    "vopp",
                    [
                        "op": vectorOp("standardize"), "dst": chunk, "a": chunk, "b": try sram(carried, 2, .i64),
                        "params": params,
                    ])
                for (index, operation) in ["mul", "add"].prefix(affine.count / length).enumerated() {
                    let piece = try sram((2 + index) * buffer, count)
                    let src = try TensorDescriptor(
                        .constants, .f32, address: UInt64(affineAt + 4 * (index * length + start)), dims: [count])
                    try b.emit("dma", ["dst": piece, "src": b.descriptor(src)])
                    try vop(operation, piece)
                }
            } else {
                try vop("sub", try sram(carried, count, repeated: true))
                if log {
                    try vop("sub", try sram(carried + 4, count, repeated: true))
                } else {
                    try vop("exp")
                    try vop("mul", try sram(carried + 4, count, repeated: true))
                }
            }
            try b.emit("dma", ["dst": try values(y, row: row, start: start, count: count), "src": chunk])
        }
        // Spread over the tiles, the third pass reads what it needs from the end of the row's
        // output (its last values, bytes as they are): where the row is contiguous there.
        let spreading = inner == 1
        for row in 0..<rows {
            let unit = resources.place(row)
            func sram(_ address: Int, _ count: Int, _ element: ElementType = .f32, repeated: Bool = false) throws -> UInt64 {
                try sramOf(unit, address, count, element, repeated: repeated)
            }
            // Each pass over the row's pieces: `body(index, count, buffer, last)`.
            func pass(_ body: (Int, Int, UInt64, Bool) throws -> Void) throws {
                for (index, start) in pieces.starts.enumerated() {
                    let count = min(pieces.size, length - start)
                    let chunk = try sram(index % 2 * buffer, count)
                    try b.emit("dma", ["dst": chunk, "src": try values(x, row: row, start: start, count: count)])
                    try body(index, count, chunk, start + count == length)
                }
            }
            if layerNorm {
                // The mean, kept a Double beside the running sum; the squared deviations from
                // it into the mean and inverse deviation.
                let (sum, both) = (try sram(state, 1, .i64), try sram(state, 2, .i64))
                try pass { index, count, chunk, last in
                    try emitCarry(
                        .sum, count: count, first: index == 0, finish: last ? 3 : 0, divisor: length,
                        dst: last ? try sram(state + 8, 1, .i64) : sum, a: chunk, running: sum, &constants, &b)
                }
                try pass { index, count, chunk, last in
                    try emitCarry(
                        .squaredDeviation, count: count, first: index == 0, finish: last ? 5 : 0, divisor: length,
                        epsilon: epsilon, dst: last ? try sram(carried, 2, .i64) : both, a: chunk, running: both,
                        &constants, &b)
                }
            } else {
                // The maximum, then the sum of the exponentials into 1 / sum or logf(sum).
                let running = try sram(state, 1, .i64)
                try pass { index, count, chunk, last in
                    try emitCarry(
                        .orderedMaximum, count: count, first: index == 0, finish: last ? 1 : 0, divisor: 0,
                        dst: last ? try sram(carried, 1) : running, a: chunk, running: running, &constants, &b)
                }
                try pass { index, count, chunk, last in
                    try b.vop("sub", chunk, chunk, try sram(carried, count, repeated: true))
                    try b.vop("exp", chunk, chunk)
                    try emitCarry(
                        .sum, count: count, first: index == 0, finish: last ? 1 : 0, divisor: 0,
                        dst: last ? try sram(first, 1) : running, a: chunk, running: running, &constants, &b)
                }
                let total = try sram(first, 1)
                try b.vop(log ? "log" : "reciprocal", try sram(carried + 4, 1), total)
            }
            if spreading {
                let end = try rowEnd(y, row: row, length: length, count: carriedValues)
                try b.emit("dma", ["dst": b.descriptor(end), "src": try sram(carried, carriedValues)])
            } else {
                for (index, start) in pieces.starts.enumerated() {
                    let count = min(pieces.size, length - start)
                    let chunk = try sram(index % 2 * buffer, count)
                    try b.emit("dma", ["dst": chunk, "src": try values(x, row: row, start: start, count: count)])
                    try third(row, start: start, count: count, chunk: chunk, unit)
                }
            }
        }
        guard spreading else { return }
        for piece in try spread(rows: rows, length: length, pieces: pieces, carried: carriedValues, node, resources) {
            let chunk = try loadSpreadPiece(
                piece, x: x, y: y, length: length, carried: carriedValues, slot: carried, bufferBytes: buffer, &b)
            try third(piece.row, start: piece.start, count: piece.count, chunk: chunk, piece.unit)
        }
    }
}
