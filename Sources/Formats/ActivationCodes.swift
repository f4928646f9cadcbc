// Rounded activations as the matrix unit takes them when they travel coded: per element a
// code of the activation format (E2M1 for nvfp4, E4M3 for fp8), one per byte, and the
// float32 scale it multiplies (nvfp4: its block's E4M3 scale times the tensor scale; fp8:
// the tensor scale). value(code) · scale is, bit for bit, the value
// `FakeQuantization.activations` rounds the element to, so a program may keep an
// activation as codes and scales (about a quarter of its float32 bytes) and the matrix
// unit decodes the same numbers.

public enum ActivationCodes {
    /// `x`, rows of `rowLength` with nvfp4's blocks of 16 along each row, rounded to
    /// `format` with the tensor's `amax`, or the `scale` given (fp8's scale, nvfp4's tensor
    /// scale), as `FakeQuantization.activations` rounds it:
    /// each element's code into `codes` and the scale it multiplies into `scales`. An
    /// element whose scale is not positive (an all-zero block, a zero tensor scale) gets
    /// code 0 and scale 0.
    public static func encode(
        _ x: UnsafeBufferPointer<Float>, rowLength: Int, format: PrecisionFormat, amax: Float, scale given: Float? = nil,
        codes: UnsafeMutableBufferPointer<UInt8>, scales: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(rowLength > 0 && x.count % rowLength == 0 && codes.count == x.count && scales.count == x.count)
        switch format {
        case .fp8:
            let scale = given ?? FP8.scale(amax: amax)
            for (i, v) in x.enumerated() {
                codes[i] = fp8Code(v, scale: scale)
                scales[i] = scale
            }
        case .nvfp4:
            let global = given ?? amax / (6 * 448)
            guard global > 0 else {
                codes.update(repeating: 0)
                scales.update(repeating: 0)
                return
            }
            for row in stride(from: 0, to: x.count, by: rowLength) {
                for start in stride(from: row, to: row + rowLength, by: 16) {
                    let count = min(16, row + rowLength - start)
                    let scale = FakeQuantization.nvfp4BlockScale(x, first: start, count: count, stride: 1, global: global)
                    for i in start..<(start + count) {
                        codes[i] = scale > 0 ? e2m1Code(x[i] / scale) : 0
                        scales[i] = scale > 0 ? scale : 0
                    }
                }
            }
        case .fp16, .fp32:
            preconditionFailure("\(format) activations travel as values, not codes")
        }
    }

    /// The E4M3 code of fp8 activation `v` at `scale`: v / scale rounded, saturating at
    /// +-448 (infinities too); NaN is s.1111.111, its sign kept.
    @inline(__always)
    public static func fp8Code(_ v: Float, scale: Float) -> UInt8 {
        if v.isNaN { return UInt8(truncatingIfNeeded: v.bitPattern >> 24) & 0x80 | 0x7F }
        return e4m3Saturating(v.isFinite ? v / scale : (v < 0 ? -448 : 448))
    }

    /// The value of an E4M3 code at scale 1: s.1111.111 is the quiet NaN with its sign.
    @inline(__always)
    public static func fp8Value(_ code: UInt8) -> Float {
        code & 0x7F == 0x7F ? Float(bitPattern: UInt32(code & 0x80) << 24 | 0x7FC0_0000) : e4m3Value(code)
    }

    /// The value a code of `format` stands for, times its scale; nil for a byte that is not
    /// a code of the format (an E2M1 code is 0 to 15).
    @inline(__always)
    public static func value(_ code: UInt8, scale: Float, format: PrecisionFormat) -> Float? {
        switch format {
        case .nvfp4: return code < 16 ? e2m1Values[Int(code)] * scale : nil
        case .fp8: return fp8Value(code) * scale
        case .fp16, .fp32: return nil
        }
    }

    /// True when activations of `format` can travel coded.
    public static func codes(_ format: PrecisionFormat) -> Bool { format == .fp8 || format == .nvfp4 }
}
