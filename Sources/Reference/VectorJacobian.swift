// Reverse-mode derivatives of single nodes: from the cotangents of a node's outputs (how a
// scalar function of the model's output changes with each output element) to those of its
// inputs, given the forward run's values. Rounding attributes (npucc.activation_format) are
// passed through as the identity. Ops without a rule return nil.
import Foundation
import IR

public enum VectorJacobian {
    /// The cotangents of `node`'s inputs where `needed` asks (float inputs that are not
    /// constants), from the forward `inputs` and `outputs` and the outputs' `cotangents`
    /// (nil: zero). nil when the op has no rule.
    public static func inputCotangents(
        _ node: Node, inputs: [Tensor?], outputs: [Tensor], cotangents: [Tensor?], needed: [Bool]
    ) throws -> [Tensor?]? {
        guard let y = outputs.first else { return nil }
        var g = cotangents.first.flatMap { $0 } ?? Tensor(zeros: .float32, shape: y.shape)
        if let activation = node.string(FusedActivationAttributes.activation) {
            g = try fusedActivation(node, activation, output: y, g)
        }
        func need(_ i: Int) -> Bool { i < needed.count && needed[i] }
        func input(_ i: Int) throws -> Tensor { try operand(node, inputs, i).cast(to: .float32) }
        switch node.op {
        case "Conv":
            return [need(0) ? try convolutionInput(node, input(0), input(1), g) : nil]
        case "ConvTranspose":
            return [need(0) ? try convTransposeInput(node, input(0), input(1), g) : nil]
        case "Gemm":
            return try gemm(node, input(0), input(1), optionalOperand(inputs, 2), g, need)
        case "MatMul":
            return try matMul(node, input(0), input(1), g, need)
        case "Add", "Sub", "Mul", "Div", "Pow":
            return try arithmetic(node, input(0), input(1), y, g, need)
        case "Sum", "Mean":
            let scale = node.op == "Mean" ? 1 / Float(inputs.count) : 1
            return try inputs.indices.map { need($0) ? unbroadcast(try scaled(g, scale), to: try input($0).shape) : nil }
        case "Clip":
            let lo = optionalOperand(inputs, 1).map { Float($0.double(at: 0)) } ?? -.infinity
            let hi = optionalOperand(inputs, 2).map { Float($0.double(at: 0)) } ?? .infinity
            return [try elementwise(input(0), g) { x, _ in x >= lo && x <= hi ? 1 : 0 }]
        case "Max", "Min":
            return try extremumInputs(node, try inputs.indices.map { try input($0) }, y.cast(to: .float32), g, need)
        case "MaxPool", "AveragePool":
            return [try poolInput(node, input(0), g, max: node.op == "MaxPool")]
        case "GlobalAveragePool", "GlobalMaxPool":
            return [try globalPoolInput(input(0), y, g, max: node.op == "GlobalMaxPool")]
        case "BatchNormalization":
            let p = try (1...4).map { try input($0).floats() }
            let epsilon = node.float("epsilon", default: 1e-5)
            let scale = (0..<p[0].count).map { p[0][$0] / (p[3][$0] + epsilon).squareRoot() }
            return [affinePerChannel(g, scale: scale, shift: [Float](repeating: 0, count: scale.count))]
        case "LayerNormalization":
            return [try layerNormInput(node, input(0), input(1), g)]
        case "InstanceNormalization":
            return [try instanceNormInput(node, input(0), input(1), g)]
        case "Softmax", "LogSoftmax":
            return [try softmaxInput(node, y, g, log: node.op == "LogSoftmax")]
        case "ReduceMean", "ReduceSum":
            return [try reductionInput(node, input(0), optionalOperand(inputs, 1), g)]
        case "Relu":
            // `derivative`'s rule, written here so that its mask is inlined into the loop.
            return [try elementwise(input(0), g) { x, _ in x > 0 ? 1 : 0 }]
        case "PRelu":
            // x ≥ 0 passes the cotangent; below, the slope (broadcast to x) scales it.
            let x = try input(0)
            return [try elementwise(x, g, and: try expandTo(try input(1), x.shape, node)) { x, slope in x < 0 ? slope : 1 }]
        case "Resize":
            return [need(0) ? try resizeInput(node, inputs, g) : nil]
        case "Cast":
            guard try operand(node, inputs, 0).dtype.isFloatingPoint else { return nil }
            return [g]
        case "TopK":
            // The indices' value is needed (absent from `outputs`, the values stand in for it).
            guard outputs.count > 1, outputs[1].dtype == .int64 else { return nil }
            return [need(0) ? try topKInput(node, input(0), chosen: outputs[1], g) : nil, nil]
        default:
            if let data = Self.movedInputs(node, inputCount: inputs.count) {
                if let direct = try movedDirectly(node, inputs, g, others: cotangents.dropFirst()) { return direct }
                return try moved(node, inputs, data: data, outputs: outputs, cotangents: [g] + cotangents.dropFirst())
            }
            guard UnaryOp.allNames.contains(node.op), let d = derivative(node) else { return nil }
            return [try elementwise(input(0), g, and: y, d)]
        }
    }

    /// The cotangent through a fused activation, from the activation's output.
    private static func fusedActivation(_ node: Node, _ activation: String, output y: Tensor, _ g: Tensor) throws -> Tensor {
        switch activation {
        case "Relu": return try elementwise(y, g) { v, _ in v > 0 ? 1 : 0 }
        case "LeakyRelu":
            let alpha = node.float(FusedActivationAttributes.alpha, default: 0.01)
            return try elementwise(y, g) { v, _ in v < 0 ? alpha : 1 }
        case "Clip":
            let lo = node.float(FusedActivationAttributes.minimum, default: -.infinity)
            let hi = node.float(FusedActivationAttributes.maximum, default: .infinity)
            return try elementwise(y, g) { v, _ in v > lo && v < hi ? 1 : 0 }
        default: throw IRError("unknown fused activation \"\(activation)\"", at: node)
        }
    }

    /// d output / d input of a unary op, from the input x and output y.
    private static func derivative(_ node: Node) -> ((Float, Float) -> Float)? {
        switch node.op {
        case "Relu": return { x, _ in x > 0 ? 1 : 0 }
        case "LeakyRelu":
            let a = node.float("alpha", default: 0.01)
            return { x, _ in x >= 0 ? 1 : a }
        case "Sigmoid": return { _, y in y * (1 - y) }
        case "Tanh": return { _, y in 1 - y * y }
        case "Exp": return { _, y in y }
        case "Log": return { x, _ in 1 / x }
        case "Sqrt": return { _, y in 0.5 / y }
        case "Reciprocal": return { _, y in -y * y }
        case "Neg": return { _, _ in -1 }
        case "Abs": return { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) }
        case "Floor", "Ceil", "Round", "Sign": return { _, _ in 0 }
        case "Sin": return { x, _ in Foundation.cos(x) }
        case "Cos": return { x, _ in -Foundation.sin(x) }
        case "Erf": return { x, _ in 2 / Float.pi.squareRoot() * Foundation.exp(-x * x) }
        case "Softplus": return { x, _ in 1 / (1 + Foundation.exp(-x)) }
        case "Softsign": return { x, _ in 1 / ((1 + abs(x)) * (1 + abs(x))) }
        case "Elu":
            let a = node.float("alpha", default: 1)
            return { x, y in x > 0 ? 1 : y + a }
        case "Selu":
            let a = node.float("alpha", default: 1.67326319217681884765625)
            let s = node.float("gamma", default: 1.05070102214813232421875)
            return { x, y in x > 0 ? s : y + s * a }
        case "HardSigmoid":
            let a = node.float("alpha", default: 0.2), b = node.float("beta", default: 0.5)
            return { x, _ in a * x + b > 0 && a * x + b < 1 ? a : 0 }
        case "HardSwish": return { x, _ in x < -3 ? 0 : (x > 3 ? 1 : (2 * x + 3) / 6) }
        case "Gelu":
            if node.string("approximate", default: "none") == "tanh" {
                let c = (2 / Float.pi).squareRoot()
                return { x, _ in
                    let cube: Float = 0.044715 * x * x * x
                    let t: Float = Foundation.tanh(c * (x + cube))
                    let slope: Float = c * (1 + 3 * 0.044715 * x * x)
                    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * slope
                }
            }
            let root2 = Float(2).squareRoot(), root2pi: Float = (2 * Float.pi).squareRoot()
            return { x, _ in
                let cumulative: Float = 0.5 * (1 + Foundation.erf(x / root2))
                let density: Float = Foundation.exp(-x * x / 2) / root2pi
                return cumulative + x * density
            }
        default: return nil
        }
    }

    /// g · f(x, y) element by element, y a second tensor of x's shape (the op's output, a
    /// PRelu's slopes; x itself by default). Inlined, so that each rule's `f` is inlined into
    /// the loop (a Relu's mask then runs on vectors) instead of called per element.
    @inline(__always)
    private static func elementwise(
        _ x: Tensor, _ g: Tensor, and y: Tensor? = nil, _ f: (Float, Float) -> Float
    ) throws -> Tensor {
        guard x.count == g.count else { throw IRError("a cotangent of \(g.shape) for a value of \(x.shape)") }
        let y = y?.cast(to: .float32) ?? x
        let xp = x.f32, yp = y.f32, gp = g.f32
        return makeFloat(x.shape) { d in
            parallelChunks(x.count, cost: 4) { r in for i in r { d[i] = gp[i] * f(xp[i], yp[i]) } }
        }
    }

    private static func scaled(_ g: Tensor, _ s: Float) throws -> Tensor {
        s == 1 ? g : try elementwise(g, g) { _, _ in s }
    }

    // MARK: matrix ops

    /// Conv's input cotangent: Wᵀ·g per image and group, scattered back over the windows.
    /// A depthwise convolution's (a channel per group, a window larger than one) takes the
    /// products into the windows' sums at once (`depthwiseInput`) unless `byColumns`.
    static func convolutionInput(_ node: Node, _ x: Tensor, _ w: Tensor, _ g: Tensor, byColumns: Bool = false) throws
        -> Tensor
    {
        let group = node.int("group", default: 1)
        let n = x.shape[0], c = x.shape[1], m = w.shape[0]
        let kernel = Array(w.shape[2...])
        let geometry = try WindowGeometry(node: node, input: Array(x.shape[2...]), kernel: kernel)
        let cg = c / group, mg = m / group
        let kSize = kernel.reduce(1, *), inPlane = geometry.input.reduce(1, *), outPlane = geometry.output.reduce(1, *)
        let rows = cg * kSize
        let direct = geometry.isPointwise
        let out = Tensor(zeros: .float32, shape: x.shape)
        if cg == 1 && mg == 1 && !direct && !byColumns {
            depthwiseInput(w.f32, g.f32, images: n, channels: c, geometry, into: out.f32)
            return out
        }
        var columns = direct ? [] : [Float](repeating: 0, count: rows * outPlane)
        let gp = g.f32, wp = w.f32, op = out.f32
        for image in 0..<n {
            for gi in 0..<group {
                let cotangent = gp + (image * m + gi * mg) * outPlane
                let weights = wp + gi * mg * rows
                let dst = op + (image * c + gi * cg) * inPlane
                if direct {
                    sgemm(
                        transA: true, m: rows, n: outPlane, k: mg, a: weights, lda: rows, b: cotangent, ldb: outPlane,
                        c: dst, ldc: inPlane)
                } else {
                    columns.withUnsafeMutableBufferPointer { col in
                        sgemm(
                            transA: true, m: rows, n: outPlane, k: mg, a: weights, lda: rows, b: cotangent,
                            ldb: outPlane, c: col.baseAddress!, ldc: outPlane)
                        col2im(col.baseAddress!, channels: cg, geometry, into: dst)
                    }
                }
            }
        }
        return out
    }

    /// A depthwise convolution's input cotangent: per channel, each kernel offset's weight
    /// times the output cotangent added into the window positions it read, offset by offset
    /// as `col2im` adds the columns the products would fill, to the same sums. (A product
    /// the columns would hold as +0 may be −0 here; a sum that starts from +0 never becomes
    /// −0, so adding either gives the same.)
    private static func depthwiseInput(
        _ w: UnsafePointer<Float>, _ g: UnsafePointer<Float>, images: Int, channels: Int, _ geometry: WindowGeometry,
        into dst: UnsafeMutablePointer<Float>
    ) {
        let lines = WindowLines(geometry)
        let (kSize, outPlane, inPlane, outLast) = (lines.kSize, lines.outPlane, lines.inPlane, lines.outLast)
        parallelChunks(images * channels, cost: kSize * outPlane) { planes in
            for p in planes {
                let plane = dst + p * inPlane, cotangent = g + p * outPlane, weights = w + (p % channels) * kSize
                for k in 0..<kSize {
                    let weight = weights[k]
                    lines.forEach(kernelOffset: k) { outer, line, first, step in
                        guard let line else { return }
                        let target = plane + line, src = cotangent + outer * outLast
                        for j in lines.inside(first: first, step: step) { target[j * step + first] += weight * src[j] }
                    }
                }
            }
        }
    }

    /// ConvTranspose's input cotangent: the convolution of g with the same weights.
    private static func convTransposeInput(_ node: Node, _ x: Tensor, _ w: Tensor, _ g: Tensor) throws -> Tensor {
        let geometry = try ConvTransposeGeometry(node: node, input: Array(x.shape[2...]), kernel: Array(w.shape[2...]))
        var conv = Node(op: "Conv", name: node.name, inputs: ["g", "w"], outputs: ["x"])
        conv.attributes = [
            "strides": .ints(geometry.strides), "dilations": .ints(geometry.dilations),
            "pads": .ints(geometry.padBegin + geometry.padEnd), "group": .int(node.int("group", default: 1)),
        ]
        return try convolution(conv, [g, w])
    }

    private static func gemm(
        _ node: Node, _ a: Tensor, _ b: Tensor, _ c: Tensor?, _ g: Tensor, _ need: (Int) -> Bool
    ) throws -> [Tensor?] {
        let transA = node.int("transA", default: 0), transB = node.int("transB", default: 0)
        let alpha = node.float("alpha", default: 1), beta = node.float("beta", default: 1)
        func product(_ x: Tensor, _ y: Tensor, _ tx: Int, _ ty: Int) throws -> Tensor {
            var n = Node(op: "Gemm", name: node.name, inputs: ["x", "y"], outputs: ["z"])
            n.attributes = ["transA": .int(tx), "transB": .int(ty), "alpha": .float(alpha)]
            return try Reference.gemm(n, [x, y])
        }
        // op(A)·op(B) = Y: dA' = g·op(B)ᵀ, dB' = op(A)ᵀ·g, transposed back where A or B were.
        let da = need(0) ? (transA == 0 ? try product(g, b, 0, 1 - transB) : try product(b, g, transB, 1)) : nil
        let db = need(1) ? (transB == 0 ? try product(a, g, 1 - transA, 0) : try product(g, a, 1, transA)) : nil
        let dc = need(2) && c != nil ? unbroadcast(try scaled(g, beta), to: c!.shape) : nil
        return [da, db, dc]
    }

    private static func matMul(_ node: Node, _ a: Tensor, _ b: Tensor, _ g: Tensor, _ need: (Int) -> Bool) throws
        -> [Tensor?]
    {
        // Operands of rank 1 as the kernel reads them: [1, K] and [K, 1].
        let a2 = a.rank == 1 ? a.reshaped([1, a.count]) : a, b2 = b.rank == 1 ? b.reshaped([b.count, 1]) : b
        let batch = broadcastShape([Array(a2.shape.dropLast(2)), Array(b2.shape.dropLast(2))]) ?? []
        let gShape = batch + [a2.shape[a2.rank - 2], b2.shape[b2.rank - 1]]
        let g2 = g.reshaped(gShape)
        // Each product reads the other operand transposed in place.
        let plain = Node(op: "MatMul", name: node.name, inputs: ["x", "y"], outputs: ["z"])
        let da =
            need(0) ? unbroadcast(try batchedProduct(g2, b2, transposeB: true, node: plain), to: a2.shape).reshaped(a.shape) : nil
        let db =
            need(1) ? unbroadcast(try batchedProduct(a2, g2, transposeA: true, node: plain), to: b2.shape).reshaped(b.shape) : nil
        return [da, db]
    }

    // MARK: elementwise arithmetic

    private static func arithmetic(
        _ node: Node, _ a: Tensor, _ b: Tensor, _ y: Tensor, _ g: Tensor, _ need: (Int) -> Bool
    ) throws -> [Tensor?] {
        func op(_ name: String, _ x: Tensor, _ z: Tensor) throws -> Tensor { try binary(name, x, z, node) }
        var da: Tensor?, db: Tensor?
        switch node.op {
        case "Add":
            da = need(0) ? g : nil
            db = need(1) ? g : nil
        case "Sub":
            da = need(0) ? g : nil
            db = need(1) ? try scaled(g, -1) : nil
        case "Mul":
            da = need(0) ? try op("Mul", g, b) : nil
            db = need(1) ? try op("Mul", g, a) : nil
        case "Div":
            da = need(0) ? try op("Div", g, b) : nil
            db = need(1) ? try scaled(try op("Div", try op("Mul", g, y.cast(to: .float32)), b), -1) : nil
        default:  // Pow: d/da = b·a^(b−1), d/db = y·ln a
            if need(0) {
                let lowered = try op("Pow", a, try op("Sub", b, Tensor(scalar: Float(1))))
                da = try op("Mul", g, try op("Mul", b, lowered))
            }
            if need(1) {
                let logA = try unary(Node(op: "Log", name: node.name, inputs: ["a"], outputs: ["log"]), [a])
                db = try op("Mul", g, try op("Mul", y.cast(to: .float32), logA))
            }
        }
        return [da.map { unbroadcast($0, to: a.shape) }, db.map { unbroadcast($0, to: b.shape) }]
    }

    /// Max and Min pass each output element's cotangent to the first input (broadcast)
    /// holding the value chosen, NaN for NaN: a subgradient where inputs tie.
    private static func extremumInputs(
        _ node: Node, _ xs: [Tensor], _ y: Tensor, _ g: Tensor, _ need: (Int) -> Bool
    ) throws -> [Tensor?] {
        let yp = y.f32, count = y.count
        var owner = [Int](repeating: -1, count: count)
        for (k, x) in xs.enumerated() {
            let expanded = try expandTo(x, y.shape, node)
            let xp = expanded.f32
            for j in 0..<count where owner[j] < 0 && (xp[j] == yp[j] || (xp[j].isNaN && yp[j].isNaN)) { owner[j] = k }
        }
        let gp = g.f32
        return xs.indices.map { k in
            guard need(k) else { return nil }
            let d = Tensor(zeros: .float32, shape: y.shape)
            let dp = d.f32
            for j in 0..<count where owner[j] == k { dp[j] = gp[j] }
            return unbroadcast(d, to: xs[k].shape)
        }
    }

    // MARK: pooling, normalization, reductions

    private static func poolInput(_ node: Node, _ x: Tensor, _ g: Tensor, max isMax: Bool) throws -> Tensor {
        guard let kernel = node.ints("kernel_shape") else { throw IRError("kernel_shape is required", at: node) }
        let geometry = try WindowGeometry(
            node: node, input: Array(x.shape[2...]), kernel: kernel, ceilMode: node.int("ceil_mode", default: 0) != 0)
        let includePad = node.int("count_include_pad", default: 0) != 0
        let windows = PoolWindows(geometry)
        let result = Tensor(zeros: .float32, shape: x.shape)
        let xp = x.f32, gp = g.f32, rp = result.f32
        parallelChunks(x.shape[0] * x.shape[1], cost: windows.outPlane * windows.kernelSize) { range in
            for plane in range {
                let src = xp + plane * windows.inPlane, dst = rp + plane * windows.inPlane
                let cot = gp + plane * windows.outPlane
                windows.forEach { o, window in
                    if isMax {
                        // The forward pass's maximum: the first largest, or the first NaN.
                        var best = -Float.infinity, at = -1
                        window.forEachPosition { i in
                            if src[i] > best || (at < 0 && src[i].isNaN) {
                                best = src[i]
                                at = i
                            }
                        }
                        if at >= 0 { dst[at] += cot[o] }
                    } else if window.count > 0 {
                        let share = cot[o] / Float(includePad ? window.padded : window.count)
                        window.forEachPosition { i in dst[i] += share }
                    }
                }
            }
        }
        return result
    }

    private static func globalPoolInput(_ x: Tensor, _ y: Tensor, _ g: Tensor, max isMax: Bool) throws -> Tensor {
        let planes = x.shape[0] * x.shape[1], size = x.count / Swift.max(planes, 1)
        let xp = x.f32, yp = y.f32, gp = g.f32
        return makeFloat(x.shape) { d in
            for p in 0..<planes {
                if isMax {
                    if let i = (0..<size).first(where: { xp[p * size + $0] == yp[p] || xp[p * size + $0].isNaN }) {
                        d[p * size + i] = gp[p]
                    }
                } else {
                    for i in 0..<size { d[p * size + i] = gp[p] / Float(size) }
                }
            }
        }
    }

    /// dx = (ĝ − mean ĝ − x̂·mean(ĝ·x̂)) / σ per row, ĝ = g·scale.
    private static func layerNormInput(_ node: Node, _ x: Tensor, _ scale: Tensor, _ g: Tensor) throws -> Tensor {
        let axis = try normalizedAxis(node.int("axis", default: -1), rank: x.rank, node)
        let epsilon = Double(node.float("epsilon", default: 1e-5))
        let rows = x.shape[..<axis].reduce(1, *), size = x.shape[axis...].reduce(1, *)
        let sp = try expandTo(scale, Array(x.shape[axis...]), node).floats()
        let xp = x.f32, gp = g.f32
        return makeFloat(x.shape) { d in
            parallelChunks(rows, cost: size * 4) { range in
                for r in range {
                    normalizedRowInput(xp + r * size, gp + r * size, d + r * size, size: size, epsilon: epsilon) {
                        Double(sp[$0])
                    }
                }
            }
        }
    }

    /// InstanceNormalization: layer normalization's rule over each plane (n, c) of [N, C, ...],
    /// ĝ = g·scale[c].
    private static func instanceNormInput(_ node: Node, _ x: Tensor, _ scale: Tensor, _ g: Tensor) throws -> Tensor {
        guard x.rank >= 3, scale.count == x.shape[1] else {
            throw IRError("scale must have one value per channel of \(x.shape)", at: node)
        }
        let epsilon = Double(node.float("epsilon", default: 1e-5))
        let c = x.shape[1], planes = x.shape[0] * c, size = x.count / max(planes, 1)
        let sp = scale.floats(), xp = x.f32, gp = g.f32
        return makeFloat(x.shape) { d in
            parallelChunks(planes, cost: size * 4) { range in
                for p in range {
                    let s = Double(sp[p % c])
                    normalizedRowInput(xp + p * size, gp + p * size, d + p * size, size: size, epsilon: epsilon) { _ in s }
                }
            }
        }
    }

    /// One normalized row's input cotangent: (ĝ − mean ĝ − x̂·mean(ĝ·x̂)) / σ, ĝ_i = g_i·scale(i),
    /// x̂ the row standardized with its own mean and variance (plus `epsilon`), in Double.
    @inline(__always)
    private static func normalizedRowInput(
        _ row: UnsafePointer<Float>, _ cot: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, size: Int,
        epsilon: Double, scale: (Int) -> Double
    ) {
        var mean = 0.0, variance = 0.0
        for i in 0..<size { mean += Double(row[i]) }
        mean /= Double(size)
        for i in 0..<size { variance += (Double(row[i]) - mean) * (Double(row[i]) - mean) }
        let inverse = 1 / (variance / Double(size) + epsilon).squareRoot()
        var gMean = 0.0, gxMean = 0.0
        for i in 0..<size {
            let gh = Double(cot[i]) * scale(i), xh = (Double(row[i]) - mean) * inverse
            gMean += gh
            gxMean += gh * xh
        }
        gMean /= Double(size)
        gxMean /= Double(size)
        for i in 0..<size {
            let gh = Double(cot[i]) * scale(i), xh = (Double(row[i]) - mean) * inverse
            out[i] = Float((gh - gMean - xh * gxMean) * inverse)
        }
    }

    /// Softmax: dx = y·(g − Σ g·y); LogSoftmax: dx = g − softmax·Σ g, along the axis.
    private static func softmaxInput(_ node: Node, _ y: Tensor, _ g: Tensor, log: Bool) throws -> Tensor {
        if y.rank == 0 { return Tensor(zeros: .float32, shape: []) }
        let axis = try normalizedAxis(node.int("axis", default: -1), rank: y.rank, node)
        let outer = y.shape[..<axis].reduce(1, *), n = y.shape[axis], inner = y.shape[(axis + 1)...].reduce(1, *)
        let yp = y.f32, gp = g.f32
        return makeFloat(y.shape) { d in
            for row in 0..<(outer * inner) {
                let base = (row / inner) * n * inner + row % inner
                var total = 0.0
                for k in 0..<n {
                    let i = base + k * inner
                    total += log ? Double(gp[i]) : Double(gp[i]) * Double(yp[i])
                }
                for k in 0..<n {
                    let i = base + k * inner
                    d[i] = log ? gp[i] - Foundation.exp(yp[i]) * Float(total) : yp[i] * (gp[i] - Float(total))
                }
            }
        }
    }

    private static func reductionInput(_ node: Node, _ x: Tensor, _ axesInput: Tensor?, _ g: Tensor) throws -> Tensor {
        var axes = try axesInput.map { try $0.int64s().map { try normalizedAxis(Int($0), rank: x.rank, node) } } ?? []
        if let attr = node.ints("axes") { axes = try attr.map { try normalizedAxis($0, rank: x.rank, node) } }
        if axes.isEmpty {
            if node.int("noop_with_empty_axes", default: 0) != 0 { return g }
            axes = Array(0..<x.rank)
        }
        let kept = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        let spread = try expandTo(g.reshaped(kept), x.shape, node)
        let count = x.count / Swift.max(kept.reduce(1, *), 1)
        return node.op == "ReduceMean" ? try scaled(spread, 1 / Float(count)) : spread
    }

    /// Resize's input cotangent: each output's cotangent added where the output read, by
    /// the same weights (nearest: the one element it copied; linear: its corners).
    private static func resizeInput(_ node: Node, _ inputs: [Tensor?], _ g: Tensor) throws -> Tensor {
        let x = try operand(node, inputs, 0)
        let geometry = try resizeGeometry(node, inputs, x.shape)
        let taps = ResizeTaps(geometry, inputShape: x.shape)
        let out = Tensor(zeros: .float32, shape: x.shape)
        let gp = g.f32, op = out.f32
        var index = [Int](repeating: 0, count: x.rank)
        for i in 0..<geometry.outputShape.reduce(1, *) {
            taps.forEach(output: i, &index) { offset, w in op[offset] += w * gp[i] }
        }
        return out
    }

    /// TopK's values are copies of x's elements: each value's cotangent goes to the position
    /// its index names along the axis.
    private static func topKInput(_ node: Node, _ x: Tensor, chosen: Tensor, _ g: Tensor) throws -> Tensor {
        let axis = try normalizedAxis(node.int("axis", default: -1), rank: x.rank, node)
        let n = x.shape[axis], k = chosen.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
        let out = Tensor(zeros: .float32, shape: x.shape)
        let gp = g.f32, op = out.f32, indices = chosen.int64s()
        for e in 0..<chosen.count {
            let (o, i) = (e / (k * inner), e % inner)
            op[(o * n + Int(indices[e])) * inner + i] += gp[e]
        }
        return out
    }

    // MARK: data movement

    /// The inputs an op only moves (every output element is a copy of one of theirs, or a
    /// fill), by op; nil for other ops.
    static func movedInputs(_ node: Node, inputCount: Int) -> [Int]? {
        switch node.op {
        case "Concat": return Array(0..<inputCount)
        case "Where": return [1, 2]
        case "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Split", "Slice", "Gather", "Pad", "Tile",
            "Expand", "Identity", "Dropout":
            return [0]
        default: return nil
        }
    }

    /// A moving op's cotangents: the op runs once on the positions of its `data` inputs
    /// (numbered from 1 across them; 0 is a fill), and each output element's cotangent is
    /// added where its position came from. Most moving ops take the shorter way of
    /// `movedDirectly`, to the same bits.
    static func moved(
        _ node: Node, _ inputs: [Tensor?], data: [Int], outputs: [Tensor], cotangents: [Tensor?]
    ) throws -> [Tensor?] {
        // The data inputs' positions, numbered on from one input to the next.
        var positions = inputs
        var starts: [(input: Int, start: Int)] = []
        var next = 1
        for i in data {
            guard let t = inputs[i] else { continue }
            starts.append((i, next))
            positions[i] = Tensor((0..<t.count).map { Int64($0 + next) }, shape: t.shape)
            next += t.count
        }
        if node.op == "Pad", positions.count > 2, positions[2] != nil { positions[2] = Tensor(scalar: Int64(0)) }
        var plain = node
        plain.attributes = plain.attributes.filter { !$0.key.hasPrefix(npuccAttributePrefix) }
        let moved = try Kernels.evaluate(plain, positions)
        // Every output element's cotangent added at the position it came from, all data
        // inputs in one buffer (position p at p − 1).
        var sums = [Float](repeating: 0, count: next - 1)
        sums.withUnsafeMutableBufferPointer { sums in
            for (k, ids) in moved.enumerated() where k < cotangents.count {
                guard let g = cotangents[k] else { continue }
                let gp = g.f32
                ids.withUnsafeBuffer(as: Int64.self) { ids in
                    for j in 0..<Swift.min(ids.count, g.count) where ids[j] > 0 { sums[Int(ids[j]) - 1] += gp[j] }
                }
            }
        }
        var result = [Tensor?](repeating: nil, count: inputs.count)
        for (input, start) in starts {
            let shape = inputs[input]!.shape
            result[input] = Tensor(Array(sums[(start - 1)..<(start - 1 + shape.reduce(1, *))]), shape: shape)
        }
        return result
    }
}

/// `t` summed over the axes along which `shape` was broadcast to reach t's shape.
func unbroadcast(_ t: Tensor, to shape: [Int]) -> Tensor {
    if t.shape == shape { return t }
    let r = t.rank
    let padded = Array(repeating: 1, count: Swift.max(r - shape.count, 0)) + shape
    let out = Tensor(zeros: .float32, shape: shape)
    let target = contiguousStrides(padded)
    let strides = (0..<r).map { padded[$0] == 1 ? 0 : target[$0] }
    let tp = t.f32, op = out.f32
    var index = [Int](repeating: 0, count: r)
    var o = 0
    for i in 0..<t.count {
        op[o] += tp[i]
        // The odometer over t's shape, with the target offset alongside.
        var d = r - 1
        while d >= 0 {
            index[d] += 1
            o += strides[d]
            if index[d] < t.shape[d] { break }
            o -= strides[d] * index[d]
            index[d] = 0
            d -= 1
        }
    }
    return out
}
