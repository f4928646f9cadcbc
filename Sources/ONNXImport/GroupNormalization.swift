// GroupNormalization, imported as the InstanceNormalization of its groups it is: the input
// seen as [N, G, rest], each group normalized over its channels and positions, then seen as
// the input's shape again. Opsets 18 to 20 scale and shift per group (InstanceNormalization's
// own scale and bias); from opset 21 per channel, after the groups are seen as channels again.
import IR

extension ImportContext {
    /// Emits GroupNormalization `node` (x, scale, bias; `num_groups` G, `epsilon`) as
    /// Reshape [N, G, -1], InstanceNormalization, and Reshape to x's shape; from opset 21 the
    /// per-channel scale and bias follow as a Mul and an Add over [N, C, -1] (C the scale's
    /// length). `stash_type` (the precision of the statistics) has nothing to choose: the
    /// interpreter's and the vector unit's are Double. New nodes are named `NAME/GroupNormalization_STEP`.
    mutating func emitGroupNormalization(_ node: Node) throws {
        guard node.inputs.count == 3, node.outputs.count == 1, !node.outputs[0].isEmpty,
            let x = node.input(0), let scale = node.input(1), let bias = node.input(2)
        else {
            throw IRError("takes x, scale and bias and gives one output", at: node)
        }
        guard let groups = node.int("num_groups"), groups > 0 else {
            throw IRError("needs a positive num_groups", at: node)
        }
        let epsilon = node.float("epsilon", default: 1e-5)
        func ints(_ values: [Int64], _ hint: String) -> String { int64Constant(values.map(Int.init), hint: hint) }
        func floats(_ value: Float, _ hint: String) -> String {
            addConstant(Tensor([Float](repeating: value, count: groups), shape: [groups]), hint: hint)
        }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let perChannel = opset >= 21
        let grouped = emit("Reshape", "groups", [x, ints([0, Int64(groups), -1], "group_shape")])
        let normalized = emit(
            "InstanceNormalization", "normalize",
            perChannel ? [grouped, floats(1, "ones"), floats(0, "zeros")] : [grouped, scale, bias],
            ["epsilon": .float(epsilon)])
        let shape = emit("Shape", "shape", [x])
        guard perChannel else {
            nodes.append(Node(op: "Reshape", name: node.name, inputs: [normalized, shape], outputs: node.outputs))
            return
        }
        let channels = emit(
            "Concat", "channel_shape", [ints([0], "batch"), emit("Shape", "channels", [scale]), ints([-1], "rest")],
            ["axis": .int(0)])
        let axes = ints([1], "axes")
        let scaled = emit(
            "Mul", "scale",
            [emit("Reshape", "channels_view", [normalized, channels]), emit("Unsqueeze", "scale_column", [scale, axes])])
        let shifted = emit("Add", "shift", [scaled, emit("Unsqueeze", "bias_column", [bias, axes])])
        nodes.append(Node(op: "Reshape", name: node.name, inputs: [shifted, shape], outputs: node.outputs))
    }
}
