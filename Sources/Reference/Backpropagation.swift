// Reverse mode over a whole graph: from a cotangent of one output and a forward run's values,
// the cotangents of the values that output depends on, node by node in reverse order
// (VectorJacobian.swift). A value some path from which runs through a node without a rule
// (for the op, or for the input the path enters by) is blocked: its cotangent would be
// incomplete, so none is given.
import IR

public enum Backpropagation {
    public struct Result {
        /// The cotangents of the values asked for that reach the output through rules only;
        /// zeros for those that do not reach it.
        public var cotangents: [String: Tensor]
        /// The values asked for whose cotangent is unknown, each with the op that blocked it.
        public var blocked: [String: String]
    }

    /// The cotangents of `wanted` values given `cotangent` for `output`. `values` holds the
    /// forward run's graph inputs and node outputs.
    public static func run(
        _ graph: Graph, values: [String: Tensor], output: String, cotangent: Tensor, wanted: Set<String>
    ) throws -> Result {
        var cotangents: [String: Tensor] = [output: cotangent]
        var blocked: [String: String] = [:]
        func value(_ name: String) -> Tensor? { name.isEmpty ? nil : values[name] ?? graph.constants[name] }
        for node in graph.nodes.reversed() {
            let reached = node.outputs.map { cotangents[$0] }
            let blocker = node.outputs.lazy.compactMap { blocked[$0] }.first
            defer { for o in node.outputs where !wanted.contains(o) { cotangents[o] = nil } }
            guard blocker != nil || reached.contains(where: { $0 != nil }) else { continue }
            let needed = node.inputs.map {
                !$0.isEmpty && graph.constants[$0] == nil && (values[$0]?.dtype.isFloatingPoint ?? false)
            }
            guard needed.contains(true) else { continue }
            var results: [Tensor?]? = nil
            // The rules read the first output's value; an omitted optional output (an empty
            // name) has none and no cotangent.
            if blocker == nil, let first = node.outputs.first.flatMap(value) {
                let outputs = node.outputs.map { value($0) ?? first }
                results = try VectorJacobian.inputCotangents(
                    node, inputs: node.inputs.map(value), outputs: outputs, cotangents: reached, needed: needed)
            }
            for (i, name) in node.inputs.enumerated() where needed[i] {
                // No rule for the op, or none for this input (a Conv's computed weights, a
                // Clip's computed bounds): the input's cotangent would be incomplete.
                guard let results, i < results.count, let d = results[i] else {
                    blocked[name] = blocker ?? node.op
                    continue
                }
                if let sum = cotangents[name] {
                    cotangents[name] = try binary("Add", sum, d, node)
                } else {
                    cotangents[name] = d.dtype == .float32 ? d : d.cast(to: .float32)
                }
            }
        }
        var result = Result(cotangents: [:], blocked: [:])
        for name in wanted {
            if let op = blocked[name] {
                result.blocked[name] = op
            } else if let t = cotangents[name] {
                result.cotangents[name] = t
            } else if let v = value(name) {
                result.cotangents[name] = Tensor(zeros: .float32, shape: v.shape)
            }
        }
        return result
    }
}
