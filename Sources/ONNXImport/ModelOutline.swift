// What a model file holds, read without importing it: for `inspect` on a model npucc cannot
// import, so the user still sees its operators and which of them npucc lacks.
import IR

/// A model file's header, operator counts and weights, as written.
public struct ModelOutline: Sendable {
    public var producer: String
    public var irVersion: Int
    /// (domain, version), the default domain written "ai.onnx".
    public var opsets: [(domain: String, version: Int)]
    /// Nodes of the main graph by operator, "domain:op" outside the default domain.
    public var opCounts: [String: Int]
    /// The operators import has no rule for, as in `opCounts`.
    public var unsupported: [String]
    public var initializerCount: Int
    public var initializerElements: Int
}

extension ONNXImporter {
    /// The outline of the model at `path` (its protobuf parsed, nothing decoded or imported).
    public static func outline(path: String) throws -> ModelOutline {
        let proto = try ProtoReader.readModel(path: path)
        var counts: [String: Int] = [:], unsupported: Set<String> = []
        for node in proto.graph?.nodes ?? [] {
            let isDefault = node.domain.isEmpty || node.domain == "ai.onnx"
            let name = isDefault ? node.opType : "\(node.domain):\(node.opType)"
            counts[name, default: 0] += 1
            if !isDefault || !imports(node.opType) { unsupported.insert(name) }
        }
        let initializers = proto.graph?.initializers ?? []
        return ModelOutline(
            producer: [proto.producerName, proto.producerVersion].filter { !$0.isEmpty }.joined(separator: " "),
            irVersion: Int(clamping: proto.irVersion),
            opsets: proto.opsets.map { ($0.domain.isEmpty ? "ai.onnx" : $0.domain, Int(clamping: $0.version)) },
            opCounts: counts, unsupported: unsupported.sorted(), initializerCount: initializers.count,
            initializerElements: initializers.reduce(0) { total, t in
                // Saturating: a damaged file's dims may multiply past 2^63.
                let count = t.dims.reduce(1) { n, d in
                    let (p, overflow) = n.multipliedReportingOverflow(by: Int(clamping: d))
                    return overflow ? Int.max : p
                }
                return total.addingReportingOverflow(count).overflow ? Int.max : total + count
            })
    }

    /// Whether import reads default-domain operator `op` (as an IR op, or as the ops it is
    /// made of).
    static func imports(_ op: String) -> Bool {
        ["Constant", "Upsample"].contains(op) || ImportContext.decompositions[op] != nil || OpRegistry.schema(op) != nil
    }
}
