// Attention (opsets 23 and 25), imported as the scaled dot-product attention it defines, from
// ops the NPU already runs: Q and K each scaled by the root of the scale, their product (a
// MatMul of two activations), the softcap, the mask, the causal triangle and the sliding
// window added as biases, Softmax over the keys, and its product with V. 3-D inputs are split
// into heads and merged back; grouped-query K and V are repeated over the query heads they
// serve.
import IR

extension ImportContext {
    /// The bias of a masked-out position. Finite, so that a row every position of which is
    /// masked stays a number through Softmax (its guard then zeroes it), and small enough
    /// that four of them (a boolean mask, the causal triangle and both sides of a window)
    /// add without overflowing;
    /// exp of it is 0, so a partly masked row is as with -inf.
    static let maskedBias: Float = -1e30

    /// Emits Attention `node` (Q, K, V, optional attn_mask; `q_num_heads` and `kv_num_heads`
    /// with 3-D inputs [B, S, heads·D], else 4-D [B, heads, S, D]; `scale` default
    /// 1/√D, `softcap`, `is_causal`, `left_window_size` and `right_window_size`). A boolean
    /// mask's masked positions, the causal triangle's upper part and the keys outside the
    /// window get `maskedBias`; a row a boolean mask masks entirely is zero,
    /// as the operator defines. Refused by name: past_key and past_value (a key-value cache),
    /// nonpad_kv_seqlen, the outputs after Y, and a softmax_precision other than float32.
    /// New nodes are named `NAME/Attention_STEP`.
    mutating func emitAttention(_ node: Node) throws {
        guard let q = node.input(0), let k = node.input(1), let v = node.input(2), let out = node.outputs.first,
            !out.isEmpty
        else { throw IRError("needs Q, K and V and gives Y", at: node) }
        if node.input(4) != nil || node.input(5) != nil {
            throw IRError("past_key and past_value (a key-value cache) are not supported; export without the cache", at: node)
        }
        if node.input(6) != nil { throw IRError("nonpad_kv_seqlen is not supported", at: node) }
        if node.outputs.dropFirst().contains(where: { !$0.isEmpty }) {
            throw IRError("only output Y is supported, not present_key, present_value or qk_matmul_output", at: node)
        }
        let (left, right) = (node.int("left_window_size", default: -1), node.int("right_window_size", default: -1))
        guard left >= -1, right >= -1 else {
            throw IRError("left_window_size \(left) and right_window_size \(right) must each be -1 or at least 0", at: node)
        }
        if let precision = node.int("softmax_precision"), precision != Int(DType.float32.rawValue) {
            throw IRError("softmax_precision \(precision) is not supported (Softmax runs in float32)", at: node)
        }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        func ints(_ values: [Int], _ hint: String) -> String { int64Constant(values, hint: hint) }
        func extents(_ x: String, _ from: Int, _ to: Int, _ step: String) -> String {
            self.extents(of: x, from, to, in: node, step: step)
        }

        // The heads: 3-D inputs split as the attributes say, 4-D ones as they are.
        let qHeads = node.int("q_num_heads"), kvHeads = node.int("kv_num_heads")
        let threeD = qHeads != nil || kvHeads != nil
        var group: Int?  // query heads per key-value head, when known here
        if threeD {
            guard let qHeads, let kvHeads, qHeads > 0, kvHeads > 0, qHeads % kvHeads == 0 else {
                throw IRError("q_num_heads and kv_num_heads must both be positive, the first a multiple of the second", at: node)
            }
            group = qHeads / kvHeads
        }
        for (name, x) in [("Q", q), ("K", k), ("V", v)] {
            if let r = rank(of: x), r != (threeD ? 3 : 4) {
                throw IRError("\(name) is of rank \(r); with q_num_heads and kv_num_heads it is 3-D, else 4-D", at: node)
            }
        }
        func heads(_ x: String, _ count: Int, _ step: String) -> String {
            let split = emit("Reshape", "\(step)_split", [x, ints([0, 0, count, -1], "heads")])
            return emit("Transpose", "\(step)_heads", [split], ["perm": .ints([0, 2, 1, 3])])
        }
        let (q4, k4, v4) =
            threeD
            ? (heads(q, qHeads!, "q"), heads(k, kvHeads!, "k"), heads(v, kvHeads!, "v")) : (q, k, v)
        if !threeD, let hq = knownType(of: q)?.shape?.dims[1].value, let hkv = knownType(of: k)?.shape?.dims[1].value {
            guard hkv > 0, hq % hkv == 0 else {
                throw IRError("Q's \(hq) heads are not a multiple of K's \(hkv)", at: node)
            }
            group = hq / hkv
        }

        // Q and K each times √scale (the definition's order), the default scale 1/√D.
        let root: String
        var headSize = knownType(of: q)?.shape?.dims.last?.value
        if threeD, let size = headSize { headSize = size % qHeads! == 0 ? size / qHeads! : nil }
        if let scale = node.float("scale") {
            root = scalarConstant(scale.squareRoot(), like: q, hint: "scale_root")
        } else if let headSize {
            root = scalarConstant((1 / Float(headSize).squareRoot()).squareRoot(), like: q, hint: "scale_root")
        } else {
            let size = emit("Cast", "head_size", [extents(q4, 3, 4, "head")], ["to": .int(Int(DType.float32.rawValue))])
            root = emit("Sqrt", "scale_root", [emit("Reciprocal", "scale", [emit("Sqrt", "head_root", [size])])])
        }
        let qs = emit("Mul", "q_scaled", [q4, root]), ks = emit("Mul", "k_scaled", [k4, root])

        // Grouped-query K and V: each key-value head repeated for the query heads it serves.
        func repeated(_ x: String, _ step: String) -> String {
            if group == 1 { return x }
            let count =
                group.map { ints([$0], "group") }
                ?? emit("Div", "group", [extents(q4, 1, 2, "q_heads"), extents(x, 1, 2, "\(step)_heads")])
            let spread = emit("Unsqueeze", "\(step)_spread", [x, ints([2], "axis")])
            let times = emit("Concat", "\(step)_times", [ints([1, 1], "ones"), count, ints([1, 1], "ones")], ["axis": .int(0)])
            let copies = emit("Expand", "\(step)_repeat", [spread, times])
            let merged = emit(
                "Concat", "\(step)_merged_shape",
                [extents(x, 0, 1, "\(step)_batch"), ints([-1], "all"), extents(x, 2, 4, "\(step)_rows")], ["axis": .int(0)])
            return emit("Reshape", "\(step)_merged", [copies, merged])
        }
        let kt = emit("Transpose", "k_transposed", [repeated(ks, "k")], ["perm": .ints([0, 1, 3, 2])])
        var scores = emit("MatMul", "scores", [qs, kt])
        let softcap = node.float("softcap", default: 0)
        if softcap > 0 {
            let cap = scalarConstant(softcap, like: q, hint: "softcap")
            scores = emit("Mul", "capped", [emit("Tanh", "tanh", [emit("Div", "uncapped", [scores, cap])]), cap])
        }

        // The mask and the causal triangle, as biases.
        let masked = scalarConstant(Self.maskedBias, like: q, hint: "masked")
        var guardRows: String?
        if let mask = node.input(3) {
            guard let dtype = knownType(of: mask)?.dtype else {
                throw IRError("attn_mask's element type is not known here; it must be bool or Q's", at: node)
            }
            if dtype == .bool {
                let zero = scalarConstant(0, like: q, hint: "zero")
                scores = emit("Add", "masked", [scores, emit("Where", "mask_bias", [mask, zero, masked])])
                let allowed = emit("Cast", "allowed", [mask], ["to": .int(Int(DType.float32.rawValue))])
                guardRows = emit("ReduceMax", "any_allowed", [allowed, ints([-1], "last")], ["keepdims": .int(1)])
            } else {
                scores = emit("Add", "masked", [scores, mask])
            }
        }
        // The causal triangle and the sliding window: a plane of masked biases, the part of
        // it above diagonal k (upper, key j >= query i + k) or below it (j <= i + k) added.
        var plane: String?
        func maskBeyond(_ step: String, diagonal k: Int, upper: Bool) {
            plane =
                plane
                ?? emit(
                    "ConstantOfShape", "plane", [extents(scores, 2, 4, "scores")],
                    ["value": .tensor(Tensor([Self.maskedBias], shape: [1]))])
            let part = emit("Trilu", step, [plane!, int64Scalar(k, hint: "diagonal")], ["upper": .int(upper ? 1 : 0)])
            scores = emit("Add", "\(step)_masked", [scores, part])
        }
        if node.int("is_causal", default: 0) != 0 { maskBeyond("causal", diagonal: 1, upper: true) }
        // A query at i sees keys i - left ... i + right (a bound of -1 leaves its side open).
        if right >= 0 { maskBeyond("window_right", diagonal: right + 1, upper: true) }
        if left >= 0 { maskBeyond("window_left", diagonal: -(left + 1), upper: false) }
        var weights = emit("Softmax", "weights", [scores], ["axis": .int(-1)])
        if let guardRows { weights = emit("Mul", "guarded", [weights, guardRows]) }

        // The product with V, merged back into [B, S, heads·D] for 3-D inputs.
        let values = repeated(v4, "v")
        guard threeD else {
            nodes.append(Node(op: "MatMul", name: node.name, inputs: [weights, values], outputs: node.outputs))
            return
        }
        let y4 = emit("MatMul", "y_heads", [weights, values])
        let y = emit("Transpose", "y_rows", [y4], ["perm": .ints([0, 2, 1, 3])])
        nodes.append(Node(op: "Reshape", name: node.name, inputs: [y, ints([0, 0, -1], "merged")], outputs: node.outputs))
    }
}
