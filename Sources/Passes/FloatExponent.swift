// float-exponent: Pow's integer constant exponent becomes the float32 constant it stands
// for, so that Pow of float32 reads float32 operands alone.
import IR

/// Rewrites Pow nodes whose base is float32 and whose exponent is an int32 or int64
/// constant: the exponent becomes a float32 constant of the same values (ONNX raises the
/// base to the exponent's value whatever its type).
///
/// Requires: a verified graph with types inferred.
/// Guarantees: the same outputs, bit for bit, for exponents of magnitude up to 2^24 (every
/// such integer is a float32); larger ones are left alone.
/// Leaves alone: exponents that are not constants, floating-point exponents, integer bases.
public struct FloatExponent: Pass {
    public let tag = "float-exponent"
    public let summary = "Make Pow's integer constant exponent float32"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        for i in graph.nodes.indices {
            let node = graph.nodes[i]
            guard node.op == "Pow", node.domain.isEmpty || node.domain == "ai.onnx", node.inputs.count == 2,
                graph.type(of: node.inputs[0])?.dtype == .float32, let e = graph.constants[node.inputs[1]],
                e.dtype == .int64 || e.dtype == .int32
            else { continue }
            let values = e.int64s()
            guard values.allSatisfy({ $0.magnitude <= 1 << 24 }) else { continue }
            graph.nodes[i].inputs[1] = graph.addConstant(
                node.inputs[1] + "_float", Tensor(values.map { Float($0) }, shape: e.shape))
            stats.add("exponents")
        }
        return stats
    }
}
