// ImageScaler, the experimental op early exporters put in front of vision models (removed
// from ONNX in opset 10), imported as the Mul and Add it is: scale * x + bias per channel.
import IR

extension ImportContext {
    /// Emits ImageScaler `node` (input [N, C, H, W]; `scale` default 1, `bias` one value per
    /// channel) as Add(Mul(x, scale), bias [1, C, 1, 1]). New nodes are named `NAME/OP_STEP`.
    mutating func emitImageScaler(_ node: Node) throws {
        guard node.inputs.count == 1, let x = node.input(0), node.outputs.count == 1, !node.outputs[0].isEmpty else {
            throw IRError("takes one input and gives one output", at: node)
        }
        if let rank = rank(of: x), rank != 4 { throw IRError("scales [N, C, H, W] images, not rank \(rank)", at: node) }
        let bias = node.floats("bias") ?? []
        if let dims = knownType(of: x)?.shape?.dims, dims.count > 1, let channels = dims[1].value, !bias.isEmpty,
            bias.count != channels
        {
            throw IRError("bias has \(bias.count) values for \(channels) channels", at: node)
        }
        let scale = node.float("scale", default: 1)
        let scaled = scale == 1 ? x : emitStep(of: node, "Mul", "scale", [x, scalarConstant(scale, like: x, hint: "scale")])
        let offsets = addConstant(Tensor(bias.isEmpty ? [0] : bias, shape: [1, max(bias.count, 1), 1, 1]), hint: "bias")
        nodes.append(Node(op: "Add", name: node.name, inputs: [scaled, offsets], outputs: node.outputs))
    }
}
