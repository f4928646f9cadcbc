// Operators ONNX defines as functions of others, imported as those: Celu, ThresholdedRelu,
// Shrink, IsNaN, IsInf, Hardmax, MeanVarianceNormalization, and Xor as the And, Or and Not it is. Each runs on the vector unit
// as the ops it is made of.
import IR

extension ImportContext {
    /// Emits `node` as the ops its ONNX function body names (new nodes `NAME/OP_STEP`):
    /// - Celu: Max(x, 0) + Min(alpha · (Exp(x / alpha) − 1), 0);
    /// - ThresholdedRelu: Where(x > alpha, x, 0);
    /// - Shrink: Where(x < −lambd, x + bias, Where(x > lambd, x − bias, 0));
    /// - Xor: And(Or(x, y), Not(And(x, y)));
    /// - IsNaN: Not(Equal(x, x)); IsInf: Equal(x, +inf) and/or Equal(x, −inf) as its flags say;
    /// - Hardmax (opset 13): Cast(Equal(positions along the axis, ArgMax(x, keepdims)), x's type);
    ///   before 13 the same over Flatten(x, axis)'s rows, then Reshape to x's shape;
    /// - MeanVarianceNormalization: (x − ReduceMean(x)) / (Sqrt(ReduceMean(x²) − ReduceMean(x)²)
    ///   + 1e-9) over `axes` (default [0, 2, 3]).
    mutating func emitFunctionOp(_ node: Node) throws {
        let operands = node.op == "Xor" ? 2 : 1
        guard node.inputs.count == operands, let x = node.input(0), node.outputs.count == 1, !node.outputs[0].isEmpty else {
            throw IRError("takes \(operands == 1 ? "one input" : "two inputs") and gives one output", at: node)
        }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        func constant(_ v: Float, _ hint: String) -> String { scalarConstant(v, like: x, hint: hint) }
        func finish(_ op: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) {
            nodes.append(Node(op: op, name: node.name, inputs: inputs, outputs: node.outputs, attributes: attributes))
        }
        switch node.op {
        case "Celu":
            let alpha = constant(node.float("alpha", default: 1), "alpha"), zero = constant(0, "zero")
            let exp = emit("Exp", "exp", [emit("Div", "scaled", [x, alpha])])
            let negative = emit("Mul", "negative", [alpha, emit("Sub", "expm1", [exp, constant(1, "one")])])
            finish("Add", [emit("Max", "positive", [x, zero]), emit("Min", "clipped", [negative, zero])])
        case "ThresholdedRelu":
            let above = emit("Greater", "above", [x, constant(node.float("alpha", default: 1), "alpha")])
            finish("Where", [above, x, constant(0, "zero")])
        case "Shrink":
            let lambd = node.float("lambd", default: 0.5), bias = constant(node.float("bias", default: 0), "bias")
            let upper = emit(
                "Where", "upper",
                [
                    emit("Greater", "above", [x, constant(lambd, "lambd")]), emit("Sub", "lowered", [x, bias]),
                    constant(0, "zero"),
                ])
            finish(
                "Where", [emit("Less", "below", [x, constant(-lambd, "minus_lambd")]), emit("Add", "raised", [x, bias]), upper])
        case "Xor":
            // Before opset 7 a broadcast along `axis` aligns y elsewhere than numpy does.
            guard node.attributes["axis"] == nil else {
                throw IRError("Xor with a legacy broadcast axis is not supported", at: node)
            }
            let y = node.inputs[1]
            finish("And", [emit("Or", "either", [x, y]), emit("Not", "not_both", [emit("And", "both", [x, y])])])
        case "IsNaN":
            finish("Not", [emit("Equal", "ordered", [x, x])])
        case "IsInf":
            let positive = node.int("detect_positive", default: 1) != 0, negative = node.int("detect_negative", default: 1) != 0
            let up = positive ? emit("Equal", "positive", [x, constant(.infinity, "inf")]) : nil
            let down = negative ? emit("Equal", "negative", [x, constant(-.infinity, "minus_inf")]) : nil
            switch (up, down) {
            case let (u?, d?): finish("Or", [u, d])
            case let (u?, nil): finish("Identity", [u])
            case let (nil, d?): finish("Identity", [d])
            case (nil, nil): finish("Equal", [x, constant(.nan, "nan")])  // detects nothing: all false
            }
        case "Hardmax":
            // Before opset 13, over the axes from `axis` (default 1) flattened into one.
            let legacy = opset < 13
            let axis = legacy ? -1 : node.int("axis", default: -1)
            let rows = legacy ? emit("Flatten", "rows", [x], ["axis": .int(node.int("axis", default: 1))]) : x
            let index = emit("ArgMax", "index", [rows], ["axis": .int(axis), "keepdims": .int(1)])
            let taken = emit("Equal", "taken", [try positions(along: axis, of: rows, node), index])
            let to: [String: Attribute] = ["to": .int(Int((knownType(of: x)?.dtype ?? .float32).rawValue))]
            if legacy {
                finish("Reshape", [emit("Cast", "chosen", [taken], to), emit("Shape", "shape", [x])])
            } else {
                finish("Cast", [taken], to)
            }
        case "MeanVarianceNormalization":
            let axes = int64Constant(node.ints("axes") ?? [0, 2, 3], hint: "axes")
            let mean = emit("ReduceMean", "mean", [x, axes], ["keepdims": .int(1)])
            let meanOfSquares = emit(
                "ReduceMean", "mean_of_squares", [emit("Mul", "square", [x, x]), axes], ["keepdims": .int(1)])
            let variance = emit("Sub", "variance", [meanOfSquares, emit("Mul", "mean_squared", [mean, mean])])
            let deviation = emit("Add", "deviation", [emit("Sqrt", "root", [variance]), constant(1e-9, "epsilon")])
            finish("Div", [emit("Sub", "centred", [x, mean]), deviation])
        default:
            throw IRError("\(node.op) is not a function op npucc imports", at: node)
        }
    }
}
