// LinearAttention (opset 27), the recurrent attention of linear-attention, RetNet, GLA and
// (Gated) DeltaNet layers, imported unrolled over its known sequence length as the ops its
// recurrence names. Per kv head the state S is a d_k x d_v matrix; at each position t:
//   gated rules:  S = exp(g_t) * S                    (per head, or per key dimension)
//   delta rules:  u = beta_t * (v_t - Sᵀ k_t), else u = v_t
//                 S = S + k_t ⊗ u
//                 o_t = scale * q_t S                  (each of a kv head's query heads)
// in float32 whatever the inputs' type, as ONNX's reference computes it. A missing past
// state is zeros, so the first position's state is k_0 ⊗ u_0 without the products by zero.
import IR

extension ImportContext {
    /// Emits LinearAttention `node` (query [B, T, Hq·d_k], key [B, T, Hkv·d_k], value
    /// [B, T, Hkv·d_v], optional past_state [B, Hkv, d_k, d_v], decay [B, T, Hkv] or
    /// [B, T, Hkv·d_k], beta [B, T, Hkv] or [B, T, 1]) as steps named `NAME/OP_STEP`.
    /// Refused by node: an unknown sequence length or last dimension, heads that do not
    /// divide them, and a decay or beta the update rule does not take or lacks.
    mutating func emitLinearAttention(_ node: Node) throws {
        func given(_ i: Int) -> String? { node.inputs.count > i && !node.inputs[i].isEmpty ? node.inputs[i] : nil }
        guard (3...6).contains(node.inputs.count), let query = given(0), let key = given(1), let value = given(2),
            (1...2).contains(node.outputs.count), !node.outputs[0].isEmpty
        else {
            throw IRError(
                "takes query, key, value, past_state, decay and beta, and gives output and present_state", at: node)
        }
        let rule = node.string("update_rule") ?? "gated_delta"
        guard ["linear", "gated", "delta", "gated_delta"].contains(rule) else {
            throw IRError("update_rule \"\(rule)\" is not one of linear, gated, delta, gated_delta", at: node)
        }
        let gated = rule.hasPrefix("gated"), delta = rule.hasSuffix("delta")
        guard gated == (given(4) != nil) else {
            throw IRError("update_rule \"\(rule)\" \(gated ? "needs" : "takes no") decay", at: node)
        }
        guard delta == (given(5) != nil) else {
            throw IRError("update_rule \"\(rule)\" \(delta ? "needs" : "takes no") beta", at: node)
        }
        guard let qHeads = node.int("q_num_heads"), let kvHeads = node.int("kv_num_heads"), qHeads > 0, kvHeads > 0,
            qHeads % kvHeads == 0
        else {
            throw IRError("q_num_heads and kv_num_heads must both be positive, the first a multiple of the second", at: node)
        }
        /// The sequence length and last extent of a [B, T, X] input, which must be known.
        func extents(_ name: String, _ x: String) throws -> (length: Int, last: Int) {
            guard let dims = knownType(of: x)?.shape?.dims.map(\.value), dims.count == 3, let t = dims[1], let last = dims[2]
            else {
                throw IRError(
                    "needs \(name) of rank 3 with a known sequence length and last dimension (B, T, heads x size):"
                        + " the recurrence is unrolled over the sequence",
                    at: node)
            }
            return (t, last)
        }
        let (length, qLast) = try extents("query", query)
        let ((kLength, kLast), (vLength, vLast)) = (try extents("key", key), try extents("value", value))
        guard kLength == length, vLength == length else {
            throw IRError("query, key and value have \(length), \(kLength) and \(vLength) positions: they need as many", at: node)
        }
        guard length > 0, qLast % qHeads == 0, vLast % kvHeads == 0, kLast == kvHeads * (qLast / qHeads) else {
            throw IRError(
                "query's \(qLast) values per position are not \(qHeads) heads of the key's \(kLast) / \(kvHeads), "
                    + "or value's \(vLast) are not \(kvHeads) heads (sequence length \(length))",
                at: node)
        }
        let (dk, dv, group) = (qLast / qHeads, vLast / kvHeads, qHeads / kvHeads)
        for (name, index, allowed) in [("decay", 4, [kvHeads, kvHeads * dk]), ("beta", 5, [kvHeads, 1])] {
            guard let x = given(index) else { continue }
            let (t, last) = try extents(name, x)
            guard t == length, allowed.contains(last) else {
                throw IRError(
                    "\(name) is [B, \(t), \(last)]: it needs [B, \(length), \(allowed.map(String.init).joined(separator: " or "))]",
                    at: node)
            }
        }
        if let past = given(3), let dims = knownType(of: past)?.shape?.dims.map(\.value),
            dims.count != 4 || dims[1...].enumerated().contains(where: { i, d in d != nil && d != [kvHeads, dk, dv][i] })
        {
            throw IRError("past_state needs the shape (B, \(kvHeads), \(dk), \(dv))", at: node)
        }

        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        // Every input in float32, and the outputs back in the query's type (the present state
        // in the past state's, when there is one).
        func float(_ x: String, _ step: String) -> String {
            knownType(of: x)?.dtype == .float32 ? x : emit("Cast", step, [x], ["to": .int(Int(DType.float32.rawValue))])
        }
        let (q, k, v) = (float(query, "query_f32"), float(key, "key_f32"), float(value, "value_f32"))
        let decay = given(4).map { emit("Exp", "decay_exp", [float($0, "decay_f32")]) }
        let beta = given(5).map { float($0, "beta_f32") }
        var state = given(3).map { float($0, "past_f32") }
        let scale = node.float("scale").flatMap { $0 == 0 ? nil : $0 } ?? 1 / Float(dk).squareRoot()
        let scaleConstant = addConstant(Tensor(scalar: scale), hint: "scale")
        let axes = int64Constant([1], hint: "axes")
        func shape(_ dims: [Int], _ hint: String) -> String { int64Constant([0] + dims, hint: hint) }
        // The shapes each position's slices are read in: the query's heads by kv head, the key
        // as a column (for the outer product) and as a row (for the delta rule's Sᵀk), the
        // value as a row, the decay per head or per key dimension, beta per head or shared.
        let perKeyDecay = given(4).map { knownType(of: $0)?.shape?.dims[2].value != kvHeads } ?? false
        let betaHeads = given(5).map { knownType(of: $0)?.shape?.dims[2].value == kvHeads ? kvHeads : 1 } ?? 1
        let (qShape, kColumn, kRow, vShape, decayShape, betaShape, outputShape) = (
            shape([kvHeads, group, dk], "q_heads"), shape([kvHeads, dk, 1], "k_column"), shape([kvHeads, 1, dk], "k_row"),
            shape([kvHeads, 1, dv], "v_row"), shape([kvHeads, perKeyDecay ? dk : 1, 1], "decay_heads"),
            shape([betaHeads, 1, 1], "beta_heads"), shape([1, qHeads * dv], "output_position")
        )
        var outputs: [String] = []
        for t in 0..<length {
            let (starts, ends) = (int64Constant([t], hint: "starts"), int64Constant([t + 1], hint: "ends"))
            /// Position t of a [B, T, X] value as [B, dims...].
            func at(_ x: String, _ dims: String, _ step: String) -> String {
                emit("Reshape", "\(step)_\(t)", [emit("Slice", "\(step)_slice_\(t)", [x, starts, ends, axes]), dims])
            }
            if let s = state, let decay {
                state = emit("Mul", "decayed_\(t)", [s, at(decay, decayShape, "decay")])
            }
            var update = at(v, vShape, "v")
            if let beta {
                if let s = state {
                    let retrieved = emit("MatMul", "retrieved_\(t)", [at(k, kRow, "k_row"), s])
                    update = emit("Sub", "residual_\(t)", [update, retrieved])
                }
                update = emit("Mul", "update_\(t)", [at(beta, betaShape, "beta"), update])
            }
            let written = emit("Mul", "written_\(t)", [at(k, kColumn, "k_column"), update])
            state = state.map { emit("Add", "state_\(t)", [$0, written]) } ?? written
            let read = emit("MatMul", "read_\(t)", [at(q, qShape, "q"), state!])
            let scaled = emit("Mul", "scaled_\(t)", [scaleConstant, read])
            outputs.append(emit("Reshape", "output_\(t)", [scaled, outputShape]))
        }
        let all = outputs.count == 1 ? outputs[0] : emit("Concat", "output", outputs, ["axis": .int(1)])
        func finish(_ x: String, into name: String, like original: String, step: String) {
            let dtype = knownType(of: original)?.dtype ?? .float32
            let base = node.name.isEmpty ? node.outputs[0] : node.name
            nodes.append(
                dtype == .float32
                    ? Node(op: "Identity", name: "\(base)/\(step)", inputs: [x], outputs: [name])
                    : Node(
                        op: "Cast", name: "\(base)/\(step)", inputs: [x], outputs: [name],
                        attributes: ["to": .int(Int(dtype.rawValue))]))
        }
        finish(all, into: node.outputs[0], like: query, step: "output")
        if node.outputs.count == 2, !node.outputs[1].isEmpty {
            finish(state!, into: node.outputs[1], like: given(3) ?? query, step: "present_state")
        }
    }
}
