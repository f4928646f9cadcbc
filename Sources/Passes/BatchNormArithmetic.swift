// batchnorm-arithmetic: an inference BatchNormalization whose scale, bias, mean or variance
// is computed, not constant, becomes the arithmetic ONNX defines it by. tf2onnx writes
// Keras's LayerNormalization (at its default epsilon) so: a "fused" batch normalization in
// training mode over the reshaped input, its batch statistics computed by ReduceMean and
// passed as the mean and variance of an inference BatchNormalization.
import IR

/// Rewrites BatchNormalization (inference mode, one output) whose input 1 to 4 is not a
/// constant, when its input's rank is known, into
/// Y = (X − mean) / Sqrt(var + epsilon) · scale + B, each of the four [C] operands
/// reshaped to [C, 1, ...] so it runs along axis 1.
///
/// Requires: a verified graph with types inferred; constants folded (a BatchNormalization
/// whose operands fold stays one, for fold-batchnorm and the lowering's per-channel affine).
/// Guarantees: each rewritten node's output is computed by the element-wise ops ONNX's
/// definition names, in its order.
/// Leaves alone: BatchNormalization with constant operands, in training mode, with more
/// than one output, or with an input of unknown rank.
public struct BatchNormArithmetic: Pass {
    public let tag = "batchnorm-arithmetic"
    public let summary = "Write a BatchNormalization of computed statistics as its arithmetic"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        var nodes: [Node] = []
        for node in graph.nodes {
            guard node.op == "BatchNormalization", node.domain.isEmpty || node.domain == "ai.onnx",
                node.int("training_mode", default: 0) == 0, node.outputs.dropFirst().allSatisfy(\.isEmpty),
                node.inputs.count == 5, (1...4).contains(where: { graph.constants[node.inputs[$0]] == nil }),
                let x = node.input(0), let rank = graph.type(of: x)?.shape?.rank, rank >= 2, let y = node.outputs.first
            else {
                nodes.append(node)
                continue
            }
            let base = node.name.isEmpty ? y : node.name
            func value(_ step: String) -> String { graph.unusedName("\(y)_\(step)") }
            func emit(_ op: String, _ step: String, _ inputs: [String], output: String? = nil) -> String {
                let out = output ?? value(step)
                nodes.append(Node(op: op, name: graph.unusedName("\(base)/\(step)"), inputs: inputs, outputs: [out]))
                graph.types[out] = nil
                return out
            }
            let shape = graph.addConstant(
                "\(y)_channels", Tensor([-1] + [Int64](repeating: 1, count: rank - 2), shape: [rank - 1]))
            let (scale, bias, mean, variance) = (
                emit("Reshape", "scale", [node.inputs[1], shape]), emit("Reshape", "bias", [node.inputs[2], shape]),
                emit("Reshape", "mean", [node.inputs[3], shape]), emit("Reshape", "variance", [node.inputs[4], shape])
            )
            let epsilon = graph.addConstant("\(y)_epsilon", Tensor(scalar: node.float("epsilon", default: 1e-5)))
            let deviation = emit(
                "Sqrt", "deviation", [emit("Add", "variance_epsilon", [variance, epsilon])])
            let normalized = emit("Div", "normalized", [emit("Sub", "centred", [x, mean]), deviation])
            _ = emit("Add", "shifted", [emit("Mul", "scaled", [normalized, scale]), bias], output: y)
            stats.add("rewritten")
        }
        graph.nodes = nodes
        return stats
    }
}
