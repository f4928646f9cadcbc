// fold-constants: nodes whose inputs are all constant become constants, and Shape/Size
// of values with fully known shapes fold from types.
import IR
import Reference

/// Evaluates every node whose inputs are constants with the reference kernels and
/// replaces it by constants; folds Shape and Size from known types. Requires types from
/// infer-shapes for the Shape case. Guarantees no remaining node has only constant
/// inputs unless its result would exceed `sizeLimit` elements (then it stays, so huge
/// broadcasts are computed at run time). Graph outputs keep their names.
public struct FoldConstants: Pass {
    public let tag = "fold-constants"
    public let summary = "Evaluate constant subgraphs and exporter shape chains"
    public var sizeLimit = 1 << 24

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        var kept: [Node] = []
        for node in graph.nodes {
            if let results = try fold(node, graph) {
                for (name, t) in zip(node.outputs, results) where !name.isEmpty {
                    graph.constants[name] = t
                    graph.types[name] = nil
                }
                stats.add("folded")
            } else {
                kept.append(node)
            }
        }
        graph.nodes = kept
        return stats
    }

    private func fold(_ node: Node, _ graph: Graph) throws -> [Tensor]? {
        if node.op == "Shape" || node.op == "Size", let x = node.input(0),
           let dims = graph.type(of: x)?.shape?.concrete {
            if node.op == "Size" { return [Tensor(scalar: Int64(dims.reduce(1, *)))] }
            func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + dims.count : v, 0), dims.count) }
            let start = clamp(node.int("start", default: 0)), end = clamp(node.int("end", default: dims.count))
            let slice = start < end ? dims[start..<end].map(Int64.init) : []
            return [Tensor(slice, shape: [slice.count])]
        }
        let inputs = node.inputs.map { $0.isEmpty ? nil : graph.constants[$0] }
        for (name, t) in zip(node.inputs, inputs) where !name.isEmpty && t == nil { return nil }
        if node.op == "Dropout" || node.op == "Identity" { return nil }
        if let type = graph.types[node.outputs.first ?? ""], let dims = type.shape?.concrete, dims.reduce(1, *) > sizeLimit {
            return nil
        }
        return try Kernels.evaluate(node, inputs)
    }
}

