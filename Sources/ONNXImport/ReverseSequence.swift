// ReverseSequence (Keras's go_backwards and the backward half of a Bidirectional layer, as
// tf2onnx writes them), imported as the GatherElements it is: each batch entry's first
// sequence_lens[b] steps along the time axis in reverse, the rest as they are.
import IR

extension ImportContext {
    /// Emits ReverseSequence `node` (input of rank >= 2, sequence_lens int64 [B], `batch_axis`
    /// default 1, `time_axis` default 0, the two 0 and 1 in either order) as
    /// GatherElements(input, Expand(Where(t < len, len − 1 − t, t), Shape(input)), time_axis),
    /// t the positions along the time axis and len the lengths along the batch axis, each
    /// shaped to broadcast (then imported as GatherElements is). New nodes are named
    /// `NAME/ReverseSequence_STEP`.
    mutating func emitReverseSequence(_ node: Node) throws {
        guard node.inputs.count == 2, let x = node.input(0), let lengths = node.input(1), node.outputs.count == 1,
            !node.outputs[0].isEmpty
        else { throw IRError("takes input and sequence_lens and gives one output", at: node) }
        guard let rank = rank(of: x), rank >= 2 else {
            throw IRError("needs an input of known rank, at least 2", at: node)
        }
        let batch = node.int("batch_axis", default: 1), time = node.int("time_axis", default: 0)
        guard Set([batch, time]) == [0, 1] else {
            throw IRError("batch_axis \(batch) and time_axis \(time) must be 0 and 1, in either order", at: node)
        }
        if let given = constants[lengths], let steps = knownType(of: x)?.shape?.dims[time].value,
            let (b, bad) = given.int64s().enumerated().first(where: { !(0...Int64(steps)).contains($0.element) })
        {
            throw IRError("sequence_lens[\(b)] = \(bad) is outside the time axis's 0 to \(steps) steps", at: node)
        }
        let start = nodes.count
        func emit(_ op: String, _ step: String, _ inputs: [String]) -> String { emitStep(of: node, op, step, inputs) }
        let t = try positions(along: time, of: x, node)
        let length = emit(
            "Reshape", "lengths", [lengths, int64Constant((0..<rank).map { $0 == batch ? -1 : 1 }, hint: "shape")])
        let reversed = emit("Sub", "reversed", [emit("Sub", "last", [length, int64Scalar(1, hint: "one")]), t])
        let index = emit("Where", "index", [emit("Less", "inside", [t, length]), reversed, t])
        let full = emit("Expand", "indices", [index, emit("Shape", "shape", [x])])
        // The indices typed, for GatherElements's rank; its steps and errors keep this node's name.
        typeEmittedNodes(from: start)
        try emitGatherElements(
            Node(op: node.op, name: node.name, inputs: [x, full], outputs: node.outputs, attributes: ["axis": .int(time)]))
    }
}
