// Tensor data in the textual IR: literal lists for small tensors, raw little-endian hex for
// large ones or ones no literal spells exactly, and the elided marker. Element spellings
// (shortest round-trip floats, f16, bf16 and fp8 included) read back to the same bits.
import Foundation

enum TensorText {
    /// Full data with at most this many elements prints as a literal list, larger as hex.
    static let literalElementLimit = 16

    /// The data part of a constant or tensor attribute. With a `limit`, a tensor of more
    /// elements prints `<elided N elements>` and smaller ones print as a literal list when
    /// every element has an exact literal. Without one, data prints as a literal list up
    /// to `literalElementLimit` elements and as hex beyond, so it always reads back exactly.
    static func spell(_ t: Tensor, limit: Int?) -> String {
        if let limit, t.count > limit { return "<elided \(t.count) elements>" }
        if t.count <= (limit ?? literalElementLimit), let list = literalList(t) { return list }
        return hex(t)
    }

    /// `[e0, e1, ...]`, or nil when some element has no literal that reads back exactly.
    static func literalList(_ t: Tensor) -> String? {
        var items: [String] = []
        items.reserveCapacity(t.count)
        for i in 0..<t.count {
            guard let item = element(t, i) else { return nil }
            items.append(item)
        }
        return "[" + items.joined(separator: ", ") + "]"
    }

    /// `0x` and the tensor's bytes as stored (little-endian), two hex digits per byte.
    static func hex(_ t: Tensor) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = Array("0x".utf8)
        out.reserveCapacity(2 + 2 * t.byteCount)
        for byte in t.bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The literal of element `i`: integers in decimal, bools `true`/`false`, floats as
    /// `spellFloat` gives them; nil when none is exact (a NaN payload, a bool byte not 0 or 1).
    static func element(_ t: Tensor, _ i: Int) -> String? {
        let base = t.storage.base
        switch t.dtype {
        case .float32: return spellFloat(bits: UInt64(base.load(fromByteOffset: i * 4, as: UInt32.self)), .float32)
        case .float64: return spellFloat(bits: base.load(fromByteOffset: i * 8, as: UInt64.self), .float64)
        case .float16, .bfloat16:
            return spellFloat(bits: UInt64(base.load(fromByteOffset: i * 2, as: UInt16.self)), t.dtype)
        case .float8e4m3fn, .float8e5m2:
            return spellFloat(bits: UInt64(base.load(fromByteOffset: i, as: UInt8.self)), t.dtype)
        case .float4e2m1:
            let code = base.load(fromByteOffset: i, as: UInt8.self)
            return code < 16 ? spellFloat(bits: UInt64(code), t.dtype) : nil
        case .bool:
            switch base.load(fromByteOffset: i, as: UInt8.self) {
            case 0: return "false"
            case 1: return "true"
            default: return nil
            }
        case .uint64: return String(base.load(fromByteOffset: i * 8, as: UInt64.self))
        // A byte outside the 4-bit type's values has no literal (the tensor prints as hex).
        case .int4: return (-8...7).contains(t.int64(at: i)) ? String(t.int64(at: i)) : nil
        case .uint4: return (0...15).contains(t.int64(at: i)) ? String(t.int64(at: i)) : nil
        default: return String(t.int64(at: i))
        }
    }

    /// The shortest decimal that `floatBits` reads back to `bits` of `dtype` (for fp8, the
    /// value's float32 spelling); `inf`, `-inf` and `nan` are spelled out. Nil for a NaN
    /// other than the one `nan` reads as.
    static func spellFloat(bits: UInt64, _ dtype: DType) -> String? {
        let value: Double
        switch dtype {
        case .float64: value = Double(bitPattern: bits)
        case .float32: value = Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits)))
        case .float16: value = Double(halfToFloat(UInt16(truncatingIfNeeded: bits)))
        case .bfloat16: value = Double(bfloat16ToFloat(UInt16(truncatingIfNeeded: bits)))
        case .float8e4m3fn, .float8e5m2, .float4e2m1:
            guard let format = dtype.miniFloatFormat else { return nil }
            value = Double(format.decode(UInt8(truncatingIfNeeded: bits)))
        default: return nil
        }
        if value.isNaN { return floatBits("nan", dtype) == bits ? "nan" : nil }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        switch dtype {
        case .float64: return value.description
        case .float32: return Float(value).description
        // Every fp8 value is a float32 with a short spelling: printed as that value itself
        // (448.0, not the shortest decimal that rounds to it, 450.0).
        case .float8e4m3fn, .float8e5m2, .float4e2m1: return Float(value).description
        default: return shortestNarrowFloat(Float(value), bits: bits, dtype)
        }
    }

    /// Shortest spelling of an f16/bf16 value: the fewest significant digits whose float32
    /// rounds to `bits`, printed as that float32's own shortest form (same style as f32).
    /// With p digits, the value rounded to p digits and its two p-digit neighbours are
    /// tried: at a power of two the rounding interval is lopsided, and the nearest p-digit
    /// decimal can fall outside it while a neighbour falls inside (f16 2^-6 is `0.01563`).
    private static func shortestNarrowFloat(_ value: Float, bits: UInt64, _ dtype: DType) -> String {
        let sign = value.sign == .minus ? "-" : ""
        for digits in 1...9 {
            // "d.ddde±x": the value rounded to `digits` significant digits.
            let scientific = String(format: "%.\(digits - 1)e", Double(value.magnitude))
            let parts = scientific.split(separator: "e")
            guard parts.count == 2, let mantissa = Int(parts[0].replacingOccurrences(of: ".", with: "")),
                let exponent = Int(parts[1])
            else { continue }
            for candidate in [mantissa, mantissa - 1, mantissa + 1] where candidate >= 0 {
                if let f = Float("\(sign)\(candidate)e\(exponent - (digits - 1))"), narrowBits(f, dtype) == bits {
                    return f.description
                }
            }
        }
        return value.description  // float32 holds every f16 and bf16 value exactly
    }

    /// `f` rounded to nearest even in `dtype` (f16, bf16 or fp8; fp8 as ml_dtypes converts:
    /// beyond the largest finite value f8e4m3 gives NaN and f8e5m2 infinity).
    private static func narrowBits(_ f: Float, _ dtype: DType) -> UInt64 {
        if let format = dtype.miniFloatFormat { return UInt64(format.encode(f)) }
        return UInt64(dtype == .float16 ? floatToHalf(f) : floatToBfloat16(f))
    }

    /// The bits of `dtype` a float literal reads as: decimal (or `nan`, `inf`, `-inf`) to
    /// float64 for f64 data, to float32 otherwise, then rounded to nearest even for f16,
    /// bf16 and fp8.
    static func floatBits(_ literal: String, _ dtype: DType) -> UInt64? {
        if dtype == .float64 { return Double(literal).map(\.bitPattern) }
        guard let f = Float(literal) else { return nil }
        switch dtype {
        case .float32: return UInt64(f.bitPattern)
        case .float16, .bfloat16, .float8e4m3fn, .float8e5m2, .float4e2m1: return narrowBits(f, dtype)
        default: return nil
        }
    }

    /// A tensor of `dtype` and `shape` from hex digits holding its bytes; nil when the
    /// digits do not hold exactly the tensor's byte count.
    static func tensor(hexDigits digits: ArraySlice<UInt8>, _ dtype: DType, _ shape: [Int]) -> Tensor? {
        let t = Tensor(zeros: dtype, shape: shape)
        guard digits.count == 2 * t.byteCount else { return nil }
        let out = t.storage.base.assumingMemoryBound(to: UInt8.self)
        let valid = digits.withUnsafeBufferPointer { text in
            hexValues.withUnsafeBufferPointer { table in
                var bad: UInt8 = 0  // any digit's 0x10 bit set: not a hex digit
                for i in 0..<t.byteCount {
                    let hi = table[Int(text[2 * i])], lo = table[Int(text[2 * i + 1])]
                    bad |= hi | lo
                    out[i] = hi << 4 | (lo & 0xF)
                }
                return bad & 0x10 == 0
            }
        }
        return valid ? t : nil
    }

    /// The value of each byte as a hex digit, 0x10 for bytes that are not hex digits.
    private static let hexValues: [UInt8] = (0...255).map { b -> UInt8 in
        switch UInt8(b) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt8(b) - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt8(b) - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt8(b) - UInt8(ascii: "A") + 10
        default: return 0x10
        }
    }
}

/// Fills a tensor one literal at a time, in the order the parser meets them.
struct TensorLiteralReader {
    let tensor: Tensor
    private(set) var filled = 0

    init(_ dtype: DType, _ shape: [Int]) { tensor = Tensor(zeros: dtype, shape: shape) }

    var isFull: Bool { filled == tensor.count }

    /// Stores `literal` as the next element. False when it is not a value of the dtype
    /// (not a number, a fraction for an integer type, out of the type's range).
    mutating func append(_ literal: String) -> Bool {
        let base = tensor.storage.base
        let i = filled
        switch tensor.dtype {
        case .float32, .float64, .float16, .bfloat16, .float8e4m3fn, .float8e5m2, .float4e2m1:
            guard let bits = TensorText.floatBits(literal, tensor.dtype) else { return false }
            switch tensor.dtype.byteSize {
            case 8: base.storeBytes(of: bits, toByteOffset: i * 8, as: UInt64.self)
            case 4: base.storeBytes(of: UInt32(bits), toByteOffset: i * 4, as: UInt32.self)
            case 2: base.storeBytes(of: UInt16(bits), toByteOffset: i * 2, as: UInt16.self)
            default: base.storeBytes(of: UInt8(bits), toByteOffset: i, as: UInt8.self)
            }
        case .bool:
            guard literal == "true" || literal == "false" else { return false }
            base.storeBytes(of: literal == "true" ? 1 : 0, toByteOffset: i, as: UInt8.self)
        case .uint64:
            guard let v = UInt64(literal) else { return false }
            base.storeBytes(of: v, toByteOffset: i * 8, as: UInt64.self)
        case .int64: guard store(literal, as: Int64.self, at: i) else { return false }
        case .int32: guard store(literal, as: Int32.self, at: i) else { return false }
        case .int16: guard store(literal, as: Int16.self, at: i) else { return false }
        case .int8: guard store(literal, as: Int8.self, at: i) else { return false }
        case .uint32: guard store(literal, as: UInt32.self, at: i) else { return false }
        case .uint16: guard store(literal, as: UInt16.self, at: i) else { return false }
        case .uint8: guard store(literal, as: UInt8.self, at: i) else { return false }
        case .int4, .uint4:
            guard let v = Int(literal), tensor.dtype == .int4 ? (-8...7).contains(v) : (0...15).contains(v) else {
                return false
            }
            base.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: i, as: UInt8.self)
        }
        filled += 1
        return true
    }

    private func store<T: FixedWidthInteger>(_ literal: String, as: T.Type, at i: Int) -> Bool {
        guard let v = T(literal) else { return false }
        tensor.storage.base.storeBytes(of: v, toByteOffset: i * MemoryLayout<T>.stride, as: T.self)
        return true
    }
}
