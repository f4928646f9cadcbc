// A convolution's unfolded input without the unfolded matrix: row m of the matrix a
// convolution multiplies is output position m, column k is element k of its window, in the
// weight's [channel, ky, kx] order. An activation tile of that matrix is gathered straight
// from the (padded) image into a tile's SRAM by a few strided DMAs, one per output row it
// spans and per run of whole channels, whole kernel rows or kernel columns its columns cover.
import ISA

public struct ConvolutionWindows: Sendable {
    /// Where the image is (DRAM or L3), and the steps (in elements) between neighbouring
    /// rows, columns and channels of it.
    public var space: MemorySpace
    public var address: UInt64
    public var pitches: (row: Int, column: Int, channel: Int)
    public var outWidth: Int
    public var kernel: (Int, Int)
    public var strides: (Int, Int)
    public var dilations: (Int, Int)

    /// Emits the DMAs that fill the float32 tile [rows, columns] at `tileAddress` of SRAM
    /// `cluster`.`tile` (row-major, `columns.count` wide).
    func gather(
        rows: Range<Int>, columns: Range<Int>, cluster: Int, tile: Int, tileAddress: Int, into b: inout ProgramBuilder
    ) throws {
        let (kh, kw) = kernel, window = kernel.0 * kernel.1
        let width = columns.count
        var m = rows.lowerBound
        while m < rows.upperBound {
            // Output positions of one output row.
            let (oy, ox) = (m / outWidth, m % outWidth)
            let count = min(rows.upperBound, m + outWidth - ox) - m
            var k = columns.lowerBound
            while k < columns.upperBound {
                let (c, r) = (k / window, k % window)
                let (ky, kx) = (r / kw, r % kw)
                // The longest run from k: whole channels, whole kernel rows, or kernel columns.
                var shape: [(Int, Int)]  // (size, source stride) after the row dimension
                if r == 0 && k + window <= columns.upperBound {
                    shape = [
                        ((columns.upperBound - k) / window, pitches.channel), (kh, dilations.0 * pitches.row),
                        (kw, dilations.1 * pitches.column),
                    ]
                } else if kx == 0 && k + kw <= min(columns.upperBound, (c + 1) * window) {
                    let kernelRows = min((columns.upperBound - k) / kw, kh - ky)
                    shape = [(kernelRows, dilations.0 * pitches.row), (kw, dilations.1 * pitches.column)]
                } else {
                    shape = [(min(kw - kx, columns.upperBound - k), dilations.1 * pitches.column)]
                }
                let length = shape.reduce(1) { $0 * $1.0 }
                let offset =
                    c * pitches.channel + (oy * strides.0 + ky * dilations.0) * pitches.row
                    + (ox * strides.1 + kx * dilations.1) * pitches.column
                let dims = [count] + shape.map(\.0)
                let src = try TensorDescriptor(
                    space, .f32, address: address + UInt64(4 * offset), dims: dims,
                    strides: [strides.1 * pitches.column] + shape.map(\.1))
                let dst = try TensorDescriptor(
                    .sram, .f32, cluster: cluster, tile: tile,
                    address: UInt64(tileAddress + 4 * ((m - rows.lowerBound) * width + k - columns.lowerBound)), dims: dims,
                    strides: [width] + TensorDescriptor.rowMajor(shape.map(\.0)))
                try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
                k += length
            }
            m += count
        }
    }
}
