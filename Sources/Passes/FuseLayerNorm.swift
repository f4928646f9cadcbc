// fuse-layernorm: a layer normalization spelled out in element-wise ops and reductions, as
// exporters write it for opsets before 17 (torch.onnx's nn.LayerNorm; BERT, GPT-2 and ViT
// exports): mean, deviation, its square, their mean, epsilon, square root, quotient, and the
// scale and shift after them, becomes the one LayerNormalization it computes, which the
// vector unit runs as one row pass instead of eight passes over the tensor.
import IR

/// Rewrites
///
///     m = ReduceMean(x, trailing axes, keepdims=1); d = Sub(x, m); p = Pow(d, 2) or Mul(d, d)
///     v = ReduceMean(p, the same axes, keepdims=1); e = Add(v, ε); s = Sqrt(e); n = Div(d, s)
///     [y = Mul(n, γ) [; y = Add(y, β)]]
///
/// (either operand order of the commutative Add and Mul), where ε is a float32 scalar
/// constant and γ and β are float32 constants of the normalized axes' shape (or one value,
/// or leading 1s before it), every value between read by that chain alone and none a graph
/// output, into LayerNormalization(x, γ (ones without it), β) with `axis` the first reduced
/// axis and `epsilon` ε.
///
/// Requires: a verified graph with types inferred and constants folded (the reductions'
/// axes and ε constant).
/// Guarantees: each rewritten chain's last output is the LayerNormalization's, of the same
/// shape; its values are the normalization's, computed as the vector unit's row kernel
/// computes it (the statistics in Double), within a few float32 roundings of the chain's.
/// Leaves alone: chains over axes that are not the trailing ones, with a value read
/// elsewhere or output, a variable ε, γ or β, or float types other than float32.
public struct FuseLayerNorm: Pass {
    public let tag = "fuse-layernorm"
    public let summary = "Fuse a layer normalization spelled out in element-wise ops into LayerNormalization"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        // Readers count each input a node reads a value by, and a graph output as one.
        let producer = graph.producers(), users = graph.users()
        var readers = users.mapValues(\.count)
        for output in graph.outputs { readers[output.name, default: 0] += 1 }
        var removed = Set<Int>()
        var replaced: [Int: Node] = [:]
        for (i, node) in graph.nodes.enumerated() where node.op == "Div" && !removed.contains(i) {
            guard let chain = Chain(division: i, graph, producer: producer, readers: readers) else { continue }
            // The scale and shift after the quotient, when they are the normalized axes' constants.
            var steps = [i], scale: String?, bias: String?
            func onlyReader(of value: String) -> Int? { readers[value] == 1 ? users[value]?.first : nil }
            /// The other operand of `node`, a Mul or Add of `value` and a constant of the
            /// normalized axes.
            func constantOperand(_ op: String, after value: String) -> (Int, String)? {
                guard let j = onlyReader(of: value), graph.nodes[j].op == op, graph.nodes[j].inputs.count == 2,
                    graph.nodes[j].inputs.filter({ $0 == value }).count == 1
                else { return nil }
                let other = graph.nodes[j].inputs[0] == value ? graph.nodes[j].inputs[1] : graph.nodes[j].inputs[0]
                return chain.affine(other, graph) ? (j, other) : nil
            }
            if let (j, g) = constantOperand("Mul", after: node.outputs[0]) {
                (steps, scale) = (steps + [j], g)
                if let (k, b) = constantOperand("Add", after: graph.nodes[j].outputs[0]) { (steps, bias) = (steps + [k], b) }
            }
            let last = steps.last!, y = graph.nodes[last].outputs[0]
            let normalized = chain.normalized
            let scaleName =
                scale.map { chain.broadcast($0, graph, into: &graph, named: "\(y)_scale") }
                ?? graph.addConstant(
                    "\(y)_scale", Tensor([Float](repeating: 1, count: normalized.reduce(1, *)), shape: normalized))
            let biasName = bias.map { chain.broadcast($0, graph, into: &graph, named: "\(y)_bias") }
            replaced[last] = Node(
                op: "LayerNormalization", name: graph.nodes[last].name.isEmpty ? y : graph.nodes[last].name,
                inputs: [chain.x, scaleName] + (biasName.map { [$0] } ?? []), outputs: [y],
                attributes: ["axis": .int(chain.axis), "epsilon": .float(chain.epsilon)])
            removed.formUnion(chain.nodes + steps.dropLast())
            stats.add("LayerNormalization")
        }
        graph.nodes = graph.nodes.indices.compactMap { replaced[$0] ?? (removed.contains($0) ? nil : graph.nodes[$0]) }
        return stats
    }
}

/// The statistics part of a spelled-out layer normalization, found from its quotient
/// n = Div(d, s): the nodes before it (by index), its input, its axes and its epsilon.
private struct Chain {
    var nodes: [Int]
    var x: String
    /// The normalized (trailing) axes' extents, and the input's rank (its leading extents
    /// may be symbolic).
    var normalized: [Int]
    var rank: Int
    var epsilon: Float
    /// The first normalized axis.
    var axis: Int { rank - normalized.count }

    init?(division i: Int, _ graph: Graph, producer: [String: Int], readers: [String: Int]) {
        let division = graph.nodes[i]
        guard division.inputs.count == 2 else { return nil }
        let (d, s) = (division.inputs[0], division.inputs[1])
        /// The node making `value`, when it is `op`, `value` is float32 and `count` inputs
        /// read it (graph outputs counting as readers).
        func made(_ value: String, by op: String, readBy count: Int = 1) -> (Int, Node)? {
            guard let j = producer[value], graph.nodes[j].op == op, readers[value] == count,
                graph.nodes[j].outputs.count == 1, graph.type(of: value)?.dtype == .float32
            else { return nil }
            return (j, graph.nodes[j])
        }
        func scalar(_ value: String) -> Float? {
            guard let t = graph.constants[value], t.dtype == .float32, t.count == 1 else { return nil }
            return t.floats()[0]
        }
        // s = Sqrt(Add(v, ε)); v = ReduceMean(p); p = Pow(d, 2) or Mul(d, d).
        guard let (sqrtAt, _) = made(s, by: "Sqrt"), let (addAt, add) = made(graph.nodes[sqrtAt].inputs[0], by: "Add"),
            add.inputs.count == 2
        else { return nil }
        let (varianceName, epsilonValue) =
            scalar(add.inputs[1]).map { (add.inputs[0], $0) } ?? scalar(add.inputs[0]).map { (add.inputs[1], $0) }
            ?? ("", 0)
        guard !varianceName.isEmpty, epsilonValue >= 0, let (varianceAt, variance) = made(varianceName, by: "ReduceMean")
        else { return nil }
        let squareName = variance.inputs[0]
        guard let j = producer[squareName], readers[squareName] == 1 else { return nil }
        let square = graph.nodes[j]
        let squares =
            square.op == "Pow" && square.inputs.count == 2 && square.inputs[0] == d && scalar(square.inputs[1]) == 2
            || square.op == "Mul" && square.inputs.count == 2 && square.inputs[0] == d && square.inputs[1] == d
        // d = Sub(x, m), read by the square and the quotient (Mul(d, d) reads it twice).
        guard squares, let (subAt, sub) = made(d, by: "Sub", readBy: square.op == "Mul" ? 3 : 2), sub.inputs.count == 2,
            let (meanAt, mean) = made(sub.inputs[1], by: "ReduceMean"), mean.inputs[0] == sub.inputs[0],
            let shape = graph.type(of: sub.inputs[0])?.shape, shape == graph.type(of: d)?.shape,
            let axes = ConsecutiveReductions.axes(mean, graph, rank: shape.rank),
            ConsecutiveReductions.axes(variance, graph, rank: shape.rank) == axes,
            mean.int("keepdims", default: 1) == 1, variance.int("keepdims", default: 1) == 1,
            axes == Set((shape.rank - axes.count)..<shape.rank),
            let normalized = Shape(Array(shape.dims.suffix(axes.count))).concrete,
            !graph.outputs.contains(where: { [d, s, squareName, varianceName, add.outputs[0], sub.inputs[1]].contains($0.name) })
        else { return nil }
        nodes = [meanAt, subAt, j, varianceAt, addAt, sqrtAt]
        (x, self.normalized, rank, epsilon) = (sub.inputs[0], normalized, shape.rank, epsilonValue)
    }

    /// Whether `value` is a float32 constant that a scale or shift of the normalized axes
    /// can be: one value, or their shape with leading 1s.
    func affine(_ value: String, _ graph: Graph) -> Bool {
        guard let t = graph.constants[value], t.dtype == .float32 else { return false }
        return t.count == 1
            || Array(t.shape.drop { $0 == 1 }) == Array(normalized.drop { $0 == 1 }) && t.count == normalized.reduce(1, *)
                && t.shape.count <= rank
    }

    /// `value` (an `affine` constant) as a constant of the normalized axes' shape.
    func broadcast(_ value: String, _ graph: Graph, into out: inout Graph, named name: String) -> String {
        let t = graph.constants[value]!
        if t.shape == normalized { return value }
        let v = t.floats()
        return out.addConstant(
            name, Tensor(t.count == 1 ? [Float](repeating: v[0], count: normalized.reduce(1, *)) : v, shape: normalized))
    }
}
