// The IR graph and model: values by name, nodes in topological order, constants with
// their data, and the types known for every value.

/// A named, typed graph input or output.
public struct ValueInfo: Sendable {
    public var name: String
    public var type: TensorType

    public init(name: String, type: TensorType) {
        self.name = name
        self.type = type
    }
}

/// A dataflow graph. Values are named; each is a graph input, a constant, or the output
/// of exactly one node. `nodes` is kept in topological order.
public struct Graph: Sendable {
    public var name: String
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    public var nodes: [Node]
    /// Values with known data: initializers and folded results.
    public var constants: [String: Tensor]
    /// The known type of each value (inputs, constants, node outputs).
    public var types: [String: TensorType]

    public init(name: String = "main", inputs: [ValueInfo] = [], outputs: [ValueInfo] = [],
                nodes: [Node] = [], constants: [String: Tensor] = [:], types: [String: TensorType] = [:]) {
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.nodes = nodes
        self.constants = constants
        self.types = types
    }

    /// The type of a value, from constants, inputs or inference.
    public func type(of value: String) -> TensorType? {
        if let c = constants[value] { return c.type }
        return types[value]
    }

    /// For each value name, the index of the node producing it.
    public func producers() -> [String: Int] {
        var map: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { for o in n.outputs where !o.isEmpty { map[o] = i } }
        return map
    }

    /// For each value name, the indices of the nodes reading it (in node order).
    public func users() -> [String: [Int]] {
        var map: [String: [Int]] = [:]
        for (i, n) in nodes.enumerated() { for v in n.inputs where !v.isEmpty { map[v, default: []].append(i) } }
        return map
    }
}

/// A whole model: provenance, opset imports and the main graph.
public struct Model: Sendable {
    public var irVersion: Int
    public var producerName: String
    public var producerVersion: String
    public var domain: String
    public var modelVersion: Int
    public var docString: String
    /// Operator set versions by domain ("" is the default ONNX domain).
    public var opsets: [String: Int]
    public var metadata: [(key: String, value: String)]
    public var graph: Graph

    public init(irVersion: Int = 8, producerName: String = "", producerVersion: String = "",
                domain: String = "", modelVersion: Int = 0, docString: String = "",
                opsets: [String: Int] = ["": 21], metadata: [(key: String, value: String)] = [],
                graph: Graph) {
        self.irVersion = irVersion
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.domain = domain
        self.modelVersion = modelVersion
        self.docString = docString
        self.opsets = opsets
        self.metadata = metadata
        self.graph = graph
    }
}
