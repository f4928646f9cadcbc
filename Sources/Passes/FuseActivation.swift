// fuse-activation: an activation that directly follows a matrix op becomes an attribute of
// that op, so the backend applies it as the accumulators drain instead of a second pass
// over the output.
import IR

/// Folds `A(P(...))` into `P(...)` carrying `npucc.activation = A`, for P in Conv,
/// ConvTranspose, Gemm and MatMul and A in Relu, LeakyRelu and Clip with constant bounds.
/// P's output takes A's name. Guarantees that no such activation reads a matrix op's output
/// that has no other user. Leaves alone a producer whose output has other users or is a
/// graph output (the unactivated value is still needed), one that already carries a fused
/// activation, and Clips whose bounds are not constants.
public struct FuseActivation: Pass {
    public let tag = "fuse-activation"
    public let summary = "Record Relu, LeakyRelu and Clip after a matrix op as part of it"

    public init() {}

    static let producers: Set<String> = ["Conv", "ConvTranspose", "Gemm", "MatMul"]

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        let users = graph.users()
        let producers = graph.producers()
        let outputs = Set(graph.outputs.map(\.name))
        var removed = Set<Int>()
        for (i, a) in graph.nodes.enumerated() {
            guard let x = a.input(0), let p = producers[x], Self.producers.contains(graph.nodes[p].op),
                  users[x]?.count == 1, !outputs.contains(x), a.outputs.count == 1,
                  graph.nodes[p].outputs.count == 1, graph.nodes[p].attributes[FusedActivationAttributes.activation] == nil,
                  let fused = attributes(of: a, graph) else { continue }
            var producer = graph.nodes[p]
            for (key, value) in fused { producer.attributes[key] = value }
            producer.outputs[0] = a.outputs[0]
            graph.types[x] = nil
            graph.nodes[p] = producer
            removed.insert(i)
            stats.add("fused \(a.op)")
        }
        graph.nodes = graph.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return stats
    }

    /// The attributes recording activation `a`, or nil when it cannot be fused.
    private func attributes(of a: Node, _ graph: Graph) -> [String: Attribute]? {
        switch a.op {
        case "Relu":
            return [FusedActivationAttributes.activation: .string("Relu")]
        case "LeakyRelu":
            return [FusedActivationAttributes.activation: .string("LeakyRelu"),
                    FusedActivationAttributes.alpha: .float(a.float("alpha", default: 0.01))]
        case "Clip":
            var out: [String: Attribute] = [FusedActivationAttributes.activation: .string("Clip")]
            for (k, key) in [(1, FusedActivationAttributes.minimum), (2, FusedActivationAttributes.maximum)] {
                guard let name = a.input(k) else { continue }
                guard let t = graph.constants[name], t.dtype == .float32, t.count == 1 else { return nil }
                out[key] = .float(t.floats()[0])
            }
            return out
        default:
            return nil
        }
    }
}
