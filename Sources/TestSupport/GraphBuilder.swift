// Building small IR graphs tersely in tests: inputs, constants, nodes and outputs in the
// order a reader would write them.
import IR

/// Accumulates a graph; `graph` (or `model()`) is the result.
///
///     var b = GraphBuilder()
///     let x = b.input("x", .float32, [.symbol("N"), .known(4)])
///     let w = b.constant("w", Tensor([Float](repeating: 1, count: 16), shape: [4, 4]))
///     let y = b.node("MatMul", [x, w])[0]
///     b.output(y)
public struct GraphBuilder {
    public var graph: Graph

    public init(name: String = "main") { graph = Graph(name: name) }

    /// Adds a graph input (also recorded in `graph.types`) and returns its name.
    @discardableResult
    public mutating func input(_ name: String, _ dtype: DType = .float32, _ dims: [Dim]) -> String {
        input(name, TensorType(dtype, Shape(dims)))
    }

    @discardableResult
    public mutating func input(_ name: String, _ type: TensorType) -> String {
        graph.inputs.append(ValueInfo(name: name, type: type))
        graph.types[name] = type
        return name
    }

    /// Adds a constant and returns its name.
    @discardableResult
    public mutating func constant(_ name: String, _ tensor: Tensor) -> String {
        graph.constants[name] = tensor
        return name
    }

    /// Adds a node and returns its output names: `outputs`, or by default one output named
    /// after the op and the node's position (`relu0`). `types`, when given, are recorded in
    /// `graph.types` for the outputs (nil entries are left unknown).
    @discardableResult
    public mutating func node(_ op: String, _ inputs: [String], _ attributes: [String: Attribute] = [:],
                              outputs: [String]? = nil, name: String = "", domain: String = "",
                              types: [TensorType?] = []) -> [String] {
        let names = outputs ?? ["\(op.lowercased())\(graph.nodes.count)"]
        graph.nodes.append(Node(op: op, domain: domain, name: name, inputs: inputs, outputs: names,
                                attributes: attributes))
        for (value, type) in zip(names, types) where !value.isEmpty { graph.types[value] = type }
        return names
    }

    /// Records the type of an existing value in `graph.types`.
    public mutating func type(_ value: String, _ type: TensorType) {
        graph.types[value] = type
    }

    /// Declares a graph output (unknown-rank f32 unless a type is given).
    public mutating func output(_ name: String, _ type: TensorType = TensorType(.float32, nil)) {
        graph.outputs.append(ValueInfo(name: name, type: type))
    }

    /// The graph in a model with the given default-domain opset.
    public func model(opset: Int = 21) -> Model {
        Model(opsets: ["": opset], graph: graph)
    }
}
