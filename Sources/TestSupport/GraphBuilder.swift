// Building small IR graphs tersely in tests.
import IR

/// Accumulates inputs, constants and nodes; `graph` is the result.
public struct GraphBuilder {
    public var graph = Graph()

    public init() {}

    @discardableResult
    public mutating func input(_ name: String, _ dtype: DType = .float32, _ dims: [Dim]) -> String {
        let type = TensorType(dtype, Shape(dims))
        graph.inputs.append(ValueInfo(name: name, type: type))
        graph.types[name] = type
        return name
    }

    @discardableResult
    public mutating func constant(_ name: String, _ tensor: Tensor) -> String {
        graph.constants[name] = tensor
        return name
    }

    /// Adds a node; its outputs are `outputs` or, by default, one named after the op.
    @discardableResult
    public mutating func node(_ op: String, _ inputs: [String], _ attributes: [String: Attribute] = [:],
                              outputs: [String]? = nil, name: String = "") -> [String] {
        let outs = outputs ?? ["\(op.lowercased())\(graph.nodes.count)"]
        graph.nodes.append(Node(op: op, name: name, inputs: inputs, outputs: outs, attributes: attributes))
        return outs
    }

    public mutating func output(_ name: String, _ type: TensorType = TensorType(.float32, nil)) {
        graph.outputs.append(ValueInfo(name: name, type: type))
    }
}
