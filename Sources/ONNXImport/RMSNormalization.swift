// RMSNormalization (opset 23), imported as the ops ONNX defines it by: x divided by the root
// of the mean of its squares over the axes from `axis` on (plus epsilon), times the scale.
// The mean is a ReduceMean over trailing axes, which the vector unit reduces in rows.
import IR

extension ImportContext {
    /// Emits RMSNormalization `node` (X, scale; `axis` default -1, `epsilon` default 1e-5,
    /// `stash_type` default 1) as Mul(Div(X, Sqrt(Add(ReduceMean(Mul(X, X)), epsilon))),
    /// scale). With stash_type 1 an X known not to be float32 is cast to float32 for the
    /// first stage and back, as the definition says. New nodes are named `NAME/OP_STEP`.
    mutating func emitRMSNormalization(_ node: Node) throws {
        guard node.inputs.count == 2, !node.inputs.contains(""), node.outputs.count == 1, !node.outputs[0].isEmpty else {
            throw IRError("takes X and scale and gives one output", at: node)
        }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        var x = node.inputs[0]
        let axis = node.int("axis", default: -1)
        let axes: [Int]
        if axis < 0 {
            axes = Array(axis..<0)
        } else if let rank = rank(of: x) {
            guard axis < rank else { throw IRError("axis \(axis) is out of range for rank \(rank)", at: node) }
            axes = Array(axis..<rank)
        } else {
            throw IRError("axis \(axis) counts from the front of an input of unknown rank; give its shape", at: node)
        }
        let stash = node.int("stash_type", default: Int(DType.float32.rawValue))
        let dtype = knownType(of: x)?.dtype
        let widened = stash == Int(DType.float32.rawValue) && dtype != nil && dtype != .float32
        if widened { x = emit("Cast", "widen", [x], ["to": .int(Int(DType.float32.rawValue))]) }
        let mean = emit(
            "ReduceMean", "mean", [emit("Mul", "square", [x, x]), int64Constant(axes, hint: "axes")],
            ["keepdims": .int(1)])
        let epsilon = scalarConstant(node.float("epsilon", default: 1e-5), like: x, hint: "epsilon")
        var normalized = emit("Div", "normalize", [x, emit("Sqrt", "root", [emit("Add", "epsilon", [mean, epsilon])])])
        if widened, let dtype { normalized = emit("Cast", "narrow", [normalized], ["to": .int(Int(dtype.rawValue))]) }
        nodes.append(Node(op: "Mul", name: node.name, inputs: [normalized, node.inputs[1]], outputs: node.outputs))
    }
}
