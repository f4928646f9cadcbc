// TensorProto -> IR Tensor: element types, dims, each storage field (raw_data, the typed
// fields, external data) with ONNX's packing rules, and a size check for every one.
import Foundation
import IR

extension ONNXTensor {
    /// Decodes the tensor's data. `externalRoot` is the folder that external data must
    /// stay inside (the model's folder); `what` names the tensor in messages.
    func decode(what: String, externalRoot: URL?) throws -> Tensor {
        guard let dtype = DType(rawValue: dataType) else {
            throw TensorDecodingError("\(what) has unsupported element type \(ONNXDataTypeName(dataType))")
        }
        if hasSegment {
            throw TensorDecodingError("\(what) is segmented (TensorProto.segment); segmented tensors are not supported")
        }
        let shape = try dims.enumerated().map { (i, d) -> Int in
            guard d >= 0 else { throw TensorDecodingError("\(what) has negative dimension \(d) at axis \(i)") }
            guard d <= Int64(Int32.max) else { throw TensorDecodingError("\(what) has dimension \(d) at axis \(i), too large") }
            return Int(d)
        }
        guard let bytes = dtype.byteCount(of: shape), bytes <= DType.largestTensorBytes else {
            throw TensorDecodingError("\(what) has shape \(shape) whose size overflows")
        }
        let count = bytes / dtype.byteSize
        // The 4-bit types pack two elements per byte in the file; the IR holds one per byte.
        let byteCount = dtype.isPackedFourBit ? (count + 1) / 2 : count * dtype.byteSize
        func mismatch(_ field: String, _ got: Int) -> TensorDecodingError {
            TensorDecodingError("\(what): \(field) holds \(got) elements but shape \(shape) needs \(count)")
        }
        switch data {
        case .none:
            guard count == 0 else { throw TensorDecodingError("\(what) has shape \(shape) but no data") }
            return Tensor(zeros: dtype, shape: shape)
        case .raw(let storage, let rawCount):
            guard rawCount == byteCount else {
                throw TensorDecodingError(
                    "\(what): raw_data has \(rawCount) bytes but \(dtype.onnxName) \(shape) needs \(byteCount)")
            }
            if count == 0 { return Tensor(zeros: dtype, shape: shape) }
            guard dtype.isPackedFourBit else { return Tensor(dtype: dtype, shape: shape, storage: storage) }
            return Self.unpackFourBit(Tensor(dtype: .uint8, shape: [byteCount], storage: storage), dtype: dtype, shape: shape)
        case .floats(let v):
            guard dtype == .float32 else { throw TensorDecodingError("\(what): float_data used for \(dtype.onnxName)") }
            guard v.count == count else { throw mismatch("float_data", v.count) }
            return Tensor(v, shape: shape)
        case .doubles(let v):
            guard dtype == .float64 else { throw TensorDecodingError("\(what): double_data used for \(dtype.onnxName)") }
            guard v.count == count else { throw mismatch("double_data", v.count) }
            return Tensor(v, shape: shape)
        case .int64s(let v):
            guard dtype == .int64 else { throw TensorDecodingError("\(what): int64_data used for \(dtype.onnxName)") }
            guard v.count == count else { throw mismatch("int64_data", v.count) }
            return Tensor(v, shape: shape)
        case .uint64s(let v):
            guard dtype == .uint64 || dtype == .uint32 else {
                throw TensorDecodingError("\(what): uint64_data used for \(dtype.onnxName)")
            }
            guard v.count == count else { throw mismatch("uint64_data", v.count) }
            return dtype == .uint64 ? Tensor(v, shape: shape) : Tensor(v.map { UInt32(truncatingIfNeeded: $0) }, shape: shape)
        case .int32s(let v) where dtype.isPackedFourBit:
            guard v.count == byteCount else {
                throw TensorDecodingError(
                    "\(what): int32_data holds \(v.count) entries but \(dtype.onnxName) \(shape) needs \(byteCount) (two elements each)"
                )
            }
            return Self.unpackFourBit(
                Tensor(v.map { UInt8(truncatingIfNeeded: $0) }, shape: [v.count]), dtype: dtype, shape: shape)
        case .int32s(let v):
            guard v.count == count else { throw mismatch("int32_data", v.count) }
            return try Self.fromInt32Field(v, dtype: dtype, shape: shape, what: what)
        case .strings:
            throw TensorDecodingError("\(what) holds strings; string tensors are not supported")
        case .external(let entries):
            guard let externalRoot else {
                throw TensorDecodingError("\(what) uses external data, which needs the model's folder")
            }
            let storage = try ExternalData.load(entries, root: externalRoot, byteCount: byteCount, what: what)
            guard dtype.isPackedFourBit else { return Tensor(dtype: dtype, shape: shape, storage: storage) }
            return Self.unpackFourBit(Tensor(dtype: .uint8, shape: [byteCount], storage: storage), dtype: dtype, shape: shape)
        }
    }

    /// `packed` (bytes of two elements each, the first in the low four bits) as a tensor of
    /// `dtype` holding one element per byte: INT4 sign-extended, UINT4 and FLOAT4E2M1 as
    /// their four bits. The last byte's high half is padding when the count is odd.
    private static func unpackFourBit(_ packed: Tensor, dtype: DType, shape: [Int]) -> Tensor {
        let out = Tensor(zeros: dtype, shape: shape)
        let count = out.count
        packed.withUnsafeBuffer(as: UInt8.self) { bytes in
            out.withUnsafeMutableBuffer(as: UInt8.self) { o in
                for i in 0..<count {
                    let nibble = (bytes[i / 2] >> (4 * UInt8(i % 2))) & 0xF
                    o[i] = dtype == .int4 && nibble >= 8 ? nibble | 0xF0 : nibble
                }
            }
        }
        return out
    }

    /// int32_data carries int32, and (one value per element, low bits) int8/int16/uint8/
    /// uint16/bool and the bit patterns of float16/bfloat16 and of the fp8 types.
    private static func fromInt32Field(_ v: [Int32], dtype: DType, shape: [Int], what: String) throws -> Tensor {
        let out = Tensor(zeros: dtype, shape: shape)
        let base = out.storage.base
        for (i, x) in v.enumerated() {
            switch dtype {
            case .int32: base.storeBytes(of: x, toByteOffset: i * 4, as: Int32.self)
            case .int16: base.storeBytes(of: Int16(truncatingIfNeeded: x), toByteOffset: i * 2, as: Int16.self)
            case .uint16, .float16, .bfloat16:
                base.storeBytes(of: UInt16(truncatingIfNeeded: x), toByteOffset: i * 2, as: UInt16.self)
            case .int8: base.storeBytes(of: Int8(truncatingIfNeeded: x), toByteOffset: i, as: Int8.self)
            case .uint8, .float8e4m3fn, .float8e5m2:
                base.storeBytes(of: UInt8(truncatingIfNeeded: x), toByteOffset: i, as: UInt8.self)
            case .bool: base.storeBytes(of: UInt8(x != 0 ? 1 : 0), toByteOffset: i, as: UInt8.self)
            default: throw TensorDecodingError("\(what): int32_data used for \(dtype.onnxName)")
            }
        }
        return out
    }
}

/// A tensor whose bytes cannot be decoded; the importer adds the file name.
struct TensorDecodingError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The ONNX spelling of an element type code, known or not.
func ONNXDataTypeName(_ code: Int32) -> String {
    if let t = DType(rawValue: code) { return t.onnxName }
    let others: [Int32: String] = [
        0: "UNDEFINED", 8: "STRING", 14: "COMPLEX64", 15: "COMPLEX128",
        18: "FLOAT8E4M3FNUZ", 20: "FLOAT8E5M2FNUZ",
    ]
    return others[code] ?? "code \(code)"
}
