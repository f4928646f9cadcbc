// infer-shapes: the type of every node output from the op table's shape rules, reconciled
// with the types the model declared.
import IR

/// Fills `graph.types` for every node output with `ShapeInference`, in node order, so
/// each node sees its inputs' newest types. Small int64 values of exporter shape chains
/// (Shape -> Gather -> Concat) are followed symbolically, so a Reshape they feed gets
/// dims like [N, 192] before anything is constant.
///
/// Requires: a verified graph (nodes in topological order).
/// Guarantees: every node output of a default-domain op has the most precise type that
/// the rules and the declared type (`value_info`, already in `graph.types`) give
/// together: a known inferred extent replaces an unknown or symbolic declared one, a
/// declared extent the rules cannot work out is kept. A declared type that contradicts
/// the inferred one (element type, rank, or two different known extents) is an error
/// naming the value; so is any shape error the rules find (named by node).
/// Leaves alone: nodes, constants, graph inputs and outputs, and the outputs of nodes in
/// other domains (their declared types stay).
public struct InferShapes: Pass {
    public let tag = "infer-shapes"
    public let summary = "Infer the element type and shape of every value"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        var shapeValues: [String: [Dim]] = [:]
        for node in graph.nodes where try Self.refine(node, &graph, shapeValues: &shapeValues) {
            stats.add("refined")
        }
        return stats
    }

    /// Infers the types of `node`'s outputs from its inputs' current types, constants and
    /// shape values (`shapeValues`, which it extends), merging each into `graph.types`;
    /// true when a type changed. A walk in node order calls it for each node in turn (as
    /// `run` and fold-constants do).
    static func refine(_ node: Node, _ graph: inout Graph, shapeValues: inout [String: [Dim]]) throws -> Bool {
        guard node.domain.isEmpty || node.domain == "ai.onnx" else { return false }
        let types = node.inputs.map { $0.isEmpty ? nil : graph.type(of: $0) }
        let inferred = try ShapeInference.infer(
            node, inputTypes: types, constants: graph.constants, tracking: &shapeValues)
        var changed = false
        for (name, type) in zip(node.outputs, inferred) where !name.isEmpty {
            guard let type else { continue }
            let merged = try reconcile(declared: graph.types[name], inferred: type, value: name, node: node)
            if merged != graph.types[name] {
                graph.types[name] = merged
                changed = true
            }
        }
        return changed
    }

    /// The more precise of a declared and an inferred type; a contradiction is an error.
    private static func reconcile(declared: TensorType?, inferred: TensorType, value: String, node: Node) throws -> TensorType {
        guard let declared else { return inferred }
        func contradiction() -> IRError {
            IRError("value \"\(value)\" is declared \(declared) but inferred \(inferred)", at: node)
        }
        guard declared.dtype == inferred.dtype else { throw contradiction() }
        guard let old = declared.shape else { return inferred }
        guard let new = inferred.shape else { return declared }
        guard old.rank == new.rank else { throw contradiction() }
        let dims = try zip(old.dims, new.dims).map { (a, b) -> Dim in
            switch (a, b) {
            case (.known(let x), .known(let y)) where x != y: throw contradiction()
            case (_, .known): return b
            case (.known, _): return a
            case (_, .symbol): return b
            default: return a
            }
        }
        return TensorType(inferred.dtype, Shape(dims))
    }
}
