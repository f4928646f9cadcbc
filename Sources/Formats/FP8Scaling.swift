// FP8 (E4M3) with an FP32 scale per tensor or per output channel (row).

public struct FP8Matrix: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    /// rows * columns E4M3 codes.
    public var codes: [UInt8]
    /// One scale (per tensor) or one per row (per channel).
    public var scales: [Float]

    public func dequantized() -> [Float] {
        let values = WeightPacking.e4m3Values
        return (0..<(rows * columns)).map { i in values[Int(codes[i])] * scales[scales.count == 1 ? 0 : i / columns] }
    }
}

public enum FP8 {
    /// The per-tensor (or per-row) scale for a largest magnitude `amax`: amax / 448, or 1
    /// when amax is 0.
    public static func scale(amax: Float) -> Float { amax > 0 ? amax / 448 : 1 }

    /// scale = amax / 448 (1 when amax is 0); code = E4M3(saturating)(x / scale).
    public static func quantize(_ x: UnsafeBufferPointer<Float>, rows: Int, columns: Int, perChannel: Bool) throws -> FP8Matrix {
        guard rows * columns == x.count else { throw FormatError.badShape("\(x.count) values for a \(rows)x\(columns) matrix") }
        _ = try finiteMaxMagnitude(x)
        let groups = perChannel ? rows : 1, size = x.count / max(groups, 1)
        var scales = [Float](repeating: 1, count: groups)
        var codes = [UInt8](repeating: 0, count: x.count)
        codes.withUnsafeMutableBufferPointer { out in
            for g in 0..<groups {
                let slice = UnsafeBufferPointer(rebasing: x[(g * size)..<((g + 1) * size)])
                let amax = (try? finiteMaxMagnitude(slice)) ?? 0
                let scale = Self.scale(amax: amax)
                scales[g] = scale
                for i in 0..<size { out[g * size + i] = e4m3Saturating(slice[i] / scale) }
            }
        }
        return FP8Matrix(rows: rows, columns: columns, codes: codes, scales: scales)
    }

    /// `quantize(x, rows:, columns:, perChannel: true)`'s values, decoded and scaled back,
    /// and its scales, without the codes: the same bits, sixteen at a time.
    public static func fakeQuantized(_ x: UnsafeBufferPointer<Float>, rows: Int, columns: Int) throws -> (
        values: [Float], scales: [Float]
    ) {
        guard rows * columns == x.count else { throw FormatError.badShape("\(x.count) values for a \(rows)x\(columns) matrix") }
        _ = try finiteMaxMagnitude(x)
        var scales = [Float](repeating: 1, count: rows)
        let values = [Float](unsafeUninitializedCapacity: x.count) { out, count in
            for r in 0..<rows {
                let row = UnsafeBufferPointer(rebasing: x[(r * columns)..<((r + 1) * columns)])
                let amax = (try? finiteMaxMagnitude(row)) ?? 0
                let scale = Self.scale(amax: amax)
                scales[r] = scale
                var i = 0
                while i + 16 <= columns {
                    let v = UnsafeRawPointer(row.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self)
                    UnsafeMutableRawPointer(out.baseAddress! + r * columns + i).storeBytes(
                        of: e4m3Rounded(v / SIMD16(repeating: scale)) * scale, as: SIMD16<Float>.self)
                    i += 16
                }
                for k in i..<columns { out[r * columns + k] = e4m3Value(e4m3Saturating(row[k] / scale)) * scale }
            }
            count = x.count
        }
        return (values, scales)
    }

    /// Codes for `x` with the scales given (one, or one per row): code = E4M3(saturating)(x / scale).
    public static func quantize(_ x: UnsafeBufferPointer<Float>, rows: Int, columns: Int, scales: [Float]) throws -> FP8Matrix {
        guard rows * columns == x.count, scales.count == 1 || scales.count == rows else {
            throw FormatError.badShape("\(x.count) values and \(scales.count) scales for a \(rows)x\(columns) matrix")
        }
        _ = try finiteMaxMagnitude(x)
        let codes = (0..<x.count).map { e4m3Saturating(x[$0] / scales[scales.count == 1 ? 0 : $0 / columns]) }
        return FP8Matrix(rows: rows, columns: columns, codes: codes, scales: scales)
    }
}
