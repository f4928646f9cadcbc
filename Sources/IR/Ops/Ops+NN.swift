// Neural-network ops: convolutions and pooling (their rules are in ShapeRule+Window.swift),
// matrix products, normalizations and softmax.

private let autoPad = AttributeSchema.string("auto_pad", "NOTSET")
private let windowAttributes: [AttributeSchema] = [.ints("dilations"), .ints("kernel_shape"), .ints("pads"), .ints("strides")]

let neuralNetworkOps: [OpSchema] = [
    OpSchema("Conv", since: 11, inputs: 2...3, attributes: [autoPad, .int("group", 1)] + windowAttributes) { r in
        try r.convolution()
    },
    OpSchema(
        "ConvTranspose", since: 11, inputs: 2...3,
        attributes: [autoPad, .int("group", 1), .ints("output_padding"), .ints("output_shape")] + windowAttributes
    ) { r in
        try r.convTranspose()
    },
    OpSchema(
        "MaxPool", since: 12, inputs: 1...1, outputs: 1...2,
        attributes: [
            autoPad, .int("ceil_mode", 0), .ints("dilations"), .required(.ints, "kernel_shape"), .ints("pads"),
            .int("storage_order", 0), .ints("strides"),
        ]
    ) { r in try r.pooling() },
    OpSchema(
        "MaxUnpool", since: 11, inputs: 2...3,
        attributes: [.required(.ints, "kernel_shape"), .ints("pads"), .ints("strides")]
    ) { r in try r.maxUnpool() },
    // Losses over classes on axis 1 of [N, C, D...] against int targets [N, D...]: the
    // elementwise losses (reduction none) or their sum or weighted mean, a scalar.
    OpSchema(
        "NegativeLogLikelihoodLoss", since: 13, inputs: 2...3,
        attributes: [.int("ignore_index"), .string("reduction", "mean")]
    ) { r in try r.classLosses() },
    OpSchema(
        "SoftmaxCrossEntropyLoss", since: 13, inputs: 2...3, outputs: 1...2,
        attributes: [.int("ignore_index"), .string("reduction", "mean")]
    ) { r in try r.classLosses() },
    // X [N, C, H, W], rois [R, 4] and their images' indices [R] give [R, C, output_height,
    // output_width].
    OpSchema(
        "RoiAlign", since: 16, inputs: 3...3,
        attributes: [
            .string("coordinate_transformation_mode", "half_pixel"), .string("mode", "avg"), .int("output_height", 1),
            .int("output_width", 1), .int("sampling_ratio", 0), .float("spatial_scale", 1),
        ]
    ) { r in
        for a in ["output_height", "output_width"] where (r.int(a) ?? 1) < 1 {
            throw r.fail("\(a) is \(r.int(a)!), not positive")
        }
        guard (r.int("sampling_ratio") ?? 0) >= 0 else { throw r.fail("sampling_ratio is \(r.int("sampling_ratio")!), negative") }
        guard ["avg", "max"].contains(r.string("mode") ?? "avg") else {
            throw r.fail("mode \"\(r.string("mode")!)\" is not avg or max")
        }
        let transform = r.string("coordinate_transformation_mode") ?? "half_pixel"
        guard ["half_pixel", "output_half_pixel"].contains(transform) else {
            throw r.fail("coordinate_transformation_mode \"\(transform)\" is not half_pixel or output_half_pixel")
        }
        if let x = r.dims(0), x.count != 4 { throw r.fail("X has rank \(x.count), not 4 ([N, C, H, W])") }
        if let rois = r.dims(1), rois.count != 2 || (rois[1].value ?? 4) != 4 {
            throw r.fail("rois \(Shape(rois)) are not [rois, 4]")
        }
        if let indices = r.dims(2), indices.count != 1 { throw r.fail("batch_indices have rank \(indices.count), not 1") }
        if let n = r.dims(1)?.first?.value, let m = r.dims(2)?.first?.value, n != m {
            throw r.fail("\(n) rois but \(m) batch_indices")
        }
        let rois = r.dims(1)?.first ?? .unknown, channels = r.dims(0)?[1] ?? .unknown
        return r.like0([rois, channels, .known(r.int("output_height") ?? 1), .known(r.int("output_width") ?? 1)])
    },
    // Fast R-CNN's pooling (torchvision's roi_pool): X [N, C, H, W] and rois [R, 5] (batch
    // index, x1, y1, x2, y2) give [R, C, pooled_height, pooled_width].
    OpSchema(
        "MaxRoiPool", since: 1, inputs: 2...2,
        attributes: [.required(.ints, "pooled_shape"), .float("spatial_scale", 1)]
    ) { r in
        guard let pooled = r.ints("pooled_shape"), pooled.count == 2, pooled.allSatisfy({ $0 >= 1 }) else {
            throw r.fail("pooled_shape \(r.ints("pooled_shape") ?? []) is not two positive extents")
        }
        guard (r.float("spatial_scale") ?? 1) > 0 else {
            throw r.fail("spatial_scale \(r.float("spatial_scale")!) is not positive")
        }
        if let x = r.dims(0), x.count != 4 { throw r.fail("X has rank \(x.count), not 4 ([N, C, H, W])") }
        if let rois = r.dims(1), rois.count != 2 || (rois[1].value ?? 5) != 5 {
            throw r.fail("rois \(Shape(rois)) are not [rois, 5] (batch index, x1, y1, x2, y2)")
        }
        let rois = r.dims(1)?.first ?? .unknown, channels = r.dims(0)?[1] ?? .unknown
        return r.like0([rois, channels] + pooled.map(Dim.known))
    },
    OpSchema(
        "AveragePool", since: 19, inputs: 1...1,
        attributes: [
            autoPad, .int("ceil_mode", 0), .int("count_include_pad", 0), .ints("dilations"),
            .required(.ints, "kernel_shape"), .ints("pads"), .ints("strides"),
        ]
    ) { r in try r.pooling() },
    OpSchema("GlobalAveragePool", since: 1, inputs: 1...1) { r in try r.globalPooling() },
    OpSchema("GlobalMaxPool", since: 1, inputs: 1...1) { r in try r.globalPooling() },
    OpSchema(
        "BatchNormalization", since: 15, inputs: 5...5, outputs: 1...3,
        attributes: [.float("epsilon", 1e-5), .float("momentum", 0.9), .int("training_mode", 0)]
    ) { r in
        try r.perChannelParameters(1...4)
        return r.like0(r.dims(0)) + [r.type(3), r.type(4)]
    },
    OpSchema("InstanceNormalization", since: 6, inputs: 3...3, attributes: [.float("epsilon", 1e-5)]) { r in
        try r.perChannelParameters(1...2)
        return r.like0(r.dims(0))
    },
    OpSchema(
        "LayerNormalization", since: 17, inputs: 2...3, outputs: 1...3,
        attributes: [.int("axis", -1), .float("epsilon", 1e-5), .int("stash_type", 1)]
    ) { r in
        // Mean and InvStdDev keep the leading axes and reduce the normalized ones to 1.
        guard let x = r.dims(0) else { return r.like0(nil) }
        let a = try r.axis(r.int("axis") ?? -1, rank: x.count)
        let statistics = Array(x[..<a]) + Array(repeating: Dim.known(1), count: x.count - a)
        let stash = DType(rawValue: Int32(truncatingIfNeeded: r.int("stash_type") ?? 1)) ?? .float32
        return r.like0(x) + [TensorType(stash, Shape(statistics)), TensorType(stash, Shape(statistics))]
    },
    OpSchema(
        "LRN", since: 13, inputs: 1...1,
        attributes: [.float("alpha", 0.0001), .float("beta", 0.75), .float("bias", 1), .required(.int, "size")]
    ) { r in
        r.like0(r.dims(0))
    },
    OpSchema(
        "Gemm", since: 13, inputs: 2...3,
        attributes: [.float("alpha", 1), .float("beta", 1), .int("transA", 0), .int("transB", 0)]
    ) { r in try r.gemm() },
    OpSchema("MatMul", since: 13, inputs: 2...2) { r in try r.matMul() },
    OpSchema("Softmax", since: 13, inputs: 1...1, attributes: [.int("axis", -1)]) { r in try r.softmax() },
    OpSchema("LogSoftmax", since: 13, inputs: 1...1, attributes: [.int("axis", -1)]) { r in try r.softmax() },
]

extension ShapeRule {
    /// [N, C, 1, ...]: one value per image and channel.
    func globalPooling() throws -> [TensorType?] {
        guard let x = dims(0) else { return like0(nil) }
        guard x.count >= 2 else { throw fail("input \(Shape(x)) needs a batch and a channel axis") }
        return like0(Array(x.prefix(2)) + Array(repeating: .known(1), count: x.count - 2))
    }

    /// Checks that inputs `indices` (scale, bias, mean, variance) are 1-D with one value per
    /// channel of input 0.
    func perChannelParameters(_ indices: ClosedRange<Int>) throws {
        guard let x = dims(0) else { return }
        guard x.count >= 2 else { throw fail("input \(Shape(x)) needs a batch and a channel axis") }
        for i in indices {
            guard let p = dims(i) else { continue }
            guard p.count == 1 else { throw fail("input \(i) has shape \(Shape(p)), not [C]") }
            if let c = x[1].value, let n = p[0].value, c != n {
                throw fail("input \(i) has \(n) values but the input \(Shape(x)) has \(c) channels")
            }
        }
    }

    /// Gemm: op(A) [M, K] times op(B) [K, N], plus C broadcast to [M, N].
    func gemm() throws -> [TensorType?] {
        try requireSameType([0, 1, 2])
        guard let a = dims(0), let b = dims(1) else { return like0(nil) }
        guard a.count == 2, b.count == 2 else { throw fail("A \(Shape(a)) and B \(Shape(b)) must both be 2-D") }
        let transA = (int("transA") ?? 0) != 0, transB = (int("transB") ?? 0) != 0
        let (m, k1) = transA ? (a[1], a[0]) : (a[0], a[1])
        let (k2, n) = transB ? (b[1], b[0]) : (b[0], b[1])
        if let x = k1.value, let y = k2.value, x != y {
            throw fail(
                "inner dimensions \(x) and \(y) differ (A \(Shape(a)), B \(Shape(b)), transA \(transA ? 1 : 0), transB \(transB ? 1 : 0))"
            )
        }
        if let c = dims(2) {
            guard c.count <= 2, let out = (try? broadcast([[m, n], c])) ?? nil,
                zip(out, [m, n]).allSatisfy({ $0.value == nil || $1.value == nil || $0 == $1 })
            else {
                throw fail("C \(Shape(c)) does not broadcast to [\(m),\(n)]")
            }
        }
        return like0([m, n])
    }

    /// MatMul with numpy semantics: 1-D operands gain and lose an axis, batch axes broadcast.
    /// MatMulInteger's (`integer`) operands may be of two types, its output int32.
    func matMul(integer: Bool = false) throws -> [TensorType?] {
        if !integer { try requireSameType([0, 1]) }
        func like0(_ dims: [Dim]?) -> [TensorType?] { integer ? [TensorType(.int32, dims.map(Shape.init))] : self.like0(dims) }
        guard var a = dims(0), var b = dims(1) else { return like0(nil) }
        guard !a.isEmpty, !b.isEmpty else { throw fail("operands \(Shape(a)) and \(Shape(b)) must not be scalars") }
        let (shapeA, shapeB) = (Shape(a), Shape(b))
        let aVector = a.count == 1, bVector = b.count == 1
        if aVector { a.insert(.known(1), at: 0) }
        if bVector { b.append(.known(1)) }
        if let k1 = a[a.count - 1].value, let k2 = b[b.count - 2].value, k1 != k2 {
            throw fail("inner dimensions \(k1) and \(k2) differ (\(shapeA) times \(shapeB))")
        }
        guard var out = try broadcast([Array(a.dropLast(2)), Array(b.dropLast(2))]) else { return like0(nil) }
        if !aVector { out.append(a[a.count - 2]) }
        if !bVector { out.append(b[b.count - 1]) }
        return like0(out)
    }

    /// Softmax and LogSoftmax keep the shape; the axis must exist.
    func softmax() throws -> [TensorType?] {
        if let x = dims(0) { _ = try axis(int("axis") ?? -1, rank: x.count) }
        return like0(dims(0))
    }
}

extension ShapeRule {
    /// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss: input [N, C, D...] (at least
    /// rank 2), target [N, D...] of int32 or int64, weight [C]; the loss, and for the second
    /// its log-probabilities, shaped as its scores.
    func classLosses() throws -> [TensorType?] {
        let reduction = string("reduction") ?? "mean"
        guard ["none", "sum", "mean"].contains(reduction) else {
            throw fail("reduction \"\(reduction)\" is not none, sum or mean")
        }
        if let x = dims(0), x.count < 2 { throw fail("input has rank \(x.count): the classes are its axis 1") }
        if let t = type(1)?.dtype, t != .int64 && t != .int32 { throw fail("target is \(t.name), not i32 or i64") }
        if let x = dims(0), let t = dims(1) {
            let expected = [x[0]] + Array(x.dropFirst(2))
            guard t.count == expected.count, zip(t, expected).allSatisfy({ $0.value == nil || $1.value == nil || $0 == $1 })
            else { throw fail("target \(Shape(t)) is not \(Shape(expected)) for input \(Shape(x))") }
        }
        if let x = dims(0), let w = dims(2), w.count != 1 || (w[0].value != nil && x[1].value != nil && w[0] != x[1]) {
            throw fail("weight \(Shape(w)) is not one value per class of input \(Shape(x))")
        }
        let loss = result(dtype, reduction == "none" ? dims(1) : [])
        return node.outputs.count > 1 ? [loss, result(dtype, dims(0))] : [loss]
    }
}
