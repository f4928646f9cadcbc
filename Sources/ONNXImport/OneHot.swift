// OneHot (opsets 9 and 11), imported as the comparison it is: each index, cast to int64
// (a float index truncated, as onnxruntime does) and taken from the end when negative, is
// compared with 0 ..< depth laid along the new axis, and `Where` picks the on or the off
// value. An index outside [-depth, depth) matches nothing: all off.
import IR

extension ImportContext {
    /// Emits OneHot `node` (indices of known rank, depth a scalar or one-element tensor of
    /// any numeric type, values [off, on]; `axis` default -1, counted in the output's rank).
    mutating func emitOneHot(_ node: Node) throws {
        guard node.inputs.count == 3, let indices = node.input(0), let depth = node.input(1),
            let values = node.input(2), node.outputs.count == 1, let out = node.outputs.first, !out.isEmpty
        else { throw IRError("takes indices, depth and values and gives one output", at: node) }
        guard let rank = rank(of: indices) else {
            throw IRError("needs indices of known rank (fix symbolic dimensions with --input-shape)", at: node)
        }
        let axis = node.int("axis", default: -1)
        guard (-(rank + 1)...rank).contains(axis) else {
            throw IRError("axis \(axis) is outside [\(-(rank + 1)), \(rank)] for indices of rank \(rank)", at: node)
        }
        let at = axis < 0 ? axis + rank + 1 : axis
        if let n = knownType(of: values)?.shape?.concrete.map({ $0.reduce(1, *) }), n != 2 {
            throw IRError("values has \(n) elements; it is [off, on]", at: node)
        }
        if let n = knownType(of: depth)?.shape?.concrete.map({ $0.reduce(1, *) }), n != 1 {
            throw IRError("depth has \(n) elements; it is a scalar", at: node)
        }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let int64 = Attribute.int(Int(DType.int64.rawValue))
        let count = emit(
            "Cast", "depth", [emit("Reshape", "depth_scalar", [depth, int64Constant([], hint: "scalar")])], ["to": int64])
        let index = emit("Cast", "index", [indices], ["to": int64])
        let zero = int64Scalar(0, hint: "zero")
        let wrapped = emit(
            "Where", "wrapped", [emit("Less", "negative", [index, zero]), emit("Add", "from_end", [index, count]), index])
        // 0 ..< depth along the new axis: [depth, 1, ...] with one 1 per axis after it.
        let range = emit("Range", "range", [zero, count, int64Scalar(1, hint: "one")])
        let classes = emit(
            "Reshape", "classes", [range, int64Constant([-1] + Array(repeating: 1, count: rank - at), hint: "classes_shape")])
        let hit = emit("Equal", "hit", [emit("Unsqueeze", "spread", [wrapped, int64Constant([at], hint: "axis")]), classes])
        func value(_ i: Int, _ step: String) -> String {
            emit(
                "Reshape", step,
                [
                    emit(
                        "Slice", "\(step)_slice",
                        [values, int64Constant([i], hint: "start"), int64Constant([i + 1], hint: "end")]),
                    int64Constant([], hint: "scalar"),
                ])
        }
        nodes.append(Node(op: "Where", name: node.name, inputs: [hit, value(1, "on"), value(0, "off")], outputs: [out]))
    }
}
