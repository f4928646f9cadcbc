// float32 values as the little-endian bytes bundles and the simulator's memories hold.

public enum Float32Bytes {
    public static func encode(_ values: [Float]) -> [UInt8] {
        #if _endian(little)
            return values.withUnsafeBytes { Array($0) }
        #else
            var out = [UInt8]()
            out.reserveCapacity(4 * values.count)
            for v in values {
                let b = v.bitPattern
                out += [UInt8(b & 0xFF), UInt8((b >> 8) & 0xFF), UInt8((b >> 16) & 0xFF), UInt8(b >> 24)]
            }
            return out
        #endif
    }

    /// The floats of `bytes` (a multiple of 4 long).
    public static func decode<C: Collection<UInt8>>(_ bytes: C) -> [Float] where C.Index == Int {
        let count = bytes.count / 4
        #if _endian(little)
            let copied = bytes.withContiguousStorageIfAvailable { b in
                [Float](unsafeUninitializedCapacity: count) { out, n in
                    if count > 0 {
                        UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: b.baseAddress!, byteCount: 4 * count)
                    }
                    n = count
                }
            }
            if let copied { return copied }
        #endif
        let start = bytes.startIndex
        return (0..<count).map { i in
            let o = start + 4 * i
            return Float(
                bitPattern: UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16
                    | UInt32(bytes[o + 3]) << 24)
        }
    }
}
