// remove-identity: Identity, inference-mode Dropout, reductions over no axis and casts to
// the type a value already has disappear;
// their readers read the input directly, and a graph output they fed is renamed onto its
// producer.
import IR

/// Removes Identity nodes, Dropout nodes (at inference Dropout passes its data through;
/// ratio and training_mode are ignored) and ReduceMean/Sum/Max/Min/Prod nodes with
/// `noop_with_empty_axes` and no axes (an empty constant or none: the input unchanged), and
/// Cast nodes to their input's own type (a float16 model's casts once read as float32).
/// Readers of the output read the input instead.
/// Where the output is a graph output, whose name must not change, the node producing the
/// input is renamed to produce the graph output directly, and its other readers follow.
///
/// Requires: a verified graph.
/// Guarantees: no Identity, Dropout, reduction over no axis or cast to the input's known
/// type remains, except (a) a
/// Dropout whose mask output is read, and (b) one feeding a graph output from a value that
/// cannot take the output's name: a graph input, a constant, another graph output, or a
/// value already renamed to another output. Graph output names never change.
/// Leaves alone: every other node, constants and types of surviving values.
public struct RemoveIdentity: Pass {
    public let tag = "remove-identity"
    public let summary = "Remove Identity and Dropout"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        let graphOutputs = Set(graph.outputs.map(\.name))
        let producers = graph.producers()
        let readers = Set(graph.nodes.flatMap(\.inputs))
        // alias[y] = x: readers of y read x (resolved transitively).
        var alias: [String: String] = [:]
        func resolve(_ v: String) -> String {
            var v = v
            while let next = alias[v] { v = next }
            return v
        }
        // rename[x] = y: the value x is renamed to the graph output y everywhere.
        var rename: [String: String] = [:]
        var removed = Set<Int>()
        for (i, node) in graph.nodes.enumerated()
        where node.op == "Identity" || node.op == "Dropout" || Self.reducesNothing(node, graph)
            || Self.castsToItsOwnType(node, graph)
        {
            guard node.domain.isEmpty || node.domain == "ai.onnx", let x = node.input(0),
                let y = node.outputs.first, !y.isEmpty
            else { continue }
            if node.outputs.count > 1 && !node.outputs[1].isEmpty
                && (readers.contains(node.outputs[1])
                    || graphOutputs.contains(node.outputs[1]))
            {
                continue
            }
            let source = resolve(x)
            if !graphOutputs.contains(y) {
                alias[y] = source
            } else if producers[source] != nil, !graphOutputs.contains(source), rename[source] == nil {
                rename[source] = y
            } else {
                continue
            }
            removed.insert(i)
            stats.add("removed")
        }
        guard !removed.isEmpty else { return stats }
        func final(_ v: String) -> String {
            let r = resolve(v)
            return rename[r] ?? r
        }
        var nodes: [Node] = []
        for (i, var node) in graph.nodes.enumerated() where !removed.contains(i) {
            node.inputs = node.inputs.map { $0.isEmpty ? $0 : final($0) }
            node.outputs = node.outputs.map { rename[$0] ?? $0 }
            nodes.append(node)
        }
        graph.nodes = nodes
        for (from, to) in rename {
            if let type = graph.types[from] { graph.types[to] = graph.types[to] ?? type }
            graph.types[from] = nil
        }
        for name in alias.keys { graph.types[name] = nil }
        return stats
    }

    /// A reduction with `noop_with_empty_axes` whose axes are absent or an empty constant.
    /// A Cast to the type its input already has.
    static func castsToItsOwnType(_ node: Node, _ graph: Graph) -> Bool {
        guard node.op == "Cast", let x = node.input(0), let dtype = graph.type(of: x)?.dtype else { return false }
        return node.int("to") == Int(dtype.rawValue)
    }

    static func reducesNothing(_ node: Node, _ graph: Graph) -> Bool {
        guard ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"].contains(node.op),
            node.int("noop_with_empty_axes", default: 0) != 0, node.ints("axes") == nil
        else { return false }
        guard let axes = node.input(1) else { return true }
        return graph.constants[axes]?.count == 0
    }
}
