// LpNormalization, imported as the division by a norm it is: x / ReduceL1 or ReduceL2 of x
// along the axis (kept), and 0 where that norm is 0, as onnxruntime gives.
import IR

extension ImportContext {
    /// Emits LpNormalization `node` (`axis`, default -1; `p` 1 or 2, default 2): the norm
    /// `ReduceSum(Abs(x))` or `Sqrt(ReduceSum(x * x))` along the axis with keepdims, then
    /// `Where(Equal(norm, 0), 0, x / norm)`. New nodes are named `NAME/LpNormalization_STEP`.
    mutating func emitLpNormalization(_ node: Node) throws {
        guard node.inputs.count == 1, let x = node.input(0), node.outputs.count == 1, !node.outputs[0].isEmpty else {
            throw IRError("takes one input and gives one output", at: node)
        }
        let p = node.int("p", default: 2)
        guard p == 1 || p == 2 else { throw IRError("p is \(p); only 1 and 2 are defined", at: node) }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let axis = node.int("axis", default: -1)
        let axes = addConstant(Tensor([Int64(axis)], shape: [1]), hint: "axes")
        let magnitude = p == 1 ? emit("Abs", "abs", [x]) : emit("Mul", "square", [x, x])
        var norm = emit("ReduceSum", "sum", [magnitude, axes], ["keepdims": .int(1)])
        if p == 2 { norm = emit("Sqrt", "sqrt", [norm]) }
        let zero = addConstant(Tensor(scalar: Float(0)), hint: "zero")
        let empty = emit("Equal", "empty", [norm, zero])
        let quotient = emit("Div", "divide", [x, norm])
        nodes.append(Node(op: "Where", name: node.name, inputs: [empty, zero, quotient], outputs: node.outputs))
    }
}
