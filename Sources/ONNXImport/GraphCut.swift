// `--graph-outputs`: a model ended at values the user names. Detection and segmentation
// exports end in post-processing the NPU does not run (NonZero, NonMaxSuppression, TopK
// over data-dependent counts); the network before it is what gets compiled, and the host
// finishes. The cut is made on the file's nodes, before any is imported, so that an op
// after the named values is never read.
import IR

extension ONNXGraph {
    /// The graph whose outputs are `names`, in that order: the nodes they depend on (a
    /// subgraph body's reads of values outside it count as its node's inputs) in the file's
    /// order, the initializers, and the graph inputs those nodes read. Also returns the graph
    /// inputs left out.
    func cut(to names: [String]) throws -> (graph: ONNXGraph, droppedInputs: [String]) {
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { for o in n.outputs where !o.isEmpty { producer[o] = i } }
        let inputNames = Set(inputs.map(\.name)), initializerNames = Set(initializers.map(\.name))
        var seen: Set<String> = []
        for name in names {
            guard !name.isEmpty else { throw TensorDecodingError("--graph-outputs has an empty name") }
            guard seen.insert(name).inserted else { throw TensorDecodingError("--graph-outputs names \"\(name)\" twice") }
            guard producer[name] == nil else { continue }
            if initializerNames.contains(name) {
                throw TensorDecodingError("--graph-outputs names \"\(name)\", an initializer: name values nodes compute")
            }
            if inputNames.contains(name) {
                throw TensorDecodingError("--graph-outputs names \"\(name)\", a graph input: name values nodes compute")
            }
            let near = Self.closest(to: name, among: producer.keys)
            throw TensorDecodingError(
                "--graph-outputs names \"\(name)\", which no node of the graph computes"
                    + (near.isEmpty ? "" : "; closest values: \(near.joined(separator: ", "))"))
        }
        // Walk back from the named values to everything they read.
        var kept = Set<Int>(), read = Set<String>(), pending = names
        while let value = pending.popLast() {
            guard let i = producer[value], kept.insert(i).inserted else { continue }
            let reads = nodes[i].inputs.filter { !$0.isEmpty } + nodes[i].attributes.flatMap(\.graph).flatMap(\.valuesRead)
            read.formUnion(reads)
            pending += reads
        }
        var graph = self
        graph.nodes = nodes.indices.filter(kept.contains).map { nodes[$0] }
        graph.inputs = inputs.filter { read.contains($0.name) || initializerNames.contains($0.name) }
        let declared = Dictionary((valueInfo + outputs).map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        graph.outputs = names.map { declared[$0] ?? ONNXValueInfo(name: $0) }
        let dropped = inputs.map(\.name).filter { !read.contains($0) && !initializerNames.contains($0) }
        return (graph, dropped)
    }

    /// Every value the graph's nodes read, its subgraphs' included (values it computes
    /// itself among them: a cut keeps at most a few nodes more for a name shadowed so).
    var valuesRead: [String] {
        nodes.flatMap { n in n.inputs.filter { !$0.isEmpty } + n.attributes.flatMap(\.graph).flatMap(\.valuesRead) }
    }

    /// At most three of `names` nearest to `name` in edit distance, within a third of its
    /// length (at least 2), nearest first.
    static func closest(to name: String, among names: some Sequence<String>, limit: Int = 3) -> [String] {
        let wanted = Array(name), reach = max(2, wanted.count / 3)
        return names.compactMap { candidate -> (Int, String)? in
            let d = OpRegistry.editDistance(wanted, Array(candidate))
            return d <= reach ? (d, candidate) : nil
        }
        .sorted { $0 < $1 }.prefix(limit).map(\.1)
    }
}
