// Packed weights: every format, dense and 2:4, on shapes that leave partial tiles, decodes
// to exactly the values the quantize pass produced; the bytes of a small case are checked
// by hand; the bits per weight sit at each format's minimum; off-grid values are refused.
import Formats
import TestSupport
import XCTest

final class WeightPackingTests: XCTestCase {
    /// Values as the quantize pass leaves them (pruned 2:4 first when `sparse`), with its scales.
    private func quantized(
        _ rows: Int, _ columns: Int, _ format: PrecisionFormat, sparse: Bool,
        seed: UInt64
    ) throws -> (values: [Float], scales: [Float]) {
        var rng = SeededRandom(seed: seed)
        var w = (0..<(rows * columns)).map { _ in Float.random(in: -2...2, using: &rng) }
        if sparse {
            let mask = try Sparsity24.magnitudeMask(w.map(\.magnitude), rows: rows, columns: columns)
            w = zip(w, mask).map { $1 ? $0 : 0 }
        }
        return try FakeQuantization.scaledWeights(w, rows: rows, columns: columns, format: format)
    }

    private func tileColumns(_ format: PrecisionFormat, _ sparse: Bool) -> Int {
        20 * (format == .nvfp4 ? 4 : (format == .fp8 ? 2 : 1)) * (sparse ? 2 : 1)
    }

    func testEveryFormatDecodesToTheQuantizedValues() throws {
        for format in [PrecisionFormat.fp16, .fp8, .nvfp4] {
            for sparse in [false, true] {
                for (rows, columns) in [(45, 200), (20, 80), (3, 36), (64, 576)] {
                    let (values, scales) = try quantized(rows, columns, format, sparse: sparse, seed: UInt64(rows * columns))
                    let layout = try WeightLayout(
                        format: format, sparse: sparse, rows: rows, columns: columns, tileRows: 20,
                        tileColumns: tileColumns(format, sparse))
                    let bytes = try WeightPacking.pack(values, scales: scales, layout: layout)
                    XCTAssertEqual(bytes.count, layout.byteCount)
                    let back = try WeightPacking.unpack(bytes, layout: layout)
                    XCTAssertEqual(back, values, "\(format) sparse \(sparse) \(rows)x\(columns)")
                }
            }
        }
    }

    /// A block far below the tensor's largest value gets a zero or subnormal E4M3 scale, whose
    /// steps (2^-9) are coarse: its largest code may be 4, 3 or less instead of 6, and the
    /// scale found again from its rounded values can differ from the one they were made with
    /// (at 2^-9 with a largest code of 3, half the step: a tie that rounds to zero). Every
    /// such block, swept over 12 binades below the smallest step, packs and decodes exactly.
    func testBlocksWithTinyScalesDecodeToTheirQuantizedValues() throws {
        let g: Float = 1 / (6 * 448)
        var moved = 0
        for step in 0..<(12 * 64) {
            // The second block's largest value, in units of the tensor scale times 2^-9.
            let t = Float(pow(2.0, Double(step) / 64 - 9))
            var w = [Float](repeating: 0.3, count: 32)
            w[0] = 1
            for i in 16..<32 { w[i] = 0 }
            (w[16], w[17], w[18]) = (6 * t * g * 0x1p-9, -3 * t * g * 0x1p-9, 0.7 * t * g * 0x1p-9)
            let (values, scales) = try FakeQuantization.scaledWeights(w, rows: 1, columns: 32, format: .nvfp4)
            let layout = try WeightLayout(format: .nvfp4, sparse: false, rows: 1, columns: 32, tileRows: 20, tileColumns: 80)
            let bytes = try WeightPacking.pack(values, scales: scales, layout: layout)
            XCTAssertEqual(try WeightPacking.unpack(bytes, layout: layout), values, "t = \(t)")
            // The blocks whose scale, found again from their rounded values, is another.
            let again = try values.withUnsafeBufferPointer {
                try NVFP4.quantize($0, rows: 1, columns: 32, globalScale: scales[0])
            }
            moved += again.dequantized() == values ? 0 : 1
        }
        XCTAssertGreaterThan(moved, 0)
    }

    /// Another encoder's NVFP4 blocks (an exported model's): each block's largest code is
    /// any of the grid's magnitudes, not 6, under any normal E4M3 scale. Values decoded as
    /// code times (scale times tensor scale) pack and decode exactly, every block keeping
    /// its scale where its largest code is 6.
    func testBlocksOfAnotherEncoderPackAndDecodeExactly() throws {
        var rng = SeededRandom(seed: 41)
        let grid: [Float] = [0.5, 1, 1.5, 2, 3, 4, 6]
        let g: Float = 0.0071, columns = 16 * 7 + 5
        var scaleCodes: [UInt8] = [], values: [Float] = []
        for b in 0..<8 {
            // Block b's largest magnitude is grid[b % 7]; the last block is short.
            let count = min(16, columns - 16 * b), largest = grid[b % 7]
            let block = (0..<count).map { i in
                (i == 0 ? largest : grid.filter { $0 <= largest }.randomElement(using: &rng)!)
                    * (Bool.random(using: &rng) ? -1 : 1)
            }
            let scaleCode = UInt8.random(in: 0x08...0x7E, using: &rng)
            scaleCodes.append(scaleCode)
            let scale = MiniFloatFormat.e4m3.decode(scaleCode) * g
            values += block.map { $0 * scale }
        }
        let m = try values.withUnsafeBufferPointer { try NVFP4.encodeExactly($0, rows: 1, columns: columns, globalScale: g) }
        XCTAssertEqual(m.dequantized(), values)
        for b in 0..<8 where grid[b % 7] == 6 { XCTAssertEqual(m.blockScales[b], scaleCodes[b], "block \(b)") }
        let layout = try WeightLayout(format: .nvfp4, sparse: false, rows: 1, columns: columns, tileRows: 20, tileColumns: 80)
        let bytes = try WeightPacking.pack(values, scales: [g], layout: layout)
        XCTAssertEqual(try WeightPacking.unpack(bytes, layout: layout), values)
    }

    func testATileDecodedTransposedInPlaceIsTheTransposeOfItsDecoding() throws {
        for format in [PrecisionFormat.fp16, .fp8, .nvfp4] {
            for sparse in [false, true] {
                let (rows, columns) = (20, tileColumns(format, sparse))
                let (values, scales) = try quantized(rows, columns, format, sparse: sparse, seed: 7)
                let layout = try WeightLayout(
                    format: format, sparse: sparse, rows: rows, columns: columns, tileRows: rows, tileColumns: columns)
                // One tile, then its padding to the 64-byte alignment.
                let size = WeightPacking.tileByteCount(format: format, sparse: sparse, rows: rows, length: columns)
                let bytes = Array(try WeightPacking.pack(values, scales: scales, layout: layout).prefix(size))
                let tileScales = format == .fp16 ? [] : scales
                let plain = try WeightPacking.unpackTile(
                    ArraySlice(bytes), format: format, sparse: sparse, rows: rows, length: columns, scales: tileScales)
                XCTAssertEqual(plain, values, "\(format) sparse \(sparse)")
                // Every element is written, the pruned ones too: start from NaNs.
                var transposed = [Float](repeating: .nan, count: rows * columns)
                try bytes.withUnsafeBytes { tile in
                    try tileScales.withUnsafeBufferPointer { s in
                        try transposed.withUnsafeMutableBufferPointer {
                            try WeightPacking.unpackTile(
                                tile, format: format, sparse: sparse, rows: rows, length: columns, scales: s, into: $0,
                                transposed: true)
                        }
                    }
                }
                for r in 0..<rows {
                    for c in 0..<columns {
                        XCTAssertEqual(
                            transposed[c * rows + r].bitPattern, plain[r * columns + c].bitPattern,
                            "\(format) \(sparse) \(r),\(c)")
                    }
                }
            }
        }
    }

    func testBitsPerWeightAreEachFormatsMinimum() throws {
        // A ResNet-50 3x3 layer: 256 x 2304.
        let expected: [(PrecisionFormat, Bool, Double)] = [
            (.fp16, false, 16), (.fp8, false, 8), (.nvfp4, false, 4.5),
            (.fp8, true, 5), (.nvfp4, true, 3.5),
        ]
        for (format, sparse, minimum) in expected {
            let layout = try WeightLayout(
                format: format, sparse: sparse, rows: 256, columns: 2304, tileRows: 20,
                tileColumns: tileColumns(format, sparse))
            let bits = Double(layout.byteCount * 8) / Double(256 * 2304)
            XCTAssertGreaterThanOrEqual(bits, minimum)
            XCTAssertLessThan(bits, minimum * 1.01, "\(format) sparse \(sparse)")
        }
    }

    func testAColumnOfTilesIsItsTilesBytesAndTheColumnsTileTheWeights() throws {
        // 50 rows: two whole output tiles of 20 and a last one of 10; 308 columns: a partial
        // last k-tile for every format (tiles of 20 to 160 columns), 320: none.
        let cases = [(PrecisionFormat.fp16, false), (.fp8, true), (.fp8, false), (.nvfp4, false), (.nvfp4, true)]
        for (format, sparse) in cases {
            for columnCount in [300, 308, 320] {
                let width = tileColumns(format, sparse)
                let layout = try WeightLayout(
                    format: format, sparse: sparse, rows: 50, columns: columnCount, tileRows: 20, tileColumns: width)
                var next = 0
                for n in 0..<3 {
                    // Every tile starts where the one before it (in row-of-tiles order) ends.
                    for k in 0..<((columnCount + width - 1) / width) {
                        XCTAssertEqual(layout.tileOffset(nTile: n, kTile: k), next, "\(format) tile (\(n), \(k))")
                        let (rows, columns) = layout.tileRange(nTile: n, kTile: k)
                        next += layout.tileByteCount(rows: rows.count, length: columns.count)
                    }
                    XCTAssertEqual(
                        layout.columnByteCount(nTile: n), next - layout.tileOffset(nTile: n, kTile: 0),
                        "\(format) sparse \(sparse) column \(n)")
                }
                XCTAssertEqual(next, layout.scaleOffset)
            }
        }
    }

    func testTheBytesOfASmallSparseNVFP4Tile() throws {
        // One row of 16: groups keep (0, 3), (1, 2), (2, 3) and (0, 1) (one nonzero: the
        // lowest free position joins it). Tensor scale 1 / 448: block max 6 -> scale code 0x38 (1.0) * g.
        let g: Float = 1.0 / 448
        let v: [Float] = [6, 0, 0, -1, 0, 0.5, 2, 0, 0, 0, 3, -4, 1.5, 0, 0, 0].map { $0 * g }
        let layout = try WeightLayout(format: .nvfp4, sparse: true, rows: 1, columns: 16, tileRows: 20, tileColumns: 160)
        let bytes = try WeightPacking.pack(v, scales: [g], layout: layout)
        // Kept codes 6, -1, 0.5, 2, 3, -4, 1.5, 0 -> 0x7, 0x A, 0x1, 0x4, 0x5, 0xE, 0x3, 0x0, low nibble first.
        let codes: [UInt8] = [0xA7, 0x41, 0xE5, 0x03]
        let scale: [UInt8] = [0x38]
        // Indices (p0 | p1 << 2): (0,3) 0xC, (1,2) 0x9, (2,3) 0xE, (0,1) 0x4.
        let metadata: [UInt8] = [0x9C, 0x4E]
        let tensorScale = withUnsafeBytes(of: g.bitPattern.littleEndian, Array.init)
        XCTAssertEqual(bytes, codes + scale + metadata + tensorScale)
        XCTAssertEqual(try WeightPacking.unpack(bytes, layout: layout), v)
    }

    func testOffGridValuesAndFullGroupsAreRefused() throws {
        let layout = try WeightLayout(format: .fp8, sparse: false, rows: 1, columns: 4, tileRows: 20, tileColumns: 40)
        XCTAssertThrowsError(try WeightPacking.pack([1, 2, 3, 4.1], scales: [1], layout: layout)) {
            XCTAssertEqual("\($0)", "value 4.1 at row 0, column 3 is not on the fp8 grid of its scales (decodes to 4.0)")
        }
        let sparse = try WeightLayout(format: .fp16, sparse: true, rows: 1, columns: 4, tileRows: 20, tileColumns: 40)
        XCTAssertThrowsError(try WeightPacking.pack([1, 2, 3, 0], scales: [], layout: sparse)) {
            XCTAssertEqual("\($0)", "row 0 keeps 3 of the 4 weights at columns 0...3 (2:4 allows 2)")
        }
        // Tiles of 40 columns split the nvfp4 block at 32 ..< 48; one tile across all 44 would not.
        XCTAssertThrowsError(try WeightLayout(format: .nvfp4, sparse: false, rows: 1, columns: 44, tileRows: 20, tileColumns: 40))
        {
            XCTAssertEqual("\($0)", "tiles of 40 reduction positions split nvfp4 blocks of 16")
        }
        XCTAssertNoThrow(try WeightLayout(format: .nvfp4, sparse: false, rows: 1, columns: 44, tileRows: 20, tileColumns: 44))
    }

    func testOneTileAcrossAReductionOfAnyLength() throws {
        // A 7x7 convolution over 3 channels: 147 columns in one tile, its last nvfp4 block 3 long.
        for format in [PrecisionFormat.fp8, .nvfp4] {
            let (values, scales) = try quantized(64, 147, format, sparse: false, seed: 147)
            let layout = try WeightLayout(format: format, sparse: false, rows: 64, columns: 147, tileRows: 20, tileColumns: 147)
            let bytes = try WeightPacking.pack(values, scales: scales, layout: layout)
            XCTAssertEqual(bytes.count, layout.byteCount)
            XCTAssertEqual(try WeightPacking.unpack(bytes, layout: layout), values, "\(format)")
        }
    }
}
