// ScatterElements (torch's scatter and scatter_add, scatter_reduce) and opset 9's Scatter,
// imported as the ScatterND they are: each index names one element along the axis, so with
// the data's strides it is a flat index into the data read as one column, and a ScatterND
// of the column writes (or reduces into) the elements.
import IR

extension ImportContext {
    /// Emits ScatterElements or Scatter `node` (data, indices and updates, the last two of one
    /// shape and all of one rank; `axis`, `reduction`) as
    /// Reshape(ScatterND(Reshape(data, [-1]), Unsqueeze(flat, [-1]), updates, reduction),
    /// Shape(data)), `flat` the elements' flat indices as GatherElements computes them. New
    /// nodes are named `NAME/OP_STEP`.
    mutating func emitScatterElements(_ node: Node) throws {
        guard node.inputs.count == 3, let data = node.input(0), let indices = node.input(1),
            let updates = node.input(2), node.outputs.count == 1, !node.outputs[0].isEmpty
        else { throw IRError("takes data, indices and updates and gives one output", at: node) }
        let ranks = [data, indices, updates].compactMap { rank(of: $0) }
        guard let rank = ranks.first, rank > 0 else {
            throw IRError("the rank of the data, indices and updates must be known", at: node)
        }
        guard ranks.allSatisfy({ $0 == rank }) else {
            throw IRError("data, indices and updates must be of one rank, not \(ranks)", at: node)
        }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let flat = try flatIndices(data, indices, rank: rank, node)
        let column = emit("Reshape", "column", [data, int64Constant([-1], hint: "column")])
        let scattered = emit(
            "ScatterND", "scattered", [column, emit("Unsqueeze", "index", [flat, int64Constant([-1], hint: "last")]), updates],
            ["reduction": .string(node.string("reduction", default: "none"))])
        nodes.append(
            Node(
                op: "Reshape", name: node.name, inputs: [scattered, emit("Shape", "shape", [data])], outputs: node.outputs))
    }
}
