// LSTM, GRU and RNN, imported unrolled over their known sequence length as the ops their
// equations name: the input's projection for every step at once (a MatMul with constant
// weights and the biases, one layer), then per step the hidden state's projection (a MatMul
// with the constant recurrent weights, a layer per step), the gates' activations and the
// state updates, each direction in its own order; the outputs concatenated from the steps.
import IR

extension ImportContext {
    /// Emits LSTM, GRU or RNN `node` unrolled (new nodes `NAME/OP_STEP`). Supported: W and R
    /// constants or computed from constants (fold-constants then makes the slices the steps
    /// take constants); B, initial_h (and initial_c) optional; `direction` forward, reverse or
    /// bidirectional; `layout` 0 or 1; `clip`; `linear_before_reset` (GRU); every activation
    /// ONNX names for them, with `activation_alpha` and `activation_beta`; LSTM's peepholes
    /// (P, a constant) and input_forget (the forget gate 1 − the input gate); sequence_lens,
    /// a constant (past its length an entry's outputs are 0 and its states held; an empty
    /// sequence's last states are 0, as onnxruntime gives them). Refused by
    /// name: a computed sequence_lens and an unknown sequence length.
    mutating func emitRecurrent(_ node: Node) throws {
        let op = node.op
        let gateCount = op == "LSTM" ? 4 : (op == "GRU" ? 3 : 1)
        guard node.inputs.count >= 3, let x = node.input(0), let wName = node.input(1), let rName = node.input(2) else {
            throw IRError("needs X, W and R", at: node)
        }
        // W and R as constants, or as values computed from constants (the torch.export-based
        // exporter writes R as Unsqueeze(Concat(Slice(weight_hh)))), which the nodes below
        // slice and fold-constants makes constant.
        guard let wShape = knownType(of: wName)?.shape?.concrete, let rShape = knownType(of: rName)?.shape?.concrete,
            wShape.count == 3, rShape.count == 3
        else {
            throw IRError(
                "W and R must be constants, or computed from constants, of a known shape [directions, gates·hidden, size]",
                at: node)
        }
        // sequence_lens: a constant length per batch entry.
        var lengths: [Int]?
        if let name = node.input(4) {
            guard let t = constants[name] else {
                throw IRError("sequence_lens \"\(name)\" must be a constant to unroll \(op)", at: node)
            }
            lengths = t.int64s().map(Int.init)
        }
        // LSTM's peepholes, [directions, 3·hidden] (input, output, forget), a constant.
        let peepholes = op == "LSTM" ? node.input(7) : nil
        if let p = peepholes, constants[p] == nil {
            throw IRError("peepholes (P) must be a constant", at: node)
        }
        // LSTM's input_forget couples the forget gate to the input gate: f = 1 − i.
        let coupled = op == "LSTM" && node.int("input_forget", default: 0) != 0
        let direction = node.string("direction", default: "forward")
        guard ["forward", "reverse", "bidirectional"].contains(direction) else {
            throw IRError("direction \"\(direction)\" is not forward, reverse or bidirectional", at: node)
        }
        let directions = direction == "bidirectional" ? 2 : 1
        let hidden = node.int("hidden_size") ?? rShape[2]
        guard wShape[0] == directions, rShape[0] == directions, wShape[1] == gateCount * hidden,
            rShape == [directions, gateCount * hidden, hidden]
        else {
            throw IRError(
                "W \(wShape) and R \(rShape) do not fit \(directions) directions of \(gateCount) gates of \(hidden)", at: node)
        }
        if let p = peepholes.flatMap({ constants[$0] }), p.shape != [directions, 3 * hidden] {
            throw IRError("peepholes (P) \(p.shape) are not [\(directions), \(3 * hidden)]", at: node)
        }
        let batchFirst = node.int("layout", default: 0) != 0
        guard let steps = knownType(of: x)?.shape?.dims[batchFirst ? 1 : 0].value else {
            throw IRError("the sequence length must be known to unroll \(op); give the input's shape (--input-shape)", at: node)
        }
        if let lengths {
            if let batch = knownType(of: x)?.shape?.dims[batchFirst ? 0 : 1].value, batch != lengths.count {
                throw IRError("sequence_lens has \(lengths.count) lengths for a batch of \(batch)", at: node)
            }
            if let bad = lengths.first(where: { !(0...steps).contains($0) }) {
                throw IRError("sequence_lens holds \(bad), outside 0 to the sequence's \(steps) steps", at: node)
            }
        }
        let defaults = op == "LSTM" ? ["Sigmoid", "Tanh", "Tanh"] : (op == "GRU" ? ["Sigmoid", "Tanh"] : ["Tanh"])
        var names = Array(repeating: defaults, count: directions).flatMap { $0 }
        if case .strings(let named)? = node.attributes["activations"] { names = named }
        guard names.count == defaults.count * directions else {
            throw IRError(
                "activations \(names) are not \(defaults.count * directions) (\(defaults.count) per direction)", at: node)
        }
        let activations = try RecurrentActivation.parse(
            names, alphas: node.floats("activation_alpha") ?? [], betas: node.floats("activation_beta") ?? [], at: node)
        let clip = node.float("clip")
        let linearBeforeReset = node.int("linear_before_reset", default: 0) != 0

        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        func ints(_ values: [Int], _ hint: String) -> String { int64Constant(values, hint: hint) }
        func index(_ i: Int) -> String { int64Scalar(i, hint: "index") }
        func slice(_ v: String, _ from: Int, _ to: Int, _ step: String) -> String {
            emit("Slice", step, [v, ints([from], "starts"), ints([to], "ends"), ints([0], "axes")])
        }
        func rows(_ name: String, _ d: Int, _ from: Int, _ count: Int, _ hint: String) -> String {
            // Rows [from, from + count) of direction d, transposed: [size, count]; of a value
            // computed from constants, as the nodes that take them.
            guard let t = constants[name] else {
                let direction = emit("Gather", "\(hint)_d\(d)", [name, index(d)], ["axis": .int(0)])
                let taken = slice(direction, from, from + count, "\(hint)_d\(d)_rows")
                return emit("Transpose", "\(hint)_d\(d)_transposed", [taken], ["perm": .ints([1, 0])])
            }
            let size = t.shape[2], values = t.floats()
            var out = [Float](repeating: 0, count: size * count)
            for i in 0..<count {
                for j in 0..<size { out[j * count + i] = values[(d * t.shape[1] + from + i) * size + j] }
            }
            return addConstant(Tensor(out, shape: [size, count]), hint: hint)
        }
        func split(_ v: String, _ count: Int, _ step: String) -> [String] {
            emitSplit(of: node, v, into: count, step: step)
        }
        /// `f` of `v`, `clip` applied first unless `clipping` is false (the LSTM cell's
        /// activation: onnxruntime clips the gates' inputs alone).
        func activate(_ v: String, _ f: RecurrentActivation, _ step: String, clipping: Bool = true) -> String {
            let clipped =
                clip.flatMap { c in clipping ? c : nil }.map { c in
                    emit(
                        "Clip", "\(step)_clip",
                        [v, scalarConstant(-c, like: x, hint: "clip_min"), scalarConstant(c, like: x, hint: "clip_max")])
                } ?? v
            func constant(_ value: Float) -> String { scalarConstant(value, like: x, hint: "activation_\(f.name)") }
            switch f.name {
            case "Affine":
                return emit("Add", step, [emit("Mul", "\(step)_scaled", [clipped, constant(f.alpha)]), constant(f.beta)])
            case "ScaledTanh":
                return emit(
                    "Mul", step,
                    [
                        emit("Tanh", "\(step)_tanh", [emit("Mul", "\(step)_scaled", [clipped, constant(f.beta)])]),
                        constant(f.alpha),
                    ])
            case "ThresholdedRelu":
                let above = emit("Greater", "\(step)_above", [clipped, constant(f.alpha)])
                return emit("Where", step, [above, clipped, constant(0)])
            case "LeakyRelu", "Elu": return emit(f.name, step, [clipped], ["alpha": .float(f.alpha)])
            case "HardSigmoid": return emit(f.name, step, [clipped], ["alpha": .float(f.alpha), "beta": .float(f.beta)])
            default: return emit(f.name, step, [clipped])
            }
        }
        // X as [S, B, I].
        let sequence = batchFirst ? emit("Transpose", "steps_first", [x], ["perm": .ints([1, 0, 2])]) : x
        var ys: [String] = [], lastH: [String] = [], lastC: [String] = []
        for d in 0..<directions {
            let tag = directions == 2 ? "d\(d)_" : ""
            let acts = Array(activations[(d * defaults.count)..<((d + 1) * defaults.count)])
            // The input's projection for every step, with the biases it can take.
            let bias = node.input(3).flatMap { constants[$0] }?.floats()
            var inputBias = [Float](repeating: 0, count: gateCount * hidden)
            var hiddenBias: [Float]?  // GRU with linear_before_reset: Rbh, added inside the reset
            // A bias computed from constants, as the nodes that add its halves.
            var computedBias: (input: String, hidden: String?)?
            if bias == nil, let b = node.input(3) {
                guard knownType(of: b)?.shape?.concrete == [directions, 2 * gateCount * hidden] else {
                    throw IRError("B must be a constant, or computed from constants, [directions, 2·gates·hidden]", at: node)
                }
                let g = gateCount * hidden
                let both = emit("Gather", "\(tag)bias", [b, index(d)], ["axis": .int(0)])
                let (wb, rb) = (slice(both, 0, g, "\(tag)bias_w"), slice(both, g, 2 * g, "\(tag)bias_r"))
                if op == "GRU" && linearBeforeReset {
                    let zeros = addConstant(Tensor([Float](repeating: 0, count: hidden), shape: [hidden]), hint: "zeros")
                    let outer = emit(
                        "Concat", "\(tag)bias_r_outer", [slice(rb, 0, 2 * hidden, "\(tag)bias_r_zr"), zeros], ["axis": .int(0)])
                    computedBias = (emit("Add", "\(tag)bias_input", [wb, outer]), slice(rb, 2 * hidden, g, "\(tag)bias_r_h"))
                } else {
                    computedBias = (emit("Add", "\(tag)bias_input", [wb, rb]), nil)
                }
            }
            if let bias {
                let base = d * 2 * gateCount * hidden
                for i in 0..<(gateCount * hidden) {
                    let wb = bias[base + i], rb = bias[base + gateCount * hidden + i]
                    let inner = op == "GRU" && linearBeforeReset && i >= 2 * hidden
                    inputBias[i] = inner ? wb : wb + rb
                }
                if op == "GRU" && linearBeforeReset {
                    hiddenBias = Array(bias[(base + gateCount * hidden + 2 * hidden)..<(base + 2 * gateCount * hidden)])
                }
            }
            let projected = emit(
                "Add", "\(tag)input_projection",
                [
                    emit("MatMul", "\(tag)input_product", [sequence, rows(wName, d, 0, gateCount * hidden, "w")]),
                    computedBias?.input ?? addConstant(Tensor(inputBias, shape: [gateCount * hidden]), hint: "bias"),
                ])
            var h = node.input(5).map { emit("Gather", "\(tag)initial_h", [$0, index(d)], ["axis": .int(batchFirst ? 1 : 0)]) }
            var c =
                op == "LSTM"
                ? node.input(6).map { emit("Gather", "\(tag)initial_c", [$0, index(d)], ["axis": .int(batchFirst ? 1 : 0)]) }
                : nil
            // The recurrent weights, transposed once for every step: all gates' (LSTM, RNN), or
            // the update and reset gates' and the hidden gate's apart (GRU), and GRU's Rbh.
            let recurrent = rows(rName, d, 0, (op == "GRU" ? 2 : gateCount) * hidden, "r")
            let hiddenWeights = op == "GRU" ? rows(rName, d, 2 * hidden, hidden, "r_h") : ""
            let rbh = computedBias?.hidden ?? hiddenBias.map { addConstant(Tensor($0, shape: [hidden]), hint: "rbh") }
            // The peepholes of this direction: input, output and forget, [hidden] each.
            let peephole = peepholes.flatMap { constants[$0] }.map { p in
                (0..<3).map { k in
                    let values = Array(p.floats()[((d * 3 + k) * hidden)..<((d * 3 + k + 1) * hidden)])
                    return addConstant(Tensor(values, shape: [hidden]), hint: "\(tag)peephole\(k)")
                }
            }
            // Per step, where some batch entry's sequence has ended: which entries it holds, [B, 1].
            let valid: [Int: String] =
                lengths.map { lengths in
                    Dictionary(
                        uniqueKeysWithValues: (0..<steps).filter { t in lengths.contains { t >= $0 } }.map { t in
                            (t, addConstant(Tensor(bools: lengths.map { t < $0 }, shape: [lengths.count, 1]), hint: "valid"))
                        })
                } ?? [:]
            let order = d == 1 || direction == "reverse" ? Array((0..<steps).reversed()) : Array(0..<steps)
            var outputs = [String](repeating: "", count: steps)
            for t in order {
                let s = "\(tag)t\(t)"
                let xt = emit("Gather", "\(s)_input", [projected, index(t)], ["axis": .int(0)])
                // The hidden state's projection, none before the first state.
                let product = h.map { emit("MatMul", "\(s)_recurrent", [$0, recurrent]) }
                let (previousH, previousC) = (h, c)
                switch op {
                case "LSTM":
                    let parts = split(product.map { emit("Add", "\(s)_gates", [xt, $0]) } ?? xt, 4, "\(s)_gate")
                    /// Gate `k`'s input (0 input, 1 output, 2 forget: P's order, and W's) plus its
                    /// peephole times `state`; as it is without peepholes or a state.
                    func peeped(_ k: Int, _ state: String?, _ gate: String) -> String {
                        guard let p = peephole?[k], let state else { return parts[k] }
                        return emit("Add", "\(s)_\(gate)_peeped", [parts[k], emit("Mul", "\(s)_\(gate)_peephole", [p, state])])
                    }
                    let i = activate(peeped(0, c, "i"), acts[0], "\(s)_i")
                    let f =
                        coupled
                        ? emit("Sub", "\(s)_f", [scalarConstant(1, like: x, hint: "one"), i])
                        : activate(peeped(2, c, "f"), acts[0], "\(s)_f")
                    let g = activate(parts[3], acts[1], "\(s)_g")
                    let ig = emit("Mul", "\(s)_ig", [i, g])
                    let cell = c.map { emit("Add", "\(s)_cell", [emit("Mul", "\(s)_fc", [f, $0]), ig]) } ?? ig
                    c = cell
                    let o = activate(peeped(1, cell, "o"), acts[0], "\(s)_o")
                    h = emit("Mul", "\(s)_hidden", [o, activate(cell, acts[2], "\(s)_h", clipping: false)])
                case "GRU":
                    let parts = split(xt, 3, "\(s)_input")
                    var zr = [parts[0], parts[1]]
                    if let product {
                        let halves = split(product, 2, "\(s)_recurrent")
                        zr = [emit("Add", "\(s)_z_in", [parts[0], halves[0]]), emit("Add", "\(s)_r_in", [parts[1], halves[1]])]
                    }
                    let z = activate(zr[0], acts[0], "\(s)_z"), reset = activate(zr[1], acts[0], "\(s)_r")
                    // The hidden gate's recurrent part: (r ⊙ H)·Rhᵀ, or r ⊙ (H·Rhᵀ + Rbh).
                    var inner: String?
                    if linearBeforeReset {
                        let linear = h.map { emit("MatMul", "\(s)_h_product", [$0, hiddenWeights]) }
                        inner = linear.map { l in rbh.map { emit("Add", "\(s)_h_linear", [l, $0]) } ?? l } ?? rbh
                        inner = inner.map { emit("Mul", "\(s)_reset", [reset, $0]) }
                    } else if let h {
                        inner = emit("MatMul", "\(s)_h_product", [emit("Mul", "\(s)_reset", [reset, h]), hiddenWeights])
                    }
                    let candidate = activate(
                        inner.map { emit("Add", "\(s)_h_in", [parts[2], $0]) } ?? parts[2], acts[1], "\(s)_h")
                    let one = scalarConstant(1, like: x, hint: "one")
                    let kept = emit("Mul", "\(s)_new", [emit("Sub", "\(s)_update", [one, z]), candidate])
                    h = h.map { emit("Add", "\(s)_hidden", [kept, emit("Mul", "\(s)_old", [z, $0])]) } ?? kept
                default:
                    h = activate(product.map { emit("Add", "\(s)_pre", [xt, $0]) } ?? xt, acts[0], "\(s)_hidden")
                }
                var output = h!
                if let valid = valid[t] {
                    // Past its length an entry's output is 0 and its states stay as they were.
                    let zero = scalarConstant(0, like: x, hint: "zero")
                    output = emit("Where", "\(s)_output", [valid, h!, zero])
                    h = emit("Where", "\(s)_hidden_held", [valid, h!, previousH ?? zero])
                    if op == "LSTM" { c = emit("Where", "\(s)_cell_held", [valid, c!, previousC ?? zero]) }
                }
                outputs[t] = emit("Unsqueeze", "\(s)_step", [output, ints([0], "axis")])
            }
            ys.append(
                emit(
                    "Unsqueeze", "\(tag)direction",
                    [emit("Concat", "\(tag)steps", outputs, ["axis": .int(0)]), ints([1], "axis")]))
            // An empty sequence's last states are 0, as onnxruntime gives them (not the initial ones).
            if let lengths, lengths.contains(0) {
                let ran = addConstant(Tensor(bools: lengths.map { $0 > 0 }, shape: [lengths.count, 1]), hint: "ran")
                let zero = scalarConstant(0, like: x, hint: "zero")
                h = emit("Where", "\(tag)last_h_ran", [ran, h!, zero])
                c = c.map { emit("Where", "\(tag)last_c_ran", [ran, $0, zero]) }
            }
            lastH.append(emit("Unsqueeze", "\(tag)last_h", [h!, ints([0], "axis")]))
            if let c { lastC.append(emit("Unsqueeze", "\(tag)last_c", [c, ints([0], "axis")])) }
        }
        // Y [S, dirs, B, H] (layout 1: [B, S, dirs, H]); Y_h and Y_c [dirs, B, H] ([B, dirs, H]).
        func finish(_ index: Int, _ parts: [String], _ perm: [Int]) {
            guard index < node.outputs.count, !node.outputs[index].isEmpty else { return }
            let joined = parts.count == 1 ? parts[0] : emit("Concat", "output\(index)", parts, ["axis": .int(index == 0 ? 1 : 0)])
            nodes.append(
                batchFirst
                    ? Node(
                        op: "Transpose", name: "\(node.name)/\(op)_output\(index)", inputs: [joined],
                        outputs: [node.outputs[index]], attributes: ["perm": .ints(perm)])
                    : Node(
                        op: "Identity", name: "\(node.name)/\(op)_output\(index)", inputs: [joined],
                        outputs: [node.outputs[index]]))
        }
        finish(0, ys, [2, 0, 1, 3])
        finish(1, lastH, [1, 0, 2])
        finish(2, lastC, [1, 0, 2])
    }
}

/// One of the activations ONNX's recurrent ops name, with the alpha and beta it takes.
struct RecurrentActivation {
    var name: String
    var alpha: Float = 0
    var beta: Float = 0

    /// The activations by name (in any case) and their defaults, alpha then beta; nil where
    /// the function takes none.
    static let known: [String: (alpha: Float?, beta: Float?)] = [
        "Relu": (nil, nil), "Tanh": (nil, nil), "Sigmoid": (nil, nil), "Softsign": (nil, nil), "Softplus": (nil, nil),
        "Affine": (1, 0), "LeakyRelu": (0.01, nil), "ThresholdedRelu": (1, nil), "ScaledTanh": (1, 1),
        "HardSigmoid": (0.2, 0.5), "Elu": (1, nil),
    ]

    /// `names` with their parameters: `alphas` and `betas` are taken in order by the
    /// functions that have such a parameter; past the end of a list, the default applies.
    static func parse(_ names: [String], alphas: [Float], betas: [Float], at node: Node) throws -> [RecurrentActivation] {
        var nextAlpha = 0, nextBeta = 0
        return try names.map { given in
            guard let (name, defaults) = known.first(where: { $0.key.lowercased() == given.lowercased() }) else {
                throw IRError(
                    "activation \"\(given)\" is not one of \(known.keys.sorted().joined(separator: ", "))", at: node)
            }
            var f = RecurrentActivation(name: name)
            if let alpha = defaults.alpha {
                f.alpha = nextAlpha < alphas.count ? alphas[nextAlpha] : alpha
                nextAlpha += 1
            }
            if let beta = defaults.beta {
                f.beta = nextBeta < betas.count ? betas[nextBeta] : beta
                nextBeta += 1
            }
            return f
        }
    }
}
