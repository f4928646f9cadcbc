// fold-constants: nodes whose inputs are all constant become constants, and Shape and Size
// of values whose shape is fully known fold from types.
import IR
import Reference

/// Evaluates every node whose inputs are all constants with the reference kernels
/// (`Kernels.evaluate`) and replaces it by its results as graph constants, in node order,
/// so whole constant subgraphs fold in one run. An empty value (an extent of 0) counts as
/// a constant input whatever computes it, and a node whose results are all empty folds to
/// empty constants whatever its inputs: a product over an empty reduction folds to zeros.
/// Shape and Size fold from the input's type
/// when its shape is fully known, even though the value itself is not constant: that is
/// how an exporter's Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain folds once
/// `--input-shape` fixes the input shapes.
///
/// Each node's output types are refined (infer-shapes' rule) just before it is tried, so
/// types follow what the walk has folded so far.
///
/// Requires: a verified graph; types from infer-shapes (for Shape/Size and size checks).
/// Guarantees: no node of the default domain that the interpreter runs has only constant
/// inputs, unless its result would hold more than `sizeLimit` elements and more than all
/// its inputs together: such a broadcast (Expand, Tile, ConstantOfShape of a huge shape)
/// stays a node rather than bloat the model, while a weight built from small constants
/// (ConstantOfShape, a constant Add) becomes one constant. A value a Conv, ConvTranspose,
/// Gemm or MatMul reads as its weight (input 1), or that such a weight is computed from,
/// folds whatever its size: the backend packs weights from constants alone. A folded value
/// that is a graph output becomes a constant of the same name, so output names never
/// change.
/// Leaves alone: nodes with any non-constant input (Shape/Size excepted), nodes of other
/// domains and ops the interpreter has no kernel for.
public struct FoldConstants: Pass {
    public let tag = "fold-constants"
    public let summary = "Evaluate constant subgraphs and exporter shape chains"
    /// The largest result (in elements) folded when it is larger than its inputs.
    public var sizeLimit: Int

    public init(sizeLimit: Int = 64 << 20) {
        self.sizeLimit = sizeLimit
    }

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        var kept: [Node] = []
        var shapeValues: [String: [Dim]] = [:]
        let weights = Self.weightSources(graph)
        for node in graph.nodes {
            // Types first, from what this walk folded before the node: a Shape downstream of a
            // value whose extents only a folded shape chain gives (a Resize to a computed size)
            // folds in the same walk.
            if try InferShapes.refine(node, &graph, shapeValues: &shapeValues) { stats.add("refined") }
            let limited = !node.outputs.contains { weights.contains($0) }
            guard let results = try fold(node, graph, limited: limited) else {
                kept.append(node)
                continue
            }
            for (name, tensor) in zip(node.outputs, results) where !name.isEmpty {
                graph.constants[name] = tensor
                graph.types[name] = nil  // a constant's type is its data's
            }
            stats.add("folded")
        }
        graph.nodes = kept
        return stats
    }

    /// The values read as a matrix layer's weight, and every value they are computed from.
    static func weightSources(_ graph: Graph) -> Set<String> {
        var sources = Set<String>()
        for node in graph.nodes where ["Conv", "ConvTranspose", "Gemm", "MatMul"].contains(node.op) {
            if let w = node.input(1) { sources.insert(w) }
        }
        for node in graph.nodes.reversed() where node.outputs.contains(where: sources.contains) {
            sources.formUnion(node.inputs.filter { !$0.isEmpty })
        }
        return sources
    }

    /// The node's results when it folds, nil when it stays; with `limited`, a result over
    /// `sizeLimit` elements and larger than the inputs stays.
    private func fold(_ node: Node, _ graph: Graph, limited: Bool) throws -> [Tensor]? {
        guard node.domain.isEmpty || node.domain == "ai.onnx" else { return nil }
        if let results = foldFromType(node, graph) { return results }
        if let results = emptyResults(node, graph) { return results }
        // An empty value (an extent of 0) is known whatever computes it: it holds nothing.
        let inputs = node.inputs.map { $0.isEmpty ? nil : graph.constants[$0] ?? Self.empty($0, graph) }
        for (name, value) in zip(node.inputs, inputs) where !name.isEmpty && value == nil { return nil }
        guard Kernels.supports(node.op) else { return nil }
        let inputElements = inputs.reduce(0) { $0 + ($1?.count ?? 0) }
        let types = try ShapeInference.infer(node, inputTypes: inputs.map { $0?.type }, constantInputs: inputs)
        for type in types {
            guard let dims = type?.shape?.concrete else { continue }
            let elements = elementCount(dims) ?? Int.max
            if limited && elements > sizeLimit && elements > inputElements { return nil }
        }
        return try Kernels.evaluate(node, inputs)
    }

    /// Shape and Size of a value whose shape is fully known.
    private func foldFromType(_ node: Node, _ graph: Graph) -> [Tensor]? {
        guard node.op == "Shape" || node.op == "Size", let x = node.input(0),
            let dims = graph.type(of: x)?.shape?.concrete
        else { return nil }
        if node.op == "Size" { return elementCount(dims).map { [Tensor(scalar: Int64($0))] } }
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + dims.count : v, 0), dims.count) }
        let start = clamp(node.int("start", default: 0)), end = clamp(node.int("end", default: dims.count))
        let extents = start < end ? dims[start..<end].map(Int64.init) : []
        return [Tensor(extents, shape: [extents.count])]
    }

    /// A node all of whose results are empty (an extent of 0 in each known shape) gives
    /// empty tensors, whatever its inputs: a resize or slice down to nothing, a TopK of 0.
    private func emptyResults(_ node: Node, _ graph: Graph) -> [Tensor]? {
        guard !node.outputs.isEmpty, !node.outputs.contains(where: \.isEmpty) else { return nil }
        let results = node.outputs.compactMap { Self.empty($0, graph) }
        return results.count == node.outputs.count ? results : nil
    }

    /// `value` as an empty tensor when its known shape has an extent of 0.
    private static func empty(_ value: String, _ graph: Graph) -> Tensor? {
        guard let type = graph.type(of: value), let dims = type.shape?.concrete, dims.contains(0) else { return nil }
        return Tensor(zeros: type.dtype, shape: dims)
    }

    /// The number of elements of a shape, nil when it does not fit in an Int.
    private func elementCount(_ dims: [Int]) -> Int? {
        var count = 1
        for d in dims {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            count = product
        }
        return count
    }
}
