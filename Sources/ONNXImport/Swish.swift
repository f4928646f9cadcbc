// Swish (opset 24) and SwiGLU (opset 28), imported as the x * Sigmoid(alpha * x) they are:
// the vector unit's Sigmoid between multiplies.
import IR

extension ImportContext {
    /// Emits Swish `node` as x * Sigmoid(alpha * x), and SwiGLU `node` (gate A, value B) as
    /// (A * Sigmoid(alpha * A)) * B. An alpha of 1 (the default) multiplies nothing before
    /// the Sigmoid. New nodes are named `NAME/OP_STEP`.
    mutating func emitSwish(_ node: Node) throws {
        let gated = node.op == "SwiGLU"
        guard node.inputs.count == (gated ? 2 : 1), !node.inputs.contains(""), node.outputs.count == 1,
            !node.outputs[0].isEmpty
        else {
            throw IRError("takes \(gated ? "two inputs" : "one input") and gives one output", at: node)
        }
        let x = node.inputs[0]
        let alpha = node.float("alpha", default: 1)
        let scaled = alpha == 1 ? x : emitStep(of: node, "Mul", "scaled", [x, scalarConstant(alpha, like: x, hint: "alpha")])
        let sigmoid = emitStep(of: node, "Sigmoid", "sigmoid", [scaled])
        let inputs = gated ? [emitStep(of: node, "Mul", "swish", [x, sigmoid]), node.inputs[1]] : [x, sigmoid]
        nodes.append(Node(op: "Mul", name: node.name, inputs: inputs, outputs: node.outputs))
    }
}
