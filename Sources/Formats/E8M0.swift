// E8M0: OCP Microscaling's shared block scale, an unsigned power of two 2^(code - 127)
// with no zero, no sign, and 0xFF as NaN (ml_dtypes' float8_e8m0fnu).

public enum E8M0 {
    public static let nanCode: UInt8 = 0xFF

    /// 2^(code - 127); NaN for 0xFF.
    public static func decode(_ code: UInt8) -> Float {
        code == nanCode ? .nan : Float(sign: .plus, exponent: Int(code) - 127, significand: 1)
    }

    /// The nearest power of two, ties rounding up (as ml_dtypes converts: the float32
    /// exponent plus one when the mantissa's top bit is set). NaN, infinities, zero and
    /// negative values give NaN (0xFF); float32 subnormals give 2^-127 below 1.5·2^-127
    /// and 2^-126 from there, the same rule; values that round above 2^127 give NaN.
    public static func encode(_ value: Float) -> UInt8 {
        guard value.isFinite, value > 0 else { return nanCode }
        let bits = value.bitPattern
        let exponent = Int(bits >> 23)
        let mantissa = bits & 0x7F_FFFF
        // A subnormal is mantissa·2^-149: 2^-127 is 0x40_0000, the midpoint to 2^-126 0x60_0000.
        if exponent == 0 { return mantissa >= 0x60_0000 ? 1 : 0 }
        let code = exponent + (mantissa & 0x40_0000 != 0 ? 1 : 0)
        return code > 254 ? nanCode : UInt8(code)
    }

    /// The exponent of a power-of-two scale, for exact scaling: 2^(code - 127).
    @inline(__always) public static func exponent(_ code: UInt8) -> Int { Int(code) - 127 }
}
