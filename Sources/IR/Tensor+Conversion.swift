// Element conversions of tensors: to and from Double and Int64 for any dtype, and
// Cast between dtypes (ONNX Cast semantics: floats truncate toward zero into ints, fp8
// through the Formats codecs, saturating unless asked not to).

import Formats
import Foundation

extension Tensor {
    /// Element `i` as a Double (exact for every dtype but 64-bit integers beyond 2^53).
    public func double(at i: Int) -> Double {
        let b = storage.base
        switch dtype {
        case .float32: return Double(b.load(fromByteOffset: i * 4, as: Float.self))
        case .float64: return b.load(fromByteOffset: i * 8, as: Double.self)
        case .float16: return Double(halfToFloat(b.load(fromByteOffset: i * 2, as: UInt16.self)))
        case .bfloat16: return Double(bfloat16ToFloat(b.load(fromByteOffset: i * 2, as: UInt16.self)))
        case .float8e4m3fn: return Double(MiniFloatFormat.e4m3.decode(b.load(fromByteOffset: i, as: UInt8.self)))
        case .float8e5m2: return Double(MiniFloatFormat.e5m2.decode(b.load(fromByteOffset: i, as: UInt8.self)))
        case .float4e2m1: return Double(MiniFloatFormat.e2m1().decode(b.load(fromByteOffset: i, as: UInt8.self) & 0xF))
        case .int8, .int4: return Double(b.load(fromByteOffset: i, as: Int8.self))
        case .int16: return Double(b.load(fromByteOffset: i * 2, as: Int16.self))
        case .int32: return Double(b.load(fromByteOffset: i * 4, as: Int32.self))
        case .int64: return Double(b.load(fromByteOffset: i * 8, as: Int64.self))
        case .uint8, .bool, .uint4: return Double(b.load(fromByteOffset: i, as: UInt8.self))
        case .uint16: return Double(b.load(fromByteOffset: i * 2, as: UInt16.self))
        case .uint32: return Double(b.load(fromByteOffset: i * 4, as: UInt32.self))
        case .uint64: return Double(b.load(fromByteOffset: i * 8, as: UInt64.self))
        }
    }

    /// The flat indices, in increasing order, of the elements that are not zero (a NaN is
    /// not zero; −0 is): where NonZero finds them.
    public func nonZeroPositions() -> [Int] {
        dtype.isFloatingPoint ? (0..<count).filter { double(at: $0) != 0 } : (0..<count).filter { int64(at: $0) != 0 }
    }

    /// Element `i` as an Int64 (floats truncate toward zero; out-of-range saturates).
    public func int64(at i: Int) -> Int64 {
        let b = storage.base
        switch dtype {
        case .int64: return b.load(fromByteOffset: i * 8, as: Int64.self)
        case .int32: return Int64(b.load(fromByteOffset: i * 4, as: Int32.self))
        case .int16: return Int64(b.load(fromByteOffset: i * 2, as: Int16.self))
        case .int8, .int4: return Int64(b.load(fromByteOffset: i, as: Int8.self))
        case .uint8, .bool, .uint4: return Int64(b.load(fromByteOffset: i, as: UInt8.self))
        case .uint16: return Int64(b.load(fromByteOffset: i * 2, as: UInt16.self))
        case .uint32: return Int64(b.load(fromByteOffset: i * 4, as: UInt32.self))
        case .uint64: return Int64(truncatingIfNeeded: b.load(fromByteOffset: i * 8, as: UInt64.self))
        default:
            let d = double(at: i)
            if d.isNaN { return 0 }
            return Int64(exactly: d.rounded(.towardZero)) ?? (d < 0 ? Int64.min : Int64.max)
        }
    }

    /// All elements as Int64 (shape vectors, axes, indices).
    public func int64s() -> [Int64] { (0..<count).map { int64(at: $0) } }

    /// All elements as Double.
    public func doubles() -> [Double] { (0..<count).map { double(at: $0) } }

    /// All elements as Float (a copy; conversion from other dtypes as `double(at:)`).
    public func floats() -> [Float] {
        if dtype == .float32 { return scalars(as: Float.self) }
        return (0..<count).map { Float(double(at: $0)) }
    }

    /// This tensor's elements in `target` dtype, with ONNX Cast semantics. For an fp8
    /// target, `saturate` is Cast's attribute: finite overflow and infinities become the
    /// largest finite value (true, ONNX's default) or NaN / infinity as the format has them.
    public func cast(to target: DType, saturate: Bool = true) -> Tensor {
        if target == dtype { return self }
        if target == .float32 {
            let out = Tensor(zeros: .float32, shape: shape)
            out.withUnsafeMutableBuffer(as: Float.self) { o in
                // An int64 rounds to float32 once (through float64 it could round twice).
                if dtype == .int64 {
                    for i in 0..<count { o[i] = Float(int64(at: i)) }
                } else {
                    for i in 0..<count { o[i] = Float(double(at: i)) }
                }
            }
            return out
        }
        let out = Tensor(zeros: target, shape: shape)
        let b = out.storage.base
        let isFloatSource = dtype.isFloatingPoint
        for i in 0..<count {
            switch target {
            case .float32: break
            case .float64: b.storeBytes(of: double(at: i), toByteOffset: i * 8, as: Double.self)
            case .float16: b.storeBytes(of: floatToHalf(Float(double(at: i))), toByteOffset: i * 2, as: UInt16.self)
            case .bfloat16: b.storeBytes(of: floatToBfloat16(Float(double(at: i))), toByteOffset: i * 2, as: UInt16.self)
            case .float8e4m3fn, .float8e5m2, .float4e2m1:
                let code = target.miniFloatFormat?.encode(Float(double(at: i)), saturating: saturate) ?? 0
                b.storeBytes(of: code, toByteOffset: i, as: UInt8.self)
            case .bool:
                let v: UInt8 = isFloatSource ? (double(at: i) != 0 ? 1 : 0) : (int64(at: i) != 0 ? 1 : 0)
                b.storeBytes(of: v, toByteOffset: i, as: UInt8.self)
            default:
                let v = int64(at: i)
                switch target {
                case .int8: b.storeBytes(of: Int8(truncatingIfNeeded: v), toByteOffset: i, as: Int8.self)
                case .uint8: b.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: i, as: UInt8.self)
                case .int16: b.storeBytes(of: Int16(truncatingIfNeeded: v), toByteOffset: i * 2, as: Int16.self)
                case .uint16: b.storeBytes(of: UInt16(truncatingIfNeeded: v), toByteOffset: i * 2, as: UInt16.self)
                case .int32: b.storeBytes(of: Int32(truncatingIfNeeded: v), toByteOffset: i * 4, as: Int32.self)
                case .uint32: b.storeBytes(of: UInt32(truncatingIfNeeded: v), toByteOffset: i * 4, as: UInt32.self)
                case .int64: b.storeBytes(of: v, toByteOffset: i * 8, as: Int64.self)
                case .uint64: b.storeBytes(of: UInt64(truncatingIfNeeded: v), toByteOffset: i * 8, as: UInt64.self)
                default: break
                }
            }
        }
        return out
    }
}

extension DType {
    /// The codec of an fp8 dtype (E4M3 "fn" or E5M2) or of FLOAT4E2M1, nil for every other dtype.
    public var miniFloatFormat: MiniFloatFormat? {
        switch self {
        case .float8e4m3fn: return .e4m3
        case .float8e5m2: return .e5m2
        case .float4e2m1: return .e2m1()
        default: return nil
        }
    }
}

/// IEEE binary16 bits to Float (exact).
@inline(__always) public func halfToFloat(_ bits: UInt16) -> Float { Float16Codec.decode(bits) }

/// Float to IEEE binary16 bits, round to nearest even.
@inline(__always) public func floatToHalf(_ value: Float) -> UInt16 { Float16Codec.encode(value) }

/// bfloat16 bits to Float (exact: bf16 is the top half of a binary32).
@inline(__always) public func bfloat16ToFloat(_ bits: UInt16) -> Float { BFloat16Codec.decode(bits) }

/// Float to bfloat16 bits, round to nearest even.
@inline(__always) public func floatToBfloat16(_ value: Float) -> UInt16 { BFloat16Codec.encode(value) }
