// The vector unit's integer arithmetic: the `vop`s on i32 and i64 elements, computed on
// 64-bit two's-complement values and wrapped to the element's width, and the conversions of
// `vop cast`. The interpreter's integer kernels call these too (schemas/isa.md, "Integer
// elements"), so a lowered integer op and the op it came from give the same values.

extension VectorArithmetic {
    /// The integer `vop`s of two operands: `add`, `sub` and `mul` wrap around; `div`
    /// truncates toward zero, a zero divisor gives 0 and Int64.min / -1 wraps to Int64.min;
    /// `max` and `min`; the remainders of that division, `fmod` with the dividend's sign (C's
    /// %: -7 fmod 3 = -1) and `mod` with the divisor's (Python's %: -7 mod 3 = 2, 7 mod -3 =
    /// -2), a zero divisor giving 0 (ONNX's Mod with fmod 1 and 0); `bit_and`, `bit_or` and
    /// `bit_xor` of the two's-complement bits. On i32 elements each takes the sign-extended values and its result
    /// wraps to the low 32 bits (`wrapped`), which is 32-bit arithmetic's result.
    public static let integerBinary: [String: @Sendable (Int64, Int64) -> Int64] = [
        "add": { $0 &+ $1 }, "sub": { $0 &- $1 }, "mul": { $0 &* $1 },
        "div": { $1 == 0 ? 0 : $0.dividedReportingOverflow(by: $1).partialValue },
        "max": { Swift.max($0, $1) }, "min": { Swift.min($0, $1) },
        "fmod": { $1 == 0 ? 0 : $0.remainderReportingOverflow(dividingBy: $1).partialValue },
        "mod": { a, b in
            guard b != 0 else { return 0 }
            let r = a.remainderReportingOverflow(dividingBy: b).partialValue
            return r != 0 && (r < 0) != (b < 0) ? r &+ b : r
        },
        "bit_and": { $0 & $1 }, "bit_or": { $0 | $1 }, "bit_xor": { $0 ^ $1 },
    ]

    /// The shifts, whose result depends on the element's width (`shifted`).
    public static let integerShifts: Set<String> = ["shift_left", "shift_right"]

    /// `x`, an element of `bits` bits (sign-extended when `signed`, else zero-extended),
    /// shifted by `n`: left, the bits past the element's width dropped (the caller wraps the
    /// result to the width); right, arithmetic when signed, else logical. An `n` that is
    /// negative or at least `bits` leaves what the sign alone fills in: -1 for a right shift of
    /// a negative signed element, else 0 (ONNX's BitShift, and `vop shift_left` and
    /// `shift_right`).
    @inline(__always)
    public static func shifted(_ x: Int64, by n: Int64, left: Bool, bits: Int, signed: Bool) -> Int64 {
        guard (0..<Int64(bits)).contains(n) else { return !left && signed && x < 0 ? -1 : 0 }
        if left { return Int64(bitPattern: UInt64(bitPattern: x) << UInt64(n)) }
        return signed ? x >> n : Int64(bitPattern: UInt64(bitPattern: x) >> UInt64(n))
    }

    /// The integer `vop`s of one operand: `copy`; `neg` and `abs` wrap around (the most
    /// negative value stays itself); `relu` max(x, 0); `sign` 1, -1 or 0; `bit_not` each bit
    /// flipped.
    public static let integerUnary: [String: @Sendable (Int64) -> Int64] = [
        "copy": { $0 }, "neg": { 0 &- $0 }, "abs": { $0 < 0 ? 0 &- $0 : $0 }, "relu": { Swift.max($0, 0) },
        "sign": { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }, "bit_not": { ~$0 },
    ]

    /// The comparisons of two integers, exact (no rounding through a float).
    public static let integerComparisons: [String: @Sendable (Int64, Int64) -> Bool] = [
        "equal": { $0 == $1 }, "less": { $0 < $1 }, "greater": { $0 > $1 }, "less_equal": { $0 <= $1 },
        "greater_equal": { $0 >= $1 },
    ]

    /// The integer `vopp` reductions: each row folded in increasing index from its start
    /// value with the op of two integers (`reduce_sum` wraps around from 0, `reduce_max` from
    /// Int64.min, `reduce_min` from Int64.max), the result wrapped to the element's width.
    public static let integerReductions: [String: (start: Int64, step: @Sendable (Int64, Int64) -> Int64)] = [
        "reduce_sum": (0, integerBinary["add"]!), "reduce_max": (.min, integerBinary["max"]!),
        "reduce_min": (.max, integerBinary["min"]!),
    ]

    /// `vopp argmax` / `argmin` over one row of `count` elements (`value(k)` the k-th, as a
    /// float32 or an exact integer): the index of the first largest (smallest) element, or
    /// with `last` of the last; an element replaces the best so far when it compares larger
    /// (smaller), or equal with `last`. A NaN never compares so: a NaN at index 0 stays best
    /// unless nothing later compares larger than it, which nothing does.
    public static func argExtreme<T: Comparable>(count: Int, largest: Bool, last: Bool, _ value: (Int) -> T) -> Int64 {
        guard count > 0 else { return 0 }
        var best = 0, bestValue = value(0)
        for k in 1..<count {
            let v = value(k)
            if largest ? (v > bestValue || (last && v == bestValue)) : (v < bestValue || (last && v == bestValue)) {
                (best, bestValue) = (k, v)
            }
        }
        return Int64(best)
    }

    /// `v` as an element of 32 bits (its low 32 bits, sign-extended) or of 64.
    @inline(__always)
    public static func wrapped(_ v: Int64, bits: Int) -> Int64 { bits == 32 ? Int64(Int32(truncatingIfNeeded: v)) : v }

    /// `vop cast` of a float32 to an integer, as ONNX's Cast and the interpreter take it:
    /// truncated toward zero; NaN gives 0; beyond Int64's range (the infinities included),
    /// Int64.min or Int64.max. An i32 destination then keeps the low 32 bits (`wrapped`):
    /// 3e9 becomes -1294967296, 1e20 becomes -1.
    public static func truncated(_ x: Float) -> Int64 {
        if x.isNaN { return 0 }
        return Int64(exactly: x.rounded(.towardZero)) ?? (x < 0 ? .min : .max)
    }
}
