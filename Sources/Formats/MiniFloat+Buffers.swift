// Whole-buffer conversions for the scalar formats: the same rules as the one-value codecs,
// with the hot E2M1 and E4M3 quantizing paths on their fast encoders.

extension MiniFloatFormat {
    /// Codes of `values` (ml_dtypes' conversion, or saturating as quantizers use).
    public func encode(_ values: UnsafeBufferPointer<Float>, saturating: Bool = false) -> [UInt8] {
        if saturating && self == .e4m3 {
            return values.map { $0.isNaN ? encode($0) : e4m3Saturating($0.isInfinite ? ($0 < 0 ? -448 : 448) : $0) }
        }
        if self == .e2m1() {
            return values.map { $0.isNaN ? encode($0) : e2m1Code($0) }
        }
        return values.map { encode($0, saturating: saturating) }
    }

    /// Values of `codes`, through a table of the format's codes.
    public func decode(_ codes: UnsafeBufferPointer<UInt8>) -> [Float] {
        let table = (0..<(1 << bitWidth)).map { decode(UInt8($0)) }
        let mask = UInt8((1 << bitWidth) - 1)
        return codes.map { table[Int($0 & mask)] }
    }
}
