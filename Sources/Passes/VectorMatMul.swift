// lift-vector-matmul: a MatMul with a 1-D operand and a constant weight becomes the matrix
// product it stands for, between an Unsqueeze and a Squeeze, with the weight on the right.
import IR

/// Rewrites MatMul nodes (default domain) where ONNX's 1-D rules apply and one operand is a
/// constant:
/// - x [K] · W [K, N] (W constant): Unsqueeze(x, [0]) · W, then Squeeze([0]);
/// - W [M, K] · x [K] (W constant, x not): Unsqueeze(x, [0]) · Wᵀ, then Squeeze([0]),
///   the transposed weight stored as a new constant;
/// - X [..., K] · v [K] (v constant): X · v as a [K, 1] constant, then Squeeze([-1]).
/// Each result is what MatMul gives (the same sums: each output is one dot product of the
/// same operands).
///
/// Requires: a verified graph with types inferred.
/// Guarantees: the rewritten nodes compute the same outputs, typed as before.
/// Leaves alone: products of two non-constant operands, constants on the left of a
/// non-vector operand, and operands of unknown rank.
public struct LiftVectorMatMul: Pass {
    public let tag = "lift-vector-matmul"
    public let summary = "Make a MatMul with a 1-D operand a matrix product"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        var nodes: [Node] = []
        for node in graph.nodes {
            guard node.op == "MatMul", node.domain.isEmpty || node.domain == "ai.onnx", node.inputs.count == 2,
                let rewritten = rewrite(node, &graph)
            else {
                nodes.append(node)
                continue
            }
            nodes += rewritten
            stats.add("products")
        }
        graph.nodes = nodes
        return stats
    }

    private func rewrite(_ node: Node, _ graph: inout Graph) -> [Node]? {
        let (a, b) = (node.inputs[0], node.inputs[1])
        let (ca, cb) = (graph.constants[a], graph.constants[b])
        guard let ra = ca?.rank ?? graph.type(of: a)?.shape?.rank, let rb = cb?.rank ?? graph.type(of: b)?.shape?.rank,
            ra == 1 || rb == 1, let y = node.outputs.first
        else { return nil }
        let label = node.name.isEmpty ? y : node.name
        var x: String, weight: String, squeezed: Int
        if ra == 1, ca == nil, rb == 2, cb != nil {
            (x, weight, squeezed) = (a, b, 0)
        } else if ra == 2, let w = ca, w.dtype == .float32, rb == 1, cb == nil {
            weight = graph.addConstant(a + "_transposed", w.transposedMatrix())
            (x, squeezed) = (b, 0)
        } else if ra >= 2, ca == nil, rb == 1, let v = cb {
            weight = graph.addConstant(b + "_column", Tensor(dtype: v.dtype, shape: [v.count, 1], storage: v.storage))
            let product = lifted(y, &graph)
            return [
                Node(op: "MatMul", name: node.name, inputs: [a, weight], outputs: [product], attributes: node.attributes),
                squeeze(product, into: y, axis: -1, label, &graph),
            ]
        } else {
            return nil
        }
        let row = graph.unusedName(x + "_row")
        let rowType = graph.type(of: x)
        graph.types[row] = TensorType(rowType?.dtype ?? .float32, rowType?.shape.map { Shape([.known(1)] + $0.dims) })
        let axes = graph.addConstant(label + "_axes", Tensor([Int64(squeezed)], shape: [1]))
        let product = lifted(y, &graph)
        return [
            Node(op: "Unsqueeze", name: graph.unusedName(label + "_unsqueeze"), inputs: [x, axes], outputs: [row]),
            Node(op: "MatMul", name: node.name, inputs: [row, weight], outputs: [product], attributes: node.attributes),
            squeeze(product, into: y, axis: squeezed, label, &graph),
        ]
    }

    /// A name for the product before the Squeeze (typed when shapes are next inferred).
    private func lifted(_ y: String, _ graph: inout Graph) -> String {
        let name = graph.unusedName(y + "_lifted")
        graph.types[name] = TensorType(graph.type(of: y)?.dtype ?? .float32, nil)
        return name
    }

    private func squeeze(_ product: String, into y: String, axis: Int, _ label: String, _ graph: inout Graph) -> Node {
        let axes = graph.addConstant(label + "_squeeze_axes", Tensor([Int64(axis)], shape: [1]))
        return Node(op: "Squeeze", name: graph.unusedName(label + "_squeeze"), inputs: [product, axes], outputs: [y])
    }
}
