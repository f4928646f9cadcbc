// simplify-gemm: a Gemm's alpha, beta and transA folded into its operands, so that every
// Gemm after canonicalization is op(B)·A + C with constant weights where the model had them.
import IR

/// Rewrites Gemm nodes (default domain) toward alpha = 1, beta = 1 and transA = 0:
/// - beta = 0, or no C: C is dropped (the product ignores it) and beta goes;
/// - beta ≠ 1 with a float32 constant C: C becomes beta·C;
/// - alpha ≠ 1 with a float32 constant B (else a constant A): that operand becomes alpha·B
///   (alpha·A);
/// - transA = 1: a constant A is stored transposed; any other A is read through a
///   Transpose (perm [1, 0]) inserted before the Gemm.
///
/// Each scaled or transposed constant is a new constant (the old one is left for
/// eliminate-dead-code when nothing else reads it). Scaling a weight instead of the product
/// rounds once where the product rounded twice: the outputs agree to float32 rounding.
///
/// Requires: a verified graph.
/// Guarantees: a rewritten Gemm computes what it did, up to that rounding; a Transpose it
/// inserts is typed when A's type is known.
/// Leaves alone: alpha when neither A nor B is a float32 constant, beta ≠ 0 with a C that
/// is not one (the lowering names what it cannot take), and every other node.
public struct SimplifyGemm: Pass {
    public let tag = "simplify-gemm"
    public let summary = "Fold a Gemm's alpha, beta and transA into its operands"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        var inserted: [(before: Int, node: Node)] = []
        for i in graph.nodes.indices {
            var node = graph.nodes[i]
            guard node.op == "Gemm", node.domain.isEmpty || node.domain == "ai.onnx", node.inputs.count >= 2 else { continue }
            let beta = node.float("beta", default: 1)
            if node.inputs.count > 2, node.input(2) == nil || beta == 0 {
                node.inputs = Array(node.inputs.prefix(2))
                node.attributes["beta"] = nil
                stats.add("C dropped")
            } else if beta != 1, let c = node.input(2), let t = Self.floatConstant(c, graph) {
                node.inputs[2] = graph.addConstant(c + "_beta", Self.scaled(t, beta))
                node.attributes["beta"] = nil
                stats.add("beta")
            }
            if node.input(2) == nil { node.attributes["beta"] = nil }
            let alpha = node.float("alpha", default: 1)
            if alpha != 1, let k = [1, 0].first(where: { Self.floatConstant(node.inputs[$0], graph) != nil }) {
                let t = Self.floatConstant(node.inputs[k], graph)!
                node.inputs[k] = graph.addConstant(node.inputs[k] + "_alpha", Self.scaled(t, alpha))
                node.attributes["alpha"] = nil
                stats.add("alpha")
            }
            if node.int("transA", default: 0) != 0 {
                let a = node.inputs[0]
                if let t = Self.floatConstant(a, graph), t.rank == 2 {
                    node.inputs[0] = graph.addConstant(a + "_transposed", t.transposedMatrix())
                } else {
                    let name = graph.unusedName(a + "_transposed")
                    let type = graph.type(of: a)
                    let dims = type?.shape?.dims
                    graph.types[name] = TensorType(
                        type?.dtype ?? .float32, dims?.count == 2 ? Shape([dims![1], dims![0]]) : nil)
                    let label = (node.name.isEmpty ? node.outputs[0] : node.name) + "_transpose_a"
                    inserted.append(
                        (
                            i,
                            Node(
                                op: "Transpose", name: graph.unusedName(label), inputs: [a], outputs: [name],
                                attributes: ["perm": .ints([1, 0])])
                        ))
                    node.inputs[0] = name
                }
                node.attributes["transA"] = nil
                stats.add("transA")
            }
            // Attributes at their defaults say nothing.
            if node.float("alpha") == 1 { node.attributes["alpha"] = nil }
            if node.float("beta") == 1 { node.attributes["beta"] = nil }
            if node.int("transA") == 0 { node.attributes["transA"] = nil }
            graph.nodes[i] = node
        }
        for (before, node) in inserted.reversed() { graph.nodes.insert(node, at: before) }
        return stats
    }

    private static func floatConstant(_ name: String, _ graph: Graph) -> Tensor? {
        guard let t = graph.constants[name], t.dtype == .float32 else { return nil }
        return t
    }

    private static func scaled(_ t: Tensor, _ factor: Float) -> Tensor {
        Tensor(t.floats().map { $0 * factor }, shape: t.shape)
    }
}
