// How import computes the values it must know to read a model as exporters write it: an
// If's condition, a Loop's trip count, the extents an exporter's shape arithmetic makes.
// The frontend hands in the reference interpreter's kernels (`Driver.Frontend`); the
// importer itself does not depend on them, so the two build side by side. Without an
// evaluator import computes constants and known shapes only, and a model that needs more
// is refused by the node that needs it.
import IR

public struct ImportEvaluator: Sendable {
    /// Whether `evaluate` computes nodes of this op.
    public var supports: @Sendable (String) -> Bool
    /// A node's outputs from its inputs (nil for an omitted optional input).
    public var evaluate: @Sendable (Node, [Tensor?]) throws -> [Tensor]

    public init(
        supports: @escaping @Sendable (String) -> Bool, evaluate: @escaping @Sendable (Node, [Tensor?]) throws -> [Tensor]
    ) {
        self.supports = supports
        self.evaluate = evaluate
    }
}
