// The IR's health check: every value defined once and before its first use, graph outputs
// defined, constants consistent with their types, ops known with the operand counts their
// OpSchema allows. Stable topological ordering is in Verifier+TopologicalOrder.swift.

/// Checks the invariants every pass may rely on and must keep.
public enum Verifier {
    /// Throws the first problem found, as an `IRError` naming the node and the value.
    ///
    /// Checked: every value (graph input, constant, node output) has one definition and a
    /// non-empty name; every node input is defined by an input, a constant or an earlier
    /// node (a later one means the nodes are out of order, or on a cycle, which is named);
    /// every graph output is defined; constant data covers its shape, and `graph.types`
    /// agrees with the data of constants and with the declared type of graph inputs; every
    /// node has an op, and ops of the default domain have an `OpSchema` whose operand
    /// counts they respect. Ops of other domains are not checked against the table.
    public static func verify(_ graph: Graph) throws {
        let definitions = try definitions(graph)
        try checkTypes(graph)
        // An input is available when a graph input, a constant or an earlier node defines it.
        for i in graph.nodes.indices {
            try checkOp(graph.nodes[i])
            for input in graph.nodes[i].inputs where !input.isEmpty {
                switch definitions[input] {
                case .graphInput?, .constant?: continue
                case .node(let producer)? where producer < i: continue
                case .node(let producer)?:
                    _ = try topologicalOrder(graph.nodes)  // names the cycle if there is one
                    throw IRError(
                        "input \"\(input)\" is used before node \(graph.nodes[producer].label) defines it: "
                            + "the nodes are not in topological order", at: graph.nodes[i])
                case nil:
                    throw IRError(
                        "input \"\(input)\" is not defined "
                            + "(no graph input, constant or node output has that name)", at: graph.nodes[i])
                }
            }
        }
        for output in graph.outputs where definitions[output.name] == nil {
            throw IRError("graph output \"\(output.name)\" is not defined by a graph input, constant or node")
        }
    }

    /// Where a value comes from.
    private enum Definition {
        case graphInput, constant, node(Int)

        func describe(in graph: Graph) -> String {
            switch self {
            case .graphInput: return "a graph input"
            case .constant: return "a constant"
            case .node(let i): return "node \(graph.nodes[i].label)"
            }
        }
    }

    /// Each value's single definition; throws on an empty name or a second definition.
    private static func definitions(_ graph: Graph) throws -> [String: Definition] {
        var map: [String: Definition] = [:]
        map.reserveCapacity(graph.inputs.count + graph.constants.count + graph.nodes.count)
        func define(_ name: String, _ definition: Definition, node: Node? = nil) throws {
            if let earlier = map.updateValue(definition, forKey: name) {
                let message =
                    if case .graphInput = definition, case .graphInput = earlier {
                        "value \"\(name)\" is defined twice: the graph lists it as an input twice"
                    } else {
                        "value \"\(name)\" is defined twice: by \(definition.describe(in: graph)) and by "
                            + earlier.describe(in: graph)
                    }
                if let node { throw IRError(message, at: node) }
                throw IRError(message)
            }
        }
        for (k, input) in graph.inputs.enumerated() {
            guard !input.name.isEmpty else { throw IRError("graph input \(k) has an empty name") }
            try define(input.name, .graphInput)
        }
        // Constants can clash only with graph inputs here; of several clashes the first by name
        // is reported, found without sorting every constant's name.
        if graph.constants[""] != nil { throw IRError("a constant has an empty name") }
        if let clash = graph.constants.keys.lazy.filter({ map[$0] != nil }).min() { try define(clash, .constant) }
        for name in graph.constants.keys { map[name] = .constant }
        // By index: a node copied out of the array per iteration retains all its fields.
        for i in graph.nodes.indices {
            for output in graph.nodes[i].outputs where !output.isEmpty {
                try define(output, .node(i), node: graph.nodes[i])
            }
        }
        return map
    }

    /// Constant data against shapes and `graph.types`; graph inputs against `graph.types`.
    private static func checkTypes(_ graph: Graph) throws {
        func problem(_ name: String, _ tensor: Tensor) -> String? {
            guard tensor.shape.allSatisfy({ $0 >= 0 }) else {
                return "constant \"\(name)\" has a negative dimension in its shape \(tensor.shape)"
            }
            let needed = tensor.dtype.byteCount(of: tensor.shape) ?? Int.max
            guard tensor.storage.byteCount >= needed else {
                return "constant \"\(name)\" holds \(tensor.storage.byteCount) bytes but its type \(tensor.type) needs \(needed)"
            }
            if let declared = graph.types[name], declared != tensor.type {
                return "constant \"\(name)\" has data of type \(tensor.type) but is typed \(declared) in the graph"
            }
            return nil
        }
        // The first wrong constant by name, found without sorting them all.
        var first: (name: String, message: String)?
        for (name, tensor) in graph.constants where first.map({ name < $0.name }) ?? true {
            if let message = problem(name, tensor) { first = (name, message) }
        }
        if let first { throw IRError(first.message) }
        for input in graph.inputs {
            if let declared = graph.types[input.name], declared != input.type {
                throw IRError("graph input \"\(input.name)\" is declared \(input.type) but typed \(declared) in the graph")
            }
        }
    }

    /// The op against its `OpSchema`: known (in the default domain), operand counts in
    /// range, required inputs present, attributes of the kinds the table lists.
    private static func checkOp(_ node: Node) throws {
        guard !node.op.isEmpty else { throw IRError("node has an empty op", at: node) }
        guard node.domain.isEmpty || node.domain == "ai.onnx" else { return }
        guard let schema = OpRegistry.schema(node.op) else {
            throw IRError("unknown op \(node.op): not in the op table (schemas/ops.md)", at: node)
        }
        guard schema.inputs.contains(node.inputs.count) else {
            throw IRError("\(node.op) takes \(describe(schema.inputs)) inputs, not \(node.inputs.count)", at: node)
        }
        guard schema.outputs.contains(node.outputs.count) else {
            throw IRError("\(node.op) has \(describe(schema.outputs)) outputs, not \(node.outputs.count)", at: node)
        }
        if let omitted = node.inputs.prefix(schema.inputs.lowerBound).firstIndex(of: "") {
            throw IRError("input \(omitted) of \(node.op) is required but omitted", at: node)
        }
        try schema.checkAttributes(of: node)
    }

    private static func describe(_ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max { return "at least \(range.lowerBound)" }
        return range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
    }
}
