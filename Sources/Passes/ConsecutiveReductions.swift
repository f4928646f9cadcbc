// consecutive-reductions: a reduction over axes that are not consecutive (Keras's
// GroupNormalization over a channels-last input, as tf2onnx writes it: a mean over the
// rows, the columns and the channels of each group, axes [1, 2, 4]) reads its input
// transposed so those axes come last, where the vector unit reduces them as one row.
import IR

/// Rewrites ReduceSum, ReduceMean, ReduceMax, ReduceMin and ReduceProd whose input shape
/// and axes are known and whose reduced axes, axes of extent 1 aside, are not consecutive,
/// into a Transpose that moves the reduced axes after the others (each group in its own
/// order), the reduction over those trailing axes without keepdims, and, with keepdims, a
/// Reshape to the original output's shape.
///
/// Requires: a verified graph with types inferred.
/// Guarantees: each rewritten node's output has its shape, and the values its reduction
/// gives: the same elements reduced, in the order of the original's axes.
/// Leaves alone: reductions over consecutive axes, over no axis, or of unknown shape.
public struct ConsecutiveReductions: Pass {
    public let tag = "consecutive-reductions"
    public let summary = "Transpose the axes a reduction reads apart to the end"

    public init() {}

    static let ops: Set<String> = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd"]

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        var nodes: [Node] = []
        for node in graph.nodes {
            guard Self.ops.contains(node.op), node.domain.isEmpty || node.domain == "ai.onnx", let x = node.input(0),
                let y = node.outputs.first, !y.isEmpty, let dims = graph.type(of: x)?.shape?.concrete,
                let axes = Self.axes(node, graph, rank: dims.count), !Self.consecutive(axes, dims)
            else {
                nodes.append(node)
                continue
            }
            let base = node.name.isEmpty ? y : node.name
            let kept = (0..<dims.count).filter { !axes.contains($0) }
            let permutation = kept + axes.sorted()
            let moved = graph.unusedName("\(y)_reduced_last")
            nodes.append(
                Node(
                    op: "Transpose", name: graph.unusedName("\(base)/reduced_last"), inputs: [x], outputs: [moved],
                    attributes: ["perm": .ints(permutation)]))
            let trailing = Array(kept.count..<dims.count)
            var reduction = node
            reduction.inputs[0] = moved
            reduction.inputs[1] = graph.addConstant(
                "\(y)_trailing_axes", Tensor(trailing.map(Int64.init), shape: [trailing.count]))
            reduction.attributes["keepdims"] = .int(0)
            if node.int("keepdims", default: 1) != 0 {
                let flat = graph.unusedName("\(y)_flat")
                reduction.outputs = [flat]
                nodes.append(reduction)
                let shape = dims.enumerated().map { axes.contains($0.offset) ? Int64(1) : Int64($0.element) }
                nodes.append(
                    Node(
                        op: "Reshape", name: graph.unusedName("\(base)/kept_axes"),
                        inputs: [flat, graph.addConstant("\(y)_shape", Tensor(shape, shape: [shape.count]))], outputs: [y]))
            } else {
                nodes.append(reduction)
            }
            stats.add(node.op)
        }
        graph.nodes = nodes
        return stats
    }

    /// The reduced axes (the constant input 1, where the IR writes every reduction's axes),
    /// normalized; nil when they are not known or there are none.
    static func axes(_ node: Node, _ graph: Graph, rank: Int) -> Set<Int>? {
        guard let name = node.input(1), let t = graph.constants[name] else { return nil }
        let given = t.int64s().map(Int.init)
        guard !given.isEmpty, given.allSatisfy({ (-rank..<rank).contains($0) }) else { return nil }
        return Set(given.map { $0 < 0 ? $0 + rank : $0 })
    }

    /// Whether the reduced axes of extent other than 1 form one run, bridged by axes of
    /// extent 1 (the lowering reduces those as one row).
    static func consecutive(_ axes: Set<Int>, _ dims: [Int]) -> Bool {
        let real = axes.filter { dims[$0] != 1 }
        guard let low = real.min(), let high = real.max() else { return true }
        return (low...high).allSatisfy { real.contains($0) || dims[$0] == 1 }
    }
}
