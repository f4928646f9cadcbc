// CausalConvWithState (opset 27), the stateful causal depthwise 1-D convolution of Gated
// DeltaNet and Mamba layers, imported as the ops it is made of: the past state (or k - 1
// zeros) before the input along the length, a depthwise Conv of one group per channel
// without padding (and its bias), its optional SiLU as x * Sigmoid(x), and the last k - 1
// positions of that concatenation as the present state.
import IR

extension ImportContext {
    /// Emits CausalConvWithState `node` (input [B, C, L], weight [C, 1, k] of static shape,
    /// optional bias [C] and past_state [B, C, k - 1]; output [B, C, L] and present_state).
    /// New nodes are named `NAME/OP_STEP`.
    mutating func emitCausalConvWithState(_ node: Node) throws {
        func given(_ i: Int) -> String? { node.inputs.count > i && !node.inputs[i].isEmpty ? node.inputs[i] : nil }
        guard (2...4).contains(node.inputs.count), let x = given(0), let weight = given(1),
            (1...2).contains(node.outputs.count), !node.outputs[0].isEmpty
        else {
            throw IRError("takes input, weight, bias and past_state, and gives output and present_state", at: node)
        }
        guard let dims = knownType(of: weight)?.shape?.dims.map(\.value), dims.count == 3, let channels = dims[0],
            dims[1] == 1, let k = dims[2], channels > 0, k > 0
        else {
            throw IRError("needs a weight of static shape (channels, 1, k): the Conv's groups and kernel", at: node)
        }
        let activation = node.string("activation") ?? "none"
        guard ["none", "silu", "swish"].contains(activation) else {
            throw IRError("activation \"\(activation)\" is not one of none, silu, swish", at: node)
        }
        let padded =
            if let past = given(3) {
                emitStep(of: node, "Concat", "padded", [past, x], ["axis": .int(2)])
            } else if k > 1 {
                emitStep(of: node, "Pad", "padded", [x, int64Constant([0, 0, k - 1, 0, 0, 0], hint: "pads")])
            } else {
                x
            }
        let attributes: [String: Attribute] = [
            "group": .int(channels), "kernel_shape": .ints([k]), "pads": .ints([0, 0]), "strides": .ints([1]),
            "dilations": .ints([1]),
        ]
        let convolved = [padded, weight] + (given(2).map { [$0] } ?? [])
        if activation == "none" {
            nodes.append(Node(op: "Conv", name: node.name, inputs: convolved, outputs: [node.outputs[0]], attributes: attributes))
        } else {
            let y = emitStep(of: node, "Conv", "conv", convolved, attributes)
            let sigmoid = emitStep(of: node, "Sigmoid", "sigmoid", [y])
            nodes.append(Node(op: "Mul", name: node.name, inputs: [y, sigmoid], outputs: [node.outputs[0]]))
        }
        guard node.outputs.count == 2, !node.outputs[1].isEmpty else { return }
        // The last k - 1 positions (none for a kernel of 1: from the end to the end).
        let last = Int(Int64.max)
        let starts = int64Constant([k > 1 ? -(k - 1) : last], hint: "starts")
        nodes.append(
            Node(
                op: "Slice", name: "\(node.name.isEmpty ? node.outputs[1] : node.name)/present_state",
                inputs: [padded, starts, int64Constant([last], hint: "ends"), int64Constant([2], hint: "axes")],
                outputs: [node.outputs[1]]))
    }
}
