// Branch-light float32 -> code conversions for the quantizers' hot loops, equal to
// `MiniFloatFormat.encode(_:saturating: true)` for finite input (tests check every
// neighbourhood against the generic codecs), and SIMD E2M1 for whole blocks.

/// E4M3 saturating encode of a finite value.
@inline(__always)
func e4m3Saturating(_ value: Float) -> UInt8 {
    let bits = value.bitPattern
    let sign = UInt8(truncatingIfNeeded: bits >> 24) & 0x80
    let a = value.magnitude
    if a < 0.015625 {  // below 2^-6: subnormal steps of 2^-9, q in 0...8 (8 is the smallest normal)
        return sign | UInt8((a * 512).rounded(.toNearestOrEven))
    }
    // Round the 23-bit mantissa to 3 bits, ties to even, letting a carry bump the exponent.
    let m = a.bitPattern
    let rounded = m &+ 0x7FFFF &+ ((m >> 20) & 1)
    let exponent = Int(rounded >> 23) - 127 + 7
    if exponent > 15 { return sign | 0x7E }
    let code = UInt8(exponent << 3) | UInt8(truncatingIfNeeded: (rounded >> 20) & 7)
    return sign | min(code, 0x7E)
}

/// The value of a finite E4M3 code (codes 0x7F/0xFF, NaN, never reach here).
@inline(__always)
func e4m3Value(_ code: UInt8) -> Float {
    let sign = UInt32(code & 0x80) << 24
    let e = UInt32(code >> 3) & 0xF, m = UInt32(code & 7)
    if e == 0 { return Float(bitPattern: sign) + (sign != 0 ? -1 : 1) * Float(m) * 0.001953125 }
    return Float(bitPattern: sign | (e + 120) << 23 | m << 20)
}

/// The E4M3 value nearest each lane of `v` (ties to even, saturating at ±448, sign kept):
/// `e4m3Value(e4m3Saturating(v))` lane by lane for finite lanes. A normal value keeps the
/// top 3 bits of its mantissa, rounded in its bit pattern; one below 2^-6 is a multiple of
/// 2^-9, rounded by adding and taking away 2^23 (exact below 2^22, ties to even).
@inline(__always)
func e4m3Rounded(_ v: SIMD16<Float>) -> SIMD16<Float> {
    let bits = unsafeBitCast(v, to: SIMD16<UInt32>.self)
    let m = bits & 0x7FFF_FFFF
    let a = unsafeBitCast(m, to: SIMD16<Float>.self)
    let rounded = (m &+ 0x7FFFF &+ ((m &>> 20) & 1)) & 0xFFF0_0000
    // Saturated by a comparison and a select, which stay in vector registers (pointwiseMin
    // goes lane by lane).
    var y = unsafeBitCast(rounded, to: SIMD16<Float>.self)
    y.replace(with: 448, where: y .> 448)
    let steps = (a * 512 + 8_388_608) - 8_388_608
    y.replace(with: steps * 0.001953125, where: a .< 0.015625)
    return unsafeBitCast(unsafeBitCast(y, to: SIMD16<UInt32>.self) | (bits & 0x8000_0000), to: SIMD16<Float>.self)
}

/// E2M1 codes of 16 already-scaled values, packed two per byte (low nibble first) into
/// `out[0..<8]`. Ties to even, saturating at 6.
@inline(__always)
func packE2M1(_ v: SIMD16<Float>, into out: UnsafeMutablePointer<UInt8>) {
    let a = magnitudes(v)
    // Each true comparison lane is all ones (-1): subtracting it counts the steps passed.
    var c = SIMD16<Int32>(repeating: 0)
    c &-= unsafeBitCast(a .> 0.25, to: SIMD16<Int32>.self)
    c &-= unsafeBitCast(a .>= 0.75, to: SIMD16<Int32>.self)
    c &-= unsafeBitCast(a .> 1.25, to: SIMD16<Int32>.self)
    c &-= unsafeBitCast(a .>= 1.75, to: SIMD16<Int32>.self)
    c &-= unsafeBitCast(a .> 2.5, to: SIMD16<Int32>.self)
    c &-= unsafeBitCast(a .>= 3.5, to: SIMD16<Int32>.self)
    c &-= unsafeBitCast(a .> 5, to: SIMD16<Int32>.self)
    let negative = SIMD16<Int32>(truncatingIfNeeded: unsafeBitCast(v, to: SIMD16<UInt32>.self) &>> 31) &<< 3
    c |= negative
    let bytes = c.evenHalf | (c.oddHalf &<< 4)
    UnsafeMutableRawPointer(out).storeBytes(of: SIMD8<UInt8>(truncatingIfNeeded: bytes), as: SIMD8<UInt8>.self)
}

/// Whether up to 16 floats from `p` are each an E2M1 value times `scale` (computed as the
/// decoder computes it: the grid value times the scale in float32); with scale 0, whether
/// all are zero.
@inline(__always)
func blockOnGrid(_ p: UnsafePointer<Float>, count: Int, scale: Float) -> Bool {
    let v = loadBlock(p, count: count)
    guard scale > 0 else { return all(v .== 0) }
    let scales = SIMD16(repeating: scale)
    return all(FakeQuantization.e2m1Rounded(v / scales) * scales .== v)
}

/// Lane-wise |v| (clears the sign bits).
@inline(__always)
func magnitudes(_ v: SIMD16<Float>) -> SIMD16<Float> {
    unsafeBitCast(unsafeBitCast(v, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: SIMD16<Float>.self)
}

/// Loads up to 16 floats (zeros past `count`).
@inline(__always)
func loadBlock(_ p: UnsafePointer<Float>, count: Int) -> SIMD16<Float> {
    if count == 16 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
    var v = SIMD16<Float>(repeating: 0)
    for i in 0..<count { v[i] = p[i] }
    return v
}

/// max |x| of up to 16 finite floats, on their bit patterns (a loop LLVM vectorises).
@inline(__always)
func blockMaxMagnitude(_ p: UnsafePointer<Float>, count: Int) -> Float {
    let bits = UnsafeRawPointer(p).assumingMemoryBound(to: Int32.self)
    var m: Int32 = 0
    for i in 0..<count { m = max(m, bits[i] & 0x7FFF_FFFF) }
    return Float(bitPattern: UInt32(m))
}
