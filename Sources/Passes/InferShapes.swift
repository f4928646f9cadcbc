// infer-shapes: the type of every node output from the op table's shape rules.
import IR

/// Fills `graph.types` for every node output. Requires a verified graph. Guarantees every
/// value has the most precise type the rules and the declared types give: an inferred
/// known dim replaces an unknown or symbolic declared one; a declared dim contradicting
/// an inferred one is an error naming the value. Leaves nodes and constants alone.
public struct InferShapes: Pass {
    public let tag = "infer-shapes"
    public let summary = "Infer the dtype and shape of every value"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        // Symbolic contents of shape-carrying int64 values (Shape -> Gather -> Concat chains).
        var shapeValues: [String: [Dim]] = [:]
        for node in graph.nodes {
            let types = node.inputs.map { $0.isEmpty ? nil : graph.type(of: $0) }
            let constants = node.inputs.map { $0.isEmpty ? nil : graph.constants[$0] }
            let values = node.inputs.map { name -> [Dim]? in
                if let c = graph.constants[name] { return ShapeValues.of(c) }
                return shapeValues[name]
            }
            if let first = node.outputs.first, !first.isEmpty,
               let value = ShapeValues.propagate(node, values: values, types: types) {
                shapeValues[first] = value
            }
            let inferred = try ShapeInference.infer(node, inputTypes: types, constantInputs: constants, shapeValues: values)
            for (name, type) in zip(node.outputs, inferred) where !name.isEmpty {
                guard let type else { continue }
                let merged = try merge(graph.types[name], type, value: name, node: node)
                if merged != graph.types[name] {
                    graph.types[name] = merged
                    stats.add("refined")
                }
            }
        }
        return stats
    }

    /// The more precise of a declared and an inferred type.
    private func merge(_ old: TensorType?, _ new: TensorType, value: String, node: Node) throws -> TensorType {
        guard let old, let oldShape = old.shape else { return new }
        guard let newShape = new.shape else { return TensorType(new.dtype, oldShape) }
        guard oldShape.rank == newShape.rank else {
            throw IRError("value \"\(value)\" is declared \(old) but inferred \(new)", at: node)
        }
        let dims = try zip(oldShape.dims, newShape.dims).map { (a, b) -> Dim in
            switch (a, b) {
            case (.known(let x), .known(let y)) where x != y:
                throw IRError("value \"\(value)\" is declared \(old) but inferred \(new)", at: node)
            case (_, .known): return b
            case (.known, _): return a
            case (_, .symbol): return b
            default: return a
            }
        }
        return TensorType(new.dtype, Shape(dims))
    }
}
