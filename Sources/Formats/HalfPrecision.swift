// IEEE binary16 and bfloat16 <-> binary32, round to nearest even, NaN kept a NaN with
// the sign and top payload bits (numpy's float16 and ml_dtypes' bfloat16 conversions).

public enum Float16Codec {
    /// The value of every half-precision bit pattern: a table lookup is faster than the
    /// conversion where the CPU has no half-precision instructions.
    private static let values: [Float] = (0...UInt16.max).map { Float(Float16(bitPattern: $0)) }

    @inline(__always) public static func decode(_ bits: UInt16) -> Float {
        values.withUnsafeBufferPointer { $0[Int(bits)] }
    }

    /// `count` little-endian codes from `codes` decoded as `decode` does, to `out[0]`,
    /// `out[step]`, `out[2 * step]`, ...
    public static func decode(_ codes: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>, step: Int) {
        values.withUnsafeBufferPointer { table in
            let table = table.baseAddress!
            var at = out
            for j in 0..<count {
                at.pointee = table[Int(UInt16(littleEndian: codes.loadUnaligned(fromByteOffset: 2 &* j, as: UInt16.self)))]
                at += step
            }
        }
    }

    /// `rows` rows of `length` little-endian codes each, one after another from `codes`,
    /// decoded as `decode` does into `out` transposed: code j of row r to out[j * rows + r].
    /// Eight rows are decoded side by side, so each position's eight values are written
    /// together.
    public static func decodeTransposed(_ codes: UnsafeRawPointer, rows: Int, length: Int, into out: UnsafeMutablePointer<Float>)
    {
        values.withUnsafeBufferPointer { table in
            let table = table.baseAddress!, rowBytes = 2 &* length
            func code(_ r: Int, _ j: Int) -> Int {
                Int(UInt16(littleEndian: codes.loadUnaligned(fromByteOffset: r &* rowBytes &+ 2 &* j, as: UInt16.self)))
            }
            var r = 0
            while r &+ 8 <= rows {
                var at = out + r
                for j in 0..<length {
                    for q in 0..<8 { at[q] = table[code(r &+ q, j)] }
                    at += rows
                }
                r &+= 8
            }
            for rest in r..<rows { decode(codes + rest &* rowBytes, count: length, into: out + rest, step: rows) }
        }
    }

    /// `decode(encode(value))`: `value` rounded to the nearest half-precision value, ties to
    /// even. Where the result is a normal half-precision number (2^-14 <= |value| < 65520,
    /// which rounds to infinity) the float32 fraction is rounded to 10 bits in place (a
    /// carry moving into the exponent as it should); zeros are kept; the rest (subnormal
    /// halves, overflow, infinities, NaN) go through the conversion.
    @inline(__always) public static func round(_ value: Float) -> Float {
        let bits = value.bitPattern, magnitude = bits & 0x7FFF_FFFF
        if magnitude >= 0x3880_0000 && magnitude < 0x477F_F000 {
            return Float(bitPattern: (bits &+ 0x0FFF &+ ((bits >> 13) & 1)) & 0xFFFF_E000)
        }
        return magnitude == 0 ? value : decode(encode(value))
    }

    /// `round` of each of `values`, to `out` (which may be where `values` are): one call
    /// for a whole operand, with `round` inlined in the loop.
    public static func round(_ values: UnsafeBufferPointer<Float>, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<values.count { out[i] = round(values[i]) }
    }

    /// Round to nearest even; a NaN keeps its top 10 payload bits (and stays a NaN).
    @inline(__always) public static func encode(_ value: Float) -> UInt16 {
        if value.isNaN {
            let bits = value.bitPattern
            var half = UInt16(0x7C00) | UInt16((bits & 0x7F_FFFF) >> 13)
            if half == 0x7C00 { half += 1 }
            return UInt16(bits >> 16) & 0x8000 | half
        }
        return Float16(value).bitPattern
    }
}

public enum BFloat16Codec {
    @inline(__always) public static func decode(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Round to nearest even; every NaN becomes the quiet NaN 0x7FC0 with its sign.
    @inline(__always) public static func encode(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) & 0x8000 | 0x7FC0 }
        let rounding = 0x7FFF + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }
}
