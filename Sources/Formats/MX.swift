// OCP Microscaling (MX v1.0): MXFP4 (E2M1) and MXFP8 (E4M3) elements in blocks of 32
// sharing an E8M0 power-of-two scale.

/// The element type of an MX format.
public enum MXElement: Sendable {
    case fp4
    case fp8

    /// The exponent of the element type's largest normal value (E2M1: 2, E4M3: 8).
    var emax: Int { self == .fp4 ? 2 : 8 }
}

/// A matrix [rows, columns] in an MX format. Each row has ceil(columns / 32) blocks; a
/// short last block is padded with zero codes.
public struct MXMatrix: Sendable, Equatable {
    public static let blockSize = 32
    public let element: MXElement
    public let rows: Int
    public let columns: Int
    /// fp4: two codes per byte, low nibble first (rows * blocks * 16 bytes); fp8: one
    /// E4M3 code per byte (rows * blocks * 32 bytes).
    public var codes: [UInt8]
    /// rows * blocks E8M0 codes.
    public var scales: [UInt8]

    public var blocksPerRow: Int { (columns + Self.blockSize - 1) / Self.blockSize }

    public func dequantized() -> [Float] {
        var out = [Float](repeating: 0, count: rows * columns)
        let bpr = blocksPerRow, bs = Self.blockSize
        for r in 0..<rows {
            for c in 0..<columns {
                let scale = E8M0.decode(scales[r * bpr + c / bs])
                let index = r * bpr * bs + c
                let value: Float
                if element == .fp4 {
                    let byte = codes[index / 2]
                    value = e2m1Values[Int(index % 2 == 0 ? byte & 0xF : byte >> 4)]
                } else {
                    value = MiniFloatFormat.e4m3.decode(codes[index])
                }
                out[r * columns + c] = value * scale
            }
        }
        return out
    }
}

public enum MX {
    /// Quantizes a row-major [rows, columns] matrix. Throws for NaN or infinity.
    ///
    /// Per block: shared exponent e = floor(log2(amax)) - emax(element), clamped to
    /// [-127, 127] (an all-zero block takes -127); scale code = e + 127; element =
    /// element format(x / 2^e), saturating at the element's largest finite value.
    public static func quantize(_ x: UnsafeBufferPointer<Float>, rows: Int, columns: Int, element: MXElement) throws -> MXMatrix {
        guard rows * columns == x.count else { throw FormatError.badShape("\(x.count) values for a \(rows)x\(columns) matrix") }
        _ = try finiteMaxMagnitude(x)
        let bs = MXMatrix.blockSize
        let bpr = (columns + bs - 1) / bs
        var codes = [UInt8](repeating: 0, count: element == .fp4 ? rows * bpr * bs / 2 : rows * bpr * bs)
        var scales = [UInt8](repeating: 0, count: rows * bpr)
        codes.withUnsafeMutableBufferPointer { out in
            for r in 0..<rows {
                let row = x.baseAddress! + r * columns
                for b in 0..<bpr {
                    let start = b * bs, count = min(bs, columns - start)
                    var amax: Float = 0
                    for i in 0..<count { amax = max(amax, row[start + i].magnitude) }
                    let shared = amax == 0 ? -127 : min(max(Int(amax.exponent) - element.emax, -127), 127)
                    scales[r * bpr + b] = UInt8(shared + 127)
                    // x / 2^e equals x * 2^-e exactly (one rounding of the same value).
                    let reciprocal = Float(sign: .plus, exponent: -shared, significand: 1)
                    let base = (r * bpr + b) * bs
                    if element == .fp4 {
                        for half in stride(from: 0, to: count, by: 16) {
                            let v = loadBlock(row + start + half, count: min(16, count - half))
                            packE2M1(v * SIMD16(repeating: reciprocal), into: out.baseAddress! + (base + half) / 2)
                        }
                    } else {
                        for i in 0..<count { out[base + i] = e4m3Saturating(row[start + i] * reciprocal) }
                    }
                }
            }
        }
        return MXMatrix(element: element, rows: rows, columns: columns, codes: codes, scales: scales)
    }
}
