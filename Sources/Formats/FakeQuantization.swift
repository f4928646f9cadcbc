// Fake quantization: a tensor rounded to a format and decoded back to float32, as the NPU
// will see it. Weights per output channel along the reduction axis; activations with a
// calibrated per-tensor scale (and, for nvfp4, block scales computed at run time).

/// The number formats a layer can run in.
public enum PrecisionFormat: String, Sendable, CaseIterable {
    case fp32, fp16, fp8, nvfp4

    /// Storage bits per weight as the packed layout stores them (schemas/weights.md),
    /// scales and sparsity metadata included: fp16 16, fp8 8 (per-channel scales not
    /// counted), nvfp4 4 + one E4M3 scale per 16 positions = 4.5. 2:4 keeps 2 values and
    /// two 2-bit indices per group of 4, (2 x bits + 4) / 4; nvfp4's block scales still
    /// cover 16 dense positions: nvfp4+2:4 is 3 + 0.5 = 3.5.
    public func bitsPerWeight(sparse: Bool) -> Double {
        let bits: Double
        switch self {
        case .fp32: bits = 32
        case .fp16: bits = 16
        case .fp8: bits = 8
        case .nvfp4: bits = 4
        }
        let scale: Double = self == .nvfp4 ? 8.0 / 16 : 0
        return (sparse ? (2 * bits + 4) / 4 : bits) + scale
    }
}

public enum FakeQuantization {
    /// Weights [rows = output channels, columns = reduction] rounded to `format`: fp16 by
    /// value, fp8 with a per-output-channel scale, nvfp4 in blocks of 16 along each row.
    public static func weights(_ w: [Float], rows: Int, columns: Int, format: PrecisionFormat) throws -> [Float] {
        try scaledWeights(w, rows: rows, columns: columns, format: format).values
    }

    /// As `weights`, with the scales the format used: fp8 one per row, nvfp4 the tensor
    /// scale (block scales follow from it and the values), none for fp16 and fp32.
    public static func scaledWeights(
        _ w: [Float], rows: Int, columns: Int,
        format: PrecisionFormat
    ) throws -> (values: [Float], scales: [Float]) {
        switch format {
        case .fp32: return (w, [])
        case .fp16: return (w.map { Float16Codec.round($0) }, [])
        case .fp8:
            return try w.withUnsafeBufferPointer { try FP8.fakeQuantized($0, rows: rows, columns: columns) }
        case .nvfp4:
            let m = try w.withUnsafeBufferPointer { try NVFP4.quantize($0, rows: rows, columns: columns) }
            return (m.dequantized(), [m.globalScale])
        }
    }

    /// Activations rounded to fp8 E4M3 with a per-tensor `scale`: x / scale encoded
    /// saturating, decoded and multiplied back. Infinities become +-448 * scale; NaN stays
    /// NaN (E4M3's s.1111.111, as ONNX's saturating QuantizeLinear keeps it), the quiet NaN
    /// with its sign.
    public static func fp8Activations(_ x: [Float], scale: Float) -> [Float] {
        func one(_ v: Float) -> Float { ActivationCodes.fp8Value(ActivationCodes.fp8Code(v, scale: scale)) * scale }
        return [Float](unsafeUninitializedCapacity: x.count) { out, count in
            x.withUnsafeBufferPointer { x in
                var i = 0
                // Sixteen at a time where every quotient is finite; element by element elsewhere.
                while i + 16 <= x.count {
                    let q = UnsafeRawPointer(x.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self) / scale
                    if all(magnitudes(q) .< .infinity) {
                        UnsafeMutableRawPointer(out.baseAddress! + i).storeBytes(
                            of: e4m3Rounded(q) * scale, as: SIMD16<Float>.self)
                    } else {
                        for k in i..<(i + 16) { out[k] = one(x[k]) }
                    }
                    i += 16
                }
                for k in i..<x.count { out[k] = one(x[k]) }
            }
            count = x.count
        }
    }

    /// Activations rounded to `format`: fp8 with scale amax / 448 (saturating); nvfp4 with
    /// the per-tensor scale amax / (6 * 448) and E4M3 block scales over blocks of 16 along
    /// `reductionAxis` of `shape`, computed from the values themselves. A `scale` given is
    /// fp8's scale or nvfp4's tensor scale itself, and `amax` is then not read.
    public static func activations(
        _ x: [Float], shape: [Int], reductionAxis: Int, format: PrecisionFormat, amax: Float, scale: Float? = nil
    ) -> [Float] {
        switch format {
        case .fp32: return x
        case .fp16: return x.map { Float16Codec.round($0) }
        case .fp8:
            return fp8Activations(x, scale: scale ?? FP8.scale(amax: amax))
        case .nvfp4:
            let global = scale ?? amax / (6 * 448)
            guard global > 0, !shape.isEmpty else { return x.map { _ in 0 } }
            let n = shape[reductionAxis], inner = shape[(reductionAxis + 1)...].reduce(1, *)
            let outer = shape[..<reductionAxis].reduce(1, *)
            if inner == 1 && n % 16 == 0 { return nvfp4ContiguousBlocks(x, global: global) }
            if inner >= 16 { return nvfp4StridedBlocks(x, outer: outer, n: n, inner: inner, global: global) }
            return nvfp4Elementwise(x, outer: outer, n: n, inner: inner, global: global)
        }
    }

    /// nvfp4 activations, block by block and element by element: `x` is [outer, n, inner]
    /// with blocks of 16 along n (the last one shorter when n is not a multiple of 16).
    static func nvfp4Elementwise(_ x: [Float], outer: Int, n: Int, inner: Int, global: Float) -> [Float] {
        [Float](unsafeUninitializedCapacity: x.count) { out, count in
            count = x.count
            x.withUnsafeBufferPointer { x in
                e2m1Values.withUnsafeBufferPointer { values in
                    for o in 0..<outer {
                        for i in 0..<inner {
                            for start in stride(from: 0, to: n, by: 16) {
                                nvfp4Block(
                                    x, into: out, first: (o &* n &+ start) &* inner &+ i, count: min(16, n - start),
                                    stride: inner, global: global, values: values)
                            }
                        }
                    }
                }
            }
        }
    }

    /// One nvfp4 block of activations, element by element: `count` elements `stride` apart
    /// from `first`, scaled by their largest magnitude's E4M3 block scale over `global`.
    @inline(__always)
    private static func nvfp4Block(
        _ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>, first: Int, count: Int, stride: Int,
        global: Float, values: UnsafeBufferPointer<Float>
    ) {
        let scale = nvfp4BlockScale(x, first: first, count: count, stride: stride, global: global)
        for k in 0..<count {
            let index = first &+ k &* stride
            out[index] = scale > 0 ? values[Int(e2m1Code(x[index] / scale))] * scale : 0
        }
    }

    /// The scale of one nvfp4 block of activations (`count` elements `stride` apart from
    /// `first`): its largest magnitude's E4M3 block scale over 6, times `global`.
    @inline(__always)
    static func nvfp4BlockScale(_ x: UnsafeBufferPointer<Float>, first: Int, count: Int, stride: Int, global: Float) -> Float {
        var blockMax: Float = 0
        for k in 0..<count { blockMax = max(blockMax, x[first &+ k &* stride].magnitude) }
        return nvfp4BlockScale(largest: blockMax, global: global)
    }

    /// The scale of an nvfp4 block of activations whose largest magnitude is `largest`: its
    /// E4M3 block scale over 6, times the tensor scale `global`.
    @inline(__always)
    static func nvfp4BlockScale(largest: Float, global: Float) -> Float {
        e4m3Value(e4m3Saturating((largest / 6) / global)) * global
    }

    /// nvfp4 activations whose blocks are 16 neighbouring elements: the same values as the
    /// element-by-element rule, sixteen lanes at a time (a block holding NaN or an infinity
    /// takes that rule).
    static func nvfp4ContiguousBlocks(_ x: [Float], global: Float) -> [Float] {
        [Float](unsafeUninitializedCapacity: x.count) { out, count in
            count = x.count
            x.withUnsafeBufferPointer { x in
                for start in stride(from: 0, to: x.count, by: 16) {
                    let v = UnsafeRawPointer(x.baseAddress! + start).loadUnaligned(as: SIMD16<Float>.self)
                    let bits = unsafeBitCast(v, to: SIMD16<UInt32>.self)
                    let magnitude = unsafeBitCast(bits & 0x7fff_ffff, to: SIMD16<Float>.self)
                    guard all(magnitude .< .infinity) else {
                        e2m1Values.withUnsafeBufferPointer { values in
                            nvfp4Block(x, into: out, first: start, count: 16, stride: 1, global: global, values: values)
                        }
                        continue
                    }
                    let blockMax = max(0, magnitude.max())
                    let scale = nvfp4BlockScale(largest: blockMax, global: global)
                    guard scale > 0 else {
                        for k in start..<(start + 16) { out[k] = 0 }
                        continue
                    }
                    let signed = e2m1Rounded(v / SIMD16(repeating: scale))
                    UnsafeMutableRawPointer(out.baseAddress! + start).storeBytes(
                        of: signed * SIMD16(repeating: scale), as: SIMD16<Float>.self)
                }
            }
        }
    }

    /// nvfp4 activations whose blocks run across `n` rows of `inner` neighbouring elements
    /// ([outer, n, inner], blocks of 16 along n): the same values as `nvfp4Elementwise`,
    /// sixteen neighbouring blocks at a time, one lane each. Sixteen lanes holding NaN or an
    /// infinity, and the last `inner` mod 16 positions, take the element-by-element rule.
    static func nvfp4StridedBlocks(_ x: [Float], outer: Int, n: Int, inner: Int, global: Float) -> [Float] {
        [Float](unsafeUninitializedCapacity: x.count) { out, count in
            count = x.count
            x.withUnsafeBufferPointer { x in
                e2m1Values.withUnsafeBufferPointer { values in
                    let (source, target) = (UnsafeRawPointer(x.baseAddress!), UnsafeMutableRawPointer(out.baseAddress!))
                    for o in 0..<outer {
                        for start in stride(from: 0, to: n, by: 16) {
                            let rows = min(16, n - start), first = (o &* n &+ start) &* inner
                            var i = 0
                            while i + 16 <= inner {
                                var blockMax = SIMD16<Float>.zero
                                var finite = true
                                for k in 0..<rows {
                                    let m = magnitudes(
                                        source.loadUnaligned(
                                            fromByteOffset: (first &+ k &* inner &+ i) &* 4, as: SIMD16<Float>.self))
                                    finite = finite && all(m .< .infinity)
                                    // A comparison and a select, which stay in vector registers
                                    // (pointwiseMax goes lane by lane).
                                    blockMax.replace(with: m, where: m .> blockMax)
                                }
                                guard finite else {
                                    for lane in 0..<16 {
                                        nvfp4Block(
                                            x, into: out, first: first &+ i &+ lane, count: rows, stride: inner,
                                            global: global, values: values)
                                    }
                                    i += 16
                                    continue
                                }
                                var scale = SIMD16<Float>.zero
                                for lane in 0..<16 {
                                    scale[lane] = nvfp4BlockScale(largest: blockMax[lane], global: global)
                                }
                                let empty = scale .<= 0
                                for k in 0..<rows {
                                    let offset = (first &+ k &* inner &+ i) &* 4
                                    let v = source.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
                                    var y = e2m1Rounded(v / scale) * scale
                                    y.replace(with: 0, where: empty)
                                    target.storeBytes(of: y, toByteOffset: offset, as: SIMD16<Float>.self)
                                }
                                i += 16
                            }
                            for position in i..<inner {
                                nvfp4Block(
                                    x, into: out, first: first &+ position, count: rows, stride: inner, global: global,
                                    values: values)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The E2M1 grid value nearest each lane of `q` (ties to even, saturating at 6), with
    /// q's sign: a code's magnitude is the sum of the grid's steps below it, each exact, as
    /// the code table gives it.
    @inline(__always)
    static func e2m1Rounded(_ q: SIMD16<Float>) -> SIMD16<Float> {
        let qBits = unsafeBitCast(q, to: SIMD16<UInt32>.self)
        let a = unsafeBitCast(qBits & 0x7fff_ffff, to: SIMD16<Float>.self)
        var m = SIMD16<Float>(repeating: 0)
        m.replace(with: m + 0.5, where: a .> 0.25)
        m.replace(with: m + 0.5, where: a .>= 0.75)
        m.replace(with: m + 0.5, where: a .> 1.25)
        m.replace(with: m + 0.5, where: a .>= 1.75)
        m.replace(with: m + 1, where: a .> 2.5)
        m.replace(with: m + 1, where: a .>= 3.5)
        m.replace(with: m + 2, where: a .> 5)
        return unsafeBitCast(unsafeBitCast(m, to: SIMD16<UInt32>.self) | (qBits & 0x8000_0000), to: SIMD16<Float>.self)
    }
}
