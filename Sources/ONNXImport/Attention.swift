// Attention (opsets 23 and 25), imported as the scaled dot-product attention it defines, from
// ops the NPU already runs: Q and K each scaled by the root of the scale, their product (a
// MatMul of two activations), the softcap, the mask, the causal triangle and the sliding
// window added as biases, Softmax over the keys, and its product with V. 3-D inputs are split
// into heads and merged back; grouped-query K and V are repeated over the query heads they
// serve. A key-value cache (past_key, past_value) is concatenated ahead of K and V, which
// gives present_key and present_value, and moves the causal triangle and the window on by
// its length, as the operator defines.
import IR

extension ImportContext {
    /// The bias of a masked-out position. Finite, so that a row every position of which is
    /// masked stays a number through Softmax (its guard then zeroes it), and small enough
    /// that four of them (a boolean mask, the causal triangle and both sides of a window)
    /// add without overflowing;
    /// exp of it is 0, so a partly masked row is as with -inf.
    static let maskedBias: Float = -1e30

    /// Emits Attention `node` (Q, K, V, optional attn_mask, past_key and past_value;
    /// `q_num_heads` and `kv_num_heads` with 3-D inputs [B, S, heads·D], else 4-D
    /// [B, heads, S, D]; `scale` default 1/√D, `softcap`, `is_causal`, `left_window_size`,
    /// `right_window_size` and `qk_matmul_output_mode`). The cache, always 4-D, goes ahead
    /// of K and V along the sequence; present_key and present_value are the keys and values
    /// then (K and V without a cache). A query at i sees the keys up to i + P (causal) and
    /// i + P - left ... i + P + right (window), P the cache's length. A boolean mask's
    /// masked positions, the causal triangle's upper part and the keys outside the window get
    /// `maskedBias`; a mask shorter than the keys is padded at the end with false or -inf,
    /// and a row masked entirely (by those, or by -inf in a float mask) is zero, as the
    /// operator defines. With nonpad_kv_seqlen (a cache kept outside the op), batch b's keys
    /// from nonpad[b] on are masked, and the causal triangle and the window move on by
    /// nonpad[b] - Sq. qk_matmul_output is the scaled product (mode 0), after the softcap
    /// (1), with the biases added (2), or the guarded Softmax (3). Refused by name:
    /// nonpad_kv_seqlen with past_key, and a softmax_precision other than float32.
    /// New nodes are named `NAME/Attention_STEP`.
    mutating func emitAttention(_ node: Node) throws {
        guard let q = node.input(0), let k = node.input(1), let v = node.input(2), let out = node.outputs.first,
            !out.isEmpty
        else { throw IRError("needs Q, K and V and gives Y", at: node) }
        let (pastKey, pastValue) = (node.input(4), node.input(5))
        guard (pastKey == nil) == (pastValue == nil) else {
            throw IRError("past_key and past_value come together: give both or neither", at: node)
        }
        let nonpad = node.input(6)
        if nonpad != nil && pastKey != nil {
            throw IRError("nonpad_kv_seqlen (a cache outside the op) and past_key (one inside it) exclude each other", at: node)
        }
        func output(_ index: Int) -> String? {
            index < node.outputs.count && !node.outputs[index].isEmpty ? node.outputs[index] : nil
        }
        let mode = node.int("qk_matmul_output_mode", default: 0)
        guard (0...3).contains(mode) else {
            throw IRError("qk_matmul_output_mode \(mode) is not one of 0, 1, 2 and 3", at: node)
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
        /// `op` of `inputs` into the node's output `index` when it has one, else into a fresh value.
        func emit(_ op: String, _ step: String, _ inputs: [String], into index: Int, _ attributes: [String: Attribute] = [:])
            -> String
        {
            guard let name = output(index) else { return emit(op, step, inputs, attributes) }
            let base = node.name.isEmpty ? out : node.name
            nodes.append(Node(op: op, name: "\(base)/Attention_\(step)", inputs: inputs, outputs: [name], attributes: attributes))
            return name
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
        for (name, x) in [("past_key", pastKey), ("past_value", pastValue)] {
            if let x, let r = rank(of: x), r != 4 { throw IRError("\(name) is of rank \(r); a cache is 4-D", at: node) }
        }
        func heads(_ x: String, _ count: Int, _ step: String) -> String {
            let split = emit("Reshape", "\(step)_split", [x, ints([0, 0, count, -1], "heads")])
            return emit("Transpose", "\(step)_heads", [split], ["perm": .ints([0, 2, 1, 3])])
        }
        let q4 = threeD ? heads(q, qHeads!, "q") : q
        // The keys and values: the cache's first, then this step's.
        func present(_ x: String, _ past: String?, _ index: Int, _ step: String) -> String {
            guard let past else { return output(index) == nil ? x : emit("Identity", step, [x], into: index) }
            return emit("Concat", step, [past, x], into: index, ["axis": .int(2)])
        }
        let k4 = present(threeD ? heads(k, kvHeads!, "k") : k, pastKey, 1, "present_key")
        let v4 = present(threeD ? heads(v, kvHeads!, "v") : v, pastValue, 2, "present_value")
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
        let product = scores
        let softcap = node.float("softcap", default: 0)
        if softcap > 0 {
            let cap = scalarConstant(softcap, like: q, hint: "softcap")
            scores = emit("Mul", "capped", [emit("Tanh", "tanh", [emit("Div", "uncapped", [scores, cap])]), cap])
        }
        let capped = scores

        // The cache's length, and the keys', when known here.
        let cached: Int?, cachedLength: String?
        if let pastKey {
            cached = knownType(of: pastKey)?.shape.flatMap { $0.rank == 4 ? $0.dims[2].value : nil }
            cachedLength =
                cached == nil ? extent(of: pastKey, 2, in: node, step: "cached_length") : nil
        } else {
            (cached, cachedLength) = (0, nil)
        }
        let keyCount = knownType(of: k)?.shape.flatMap { $0.dims[threeD ? 1 : 2].value }.flatMap { n in cached.map { n + $0 } }

        // The biases: the mask's, the causal triangle's and the window's, added together,
        // then to the scores. `masks` is what decides a row masked entirely: each masked
        // position of it at most `maskedBias`, each other 0.
        var scalars: [Float: String] = [:]
        /// A scalar of Q's type, added once.
        func scalar(_ x: Float, _ hint: String) -> String {
            if let name = scalars[x] { return name }
            let name = scalarConstant(x, like: q, hint: hint)
            scalars[x] = name
            return name
        }
        let (masked, zero) = (scalar(Self.maskedBias, "masked"), scalar(0, "zero"))
        var masks: String?
        func addMask(_ part: String, _ step: String) {
            masks = masks.map { emit("Add", step, [$0, part]) } ?? part
        }
        var floatMask: String?
        if var mask = node.input(3) {
            guard let dtype = knownType(of: mask)?.dtype else {
                throw IRError("attn_mask's element type is not known here; it must be bool or Q's", at: node)
            }
            // A mask of fewer keys than there are: the ones past its end masked.
            if let maskShape = knownType(of: mask)?.shape, let given = maskShape.dims.last?.value, let all = keyCount,
                given < all
            {
                var pads = [Int](repeating: 0, count: 2 * maskShape.rank)
                pads[2 * maskShape.rank - 1] = all - given
                let fill =
                    dtype == .bool
                    ? addConstant(Tensor(bools: [false], shape: []), hint: "masked_out")
                    : scalar(-.infinity, "minus_infinity")
                mask = emit("Pad", "mask_padded", [mask, ints(pads, "mask_pads"), fill])
            }
            if dtype == .bool {
                addMask(emit("Where", "mask_bias", [mask, zero, masked]), "mask_added")
            } else {
                floatMask = mask
            }
        }
        // The causal triangle and the sliding window: a plane of masked biases, the part of
        // it above diagonal d (upper, key j >= query i + d) or below it (j <= i + d), d moved
        // on by the cache's length.
        var plane: String?
        func maskBeyond(_ step: String, diagonal d: Int, upper: Bool) {
            plane =
                plane
                ?? emit(
                    "ConstantOfShape", "plane", [extents(scores, 2, 4, "scores")],
                    ["value": .tensor(Tensor([Self.maskedBias], shape: [1]))])
            let diagonal =
                cached.map { int64Scalar(d + $0, hint: "diagonal") }
                ?? emit("Add", "\(step)_diagonal", [cachedLength!, int64Scalar(d, hint: "diagonal")])
            addMask(emit("Trilu", step, [plane!, diagonal], ["upper": .int(upper ? 1 : 0)]), "\(step)_added")
        }
        let causal = node.int("is_causal", default: 0) != 0
        if let nonpad {
            // A cache outside the op: batch b's keys from nonpad[b] on are padding, and its
            // queries sit after its nonpad[b] - Sq first keys. E = j - i - that offset, per
            // batch [B, 1, Sq, Skv]: the causal triangle is E <= 0, the window -left <= E <= right.
            func length(_ x: String, _ step: String) -> String { extent(of: x, 2, in: node, step: step) }
            let (zero64, one64) = (int64Scalar(0, hint: "zero"), int64Scalar(1, hint: "one"))
            let keys = emit("Range", "keys", [zero64, length(k4, "key_count"), one64])
            let queries = emit(
                "Reshape", "queries",
                [emit("Range", "query_range", [zero64, length(q4, "query_count"), one64]), ints([-1, 1], "column")])
            let perBatch = ints([-1, 1, 1, 1], "per_batch")
            let lengths = emit("Reshape", "nonpad", [nonpad, perBatch])
            let offset = emit("Sub", "offset", [lengths, length(q4, "query_total")])
            let e = emit("Sub", "frontier", [emit("Sub", "distance", [keys, queries]), offset])
            func allowed(_ open: String, _ step: String) {
                addMask(emit("Where", "\(step)_bias", [open, zero, masked]), "\(step)_added")
            }
            allowed(emit("Less", "unpadded", [keys, lengths]), "padding")
            if causal { allowed(emit("LessOrEqual", "causal", [e, zero64]), "causal") }
            if right >= 0 {
                allowed(emit("LessOrEqual", "window_right", [e, int64Scalar(right, hint: "right")]), "window_right")
            }
            if left >= 0 { allowed(emit("GreaterOrEqual", "window_left", [e, int64Scalar(-left, hint: "left")]), "window_left") }
        } else {
            if causal { maskBeyond("causal", diagonal: 1, upper: true) }
            // A query at i sees keys i - left ... i + right (a bound of -1 leaves its side open).
            if right >= 0 { maskBeyond("window_right", diagonal: right + 1, upper: true) }
            if left >= 0 { maskBeyond("window_left", diagonal: -(left + 1), upper: false) }
        }
        if let masks { scores = emit("Add", "masked", [scores, masks]) }
        if let floatMask { scores = emit("Add", "float_masked", [scores, floatMask]) }
        let biased = scores
        var weights = emit("Softmax", "weights", [scores], ["axis": .int(-1)])

        // A row masked entirely is zero. The causal triangle alone masks none (without
        // nonpad_kv_seqlen): a query sees at least the first key. A float mask's -inf masks a
        // position too.
        if floatMask != nil || masks != nil && (node.input(3) != nil || left >= 0 || right >= 0 || nonpad != nil) {
            if let floatMask {
                let infinite = emit(
                    "Equal", "mask_infinite", [floatMask, scalar(-.infinity, "minus_infinity")])
                addMask(emit("Where", "mask_infinite_bias", [infinite, masked, zero]), "infinite_added")
            }
            let most = emit("ReduceMax", "most_open", [masks!, ints([-1], "last")], ["keepdims": .int(1)])
            let open = emit("Greater", "open", [most, scalar(Self.maskedBias / 2, "half_masked")])
            weights = emit("Where", "guarded", [open, weights, zero])
        }
        if output(3) != nil {
            var chosen = [product, capped, biased, weights][mode]
            if mode == 2, let masks {
                // Masked positions as the operator's -inf biases leave them.
                let closed = emit(
                    "Less", "closed", [masks, scalar(Self.maskedBias / 2, "half_masked")])
                chosen = emit(
                    "Where", "qk_closed", [closed, scalar(-.infinity, "minus_infinity"), biased])
            }
            _ = emit("Identity", "qk_matmul_output", [chosen], into: 3)
        }

        // The product with V, merged back into [B, S, heads·D] for 3-D inputs.
        let values = repeated(v4, "v")
        guard threeD else {
            nodes.append(Node(op: "MatMul", name: node.name, inputs: [weights, values], outputs: [out]))
            return
        }
        let y4 = emit("MatMul", "y_heads", [weights, values])
        let y = emit("Transpose", "y_rows", [y4], ["perm": .ints([0, 2, 1, 3])])
        nodes.append(Node(op: "Reshape", name: node.name, inputs: [y, ints([0, 0, -1], "merged")], outputs: [out]))
    }
}
