// The graph an export writes, built node by node: fresh value names that collide with
// nothing in the source graph, node names that are unique (onnxruntime refuses a model
// with two nodes of one name), and constants named after what they hold.
import IR

struct QDQGraphBuilder {
    var graph: Graph
    private var taken: Set<String>
    /// Float32 scalar constants by bit pattern, shared by every use.
    private var scalars: [UInt32: String] = [:]
    /// Rounded activations by what was rounded and how, so layers reading the same value
    /// the same way share one rounding.
    var roundings: [String: String] = [:]
    private var nodeNames: Set<String> = []

    /// Starts from `source`'s inputs, outputs and constants, with no nodes.
    init(_ source: Graph) {
        graph = Graph(name: source.name, inputs: source.inputs, outputs: source.outputs, constants: source.constants)
        taken = Set(source.inputs.map(\.name) + source.outputs.map(\.name) + source.constants.keys)
        for node in source.nodes { taken.formUnion(node.outputs) }
    }

    /// A value name starting with `base` that no value has yet.
    mutating func fresh(_ base: String) -> String {
        var name = base
        var n = 1
        while taken.contains(name) {
            name = "\(base)_\(n)"
            n += 1
        }
        taken.insert(name)
        return name
    }

    /// A new constant named after `base`.
    mutating func constant(_ base: String, _ tensor: Tensor) -> String {
        let name = fresh(base)
        graph.constants[name] = tensor
        return name
    }

    /// The float32 scalar constant `value`, one for the whole graph.
    mutating func scalar(_ value: Float) -> String {
        if let name = scalars[value.bitPattern] { return name }
        let name = constant("npu_scalar_\(value)".replacingOccurrences(of: ".", with: "_"), Tensor(scalar: value))
        scalars[value.bitPattern] = name
        return name
    }

    /// Appends `op` of `inputs` with one new output named after `base`; returns the output.
    @discardableResult
    mutating func emit(
        _ op: String, _ inputs: [String], _ base: String, attributes: [String: Attribute] = [:], name: String = ""
    ) -> String {
        let output = fresh(base)
        append(Node(op: op, name: name.isEmpty ? output : name, inputs: inputs, outputs: [output], attributes: attributes))
        return output
    }

    /// Appends a node, renamed `NAME_1`, `NAME_2`, ... when a node already has its name.
    mutating func append(_ node: Node) {
        var node = node
        if !node.name.isEmpty {
            let base = node.name
            var n = 1
            while nodeNames.contains(node.name) {
                node.name = "\(base)_\(n)"
                n += 1
            }
            nodeNames.insert(node.name)
        }
        graph.nodes.append(node)
    }

    /// Drops constants no node or graph output reads (the float weights a quantized layer
    /// replaced).
    mutating func dropUnreadConstants() {
        var read = Set(graph.outputs.map(\.name))
        for node in graph.nodes { read.formUnion(node.inputs) }
        graph.constants = graph.constants.filter { read.contains($0.key) }
    }
}
