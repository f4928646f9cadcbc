// Packed weights: one layer's weight matrix in the bytes the NPU's tiles read, in the order
// they read them (schemas/weights.md); the backend writes it, the simulator and the
// bundle readers decode it. The packer re-encodes the values the quantize pass
// left in the IR with the scales it recorded, and checks that decoding gives those values
// back exactly: the bundle holds what the fake-quant interpreter computed with.

/// How one layer's weights are packed.
public struct WeightLayout: Sendable, Equatable {
    public var format: PrecisionFormat
    public var sparse: Bool
    /// Output channels (N) and dense reduction length (K) of the [N, K] matrix.
    public var rows: Int
    public var columns: Int
    /// Output channels per tile (the MAC array's columns) and dense reduction positions per
    /// tile (the array's rows x the format's rate, x 2 with 2:4).
    public var tileRows: Int
    public var tileColumns: Int

    public init(format: PrecisionFormat, sparse: Bool, rows: Int, columns: Int, tileRows: Int, tileColumns: Int) throws {
        self.format = format
        self.sparse = sparse
        self.rows = rows
        self.columns = columns
        self.tileRows = tileRows
        self.tileColumns = tileColumns
        guard [.fp16, .fp8, .nvfp4].contains(format) else { throw PackingError("no packed layout for \(format.rawValue)") }
        guard rows > 0, columns > 0, tileRows > 0, tileColumns > 0 else { throw PackingError("empty matrix or tile") }
        guard !sparse || columns % 4 == 0 else {
            throw PackingError("2:4 needs a reduction length divisible by 4, not \(columns)")
        }
        // One tile across the whole reduction splits nothing, whatever its length.
        guard tileColumns % (format == .nvfp4 ? 16 : 4) == 0 || tileColumns >= columns else {
            throw PackingError(
                "tiles of \(tileColumns) reduction positions split \(format == .nvfp4 ? "nvfp4 blocks of 16" : "groups of 4")")
        }
    }

    var tilesDown: Int { (rows + tileRows - 1) / tileRows }
    var tilesAcross: Int { (columns + tileColumns - 1) / tileColumns }
    var bitsPerCode: Int { format == .nvfp4 ? 4 : (format == .fp8 ? 8 : 16) }
    /// The tensor-level scales after the tiles: one per row (fp8), one (nvfp4), none (fp16).
    public var scaleCount: Int { format == .fp8 ? rows : (format == .nvfp4 ? 1 : 0) }

    /// The packed size: every tile, then the scales (float32).
    public var byteCount: Int {
        var total = 0
        for kt in 0..<tilesAcross {
            let length = min(tileColumns, columns - kt * tileColumns)
            total += WeightPacking.tileByteCount(format: format, sparse: sparse, rows: rows, length: length)
        }
        return total + 4 * scaleCount
    }
}

public struct PackingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum WeightPacking {
    /// Packs `values` ([rows, columns] row-major, as the quantize pass left them) with the
    /// `scales` it recorded (fp8: one per row; nvfp4: the tensor scale). Throws when the
    /// values are not exactly what those scales give, or a 2:4 group keeps more than two.
    public static func pack(_ values: [Float], scales: [Float], layout: WeightLayout) throws -> [UInt8] {
        let (rows, columns) = (layout.rows, layout.columns)
        guard values.count == rows * columns else { throw PackingError("\(values.count) values for \(rows) x \(columns)") }
        guard scales.count == layout.scaleCount || (layout.format == .fp8 && scales.count == 1) else {
            throw PackingError("\(layout.format.rawValue) needs \(layout.scaleCount) scales, not \(scales.count)")
        }
        // Codes for the whole matrix, one per dense position (an E2M1 code per byte for nvfp4).
        var codes: [UInt16]
        var blockScales: [UInt8] = []
        let decoded: [Float]
        switch layout.format {
        case .fp16:
            codes = values.map { Float16Codec.encode($0) }
            decoded = codes.map { Float16Codec.decode($0) }
        case .fp8:
            let m = try values.withUnsafeBufferPointer { try FP8.quantize($0, rows: rows, columns: columns, scales: scales) }
            codes = m.codes.map(UInt16.init)
            decoded = m.dequantized()
        default:
            let m = try values.withUnsafeBufferPointer {
                try NVFP4.encodeExactly($0, rows: rows, columns: columns, globalScale: scales[0])
            }
            let bpr = m.blocksPerRow
            codes = (0..<(rows * columns)).map { i in
                let (r, c) = (i / columns, i % columns)
                let byte = m.codes[(r * bpr + c / 16) * 8 + (c % 16) / 2]
                return UInt16(c % 2 == 0 ? byte & 0xF : byte >> 4)
            }
            blockScales = m.blockScales
            decoded = m.dequantized()
        }
        if let i = values.indices.first(where: { values[$0] != decoded[$0] }) {
            throw PackingError(
                "value \(values[i]) at row \(i / columns), column \(i % columns) is not on the \(layout.format.rawValue) grid of its scales (decodes to \(decoded[i]))"
            )
        }
        var out = ByteWriter()
        out.bytes.reserveCapacity(layout.byteCount)
        // One row's kept codes, and a tile's 2:4 indices (a code per group, row after row).
        var kept: [UInt16] = [], indices: [UInt16] = []
        kept.reserveCapacity(layout.tileColumns)
        for nt in 0..<layout.tilesDown {
            for kt in 0..<layout.tilesAcross {
                let start = kt * layout.tileColumns, length = min(layout.tileColumns, columns - start)
                let tileRows = (nt * layout.tileRows)..<min(rows, (nt + 1) * layout.tileRows)
                indices.removeAll(keepingCapacity: true)
                for r in tileRows {
                    let row = r * columns
                    kept.removeAll(keepingCapacity: true)
                    if layout.sparse {
                        for g in stride(from: start, to: start + length, by: 4) {
                            let (a, b) = try keptPair(values, row: r, columns: columns, group: g)
                            kept.append(codes[row + a])
                            kept.append(codes[row + b])
                            indices.append(UInt16(a - g) | UInt16(b - g) << 2)
                        }
                    } else {
                        kept.append(contentsOf: codes[(row + start)..<(row + start + length)])
                    }
                    out.codes(kept[...], bits: layout.bitsPerCode)
                }
                if layout.format == .nvfp4 {
                    let bpr = (columns + 15) / 16
                    for r in tileRows { out.bytes(blockScales[(r * bpr + start / 16)..<(r * bpr + (start + length + 15) / 16)]) }
                }
                // Each row's indices start on a byte of their own.
                let groups = length / 4
                for k in stride(from: 0, to: indices.count, by: max(groups, 1)) {
                    out.codes(indices[k..<(k + groups)], bits: 4)
                }
            }
        }
        for s in scales.count == rows || layout.format != .fp8 ? scales : Array(repeating: scales[0], count: rows) {
            out.float(s)
        }
        precondition(out.bytes.count == layout.byteCount, "packed \(out.bytes.count) bytes, layout says \(layout.byteCount)")
        return out.bytes
    }

    /// The two positions of group `g` a 2:4 row keeps: its nonzero ones, then the lowest
    /// others, ascending.
    private static func keptPair(_ v: [Float], row: Int, columns: Int, group g: Int) throws -> (Int, Int) {
        let base = row * columns
        var nonzero = 0, mask = 0
        for c in 0..<4 where v[base + g + c] != 0 {
            nonzero += 1
            mask |= 1 << c
        }
        guard nonzero <= 2 else {
            throw PackingError("row \(row) keeps \(nonzero) of the 4 weights at columns \(g)...\(g + 3) (2:4 allows 2)")
        }
        // The lowest zero positions fill the pair.
        var c = 0
        while nonzero < 2 {
            if mask & (1 << c) == 0 {
                mask |= 1 << c
                nonzero += 1
            }
            c += 1
        }
        let first = mask.trailingZeroBitCount
        let second = (mask & (mask - 1)).trailingZeroBitCount
        return (g + first, g + second)
    }

    /// The [rows, columns] float32 values of a packed blob: the inverse of `pack`.
    public static func unpack(_ bytes: [UInt8], layout: WeightLayout) throws -> [Float] {
        guard bytes.count == layout.byteCount else {
            throw PackingError("\(bytes.count) bytes, the layout needs \(layout.byteCount)")
        }
        let (rows, columns) = (layout.rows, layout.columns)
        var reader = ByteReader(bytes)
        reader.offset = layout.scaleOffset
        let scales = (0..<layout.scaleCount).map { _ in reader.float() }
        var out = [Float](repeating: 0, count: rows * columns)
        for nt in 0..<layout.tilesDown {
            for kt in 0..<layout.tilesAcross {
                let (r, c) = layout.tileRange(nTile: nt, kTile: kt)
                let offset = layout.tileOffset(nTile: nt, kTile: kt)
                let tileScales = layout.format == .fp8 ? Array(scales[r]) : scales
                let tile = try unpackTile(
                    bytes[offset..<(offset + layout.tileByteCount(rows: r.count, length: c.count))],
                    format: layout.format, sparse: layout.sparse, rows: r.count, length: c.count,
                    scales: tileScales)
                for (i, row) in r.enumerated() {
                    for (j, column) in c.enumerated() { out[row * columns + column] = tile[i * c.count + j] }
                }
            }
        }
        return out
    }

    /// One tile's [rows, length] float32 values from its bytes: codes, block scales, 2:4
    /// metadata as `pack` wrote them, and its scales (fp8: one per row; nvfp4: the tensor
    /// scale). What the NPU's matrix unit reads for one `mma`.
    public static func unpackTile(
        _ bytes: ArraySlice<UInt8>, format: PrecisionFormat, sparse: Bool, rows: Int, length: Int,
        scales: [Float]
    ) throws -> [Float] {
        var out = [Float](repeating: 0, count: rows * length)
        try bytes.withUnsafeBytes { tile in
            try scales.withUnsafeBufferPointer { scales in
                try out.withUnsafeMutableBufferPointer { out in
                    try unpackTile(
                        tile, format: format, sparse: sparse, rows: rows, length: length, scales: scales, into: out,
                        transposed: false)
                }
            }
        }
        return out
    }

    /// `unpackTile` into `out` (rows x length floats), as [rows, length] or, `transposed`,
    /// as [length, rows]; every element is written.
    public static func unpackTile(
        _ tile: UnsafeRawBufferPointer, format: PrecisionFormat, sparse: Bool, rows: Int, length: Int,
        scales: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>, transposed: Bool
    ) throws {
        let bits = format == .nvfp4 ? 4 : (format == .fp8 ? 8 : 16)
        guard tile.count == tileByteCount(format: format, sparse: sparse, rows: rows, length: length) else {
            throw PackingError("a \(rows) x \(length) \(format.rawValue) tile is not \(tile.count) bytes")
        }
        guard scales.count == (format == .fp8 ? rows : (format == .nvfp4 ? 1 : 0)) else {
            throw PackingError("\(format.rawValue) tile of \(rows) rows given \(scales.count) scales")
        }
        precondition(out.count == rows * length, "the output holds the whole tile")
        // The tile: every row's codes, then (nvfp4) every row's block scales, then (2:4)
        // every row's index nibbles; each part row after row.
        let stored = sparse ? length / 2 : length, blocks = (length + 15) / 16
        let codeBytes = (stored * bits + 7) / 8, scaleBytes = format == .nvfp4 ? blocks : 0
        let indexBytes = sparse ? (length / 4 + 1) / 2 : 0
        // Element (r, p) goes to r * rowStep + p * columnStep.
        let (rowStep, columnStep) = transposed ? (1, rows) : (length, 1)
        if sparse { out.update(repeating: 0) }
        if format == .fp16 && !sparse && transposed {
            // Eight rows at a time, so that each position's eight values land side by side.
            return Float16Codec.decodeTransposed(
                tile.baseAddress!, rows: rows, length: length, into: out.baseAddress!)
        }
        try e4m3Values.withUnsafeBufferPointer { e4m3 in
            try withUnsafeTemporaryAllocation(of: Int.self, capacity: stored) { positions in
                let codesAt = tile.baseAddress!.assumingMemoryBound(to: UInt8.self), scalesAt = codesAt + rows * codeBytes
                let indicesAt = scalesAt + rows * scaleBytes
                let o = out.baseAddress!
                for r in 0..<rows {
                    if sparse {
                        let nibbles = indicesAt + r * indexBytes
                        for j in 0..<(length / 4) {
                            let index = (nibbles[j / 2] >> (4 * UInt8(j % 2))) & 0xF
                            let (p0, p1) = (4 * j + Int(index & 3), 4 * j + Int(index >> 2))
                            guard p0 < p1 else {
                                throw PackingError(
                                    "row \(r), columns \(4 * j)...: indices \(p0 - 4 * j), \(p1 - 4 * j) are not ascending")
                            }
                            (positions[2 * j], positions[2 * j + 1]) = (p0, p1)
                        }
                    } else if format != .fp16 {
                        for j in 0..<stored { positions[j] = j }
                    }
                    let row = codesAt + r * codeBytes, at = o + r &* rowStep
                    switch format {
                    case .fp16 where !sparse:
                        Float16Codec.decode(row, count: stored, into: at, step: columnStep)
                    case .fp16:
                        for j in 0..<stored {
                            at[positions[j] &* columnStep] = Float16Codec.decode(
                                UInt16(row[2 &* j]) | UInt16(row[2 &* j &+ 1]) << 8)
                        }
                    case .fp8:
                        let scale = scales[r]
                        for j in 0..<stored { at[positions[j] &* columnStep] = e4m3[Int(row[j])] * scale }
                    default:
                        let blockScales = scalesAt + r * scaleBytes, tensorScale = scales[0]
                        for j in 0..<stored {
                            let code = (row[j / 2] >> (4 * UInt8(j % 2))) & 0xF, p = positions[j]
                            at[p &* columnStep] = E2M1.decode(code) * (e4m3[Int(blockScales[p / 16])] * tensorScale)
                        }
                    }
                }
            }
        }
    }

    /// Every E4M3 code's value, for decoding tiles and matrices.
    static let e4m3Values: [Float] = (0..<256).map { MiniFloatFormat.e4m3.decode(UInt8($0)) }

    /// Bytes of a tile of `rows` rows and `length` dense columns.
    public static func tileByteCount(format: PrecisionFormat, sparse: Bool, rows: Int, length: Int) -> Int {
        let bits = format == .nvfp4 ? 4 : (format == .fp8 ? 8 : 16)
        let stored = sparse ? length / 2 : length
        let scales = format == .nvfp4 ? (length + 15) / 16 : 0
        return rows * ((stored * bits + 7) / 8 + scales + (sparse ? (length / 4 + 1) / 2 : 0))
    }
}

extension WeightLayout {
    /// The rows and dense columns tile (nTile, kTile) covers.
    public func tileRange(nTile: Int, kTile: Int) -> (rows: Range<Int>, columns: Range<Int>) {
        ((nTile * tileRows)..<min(rows, (nTile + 1) * tileRows), (kTile * tileColumns)..<min(columns, (kTile + 1) * tileColumns))
    }

    public func tileByteCount(rows: Int, length: Int) -> Int {
        WeightPacking.tileByteCount(format: format, sparse: sparse, rows: rows, length: length)
    }

    /// Where tile (nTile, kTile) starts in the blob (tiles run row of tiles by row of tiles).
    /// A tile's bytes are its row count times one row's, so the offset is the full rows of
    /// tiles before it plus this row's earlier tiles.
    public func tileOffset(nTile: Int, kTile: Int) -> Int {
        nTile * tileRows * rowBytes(tiles: tilesAcross) + tileRange(nTile: nTile, kTile: 0).rows.count * rowBytes(tiles: kTile)
    }

    /// Bytes of one row of the first `tiles` tiles of a row of tiles: every tile but the
    /// last is `tileColumns` wide.
    func rowBytes(tiles: Int) -> Int {
        let whole = min(tiles, columns / tileColumns)
        let full = whole * tileByteCount(rows: 1, length: tileColumns)
        return tiles > whole ? full + tileByteCount(rows: 1, length: columns - whole * tileColumns) : full
    }

    /// Bytes of output tile `nTile`'s tiles over the whole reduction, which lie together
    /// from `tileOffset(nTile:kTile: 0)`.
    public func columnByteCount(nTile: Int) -> Int {
        let end = (nTile + 1) * tileRows < rows ? tileOffset(nTile: nTile + 1, kTile: 0) : scaleOffset
        return end - tileOffset(nTile: nTile, kTile: 0)
    }

    /// Where the scales start: after every tile.
    public var scaleOffset: Int { byteCount - 4 * scaleCount }
}

/// Little-endian bytes; codes of fewer than 8 bits packed from the low bits of each byte up,
/// a run of codes ending on a whole byte.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func bytes(_ b: some Sequence<UInt8>) { bytes.append(contentsOf: b) }

    mutating func codes(_ codes: ArraySlice<UInt16>, bits: Int) {
        switch bits {
        case 16:
            for c in codes {
                bytes.append(UInt8(c & 0xFF))
                bytes.append(UInt8(c >> 8))
            }
        case 8: for c in codes { bytes.append(UInt8(c)) }
        default:
            for pair in stride(from: codes.startIndex, to: codes.endIndex, by: 2) {
                let high = pair + 1 < codes.endIndex ? UInt8(codes[pair + 1]) : 0
                bytes.append(UInt8(codes[pair]) | high << 4)
            }
        }
    }

    mutating func float(_ f: Float) { bytes += Float32Bytes.encode([f]) }
}

struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func byte() -> UInt8 {
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func codes(_ count: Int, bits: Int) -> [UInt16] {
        switch bits {
        case 16: return (0..<count).map { _ in UInt16(byte()) | UInt16(byte()) << 8 }
        case 8: return (0..<count).map { _ in UInt16(byte()) }
        default:
            var out: [UInt16] = []
            while out.count < count {
                let b = byte()
                out.append(UInt16(b & 0xF))
                if out.count < count { out.append(UInt16(b >> 4)) }
            }
            return out
        }
    }

    mutating func float() -> Float {
        defer { offset += 4 }
        return Float32Bytes.decode(bytes[offset..<(offset + 4)])[0]
    }
}
