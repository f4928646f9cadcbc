// LayerNormalization, Softmax and LogSoftmax over rows too long for a tile's SRAM (a
// language model's hidden size of 4,096, a classifier over 21,843 classes): each row on
// the next tile, taken in pieces that alternate between two buffers, over three passes
// that carry what the row's one-pass op computes from piece to piece (`vopp reduce_carry`),
// so that the result is that op's bits. LayerNormalization: the mean, then the squared
// deviations from it into the mean and inverse deviation as Doubles, then each piece
// standardized (`vopp standardize`), times its scale, plus its bias. Softmax: the maximum,
// then the Double sum of each piece's expf(x - max) rounded to float32, then each piece's
// expf(x - max) times 1 / sum, or for LogSoftmax (x - max) - logf(sum).
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
        let layerNorm = node.op == "LayerNormalization"
        // Two buffers for the pieces and, for LayerNormalization, one each for the pieces'
        // scale and bias; then three slots of one burst each: the running values, and what
        // the first and the second pass finish into.
        let buffers = 2 + (layerNorm ? affine.count / length : 0)
        guard let pieces = pieces(ofLength: length, sramBytes: resources.sramBytes, buffers: buffers, slots: 3) else {
            throw IRError("cannot lower \(node.op): a tile's SRAM holds no piece of a row", at: node)
        }
        let buffer = pieces.buffer
        let (state, first, second) = (buffers * buffer, buffers * buffer + 64, buffers * buffer + 128)
        let affineAt = affine.isEmpty ? nil : constants.append(affine)
        for row in 0..<rows {
            let (cluster, tile) = resources.place(row)
            func sram(_ address: Int, _ count: Int, _ element: ElementType = .f32, repeated: Bool = false) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(
                        .sram, element, cluster: cluster, tile: tile, address: UInt64(address), dims: [count],
                        strides: repeated ? [0] : nil))
            }
            let origin = (row / inner) * length * inner + row % inner
            func values(_ p: Place, start: Int, count: Int) throws -> UInt64 {
                b.descriptor(try p.advanced(by: 4 * (origin + start * inner)).descriptor(dims: [count], strides: [inner]))
            }
            // Each pass over the row's pieces: `body(index, start, count, buffer, last)`.
            func pass(_ body: (Int, Int, Int, UInt64, Bool) throws -> Void) throws {
                for (index, start) in pieces.starts.enumerated() {
                    let count = min(pieces.size, length - start)
                    let chunk = try sram(index % 2 * buffer, count)
                    try b.emit("dma", ["dst": chunk, "src": try values(x, start: start, count: count)])
                    try body(index, start, count, chunk, start + count == length)
                }
            }
            func vop(_ name: String, _ dst: UInt64, _ a: UInt64, _ other: UInt64 = 0) throws {
                try b.emit("vop", ["op": vectorOp(name), "dst": dst, "a": a, "b": other, "imm": 0])
            }
            if layerNorm, let affineAt {
                // The mean, kept a Double beside the running sum.
                let (sum, both) = (try sram(state, 1, .i64), try sram(state, 2, .i64))
                try pass { index, _, count, chunk, last in
                    try emitCarry(
                        .sum, count: count, first: index == 0, finish: last ? 3 : 0, divisor: length,
                        dst: last ? try sram(state + 8, 1, .i64) : sum, a: chunk, running: sum, &constants, &b)
                }
                // The squared deviations from it, into the mean and inverse deviation.
                let moments = try sram(first, 2, .i64)
                try pass { index, _, count, chunk, last in
                    try emitCarry(
                        .squaredDeviation, count: count, first: index == 0, finish: last ? 5 : 0, divisor: length,
                        epsilon: epsilon, dst: last ? moments : both, a: chunk, running: both, &constants, &b)
                }
                let standardize = vectorOp("standardize")
                try pass { _, start, count, chunk, _ in
                    let params = UInt64(constants.record([count] + [Int](repeating: 0, count: 15)))
                    try b.emit("vopp", ["op": standardize, "dst": chunk, "a": chunk, "b": moments, "params": params])
                    for (index, operation) in ["mul", "add"].prefix(affine.count / length).enumerated() {
                        let piece = try sram((2 + index) * buffer, count)
                        let src = try TensorDescriptor(
                            .constants, .f32, address: UInt64(affineAt + 4 * (index * length + start)), dims: [count])
                        try b.emit("dma", ["dst": piece, "src": b.descriptor(src)])
                        try vop(operation, chunk, chunk, piece)
                    }
                    try b.emit("dma", ["dst": try values(y, start: start, count: count), "src": chunk])
                }
                continue
            }
            // Softmax: the maximum, then the sum of the exponentials.
            let running = try sram(state, 1, .i64)
            let (maximum, sum) = (try sram(first, 1), try sram(second, 1))
            try pass { index, _, count, chunk, last in
                try emitCarry(
                    .orderedMaximum, count: count, first: index == 0, finish: last ? 1 : 0, divisor: 0,
                    dst: last ? maximum : running, a: chunk, running: running, &constants, &b)
            }
            try pass { index, _, count, chunk, last in
                try vop("sub", chunk, chunk, try sram(first, count, repeated: true))
                try vop("exp", chunk, chunk)
                try emitCarry(
                    .sum, count: count, first: index == 0, finish: last ? 1 : 0, divisor: 0,
                    dst: last ? sum : running, a: chunk, running: running, &constants, &b)
            }
            let log = node.op == "LogSoftmax"
            try vop(log ? "log" : "reciprocal", sum, sum)
            try pass { _, start, count, chunk, _ in
                try vop("sub", chunk, chunk, try sram(first, count, repeated: true))
                if log {
                    try vop("sub", chunk, chunk, try sram(second, count, repeated: true))
                } else {
                    try vop("exp", chunk, chunk)
                    try vop("mul", chunk, chunk, try sram(second, count, repeated: true))
                }
                try b.emit("dma", ["dst": try values(y, start: start, count: count), "src": chunk])
            }
        }
    }
}
