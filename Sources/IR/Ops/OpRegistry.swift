// The op table: every operator the IR knows, collected from the family files. Importer,
// verifier, shape inference and interpreter all read this one table.

/// Every canonical op, by name.
public enum OpRegistry {
    /// All schemas: elementwise, neural-network, reduction, shape, indexing and quantization ops.
    public static let all: [OpSchema] =
        elementwiseOps + neuralNetworkOps + reductionOps + shapeOps + indexingOps + quantizationOps

    private static let byName: [String: OpSchema] = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

    /// The schema of `op` (default ONNX domain), or nil when the IR does not know it.
    public static func schema(_ op: String) -> OpSchema? { byName[op] }
}

/// Variadic operand counts: at least `minimum`, no upper bound.
func atLeast(_ minimum: Int) -> ClosedRange<Int> { minimum...Int.max }
