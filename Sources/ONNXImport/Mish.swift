// Mish, imported as the x * Tanh(Softplus(x)) it is, the vector unit's Softplus and Tanh.
import IR

extension ImportContext {
    /// Emits Mish `node` as x * Tanh(Softplus(x)), the vector unit's Softplus and Tanh.
    mutating func emitMish(_ node: Node) throws {
        guard node.inputs.count == 1, let x = node.input(0), node.outputs.count == 1, !node.outputs[0].isEmpty else {
            throw IRError("takes one input and gives one output", at: node)
        }
        let tanh = emitStep(of: node, "Tanh", "tanh", [emitStep(of: node, "Softplus", "softplus", [x])])
        nodes.append(Node(op: "Mul", name: node.name, inputs: [x, tanh], outputs: node.outputs))
    }
}
