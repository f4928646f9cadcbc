// The NumPy .npy format (versions 1.0 to 3.0): a magic string, a Python-dict header
// giving dtype, memory order and shape, then the raw elements.
import Foundation
import IR

public enum NPY {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    /// Decodes an .npy image; `file`/`key` name it in errors.
    public static func decode(_ data: Data, file: String, key: String? = nil) throws -> Tensor {
        func fail(_ message: String) -> TensorIOError { TensorIOError(file: file, key: key, message) }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("not an .npy array (bad magic)") }
        let major = bytes[6]
        let headerStart: Int, headerLength: Int
        switch major {
        case 1: headerStart = 10; headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerStart = 12
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        default: throw fail("unsupported .npy version \(major)")
        }
        guard headerLength <= bytes.count - headerStart else { throw fail("header runs past the end of the file") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        let dict = try NPYHeader(parsing: header, fail)
        let (dtype, swap) = try dtypeOf(dict.descr, fail)
        let count = try dict.shape.reduce(1) { acc, d in
            let (p, o) = acc.multipliedReportingOverflow(by: d)
            guard !o, d >= 0 else { throw fail("shape \(dict.shape) is invalid") }
            return p
        }
        let start = headerStart + headerLength
        let needed = count * dtype.byteSize
        guard bytes.count - start >= needed else {
            throw fail("data has \(bytes.count - start) bytes but \(dict.descr) \(dict.shape) needs \(needed)")
        }
        let tensor = Tensor(zeros: dtype, shape: dict.fortranOrder ? dict.shape.reversed() : dict.shape)
        bytes.withUnsafeBytes { raw in
            tensor.storage.base.copyMemory(from: raw.baseAddress! + start, byteCount: needed)
        }
        if swap && dtype.byteSize > 1 {
            let p = tensor.storage.base.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count {
                var element = UnsafeMutableBufferPointer(start: p + i * dtype.byteSize, count: dtype.byteSize)
                element.reverse()
            }
        }
        if dtype == .bool {
            let p = tensor.storage.base.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count where p[i] > 1 { throw fail("bool array holds byte \(p[i]) at element \(i)") }
        }
        guard dict.fortranOrder, tensor.rank > 1 else { return tensor }
        // Fortran order: the bytes are the transpose; permute back to C order.
        let strides = contiguousStridesOf(tensor.shape)
        let out = Tensor(zeros: dtype, shape: dict.shape)
        let size = dtype.byteSize
        var index = [Int](repeating: 0, count: dict.shape.count)
        for i in 0..<count {
            var r = i
            for d in stride(from: dict.shape.count - 1, through: 0, by: -1) { index[d] = r % dict.shape[d]; r /= dict.shape[d] }
            let src = (0..<index.count).reduce(0) { $0 + index[$1] * strides[index.count - 1 - $1] }
            (out.storage.base + i * size).copyMemory(from: tensor.storage.base + src * size, byteCount: size)
        }
        return out
    }

    public static func read(url: URL) throws -> Tensor {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TensorIOError(file: url.path, "cannot read the file")
        }
        return try decode(data, file: url.path)
    }

    /// The .npy image of `tensor`, version 1.0, laid out exactly as numpy's np.save.
    public static func encode(_ tensor: Tensor) -> Data {
        let shape =
            tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr(tensor.dtype))', 'fortran_order': False, 'shape': \(shape), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var data = Data(magic + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        data.append(Data(header.utf8))
        data.append(Data(tensor.bytes))
        return data
    }

    static func descr(_ dtype: DType) -> String {
        switch dtype {
        case .float32: return "<f4"
        case .float64: return "<f8"
        case .float16: return "<f2"
        case .bfloat16: return "<V2"
        // fp8 and FLOAT4E2M1 codes, a byte each, as void (ml_dtypes views them).
        case .float8e4m3fn, .float8e5m2, .float4e2m1: return "|V1"
        case .int8, .int4: return "|i1"
        case .int16: return "<i2"
        case .int32: return "<i4"
        case .int64: return "<i8"
        case .uint8, .uint4: return "|u1"
        case .uint16: return "<u2"
        case .uint32: return "<u4"
        case .uint64: return "<u8"
        case .bool: return "|b1"
        }
    }

    private static func dtypeOf(_ descr: String, _ fail: (String) -> TensorIOError) throws -> (DType, swap: Bool) {
        guard descr.count >= 2 else { throw fail("unsupported dtype '\(descr)'") }
        let order = descr.first!, code = String(descr.dropFirst())
        let table: [String: DType] = [
            "f4": .float32, "f8": .float64, "f2": .float16, "i1": .int8, "i2": .int16,
            "i4": .int32, "i8": .int64, "u1": .uint8, "u2": .uint16, "u4": .uint32,
            "u8": .uint64, "b1": .bool,
            // Two raw bytes: how numpy saves ml_dtypes' bfloat16 (and how `encode` writes it).
            "V2": .bfloat16,
        ]
        guard "<>|=".contains(order), let dtype = table[code] else {
            throw fail("unsupported dtype '\(descr)' (numeric, bool and bfloat16 arrays only)")
        }
        return (dtype, order == ">")
    }
}

func contiguousStridesOf(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) { strides[i] = s; s *= shape[i] }
    return strides
}

/// The header dictionary: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
struct NPYHeader {
    var descr = ""
    var fortranOrder = false
    var shape: [Int] = []

    init(parsing text: String, _ fail: (String) -> TensorIOError) throws {
        var found = Set<String>()
        var s = Substring(text)
        func skip() { s = s.drop { $0 == " " || $0 == "," || $0 == "\n" } }
        func quotedString() throws -> String {
            guard let q = s.first, q == "'" || q == "\"" else { throw fail("malformed header: expected a string in \(text)") }
            s = s.dropFirst()
            guard let end = s.firstIndex(of: q) else { throw fail("malformed header: unterminated string") }
            defer { s = s[s.index(after: end)...] }
            return String(s[..<end])
        }
        s = s.drop { $0 == " " }
        guard s.first == "{" else { throw fail("malformed header: \(text)") }
        s = s.dropFirst()
        while true {
            skip()
            if s.first == "}" { break }
            let key = try quotedString()
            s = s.drop { $0 == " " }
            guard s.first == ":" else { throw fail("malformed header: expected ':' after '\(key)'") }
            s = s.dropFirst().drop { $0 == " " }
            switch key {
            case "descr": descr = try quotedString()
            case "fortran_order":
                if s.hasPrefix("True") {
                    fortranOrder = true; s = s.dropFirst(4)
                } else if s.hasPrefix("False") {
                    s = s.dropFirst(5)
                } else {
                    throw fail("malformed fortran_order")
                }
            case "shape":
                guard s.first == "(", let close = s.firstIndex(of: ")") else { throw fail("malformed shape in header") }
                let inner = s[s.index(after: s.startIndex)..<close]
                shape = try inner.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map
                {
                    guard let v = Int($0.hasSuffix("L") ? String($0.dropLast()) : $0), v >= 0 else {
                        throw fail("malformed shape (\(inner))")
                    }
                    return v
                }
                s = s[s.index(after: close)...]
            default: throw fail("unexpected header key '\(key)'")
            }
            found.insert(key)
        }
        guard found.isSuperset(of: ["descr", "fortran_order", "shape"]) else {
            throw fail("header lacks descr, fortran_order or shape")
        }
    }
}
