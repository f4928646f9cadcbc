// LpPool and GlobalLpPool, imported as the sums they are: each window's (Σ |x|^p)^(1/p),
// from an AveragePool of |x|^p that counts its padding (whose zeros add nothing) times the
// window's size, or a ReduceSum over the spatial axes.
import IR

extension ImportContext {
    /// Emits LpPool or GlobalLpPool `node` (`p`, an integer, or before opset 2 a float,
    /// default 2) as Pow(sum, 1/p) of sum = AveragePool(Pow(Abs(x), p), count_include_pad
    /// 1) · Π kernel_shape (its kernel, strides, pads, auto_pad and dilations), or
    /// ReduceSum(Pow(Abs(x), p)) over the spatial axes, kept; p = 1 and 2 as Abs, x · x and
    /// Sqrt. ceil_mode 1 is refused: a window past the padded input would count positions
    /// that are not there. New nodes are named `NAME/OP_STEP`.
    mutating func emitLpPool(_ node: Node) throws {
        guard node.inputs.count == 1, let x = node.input(0), node.outputs.count == 1, !node.outputs[0].isEmpty else {
            throw IRError("takes one input and gives one output", at: node)
        }
        let p: Float
        switch node.attributes["p"] {
        case .int(let i)?: p = Float(i)
        case .float(let f)?: p = f
        case nil: p = 2
        default: throw IRError("p must be a number", at: node)
        }
        guard p > 0, p.isFinite else { throw IRError("p \(p) must be positive", at: node) }
        guard node.int("ceil_mode", default: 0) == 0 else {
            throw IRError("ceil_mode 1 is not supported (a window past the padded input)", at: node)
        }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let powered =
            p == 1
            ? emit("Abs", "magnitude", [x])
            : p == 2
                ? emit("Mul", "squared", [x, x])
                : emit("Pow", "powered", [emit("Abs", "magnitude", [x]), scalarConstant(p, like: x, hint: "p")])
        let sum: String
        if node.op == "GlobalLpPool" {
            guard let rank = rank(of: x), rank >= 3 else {
                throw IRError("needs an input of known rank, at least 3 ([N, C, spatial...])", at: node)
            }
            sum = emit(
                "ReduceSum", "sum", [powered, int64Constant(Array(2..<rank), hint: "spatial")], ["keepdims": .int(1)])
        } else {
            guard let kernel = node.ints("kernel_shape"), !kernel.isEmpty, kernel.allSatisfy({ $0 > 0 }) else {
                throw IRError("needs kernel_shape", at: node)
            }
            var attributes = node.attributes
            attributes["p"] = nil
            attributes["count_include_pad"] = .int(1)
            let average = emit("AveragePool", "average", [powered], attributes)
            sum = emit("Mul", "sum", [average, scalarConstant(Float(kernel.reduce(1, *)), like: x, hint: "window")])
        }
        let (op, inputs) =
            p == 1
            ? ("Identity", [sum]) : p == 2 ? ("Sqrt", [sum]) : ("Pow", [sum, scalarConstant(1 / p, like: x, hint: "root")])
        nodes.append(Node(op: op, name: node.name, inputs: inputs, outputs: node.outputs))
    }
}
