// RotaryEmbedding (opset 23), imported as the rotation it defines: the cos and sin rows of
// each position (looked up by position_ids when given) times the two halves (or the even
// and odd elements) of each head's first rotary_embedding_dim values, the rest passed on.
import IR

extension ImportContext {
    /// Emits RotaryEmbedding `node` (X [B, H, S, D], or [B, S, H·D] with `num_heads`;
    /// cos_cache and sin_cache [B, S, r/2], or [positions, r/2] with position_ids [B, S];
    /// `rotary_embedding_dim` r, default D; `interleaved`): with X in [B, S, H, D] order,
    /// x1 and x2 the halves of its first r values (or their even and odd elements), cos and
    /// sin given a heads axis, real = cos · x1 − sin · x2 and imag = sin · x1 + cos · x2
    /// concatenated (or interleaved again), then the unrotated values, then X's own order.
    /// New nodes are named `NAME/RotaryEmbedding_STEP`.
    mutating func emitRotaryEmbedding(_ node: Node) throws {
        guard (3...4).contains(node.inputs.count), let x = node.input(0), let cosCache = node.input(1),
            let sinCache = node.input(2), node.outputs.count == 1, !node.outputs[0].isEmpty
        else { throw IRError("takes X, cos_cache, sin_cache (and position_ids) and gives one output", at: node) }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        func ints(_ values: [Int], _ hint: String) -> String { int64Constant(values, hint: hint) }
        func last(_ v: String, from: Int, to: Int, step: Int = 1, _ name: String) -> String {
            emit("Slice", name, [v, ints([from], "start"), ints([to], "end"), ints([-1], "last"), ints([step], "step")])
        }
        let heads = node.int("num_heads", default: 0)
        let threeD: Bool
        switch rank(of: x) {
        case 3?: threeD = true
        case 4?: threeD = false
        case nil: threeD = heads > 0
        case let r?: throw IRError("X is of rank \(r); RotaryEmbedding rotates 3-D or 4-D inputs", at: node)
        }
        if threeD && heads <= 0 { throw IRError("a 3-D X needs num_heads", at: node) }
        // X as [B, S, H, D].
        let rows =
            threeD
            ? emit("Reshape", "heads", [x, ints([0, 0, heads, -1], "heads_shape")])
            : emit("Transpose", "rows", [x], ["perm": .ints([0, 2, 1, 3])])
        // cos and sin [B, S, 1, r/2].
        func table(_ cache: String, _ name: String) -> String {
            let rows = node.input(3).map { emit("Gather", "\(name)_rows", [cache, $0], ["axis": .int(0)]) } ?? cache
            return emit("Unsqueeze", name, [rows, ints([2], "heads_axis")])
        }
        let cos = table(cosCache, "cos"), sin = table(sinCache, "sin")
        let dimension = node.int("rotary_embedding_dim", default: 0)
        let interleaved = node.int("interleaved", default: 0) != 0
        let end = dimension > 0 ? dimension : Int(Int32.max)
        let rotated = dimension > 0 ? last(rows, from: 0, to: dimension, "rotated") : rows
        let x1: String, x2: String
        if interleaved {
            (x1, x2) = (last(rotated, from: 0, to: end, step: 2, "even"), last(rotated, from: 1, to: end, step: 2, "odd"))
        } else {
            let halves = emitSplit(of: node, rotated, into: 2, step: "halves")
            (x1, x2) = (halves[0], halves[1])
        }
        let real = emit("Sub", "real", [emit("Mul", "cos_x1", [cos, x1]), emit("Mul", "sin_x2", [sin, x2])])
        let imaginary = emit("Add", "imaginary", [emit("Mul", "sin_x1", [sin, x1]), emit("Mul", "cos_x2", [cos, x2])])
        var result: String
        if interleaved {
            let pairs = emit(
                "Concat", "pairs",
                [
                    emit("Unsqueeze", "real_pairs", [real, ints([-1], "pair_axis")]),
                    emit("Unsqueeze", "imaginary_pairs", [imaginary, ints([-1], "pair_axis")]),
                ], ["axis": .int(-1)])
            result = emit("Reshape", "interleaved", [pairs, ints([0, 0, 0, -1], "rows_shape")])
        } else {
            result = emit("Concat", "joined", [real, imaginary], ["axis": .int(-1)])
        }
        if dimension > 0 {
            result = emit(
                "Concat", "with_rest", [result, last(rows, from: dimension, to: Int(Int32.max), "rest")], ["axis": .int(-1)])
        }
        nodes.append(
            threeD
                ? Node(op: "Reshape", name: node.name, inputs: [result, ints([0, 0, -1], "merged")], outputs: node.outputs)
                : Node(
                    op: "Transpose", name: node.name, inputs: [result], outputs: node.outputs,
                    attributes: ["perm": .ints([0, 2, 1, 3])]))
    }
}
