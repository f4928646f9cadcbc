// TopK, imported as the rounds of selection it is for the small K models use (a mixture of
// experts' router, a classifier's top five): each round takes the first largest (or
// smallest) element along the axis with ArgMax (ArgMin) and ReduceMax (ReduceMin), then
// masks it out for the next round; the rounds' values and indices are concatenated. Ties go
// to the lower index, as TopK defines, because ArgMax takes the first.
import IR

extension ImportContext {
    /// The largest K imported as rounds.
    static let largestTopK = 64

    /// Emits TopK `node` (X, K a constant of at most `largestTopK`, an attribute before
    /// opset 10; `axis` default -1,
    /// `largest` default 1, `sorted` any: the result is sorted) as K rounds of
    /// `ArgMax`/`ReduceMax` (or `ArgMin`/`ReduceMin`) with keepdims, each masking its element
    /// with -inf (+inf) by `Where(Equal(positions along the axis, index), ...)`, then a
    /// `Concat` of the values and of the indices along the axis. New nodes are named
    /// `NAME/TopK_STEP`.
    mutating func emitTopK(_ node: Node) throws {
        let legacy = opset < 10  // K an attribute
        guard node.inputs.count == (legacy ? 1 : 2), let x = node.input(0), node.outputs.count == 2 else {
            throw IRError("takes X\(legacy ? "" : " and K") and gives Values and Indices", at: node)
        }
        let k: Int
        if legacy {
            guard let given = node.int("k") else { throw IRError("needs attribute k", at: node) }
            k = given
        } else {
            guard let kTensor = node.input(1).flatMap({ constants[$0] }), kTensor.count == 1 else {
                throw IRError("K \"\(node.inputs[1])\" must be a constant (one value) to compile", at: node)
            }
            k = Int(kTensor.int64(at: 0))
        }
        guard (1...Self.largestTopK).contains(k) else {
            throw IRError("K \(k) is not supported (1 to \(Self.largestTopK): each is one round of selection)", at: node)
        }
        if let dtype = knownType(of: x)?.dtype, dtype != .float32 {
            throw IRError("TopK of \(dtype.name) is not supported (float32 only)", at: node)
        }
        let largest = node.int("largest", default: 1) != 0
        let given = node.int("axis", default: -1)
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let axisAttribute: [String: Attribute] = ["axis": .int(given), "keepdims": .int(1)]
        let axes = int64Constant([given], hint: "axes")
        let indexed = try positions(along: given, of: x, node)
        let masked = scalarConstant(largest ? -Float.infinity : Float.infinity, like: x, hint: "masked")
        var remaining = x, values: [String] = [], indices: [String] = []
        for round in 0..<k {
            let index = emit(largest ? "ArgMax" : "ArgMin", "index\(round)", [remaining], axisAttribute)
            values.append(emit(largest ? "ReduceMax" : "ReduceMin", "value\(round)", [remaining, axes], ["keepdims": .int(1)]))
            indices.append(index)
            if round + 1 < k {
                remaining = emit(
                    "Where", "rest\(round)", [emit("Equal", "taken\(round)", [indexed, index]), masked, remaining])
            }
        }
        let base = node.name.isEmpty ? node.outputs[0] : node.name
        for (output, parts, step) in [(node.outputs[0], values, "values"), (node.outputs[1], indices, "indices")] {
            guard !output.isEmpty else { continue }
            nodes.append(
                parts.count == 1
                    ? Node(op: "Identity", name: "\(base)/TopK_\(step)", inputs: parts, outputs: [output])
                    : Node(
                        op: "Concat", name: "\(base)/TopK_\(step)", inputs: parts, outputs: [output],
                        attributes: ["axis": .int(given)]))
        }
    }
}
