// The reductions ONNX defines through others, imported as those: ReduceL1, ReduceL2,
// ReduceSumSquare, ReduceLogSum and ReduceLogSumExp become element-wise ops around a
// ReduceSum (and, for the log of a sum of exponentials, a ReduceMax that keeps it finite),
// so the canonical IR, the interpreter and the lowering know ReduceSum's one definition.
import IR

extension ImportContext {
    /// Emits `node` (axes as an attribute before opset 18, an input from it; `keepdims`,
    /// `noop_with_empty_axes`):
    /// - ReduceL1: ReduceSum(Abs(x)); ReduceL2: Sqrt(ReduceSum(x * x));
    /// - ReduceSumSquare: ReduceSum(x * x); ReduceLogSum: Log(ReduceSum(x));
    /// - ReduceLogSumExp: m + Log(ReduceSum(Exp(x - m))), m = ReduceMax(x) kept as 1s on
    ///   the reduced axes (so that a large x does not overflow exp), then m reshaped as
    ///   the sum when keepdims is 0.
    /// New nodes are named `NAME/OP_STEP`, the last as the node was.
    mutating func emitComposedReduction(_ node: Node) throws {
        guard let x = node.input(0), node.outputs.count == 1, !node.outputs[0].isEmpty else {
            throw IRError("takes data (and axes) and gives one output", at: node)
        }
        var axes = node.inputs.count > 1 ? node.inputs[1] : ""
        if let attribute = node.attributes["axes"] {
            guard axes.isEmpty else { throw IRError("has both the attribute form and the input form of axes", at: node) }
            guard case .ints(let values) = attribute else { throw IRError("attribute \"axes\" must be ints", at: node) }
            axes = addConstant(Tensor(values.map(Int64.init), shape: [values.count]), hint: "axes")
        }
        let keep = node.int("keepdims", default: 1), noop = node.int("noop_with_empty_axes", default: 0)
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        func reduce(_ op: String, _ value: String, keepdims: Int, into output: String? = nil) -> String {
            let attributes: [String: Attribute] = ["keepdims": .int(keepdims), "noop_with_empty_axes": .int(noop)]
            let inputs = axes.isEmpty ? [value] : [value, axes]
            guard let output else { return emit(op, op == "ReduceSum" ? "sum" : "max", inputs, attributes) }
            nodes.append(Node(op: op, name: node.name, inputs: inputs, outputs: [output], attributes: attributes))
            return output
        }
        func finish(_ op: String, _ inputs: [String]) {
            nodes.append(Node(op: op, name: node.name, inputs: inputs, outputs: node.outputs))
        }
        switch node.op {
        case "ReduceL1":
            _ = reduce("ReduceSum", emit("Abs", "abs", [x]), keepdims: keep, into: node.outputs[0])
        case "ReduceSumSquare":
            _ = reduce("ReduceSum", emit("Mul", "square", [x, x]), keepdims: keep, into: node.outputs[0])
        case "ReduceL2":
            finish("Sqrt", [reduce("ReduceSum", emit("Mul", "square", [x, x]), keepdims: keep)])
        case "ReduceLogSum":
            finish("Log", [reduce("ReduceSum", x, keepdims: keep)])
        default:  // ReduceLogSumExp
            let peak = reduce("ReduceMax", x, keepdims: 1)
            let sum = reduce("ReduceSum", emit("Exp", "exp", [emit("Sub", "shifted", [x, peak])]), keepdims: keep)
            let log = emit("Log", "log", [sum])
            let offset = keep != 0 ? peak : emit("Reshape", "peak", [peak, emit("Shape", "shape", [log])])
            finish("Add", [log, offset])
        }
    }
}
