// Sliding-window shape rules: Conv, ConvTranspose, MaxPool and AveragePool, with pads,
// strides, dilations, ceil_mode and auto_pad. Spatial extents follow the ONNX formulas;
// a symbolic extent survives only a window that maps every position to itself.

extension ShapeRule {
    /// Conv: X [N, C, D1...] and W [M, C/group, k1...] give [N, M, O1...]; ConvInteger's
    /// (`integer`) operands may be of two types, its input 2 a zero point, its output int32.
    func convolution(integer: Bool = false) throws -> [TensorType?] {
        if !integer { try requireSameType([0, 1, 2]) }
        func like0(_ dims: [Dim]?) -> [TensorType?] { integer ? [TensorType(.int32, dims.map(Shape.init))] : self.like0(dims) }
        guard let x = dims(0) else { return like0(nil) }
        guard x.count >= 3 else { throw fail("input \(Shape(x)) needs a batch, a channel and a spatial axis") }
        let group = int("group") ?? 1
        guard group >= 1 else { throw fail("group \(group) is not positive") }
        var channels = Dim.unknown
        var kernel = ints("kernel_shape")?.map(Dim.known) ?? Array(repeating: .unknown, count: x.count - 2)
        if let w = dims(1) {
            guard w.count == x.count else {
                throw fail("weight \(Shape(w)) has rank \(w.count) but the input \(Shape(x)) has rank \(x.count)")
            }
            if let c = x[1].value, let wc = w[1].value, case let expected = try elementCount([wc, group]), c != expected {
                throw fail(
                    "input has \(c) channels but the weight expects \(expected) (group \(group)): "
                        + "input \(Shape(x)), weight \(Shape(w))")
            }
            if let m = w[0].value, m % group != 0 {
                throw fail("weight has \(m) output channels, which group \(group) does not divide")
            }
            channels = w[0]
            kernel = try kernelFromWeight(Array(w[2...]), declared: kernel)
        }
        if !integer, let b = dims(2) {
            guard b.count == 1 else { throw fail("bias \(Shape(b)) is not 1-D") }
            if let m = channels.value, let n = b[0].value, m != n {
                throw fail("bias has \(n) elements but the weight has \(m) output channels")
            }
        }
        return like0([x[0], channels] + (try windowExtents(x, kernel: kernel)))
    }

    /// MaxPool and AveragePool: [N, C, O1...]; MaxPool's optional Indices output is int64
    /// of the same shape.
    func pooling() throws -> [TensorType?] {
        guard let kernel = ints("kernel_shape") else { throw fail("\(node.op) requires attribute \"kernel_shape\"") }
        guard let x = dims(0) else { return like0(nil) + [TensorType(.int64, nil)] }
        guard x.count == kernel.count + 2 else {
            throw fail(
                "kernel_shape \(kernel) has \(kernel.count) axes but the input \(Shape(x)) has \(x.count - 2) spatial axes")
        }
        let out = [x[0], x[1]] + (try windowExtents(x, kernel: kernel.map(Dim.known)))
        return like0(out) + [TensorType(.int64, Shape(out))]
    }

    /// MaxUnpool: X [N, C, D1...] and its Indices (the same shape) give `output_shape` when
    /// given, else [N, C, O1...] with O = (D - 1) stride + kernel - pads.
    func maxUnpool() throws -> [TensorType?] {
        guard let kernel = ints("kernel_shape") else { throw fail("MaxUnpool requires attribute \"kernel_shape\"") }
        if let x = dims(0), let i = dims(1), x.count == i.count {
            for (a, b) in zip(x, i) where a.value != nil && b.value != nil && a.value != b.value {
                throw fail("Indices \(Shape(i)) do not have the input's shape \(Shape(x))")
            }
        }
        if isPresent(2) {
            if let shape = shapeValue(2) { return like0(shape) }
            return like0(length(2).map { Array(repeating: Dim.unknown, count: $0) })
        }
        guard let x = dims(0) else { return like0(nil) }
        let r = kernel.count
        guard x.count == r + 2 else {
            throw fail("kernel_shape \(kernel) has \(r) axes but the input \(Shape(x)) has \(x.count - 2) spatial axes")
        }
        let strides = try spatial("strides", r, 1), pads = try spatial("pads", 2 * r, 0)
        var out = [x[0], x[1]]
        for d in 0..<r {
            guard let n = x[d + 2].value else { out.append(.unknown); continue }
            let o = (n - 1) * strides[d] + kernel[d] - pads[d] - pads[d + r]
            guard o >= 0 else { throw fail("the output's spatial axis \(d) would have \(o) elements") }
            out.append(.known(o))
        }
        return like0(out)
    }

    /// ConvTranspose: X [N, C, D1...] and W [C, M/group, k1...] give [N, M, O1...] with
    /// O = stride (D - 1) + output_padding + (k - 1) dilation + 1 - pads, or `output_shape`,
    /// or D * stride under auto_pad SAME_*.
    func convTranspose() throws -> [TensorType?] {
        try requireSameType([0, 1, 2])
        guard let x = dims(0) else { return like0(nil) }
        guard x.count >= 3 else { throw fail("input \(Shape(x)) needs a batch, a channel and a spatial axis") }
        let r = x.count - 2, group = int("group") ?? 1
        guard group >= 1 else { throw fail("group \(group) is not positive") }
        var channels = Dim.unknown
        var kernel = ints("kernel_shape")?.map(Dim.known) ?? Array(repeating: .unknown, count: r)
        if let w = dims(1) {
            guard w.count == x.count else {
                throw fail("weight \(Shape(w)) has rank \(w.count) but the input \(Shape(x)) has rank \(x.count)")
            }
            if let c = x[1].value, let wc = w[0].value, c != wc {
                throw fail("input has \(c) channels but the weight expects \(wc): input \(Shape(x)), weight \(Shape(w))")
            }
            channels = try w[1].value.map { .known(try elementCount([$0, group])) } ?? (group == 1 ? w[1] : .unknown)
            kernel = try kernelFromWeight(Array(w[2...]), declared: kernel)
        }
        guard kernel.count == r else { throw fail("kernel_shape has \(kernel.count) axes for \(r) spatial axes") }
        if let shape = ints("output_shape") {
            guard shape.count >= r else { throw fail("output_shape \(shape) has fewer than \(r) spatial extents") }
            return like0([x[0], channels] + shape.suffix(r).map(Dim.known))
        }
        let strides = try spatial("strides", r, 1), dilations = try spatial("dilations", r, 1)
        let pads = try spatial("pads", 2 * r, 0), outputPadding = try spatial("output_padding", r, 0)
        let autoPad = try autoPadMode()
        var out: [Dim] = [x[0], channels]
        if !autoPad.isSame, let problem = ShapeInference.outputPaddingProblem(outputPadding, strides: strides) {
            throw fail(problem)
        }
        for d in 0..<r {
            guard let n = x[d + 2].value else {
                out.append(autoPad.isSame && strides[d] == 1 ? x[d + 2] : .unknown)
                continue
            }
            if autoPad.isSame { out.append(.known(try elementCount([n, strides[d]]))); continue }
            guard let k = kernel[d].value else { out.append(.unknown); continue }
            guard k >= 1 else { throw fail("kernel extent \(k) at spatial axis \(d) is not positive") }
            let padding = autoPad == .valid ? 0 : try sum([pads[d], pads[d + r]])
            let o = try sum([
                elementCount([strides[d], n - 1]), outputPadding[d], elementCount([k - 1, dilations[d]]), 1, -padding,
            ])
            guard o > 0 else { throw fail("output extent \(o) at spatial axis \(d) is not positive") }
            out.append(.known(o))
        }
        return like0(out)
    }

    /// The output extents of a window sliding over `x`'s spatial axes (Conv, pooling).
    func windowExtents(_ x: [Dim], kernel: [Dim]) throws -> [Dim] {
        let r = x.count - 2
        guard kernel.count == r else {
            throw fail("the kernel has \(kernel.count) axes but the input \(Shape(x)) has \(r) spatial axes")
        }
        let strides = try spatial("strides", r, 1), dilations = try spatial("dilations", r, 1)
        let pads = try spatial("pads", 2 * r, 0)
        let autoPad = try autoPadMode(), ceilMode = (int("ceil_mode") ?? 0) != 0
        var out: [Dim] = []
        for d in 0..<r {
            let s = strides[d], begin = pads[d], end = pads[d + r]
            guard let k = kernel[d].value else { out.append(.unknown); continue }
            guard k >= 1 else { throw fail("kernel extent \(k) at spatial axis \(d) is not positive") }
            let extent = try sum([elementCount([k - 1, dilations[d]]), 1])
            guard let n = x[d + 2].value else {
                let identity = autoPad.isSame ? s == 1 : s == 1 && extent == 1 && (autoPad == .valid || begin + end == 0)
                out.append(identity ? x[d + 2] : .unknown)
                continue
            }
            var o: Int
            switch autoPad {
            case .sameUpper, .sameLower: o = ceilingDivide(n, s)
            case .valid: o = n >= extent ? (n - extent) / s + 1 : 0
            case .notSet:
                let span = try sum([n, begin, end, -extent])
                // With ceil_mode, a window reaching past the input still counts while it
                // starts inside it: ceil(span / s) + 1, also for a negative span.
                if span < 0 {
                    o = ceilMode ? 1 - (-span) / s : 0
                } else {
                    o = (ceilMode ? ceilingDivide(span, s) : span / s) + 1
                }
                // With ceil_mode, no window may start inside the end padding.
                if ceilMode && o > 0 {
                    let (start, overflow) = (o - 1).multipliedReportingOverflow(by: s)
                    let firstEndPad = try sum([n, begin])
                    if overflow || start >= firstEndPad { o -= 1 }
                }
            }
            guard o > 0 else {
                throw fail("input extent \(n) at spatial axis \(d) is smaller than the window \(extent) (input \(Shape(x)))")
            }
            out.append(.known(o))
        }
        return out
    }

    /// The kernel extents from the weight's spatial dims, checked against `kernel_shape`.
    func kernelFromWeight(_ w: [Dim], declared: [Dim]) throws -> [Dim] {
        guard declared.count == w.count else {
            throw fail("kernel_shape has \(declared.count) axes but the weight has \(w.count) spatial axes")
        }
        return try zip(w, declared).map { weight, attribute in
            if let a = weight.value, let b = attribute.value, a != b {
                throw fail("kernel_shape \(Shape(declared)) disagrees with the weight's spatial dims \(Shape(w))")
            }
            return weight.value == nil ? attribute : weight
        }
    }

    /// A per-axis attribute (`strides`, `pads`, ...) of `count` values, `fill` when absent.
    func spatial(_ name: String, _ count: Int, _ fill: Int) throws -> [Int] {
        guard let v = ints(name) else { return Array(repeating: fill, count: count) }
        guard v.count == count else { throw fail("\(name) has \(v.count) values, not \(count)") }
        let minimum = fill == 0 ? 0 : 1
        if let bad = v.first(where: { $0 < minimum }) {
            throw fail("\(name) \(v) holds \(bad); \(name) must be at least \(minimum)")
        }
        return v
    }

    func autoPadMode() throws -> AutoPad {
        let text = string("auto_pad") ?? "NOTSET"
        guard let mode = AutoPad(rawValue: text) else {
            throw fail("auto_pad \"\(text)\" is not NOTSET, SAME_UPPER, SAME_LOWER or VALID")
        }
        return mode
    }
}

/// ceil(a / b) for a >= 0 and b > 0, without overflow.
func ceilingDivide(_ a: Int, _ b: Int) -> Int { a / b + (a % b == 0 ? 0 : 1) }

/// How a window op pads: explicitly (`pads`), or so the output is ceil(D / stride) (SAME),
/// or not at all (VALID).
enum AutoPad: String {
    case notSet = "NOTSET", sameUpper = "SAME_UPPER", sameLower = "SAME_LOWER", valid = "VALID"

    var isSame: Bool { self == .sameUpper || self == .sameLower }
}

extension ShapeInference {
    /// Why a ConvTranspose's `output_padding` is refused, or nil: one not in 0 ..< its
    /// axis's stride. ONNX's reference and onnxruntime refuse it too: the input would not be
    /// the convolution's of the output computed.
    public static func outputPaddingProblem(_ outputPadding: [Int], strides: [Int]) -> String? {
        for (d, (padding, stride)) in zip(outputPadding, strides).enumerated() where !(0..<max(1, stride)).contains(padding) {
            return "output_padding \(padding) at spatial axis \(d) is not in 0 ..< the stride \(stride)"
        }
        return nil
    }
}
