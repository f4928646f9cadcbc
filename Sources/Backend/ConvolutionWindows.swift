// A convolution's unfolded input without the unfolded matrix: row m of the matrix a
// convolution multiplies is output position m, column k is element k of its window, in the
// weight's [channel, ky, kx] order. An activation tile of that matrix is gathered straight
// from the (padded) image into a tile's SRAM by a few strided DMAs, one per output row it
// spans and per run of whole channels, whole kernel rows or kernel columns its columns cover.
// A cluster may first stage the band of image rows its tiles read in its L2 (`stage`): its
// tiles then gather from there, sparing the shared image's bandwidth.
import ISA

public struct ConvolutionWindows: Sendable {
    /// The image's elements: float32 values, or coded activations' codes (u8) or scales
    /// (f32, one per block of 16 channels: an image of the blocks).
    public var element = ElementType.f32
    /// Where the image is (DRAM or L3), and the steps (in elements) between neighbouring
    /// rows, columns and channels of it.
    public var space: MemorySpace
    public var address: UInt64
    public var pitches: (row: Int, column: Int, channel: Int)
    public var outWidth: Int
    public var kernel: (Int, Int)
    public var strides: (Int, Int)
    public var dilations: (Int, Int)
    /// Per cluster, the band of image rows staged in its L2: where it starts, its first
    /// row, and its own pitches.
    var staged: [Int: (address: UInt64, firstRow: Int, pitches: (row: Int, column: Int, channel: Int))] = [:]

    public init(
        space: MemorySpace, address: UInt64, pitches: (row: Int, column: Int, channel: Int), outWidth: Int,
        kernel: (Int, Int), strides: (Int, Int), dilations: (Int, Int)
    ) {
        (self.space, self.address, self.pitches, self.outWidth) = (space, address, pitches, outWidth)
        (self.kernel, self.strides, self.dilations) = (kernel, strides, dilations)
    }

    /// The windows' geometry, as the tiling plans bands with it.
    var geometry: MatrixShape.Bands {
        MatrixShape.Bands(outWidth: outWidth, kernel: kernel, strides: strides, dilations: dilations)
    }

    /// The image rows output positions `positions` read.
    func inputRows(_ positions: Range<Int>) -> Range<Int> {
        let (first, last) = (positions.lowerBound / outWidth, (positions.upperBound - 1) / outWidth)
        return (first * strides.0)..<(first * strides.0 + geometry.extent(outRows: last - first + 1, width: 1).rows)
    }

    /// Copies image rows `rows` (of `channels` channels and `columns` columns) into cluster
    /// `cluster`'s L2 at `at`, the axes in the image's own order, and gathers that cluster's
    /// windows from there.
    mutating func stage(
        rows: Range<Int>, channels: Int, columns: Int, cluster: Int, at: UInt64, into b: inout ProgramBuilder
    ) throws {
        // (extent, image pitch, axis: 0 channel, 1 row, 2 column), outermost first in the image.
        let axes = [(channels, pitches.channel, 0), (rows.count, pitches.row, 1), (columns, pitches.column, 2)]
            .sorted { ($0.1, $0.2) > ($1.1, $1.2) }
        var own = [0, 0, 0]
        for (axis, pitch) in zip(axes.map(\.2), TensorDescriptor.rowMajor(axes.map(\.0))) { own[axis] = pitch }
        let size = element.addressBytes
        let src = try TensorDescriptor(
            space, element, address: address + UInt64(size * rows.lowerBound * pitches.row), dims: axes.map(\.0),
            strides: axes.map(\.1))
        let dst = try TensorDescriptor(.l2, element, cluster: cluster, address: at, dims: axes.map(\.0))
        try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
        staged[cluster] = (at, rows.lowerBound, (own[1], own[2], own[0]))
    }

    /// Gathers cluster `cluster`'s windows from the band of image rows from `firstRow` that
    /// the program writes into its L2 at `at` itself, with the given pitches.
    mutating func adopt(
        cluster: Int, at: UInt64, firstRow: Int, pitches: (row: Int, column: Int, channel: Int)
    ) {
        staged[cluster] = (at, firstRow, pitches)
    }

    /// The band of the image the windows of output positions `positions` read, when those
    /// positions are a rectangle of the output (part of one output row, or whole rows): the
    /// image rows and columns it starts at and spans, and the rectangle's output rows and
    /// positions per row. A tile copies the band into its SRAM ([channels, rows, columns],
    /// row-major) and reads the windows there in place (`view`).
    struct Band: Equatable {
        var firstRow: Int, rows: Int, firstColumn: Int, columns: Int
        var outRows: Int, width: Int
    }

    /// nil when `positions` are no rectangle of the output.
    func band(_ positions: Range<Int>) -> Band? {
        let (top, left, count) = (positions.lowerBound / outWidth, positions.lowerBound % outWidth, positions.count)
        let (outRows, width): (Int, Int)
        if left + count <= outWidth {
            (outRows, width) = (1, count)
        } else if left == 0 && count % outWidth == 0 {
            (outRows, width) = (count / outWidth, outWidth)
        } else {
            return nil
        }
        let extent = geometry.extent(outRows: outRows, width: width)
        return Band(
            firstRow: top * strides.0, rows: extent.rows, firstColumn: left * strides.1, columns: extent.columns,
            outRows: outRows, width: width)
    }

    /// Copies `band`'s image channels `channels` into SRAM `cluster`.`tile` at `at` (from the
    /// cluster's staged rows when it has them).
    func copy(
        _ band: Band, channels: Range<Int>, cluster: Int, tile: Int, at: Int, into b: inout ProgramBuilder
    ) throws {
        let staged = self.staged[cluster]
        let (space, base, pitches) = staged.map { (MemorySpace.l2, $0.address, $0.pitches) } ?? (space, address, pitches)
        let offset =
            channels.lowerBound * pitches.channel + (band.firstRow - (staged?.firstRow ?? 0)) * pitches.row
            + band.firstColumn * pitches.column
        let dims = [channels.count, band.rows, band.columns]
        let src = try TensorDescriptor(
            space, element, cluster: staged == nil ? 0 : cluster, address: base + UInt64(element.addressBytes * offset),
            dims: dims, strides: [pitches.channel, pitches.row, pitches.column])
        let dst = try TensorDescriptor(.sram, element, cluster: cluster, tile: tile, address: UInt64(at), dims: dims)
        try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
    }

    /// The windows of `band` over `channels` channels, the band copied at `at`: [rows,
    /// width, channels, kh, kw], the matrix's rows and columns in their order; with
    /// `repeating` > 1 (the block scales of a band of blocks) each channel read that many
    /// times in turn.
    func view(_ band: Band, channels: Int, repeating: Int = 1, cluster: Int, tile: Int, at: Int) throws -> TensorDescriptor {
        let plane = band.rows * band.columns
        let channelAxes = repeating > 1 ? [(channels, plane), (repeating, 0)] : [(channels, plane)]
        let axes =
            [(band.outRows, strides.0 * band.columns), (band.width, strides.1)] + channelAxes
            + [(kernel.0, dilations.0 * band.columns), (kernel.1, dilations.1)]
        return try TensorDescriptor(
            .sram, element, cluster: cluster, tile: tile, address: UInt64(at), dims: axes.map(\.0), strides: axes.map(\.1))
    }

    /// Emits the DMAs that fill the tile [rows, columns] of `element` at `tileAddress` of
    /// SRAM `cluster`.`tile` (row-major, `columns.count` wide).
    func gather(
        rows: Range<Int>, columns: Range<Int>, cluster: Int, tile: Int, tileAddress: Int, into b: inout ProgramBuilder
    ) throws {
        let (kh, kw) = kernel, window = kernel.0 * kernel.1, size = element.addressBytes
        let width = columns.count
        // From the cluster's band when it has one: its rows counted from the band's first.
        let band = staged[cluster]
        let (space, base, pitches) = band.map { (MemorySpace.l2, $0.address, $0.pitches) } ?? (space, address, pitches)
        let firstRow = band?.firstRow ?? 0
        var m = rows.lowerBound
        while m < rows.upperBound {
            // Output positions of one output row.
            let (oy, ox) = (m / outWidth, m % outWidth)
            let count = min(rows.upperBound, m + outWidth - ox) - m
            var k = columns.lowerBound
            while k < columns.upperBound {
                let (c, r) = (k / window, k % window)
                let (ky, kx) = (r / kw, r % kw)
                // The longest run from k after the row dimension, as (size, source stride)
                // dimensions: whole channels, whole kernel rows, or kernel columns. The
                // destination holds them row-major, `width` apart per output position.
                var dims: [Int] = [], sourceStrides: [Int] = [], tileStrides: [Int] = []
                dims.reserveCapacity(4)
                sourceStrides.reserveCapacity(4)
                tileStrides.reserveCapacity(4)
                dims.append(count)
                sourceStrides.append(strides.1 * pitches.column)
                tileStrides.append(width)
                if r == 0 && k + window <= columns.upperBound {
                    dims.append((columns.upperBound - k) / window)
                    dims.append(kh)
                    dims.append(kw)
                    sourceStrides.append(pitches.channel)
                    sourceStrides.append(dilations.0 * pitches.row)
                    sourceStrides.append(dilations.1 * pitches.column)
                    tileStrides.append(window)
                    tileStrides.append(kw)
                } else if kx == 0 && k + kw <= min(columns.upperBound, (c + 1) * window) {
                    dims.append(min((columns.upperBound - k) / kw, kh - ky))
                    dims.append(kw)
                    sourceStrides.append(dilations.0 * pitches.row)
                    sourceStrides.append(dilations.1 * pitches.column)
                    tileStrides.append(kw)
                } else {
                    dims.append(min(kw - kx, columns.upperBound - k))
                    sourceStrides.append(dilations.1 * pitches.column)
                }
                tileStrides.append(1)
                let length = dims.dropFirst().reduce(1, *)
                let offset =
                    c * pitches.channel + (oy * strides.0 + ky * dilations.0 - firstRow) * pitches.row
                    + (ox * strides.1 + kx * dilations.1) * pitches.column
                let src = try TensorDescriptor(
                    space, element, cluster: band == nil ? 0 : cluster, address: base + UInt64(size * offset), dims: dims,
                    strides: sourceStrides)
                let dst = try TensorDescriptor(
                    .sram, element, cluster: cluster, tile: tile,
                    address: UInt64(tileAddress + size * ((m - rows.lowerBound) * width + k - columns.lowerBound)),
                    dims: dims, strides: tileStrides)
                try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
                k += length
            }
            m += count
        }
    }
}
