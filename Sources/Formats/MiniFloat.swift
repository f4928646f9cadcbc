// Small floating-point formats (E2M1, E4M3, E5M2 and any bias): decode a code to Float,
// encode a Float with round-to-nearest, ties-to-even, under each format's rules for
// overflow, infinity and NaN. The rules are in schemas/formats.md.

/// How a format spends its top codes.
public enum MiniFloatSpecials: Sendable {
    /// No infinity, no NaN (E2M1): every code is finite; overflow saturates.
    case finiteOnly
    /// No infinity; S.1111.111 is NaN (E4M3 "fn"); overflow past the largest finite value
    /// (after rounding) becomes NaN.
    case nanOnly
    /// IEEE 754 style (E5M2): all-ones exponent is infinity (mantissa 0) or NaN.
    case ieee
}

/// A sign-exponent-mantissa format of at most 8 bits.
public struct MiniFloatFormat: Sendable, Hashable {
    public let exponentBits: Int
    public let mantissaBits: Int
    public let bias: Int
    public let specials: MiniFloatSpecials

    public init(exponentBits: Int, mantissaBits: Int, bias: Int, specials: MiniFloatSpecials) {
        self.exponentBits = exponentBits
        self.mantissaBits = mantissaBits
        self.bias = bias
        self.specials = specials
    }

    /// E2M1, NVFP4's and MXFP4's element type. Bias 1 is the real format:
    /// magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}. Bias 2 gives {0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3}.
    public static func e2m1(bias: Int = 1) -> MiniFloatFormat {
        MiniFloatFormat(exponentBits: 2, mantissaBits: 1, bias: bias, specials: .finiteOnly)
    }
    public static let e4m3 = MiniFloatFormat(exponentBits: 4, mantissaBits: 3, bias: 7, specials: .nanOnly)
    public static let e5m2 = MiniFloatFormat(exponentBits: 5, mantissaBits: 2, bias: 15, specials: .ieee)

    public var bitWidth: Int { 1 + exponentBits + mantissaBits }
    var signBit: UInt8 { UInt8(1 << (exponentBits + mantissaBits)) }
    var magnitudeMask: UInt8 { signBit - 1 }

    /// The largest finite magnitude's code (without sign).
    public var maxFiniteCode: UInt8 {
        switch specials {
        case .finiteOnly: return magnitudeMask
        case .nanOnly: return magnitudeMask - 1
        case .ieee: return exponentField((1 << exponentBits) - 2) | UInt8((1 << mantissaBits) - 1)
        }
    }

    /// `exponent` in the exponent's bits of a code. (Spelled with typed operands: the
    /// literal-heavy one-line forms took the type checker seconds.)
    private func exponentField(_ exponent: Int) -> UInt8 { UInt8(exponent << mantissaBits) }

    public var maxFinite: Float { decode(maxFiniteCode) }
    /// The smallest positive normal value, 2^(1 - bias).
    public var minNormal: Float { Float(sign: .plus, exponent: 1 - bias, significand: 1) }
    /// The smallest positive subnormal value, 2^(1 - bias - mantissaBits).
    public var minSubnormal: Float { Float(sign: .plus, exponent: 1 - bias - mantissaBits, significand: 1) }

    /// The value of `code` (the low `bitWidth` bits are used).
    public func decode(_ code: UInt8) -> Float {
        let negative = code & signBit != 0
        let magnitude = code & magnitudeMask
        let e = Int(magnitude >> UInt8(mantissaBits)), m = Int(magnitude) & ((1 << mantissaBits) - 1)
        let allOnes = (1 << exponentBits) - 1
        var value: Float
        switch specials {
        case .nanOnly where magnitude == magnitudeMask: value = .nan
        case .ieee where e == allOnes: value = m == 0 ? .infinity : .nan
        default:
            if e == 0 {
                value = Float(m) * Float(sign: .plus, exponent: 1 - bias - mantissaBits, significand: 1)
            } else {
                value = Float(sign: .plus, exponent: e - bias, significand: 1 + Float(m) / Float(1 << mantissaBits))
            }
        }
        return negative ? -value : value
    }

    /// The code nearest to `value` (ties to even), as ml_dtypes converts:
    /// E2M1 saturates overflow and infinities to +-max and maps NaN to a zero of the
    /// opposite sign; E4M3 maps NaN, infinities and overflow to NaN; E5M2 maps overflow
    /// to infinity and NaN to its quiet NaN. See `encode(_:saturating:)` for quantizers.
    public func encode(_ value: Float) -> UInt8 { encode(value, saturating: false) }

    /// With `saturating`, finite overflow and infinities become +-max in every format
    /// (NaN still follows the format's rule): what quantizers use.
    public func encode(_ value: Float, saturating: Bool) -> UInt8 {
        let sign: UInt8 = value.sign == .minus ? signBit : 0
        if value.isNaN {
            switch specials {
            case .finiteOnly: return sign ^ signBit
            case .nanOnly: return sign | magnitudeMask
            case .ieee: return sign | exponentField((1 << exponentBits) - 1) | UInt8(1 << (mantissaBits - 1))
            }
        }
        let overflow: UInt8
        switch (specials, saturating) {
        case (.finiteOnly, _), (_, true): overflow = sign | maxFiniteCode
        case (.nanOnly, false): overflow = sign | magnitudeMask
        case (.ieee, false): overflow = sign | exponentField((1 << exponentBits) - 1)
        }
        if value.isInfinite { return overflow }
        let a = Double(value.magnitude)
        if a == 0 { return sign }
        let minExponent = 1 - bias
        var e = Int(a.exponent)
        var code: Int
        if e < minExponent {
            // Subnormal: a multiple of 2^(minExponent - mantissaBits).
            let q = (a / Double(sign: .plus, exponent: minExponent - mantissaBits, significand: 1)).rounded(.toNearestOrEven)
            code = Int(q)
        } else {
            var q = (a / Double(sign: .plus, exponent: e - mantissaBits, significand: 1)).rounded(.toNearestOrEven)
            if q >= Double(1 << (mantissaBits + 1)) {
                e += 1
                q /= 2
            }
            let biased = e + bias
            if biased >= (1 << exponentBits) { return overflow }
            code = biased << mantissaBits | (Int(q) - (1 << mantissaBits))
        }
        if code > Int(maxFiniteCode) { return overflow }
        return sign | UInt8(code)
    }
}
