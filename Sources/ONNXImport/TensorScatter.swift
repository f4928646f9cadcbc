// TensorScatter (opset 24): a key-value cache of a fixed length M along `axis`, with the
// sequence `update` of length S written into it at each batch's write index (modulo M in
// circular mode). Imported as the selection it is, from ops that run on the NPU: each cache
// position p reads update position p - w[b] (modulo M when circular) where that lies in
// [0, S), and keeps its old value elsewhere (`GatherElements` of the update at the clamped
// positions, then `Where`).
import IR

extension ImportContext {
    /// Emits TensorScatter `node` (past_cache, update, optional write_indices [batch];
    /// `axis` default -2, not the batch axis; `mode` linear or circular).
    mutating func emitTensorScatter(_ node: Node) throws {
        guard (2...3).contains(node.inputs.count), let cache = node.input(0), let update = node.input(1),
            node.outputs.count == 1, let out = node.outputs.first, !out.isEmpty
        else { throw IRError("takes past_cache, update and optional write_indices and gives present_cache", at: node) }
        guard let rank = rank(of: cache) else {
            throw IRError("needs past_cache of known rank (fix symbolic dimensions with --input-shape)", at: node)
        }
        let axis = node.int("axis", default: -2), mode = node.string("mode", default: "linear")
        guard (-rank..<rank).contains(axis), (axis < 0 ? axis + rank : axis) != 0 else {
            throw IRError("axis \(axis) is not a sequence axis of past_cache of rank \(rank) (the batch axis is 0)", at: node)
        }
        guard mode == "linear" || mode == "circular" else {
            throw IRError("mode \"\(mode)\" is neither linear nor circular", at: node)
        }
        let at = axis < 0 ? axis + rank : axis, start = nodes.count
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let (length, written) = (
            extent(of: cache, at, in: node, step: "cache_length"), extent(of: update, at, in: node, step: "update_length")
        )
        // Positions along the axis, [1, .., M, .., 1]; write indices, [B, 1, .., 1].
        var shape = [Int](repeating: 1, count: rank)
        shape[at] = -1
        let positions = emit(
            "Reshape", "positions",
            [
                emit("Range", "range", [int64Scalar(0, hint: "zero"), length, int64Scalar(1, hint: "one")]),
                int64Constant(shape, hint: "positions_shape"),
            ])
        let indices =
            node.input(2).map {
                emit(
                    "Reshape", "write_indices",
                    [$0, int64Constant([-1] + Array(repeating: 1, count: rank - 1), hint: "batch_shape")])
            } ?? int64Scalar(0, hint: "zero")
        var relative = emit("Sub", "relative", [positions, indices])
        if mode == "circular" { relative = emit("Mod", "wrapped", [relative, length], ["fmod": .int(0)]) }
        let inside = emit(
            "And", "inside",
            [
                emit("GreaterOrEqual", "from_start", [relative, int64Scalar(0, hint: "zero")]),
                emit("Less", "before_end", [relative, written]),
            ])
        let last = emit("Sub", "last", [written, int64Scalar(1, hint: "one")])
        let clamped = emit("Clip", "clamped", [relative, int64Scalar(0, hint: "zero"), last])
        let spread = emit("Expand", "spread", [clamped, emit("Shape", "cache_shape", [cache])])
        // GatherElements reads the indices' rank and extents from their types.
        typeEmittedNodes(from: start)
        let base = node.name.isEmpty ? out : node.name, gathered = freshName("\(base)_gathered")
        try emitGatherElements(
            Node(
                op: "GatherElements", name: "\(base)/TensorScatter_gathered", inputs: [update, spread], outputs: [gathered],
                attributes: ["axis": .int(at)]))
        nodes.append(Node(op: "Where", name: node.name, inputs: [inside, gathered, cache], outputs: [out]))
    }
}
