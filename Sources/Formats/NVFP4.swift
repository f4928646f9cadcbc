// NVFP4: E2M1 elements in blocks of 16 along the reduction axis, an E4M3 scale per block
// and an FP32 scale per tensor, computed as NVIDIA defines them (schemas/formats.md).

/// A matrix [rows, columns] in NVFP4. Each row has ceil(columns / 16) blocks; a short
/// last block is padded with zero codes.
public struct NVFP4Matrix: Sendable, Equatable {
    public static let blockSize = 16
    public let rows: Int
    public let columns: Int
    /// rows * blocksPerRow * 8 bytes: two codes per byte, low nibble first.
    public var codes: [UInt8]
    /// rows * blocksPerRow E4M3 codes.
    public var blockScales: [UInt8]
    /// The per-tensor scale: amax / (6 * 448).
    public var globalScale: Float

    public var blocksPerRow: Int { (columns + Self.blockSize - 1) / Self.blockSize }

    /// The decoded values, [rows, columns].
    public func dequantized() -> [Float] {
        var out = [Float](repeating: 0, count: rows * columns)
        let bpr = blocksPerRow
        for r in 0..<rows {
            for c in 0..<columns {
                let b = c / Self.blockSize
                let scale = WeightPacking.e4m3Values[Int(blockScales[r * bpr + b])] * globalScale
                let byte = codes[(r * bpr * Self.blockSize + c) / 2]
                let code = c % 2 == 0 ? byte & 0xF : byte >> 4
                out[r * columns + c] = e2m1Values[Int(code)] * scale
            }
        }
        return out
    }
}

public enum NVFP4 {
    /// Quantizes a row-major [rows, columns] matrix. Throws for NaN or infinity.
    ///
    /// - global scale g = amax / (6 * 448) (fp32); 0 when the tensor is all zero;
    /// - block scale s = E4M3(saturating, ties to even)((block amax / 6) / g);
    /// - element code = E2M1(x / (decode(s) * g)); a block whose decoded scale is 0 is all
    ///   zero codes.
    public static func quantize(_ x: UnsafeBufferPointer<Float>, rows: Int, columns: Int) throws -> NVFP4Matrix {
        guard rows * columns == x.count else { throw FormatError.badShape("\(x.count) values for a \(rows)x\(columns) matrix") }
        let amax = try finiteMaxMagnitude(x)
        return try quantize(x, rows: rows, columns: columns, globalScale: amax / (6 * 448))
    }

    /// As above with the tensor scale given (a packer re-encoding values this format already
    /// produced passes the scale they were made with).
    public static func quantize(
        _ x: UnsafeBufferPointer<Float>, rows: Int, columns: Int,
        globalScale global: Float
    ) throws -> NVFP4Matrix {
        guard rows * columns == x.count else { throw FormatError.badShape("\(x.count) values for a \(rows)x\(columns) matrix") }
        _ = try finiteMaxMagnitude(x)
        let bs = NVFP4Matrix.blockSize
        let bpr = (columns + bs - 1) / bs
        var codes = [UInt8](repeating: 0, count: rows * bpr * bs / 2)
        var scales = [UInt8](repeating: 0, count: rows * bpr)
        guard global > 0 else {
            return NVFP4Matrix(rows: rows, columns: columns, codes: codes, blockScales: scales, globalScale: 0)
        }
        codes.withUnsafeMutableBufferPointer { out in
            scales.withUnsafeMutableBufferPointer { scaleCodes in
                for r in 0..<rows {
                    let row = x.baseAddress! + r * columns
                    for b in 0..<bpr {
                        let start = b * bs, count = min(bs, columns - start)
                        let v = loadBlock(row + start, count: count)
                        let blockMax = blockMaxMagnitude(row + start, count: count)
                        let scaleCode = e4m3Saturating((blockMax / 6) / global)
                        scaleCodes[r * bpr + b] = scaleCode
                        let scale = e4m3Value(scaleCode) * global
                        guard scale > 0 else { continue }
                        packE2M1(v / SIMD16(repeating: scale), into: out.baseAddress! + (r * bpr + b) * (bs / 2))
                    }
                }
            }
        }
        return NVFP4Matrix(rows: rows, columns: columns, codes: codes, blockScales: scales, globalScale: global)
    }

    /// Codes for values this format already produced (a layer's fake-quantized weights, or
    /// an NVFP4 model's own) with their tensor scale: `quantize`, then every block whose
    /// values those codes do not give back takes a scale on whose grid all of them lie: the
    /// E4M3 scale that puts its largest magnitude at code 4, 3, 2, 1.5, 1 or 0.5 (another
    /// encoder may not have put it at 6), else, for scales of E4M3's smallest steps, the
    /// smallest E4M3 scale that fits. A block's scale found again from its rounded values is
    /// not always the one they were made with: at the smallest E4M3 step (2^-9) a block whose
    /// largest code is 3 gives back half that step, which rounds to zero. A block on no
    /// scale's grid keeps `quantize`'s codes (the packer then names the value that is not).
    public static func encodeExactly(
        _ x: UnsafeBufferPointer<Float>, rows: Int, columns: Int, globalScale global: Float
    ) throws -> NVFP4Matrix {
        var m = try quantize(x, rows: rows, columns: columns, globalScale: global)
        guard global > 0 else { return m }
        let bs = NVFP4Matrix.blockSize, bpr = m.blocksPerRow
        func fits(_ r: Int, _ b: Int, _ scaleCode: UInt8, write: Bool) -> Bool {
            let scale = e4m3Value(scaleCode) * global
            for c in (b * bs)..<min(columns, (b + 1) * bs) {
                let v = x[r * columns + c]
                let code = scale > 0 ? e2m1Code(v / scale) : 0
                guard e2m1Values[Int(code)] * scale == v else { return false }
                guard write else { continue }
                let at = (r * bpr * bs + c) / 2
                m.codes[at] = c % 2 == 0 ? (m.codes[at] & 0xF0) | code : (m.codes[at] & 0x0F) | (code << 4)
            }
            return true
        }
        for r in 0..<rows {
            for b in 0..<bpr {
                let first = x.baseAddress! + r * columns + b * bs, count = min(bs, columns - b * bs)
                if blockOnGrid(first, count: count, scale: e4m3Value(m.blockScales[r * bpr + b]) * global) { continue }
                let blockMax = blockMaxMagnitude(first, count: count)
                let placed = [Float(4), 3, 2, 1.5, 1, 0.5].lazy.map { e4m3Saturating((blockMax / $0) / global) }
                // Else only a zero or subnormal scale (exponent field 0) rounds coarsely enough
                // to move; the positive finite E4M3 codes run 0x01 ... 0x7E in increasing value.
                let smallest = m.blockScales[r * bpr + b] & 0x78 == 0 ? Array(UInt8(1)...UInt8(0x7E)) : []
                guard let code = (placed + smallest).first(where: { $0 != 0 && fits(r, b, $0, write: false) }) else {
                    continue
                }
                m.blockScales[r * bpr + b] = code
                _ = fits(r, b, code, write: true)
            }
        }
        return m
    }
}
