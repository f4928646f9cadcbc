// Model-local functions (FunctionProto, as PyTorch's dynamo exporter writes a module per
// function): every call is replaced by the function's body before the graph is built, so the
// rest of the importer sees default-domain nodes only.
import IR

extension ONNXModel {
    /// Calls nested deeper than this are taken for a function that calls itself.
    static let maximumFunctionDepth = 64

    /// The model with each node that calls a local function (its domain and op type, and
    /// overload, are the function's domain, name and overload) replaced by the function's
    /// nodes: formal inputs and outputs read and write the call's values (an omitted input
    /// stays omitted), every other value of the body is renamed apart per call
    /// (`CALL/VALUE`), body nodes are named `CALL/NODE`, and an attribute that refers to a
    /// function attribute takes the call's value of it, else the function's default, else
    /// is left out. Calls inside a body are expanded in turn.
    func inliningLocalFunctions() throws -> ONNXModel {
        guard !functions.isEmpty, var graph else { return self }
        var table: [String: ONNXFunction] = [:]
        for f in functions {
            let key = Self.functionKey(f.domain, f.name, f.overload)
            guard table[key] == nil else {
                throw TensorDecodingError("local function \"\(f.name)\" of domain \"\(f.domain)\" is defined twice")
            }
            table[key] = f
        }
        let opset = opsets.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version
        for f in functions {
            if let own = f.opsets.first(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" })?.version, let opset,
                own != opset
            {
                throw TensorDecodingError(
                    "local function \"\(f.name)\" imports opset \(own) of the default domain and the model opset \(opset); "
                        + "npucc reads a function's body at the model's opset")
            }
        }
        var used = Set(graph.inputs.map(\.name) + graph.outputs.map(\.name) + graph.initializers.map(\.name))
        for n in graph.nodes { used.formUnion(n.inputs + n.outputs) }
        var inliner = Inliner(table: table, used: used)
        graph.nodes = try inliner.expand(graph.nodes, depth: 0)
        var model = self
        model.graph = graph
        model.functions = []
        return model
    }

    fileprivate static func functionKey(_ domain: String, _ name: String, _ overload: String) -> String {
        [domain, name, overload].joined(separator: "\u{0}")
    }
}

private struct Inliner {
    let table: [String: ONNXFunction]
    /// Every value name taken so far, so that renamed body values stay apart.
    var used: Set<String>

    mutating func expand(_ nodes: [ONNXNode], depth: Int) throws -> [ONNXNode] {
        var out: [ONNXNode] = []
        for call in nodes {
            guard let f = table[ONNXModel.functionKey(call.domain, call.opType, call.overload)] else {
                out.append(call)
                continue
            }
            guard depth < ONNXModel.maximumFunctionDepth else {
                throw TensorDecodingError(
                    "local function \"\(f.name)\" calls itself (calls nest more than \(ONNXModel.maximumFunctionDepth) deep)")
            }
            guard call.inputs.count <= f.inputs.count, call.outputs.count <= f.outputs.count else {
                throw TensorDecodingError(
                    "node \(call.opType) \"\(call.name)\" calls local function \"\(f.name)\" with \(call.inputs.count) inputs "
                        + "and \(call.outputs.count) outputs; it takes \(f.inputs.count) and gives \(f.outputs.count)")
            }
            out += try expand(body(of: f, calledBy: call), depth: depth + 1)
        }
        return out
    }

    /// `f`'s nodes as `call` runs them.
    private mutating func body(of f: ONNXFunction, calledBy call: ONNXNode) throws -> [ONNXNode] {
        let label = call.name.isEmpty ? (call.outputs.first { !$0.isEmpty } ?? f.name) : call.name
        var names: [String: String] = [:]
        for (k, formal) in f.inputs.enumerated() where !formal.isEmpty {
            names[formal] = k < call.inputs.count ? call.inputs[k] : ""
        }
        for (k, formal) in f.outputs.enumerated() where !formal.isEmpty && k < call.outputs.count && !call.outputs[k].isEmpty {
            names[formal] = call.outputs[k]
        }
        func renamed(_ value: String) -> String {
            if value.isEmpty { return "" }
            if let name = names[value] { return name }
            var candidate = "\(label)/\(value)", k = 1
            while used.contains(candidate) {
                k += 1
                candidate = "\(label)/\(value)_\(k)"
            }
            used.insert(candidate)
            names[value] = candidate
            return candidate
        }
        let given = Dictionary(call.attributes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let defaults = Dictionary(f.attributeDefaults.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return f.nodes.enumerated().map { k, node in
            var n = node
            n.name = "\(label)/\(node.name.isEmpty ? "\(node.opType)_\(k)" : node.name)"
            n.inputs = node.inputs.map(renamed)
            n.outputs = node.outputs.map(renamed)
            n.attributes = node.attributes.compactMap { a in
                guard !a.refAttrName.isEmpty else { return a }
                guard var value = given[a.refAttrName] ?? defaults[a.refAttrName] else { return nil }
                value.name = a.name
                value.refAttrName = ""
                return value
            }
            return n
        }
    }
}
