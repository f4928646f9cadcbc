// Element types of IR values, numbered as ONNX's TensorProto.DataType so the
// importer maps them one to one.

/// An element type. Raw values are ONNX `TensorProto.DataType` codes.
public enum DType: Int32, Sendable, CaseIterable, Hashable {
    case float32 = 1
    case uint8 = 2
    case int8 = 3
    case uint16 = 4
    case int16 = 5
    case int32 = 6
    case int64 = 7
    case bool = 9
    case float16 = 10
    case float64 = 11
    case uint32 = 12
    case uint64 = 13
    case bfloat16 = 16
    /// FP8 E4M3 "fn": no infinities, S.1111.111 is NaN, largest finite 448 (ONNX FLOAT8E4M3FN).
    case float8e4m3fn = 17
    /// FP8 E5M2: IEEE-style infinities and NaNs, largest finite 57344 (ONNX FLOAT8E5M2).
    case float8e5m2 = 19
    /// The 4-bit types, one element per byte in the IR's storage (ONNX packs two per byte):
    /// UINT4 0 to 15, INT4 -8 to 7 (sign-extended), FLOAT4E2M1 the code in the low four
    /// bits (E2M1: magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6; no infinities or NaN).
    case uint4 = 21
    case int4 = 22
    case float4e2m1 = 23

    /// Bytes per element in the IR's dense storage (bool is one byte, 0 or 1).
    public var byteSize: Int {
        switch self {
        case .uint8, .int8, .bool, .float8e4m3fn, .float8e5m2, .uint4, .int4, .float4e2m1: return 1
        case .uint16, .int16, .float16, .bfloat16: return 2
        case .int32, .uint32, .float32: return 4
        case .int64, .uint64, .float64: return 8
        }
    }

    /// The spelling in the textual IR.
    public var name: String {
        switch self {
        case .float32: return "f32"
        case .float16: return "f16"
        case .bfloat16: return "bf16"
        case .float8e4m3fn: return "f8e4m3"
        case .float8e5m2: return "f8e5m2"
        case .float4e2m1: return "f4e2m1"
        case .int4: return "i4"
        case .uint4: return "u4"
        case .float64: return "f64"
        case .int8: return "i8"
        case .int16: return "i16"
        case .int32: return "i32"
        case .int64: return "i64"
        case .uint8: return "u8"
        case .uint16: return "u16"
        case .uint32: return "u32"
        case .uint64: return "u64"
        case .bool: return "bool"
        }
    }

    public init?(name: String) {
        guard let found = DType.allCases.first(where: { $0.name == name }) else { return nil }
        self = found
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64, .float8e4m3fn, .float8e5m2, .float4e2m1: return true
        default: return false
        }
    }

    public var isInteger: Bool { !isFloatingPoint && self != .bool }

    /// The most bytes a tensor may take (2^40): no machine holds more, and below it no
    /// count of elements or bytes overflows. The importer and shape inference refuse larger.
    public static let largestTensorBytes = 1 << 40

    /// The bytes a tensor of this type and `shape` takes in the IR's storage; nil when an
    /// extent is negative or the count overflows.
    public func byteCount(of shape: [Int]) -> Int? {
        var total = byteSize
        for d in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: d)
            if d < 0 || overflow { return nil }
            total = product
        }
        return total
    }

    /// UINT4, INT4 or FLOAT4E2M1: two elements per byte in ONNX's raw data and in each entry
    /// of int32_data, the first in the low four bits.
    public var isPackedFourBit: Bool { self == .uint4 || self == .int4 || self == .float4e2m1 }

    /// float16 or bfloat16: what a half-precision model holds, float32 exactly widened.
    public var isHalf: Bool { self == .float16 || self == .bfloat16 }

    /// The least and greatest code of an integer type QuantizeLinear writes (int8, uint8,
    /// int16, uint16); nil for any other.
    public var quantizedCodeRange: (Int64, Int64)? {
        switch self {
        case .int8: return (-128, 127)
        case .uint8: return (0, 255)
        case .int16: return (-32768, 32767)
        case .uint16: return (0, 65535)
        default: return nil
        }
    }

    /// The ONNX spelling, for messages that quote the model ("FLOAT", "INT64").
    public var onnxName: String {
        switch self {
        case .float32: return "FLOAT"
        case .float16: return "FLOAT16"
        case .bfloat16: return "BFLOAT16"
        case .float8e4m3fn: return "FLOAT8E4M3FN"
        case .float8e5m2: return "FLOAT8E5M2"
        case .float4e2m1: return "FLOAT4E2M1"
        case .int4: return "INT4"
        case .uint4: return "UINT4"
        case .float64: return "DOUBLE"
        case .int8: return "INT8"
        case .int16: return "INT16"
        case .int32: return "INT32"
        case .int64: return "INT64"
        case .uint8: return "UINT8"
        case .uint16: return "UINT16"
        case .uint32: return "UINT32"
        case .uint64: return "UINT64"
        case .bool: return "BOOL"
        }
    }
}
