// The spectral ops of opsets 17 to 20, imported as what they compute once their sizes are
// known when the model is read. DFT is linear in its input: its real and imaginary parts
// are products of constant matrices of cosines and sines (Σ_t x[t]·e^(∓2πikt/n), the
// inverse over n; the one-sided inverse doubles the bins a real signal's spectrum mirrors)
// multiplied from the left, the transformed axis moved second to last (products of
// activations). STFT is its signal cut into frames (a Gather of constant positions), times
// the window, then that DFT along the frames. HannWindow, HammingWindow and BlackmanWindow
// are the constants they define.
import Foundation
import IR

extension ImportContext {
    /// Emits HannWindow, HammingWindow or BlackmanWindow `node` (a constant size; `periodic`
    /// default 1, `output_datatype` default float) as the constant it is.
    mutating func emitWindow(_ node: Node) throws {
        guard node.inputs.count == 1, let size = node.input(0), let out = node.outputs.first, !out.isEmpty else {
            throw IRError("takes size and gives one output", at: node)
        }
        guard let count = constants[size].flatMap({ $0.count == 1 ? Int($0.int64(at: 0)) : nil }), count >= 0 else {
            throw IRError("needs size known when the model is read (a constant)", at: node)
        }
        let dtype = DType(rawValue: Int32(node.int("output_datatype", default: Int(DType.float32.rawValue))))
        guard let dtype, dtype.isFloatingPoint || dtype.isInteger else {
            throw IRError("output_datatype \(node.int("output_datatype", default: 1)) is not supported", at: node)
        }
        let n = Double(node.int("periodic", default: 1) != 0 ? count : count - 1)
        let values: [Float] = (0..<count).map { i in
            let t = 2 * Double.pi * Double(i) / n
            switch node.op {
            case "HannWindow": return Float(pow(sin(Double.pi * Double(i) / n), 2))
            case "HammingWindow": return Float(25.0 / 46.0 - (21.0 / 46.0) * cos(t))
            default: return Float(0.42 - 0.5 * cos(t) + 0.08 * cos(2 * t))
            }
        }
        defineConstant(out, Tensor(values, shape: [count]).cast(to: dtype))
    }

    /// Emits MelWeightMatrix `node` (constant num_mel_bins, dft_length, sample_rate,
    /// lower_edge_hertz and upper_edge_hertz; `output_datatype` default float) as the
    /// [dft_length / 2 + 1, num_mel_bins] constant of triangles it defines: the band's edges
    /// evenly spaced in mels (2595·log10(1 + f/700)), over num_mel_bins + 2 steps as ONNX's
    /// reference spaces them, each taken to the spectrogram bin ⌊(dft_length + 1)·f / rate⌋.
    mutating func emitMelWeightMatrix(_ node: Node) throws {
        guard node.inputs.count == 5, let out = node.outputs.first, !out.isEmpty else {
            throw IRError("takes num_mel_bins, dft_length, sample_rate, lower_edge_hertz and upper_edge_hertz", at: node)
        }
        let names = ["num_mel_bins", "dft_length", "sample_rate", "lower_edge_hertz", "upper_edge_hertz"]
        var values: [Double] = []
        for (index, name) in names.enumerated() {
            guard let t = node.input(index).flatMap({ constants[$0] }), t.count == 1 else {
                throw IRError("needs \(name) known when the model is read (a constant scalar)", at: node)
            }
            values.append(t.double(at: 0))
        }
        let (mels, length, rate) = (Int(values[0]), Int(values[1]), values[2])
        guard mels > 0, length > 0, rate > 0 else {
            throw IRError("num_mel_bins \(mels), dft_length \(length) and sample_rate \(rate) must be positive", at: node)
        }
        let dtype = DType(rawValue: Int32(node.int("output_datatype", default: Int(DType.float32.rawValue))))
        guard let dtype, dtype.isFloatingPoint || dtype.isInteger else {
            throw IRError("output_datatype \(node.int("output_datatype", default: 1)) is not supported", at: node)
        }
        func mel(_ hertz: Double) -> Double { 2595 * log1p(hertz / 700) / log(10) }
        let (low, high) = (mel(values[3]), mel(values[4]))
        let step = (high - low) / Double(mels + 2)
        let edges: [Int] = (0..<(mels + 2)).map { i in
            let hertz = 700 * expm1((Double(i) * step + low) / 2595 * log(10))
            return Int((Double(length + 1) * hertz / rate).rounded(.down))
        }
        let bins = length / 2 + 1
        var matrix = [Double](repeating: 0, count: bins * mels)
        func set(_ j: Int, _ i: Int, _ v: Double) throws {
            guard (0..<bins).contains(j) else {
                throw IRError("the band's edge reaches bin \(j), past the spectrogram's \(bins)", at: node)
            }
            matrix[j * mels + i] = v
        }
        for i in 0..<mels {
            let (left, center, right) = (edges[i], edges[i + 1], edges[i + 2])
            if center == left {
                try set(center, i, 1)
            } else {
                for j in left...center { try set(j, i, Double(j - left) / Double(center - left)) }
            }
            if right > center { for j in center..<right { try set(j, i, Double(right - j) / Double(right - center)) } }
        }
        defineConstant(out, Tensor(matrix, shape: [bins, mels]).cast(to: dtype))
    }

    /// Emits DFT `node` (opset 17: `axis` an attribute, default 1; from 20: an input, default
    /// -2; `dft_length`, `inverse`, `onesided`).
    mutating func emitDFT(_ node: Node) throws {
        guard let x = node.input(0), let out = node.outputs.first, !out.isEmpty else {
            throw IRError("takes input and gives one output", at: node)
        }
        func constantInt(_ index: Int, _ name: String) throws -> Int? {
            guard let value = node.input(index) else { return nil }
            guard let t = constants[value], t.count == 1 else {
                throw IRError("needs \(name) known when the model is read (a constant scalar)", at: node)
            }
            return Int(t.int64(at: 0))
        }
        let length = try constantInt(1, "dft_length")
        // Opset 17 names the axis by an attribute (default 1), 20 by an input (default -2).
        let axis = opset < 20 ? node.int("axis", default: 1) : try constantInt(2, "axis") ?? -2
        try emitTransform(
            node, x, axis: axis, length: length, inverse: node.int("inverse", default: 0) != 0,
            onesided: node.int("onesided", default: 0) != 0, into: out)
    }

    /// Emits STFT `node` (signal [batch, length, 1 or 2], a constant frame_step, an optional
    /// window [frame_length] and frame_length; `onesided` default 1).
    mutating func emitSTFT(_ node: Node) throws {
        guard let signal = node.input(0), let stepName = node.input(1), let out = node.outputs.first, !out.isEmpty else {
            throw IRError("takes signal and frame_step and gives one output", at: node)
        }
        guard let dims = knownType(of: signal)?.shape?.concrete, dims.count == 3 else {
            throw IRError(
                "needs a signal [batch, length, 1 or 2] of known extents (fix symbolic dimensions with --input-shape)", at: node)
        }
        guard let step = constants[stepName].flatMap({ $0.count == 1 ? Int($0.int64(at: 0)) : nil }), step > 0 else {
            throw IRError("needs frame_step known when the model is read (a positive constant)", at: node)
        }
        let window = node.input(2)
        let windowLength = window.flatMap { knownType(of: $0)?.shape?.concrete }.flatMap { $0.count == 1 ? $0[0] : nil }
        if window != nil && windowLength == nil { throw IRError("needs a 1-D window of known length", at: node) }
        var frameLength = windowLength ?? dims[1]
        if let given = node.input(3) {
            guard let t = constants[given], t.count == 1 else {
                throw IRError("needs frame_length known when the model is read (a constant scalar)", at: node)
            }
            frameLength = Int(t.int64(at: 0))
            if let windowLength, windowLength != frameLength {
                throw IRError("the window has \(windowLength) values, frame_length is \(frameLength)", at: node)
            }
        }
        guard frameLength > 0, frameLength <= dims[1] else {
            throw IRError("frame_length \(frameLength) does not fit the signal's \(dims[1]) samples", at: node)
        }
        let frames = (dims[1] - frameLength) / step + 1
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        // [batch, frames, frame_length, 1 or 2]: frame f's samples f·step ..< f·step + frame_length.
        let positions = (0..<frames).flatMap { f in (0..<frameLength).map { f * step + $0 } }
        var framed = emit(
            "Gather", "frames",
            [signal, addConstant(Tensor(positions.map(Int64.init), shape: [frames, frameLength]), hint: "frame_positions")],
            ["axis": .int(1)])
        if let window {
            let column = emit("Reshape", "window_column", [window, int64Constant([frameLength, 1], hint: "window_shape")])
            framed = emit("Mul", "windowed", [framed, column])
        }
        try emitTransform(
            node, framed, axis: 2, length: frameLength, inverse: false, onesided: node.int("onesided", default: 1) != 0,
            into: out, shape: [dims[0], frames, frameLength, dims[2]])
    }

    /// The DFT of `x` (its extents `shape`, or its known type's) along `axis` into `out`.
    private mutating func emitTransform(
        _ node: Node, _ x: String, axis: Int, length: Int?, inverse: Bool, onesided: Bool, into out: String,
        shape: [Int]? = nil
    ) throws {
        guard let dims = shape ?? knownType(of: x)?.shape?.concrete, dims.count >= 2, [1, 2].contains(dims.last!) else {
            throw IRError(
                "needs an input [..., 1 or 2] of known extents (fix symbolic dimensions with --input-shape)", at: node)
        }
        let rank = dims.count
        guard (-rank...(rank - 2)).contains(axis), axis != -1 else {
            throw IRError("axis \(axis) is not a signal axis of an input of rank \(rank)", at: node)
        }
        let a = axis < 0 ? axis + rank : axis, given = dims[a], complex = dims[rank - 1] == 2
        if inverse && onesided && !complex {
            throw IRError("the one-sided inverse (IRFFT) takes a complex spectrum [..., 2]", at: node)
        }
        let n = length ?? (inverse && onesided ? 2 * (given - 1) : given)
        guard n > 0 else { throw IRError("dft_length \(n) is not positive", at: node) }
        // [outputs, inputs] matrices: from the real and the imaginary parts, to each.
        let outputs = inverse && onesided ? n : (onesided ? n / 2 + 1 : n)
        var (realFromReal, realFromImaginary) = ([Float](repeating: 0, count: outputs * given), [Float]())
        var (imaginaryFromReal, imaginaryFromImaginary) = (realFromReal, [Float]())
        realFromImaginary = realFromReal
        imaginaryFromImaginary = realFromReal
        let sign: Double = inverse ? 1 : -1, scale = inverse ? 1 / Double(n) : 1
        for o in 0..<outputs {
            for i in 0..<given {
                // An input past dft_length is cut off; the bins a one-sided spectrum keeps.
                let (k, t) = inverse ? (i, o) : (o, i)
                if t >= n || inverse && onesided && k > n / 2 || k >= n { continue }
                let angle = 2 * Double.pi * Double((k * t) % n) / Double(n)
                let (c, s) = (cos(angle) * scale, sign * sin(angle) * scale)
                // A bin the one-sided spectrum stands for twice (its mirror image too).
                let twice: Double = inverse && onesided && k > 0 && 2 * k != n ? 2 : 1
                // (xr + i·xi)(c + i·s) = xr·c - xi·s + i(xr·s + xi·c)
                realFromReal[o * given + i] = Float(twice * c)
                realFromImaginary[o * given + i] = Float(-twice * s)
                imaginaryFromReal[o * given + i] = Float(twice * s)
                imaginaryFromImaginary[o * given + i] = Float(twice * c)
            }
        }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        func part(_ index: Int, _ step: String) -> String {
            let sliced = emit(
                "Slice", step,
                [
                    x, int64Constant([index], hint: "start"), int64Constant([index + 1], hint: "end"),
                    int64Constant([-1], hint: "axis"),
                ])
            return emit("Squeeze", "\(step)_part", [sliced, int64Constant([-1], hint: "axis")])
        }
        // The parts [..] of rank r - 1 with the axis second to last (a trailing 1 added when
        // the axis is the last), the products, then the axis put back.
        let trailing = a == rank - 2
        func moved(_ v: String, _ step: String) -> String {
            if trailing { return emit("Unsqueeze", "\(step)_column", [v, int64Constant([-1], hint: "axis")]) }
            return movedSecondToLast(v, a, rank: rank - 1, in: node, step: step)
        }
        func back(_ v: String, _ step: String) -> String {
            if trailing { return emit("Squeeze", "\(step)_row", [v, int64Constant([-1], hint: "axis")]) }
            return movedBack(v, to: a, rank: rank - 1, in: node, step: step)
        }
        let real = moved(part(0, "real"), "real"), imaginary = complex ? moved(part(1, "imaginary"), "imaginary") : nil
        func product(_ fromReal: [Float], _ fromImaginary: [Float], _ step: String) -> String {
            let shape = [outputs, given]
            var sum = emit("MatMul", step, [addConstant(Tensor(fromReal, shape: shape), hint: "\(step)_matrix"), real])
            if let imaginary {
                let other = emit(
                    "MatMul", "\(step)_from_imaginary",
                    [addConstant(Tensor(fromImaginary, shape: shape), hint: "\(step)_imaginary_matrix"), imaginary])
                sum = emit("Add", "\(step)_sum", [sum, other])
            }
            return emit("Unsqueeze", "\(step)_part", [back(sum, step), int64Constant([-1], hint: "axis")])
        }
        let base = node.name.isEmpty ? out : node.name
        let realOut = product(realFromReal, realFromImaginary, "real_out")
        if inverse && onesided {
            nodes.append(Node(op: "Identity", name: "\(base)/\(node.op)_output", inputs: [realOut], outputs: [out]))
            return
        }
        let imaginaryOut = product(imaginaryFromReal, imaginaryFromImaginary, "imaginary_out")
        nodes.append(
            Node(
                op: "Concat", name: "\(base)/\(node.op)_output", inputs: [realOut, imaginaryOut], outputs: [out],
                attributes: ["axis": .int(-1)]))
    }
}
