// Two E2M1 codes per byte: element 2i in the low nibble, element 2i+1 in the high nibble
// (ml_dtypes' and common practice). And the fast E2M1 encoder of quantizer hot loops.

public enum FP4Packing {
    /// Packs 4-bit codes (`codes.count` even) into bytes.
    public static func pack(_ codes: [UInt8]) -> [UInt8] {
        precondition(codes.count % 2 == 0, "an odd number of fp4 codes")
        return (0..<(codes.count / 2)).map { codes[2 * $0] & 0xF | codes[2 * $0 + 1] << 4 }
    }

    /// The 4-bit codes of `bytes`, two per byte, low nibble first.
    public static func unpack(_ bytes: [UInt8]) -> [UInt8] {
        bytes.flatMap { [$0 & 0xF, $0 >> 4] }
    }
}

/// E2M1 (bias 1) code of an already-scaled value: round to nearest even onto
/// {0, 0.5, 1, 1.5, 2, 3, 4, 6}, saturating. Each comparison adds one step; `>` at a
/// midpoint whose lower neighbour has the even code, `>=` where the upper one has.
@inline(__always)
func e2m1Code(_ v: Float) -> UInt8 {
    let a = v.magnitude
    var c: UInt8 = 0
    c &+= a > 0.25 ? 1 : 0
    c &+= a >= 0.75 ? 1 : 0
    c &+= a > 1.25 ? 1 : 0
    c &+= a >= 1.75 ? 1 : 0
    c &+= a > 2.5 ? 1 : 0
    c &+= a >= 3.5 ? 1 : 0
    c &+= a > 5 ? 1 : 0
    return c | (v.sign == .minus ? 8 : 0)
}

/// E2M1 magnitudes by code.
let e2m1Values: [Float] = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6]

/// E2M1 codes as values: {0, 0.5, 1, 1.5, 2, 3, 4, 6} by the low 3 bits, the sign in bit 3.
public enum E2M1 {
    public static func decode(_ code: UInt8) -> Float { e2m1Values[Int(code & 0xF)] }
}
