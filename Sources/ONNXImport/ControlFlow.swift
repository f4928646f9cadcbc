// Control flow as exporters write it for work whose extent is fixed once the input shapes
// are: a Loop of a trip count known at import (TorchScript's `for i in range(n)`, an RNN
// cell stepped over a sequence of known length) is unrolled, each iteration's body imported
// as nodes of the main graph; an If of a constant condition is the branch it takes. The NPU
// runs one static program, so a trip count or a condition only known at run time, or a loop
// whose body decides when to stop, is refused by name.
import IR

extension ImportContext {
    /// The most body nodes an unrolled Loop may add, over all its iterations.
    static let unrolledNodeLimit = 200_000

    /// Imports Loop or If `n` (its subgraph attributes undecoded) as the nodes it runs.
    mutating func emitControlFlow(_ n: ONNXNode) throws {
        let owner = Node(op: n.opType, name: n.name, inputs: n.inputs, outputs: n.outputs)
        func subgraph(_ name: String) throws -> ONNXGraph {
            guard let g = n.attributes.first(where: { $0.name == name })?.graph.first else {
                throw IRError("has no \(name) subgraph", at: owner)
            }
            return g
        }
        if n.opType == "If" {
            guard let cond = owner.input(0) else { throw IRError("has no condition", at: owner) }
            guard let flag = constants[cond], flag.count == 1, flag.dtype == .bool else {
                throw IRError(
                    "its condition \"\(cond)\" is only known at run time; npucc takes an If's branch only when its"
                        + " condition is a constant", at: owner)
            }
            let taken = flag.int64(at: 0) != 0
            let branch = try subgraph(taken ? "then_branch" : "else_branch")
            let results = try inline(branch, bindings: [:], tag: taken ? "then" : "else", owner: owner)
            guard results.count == n.outputs.count else {
                throw IRError("its branch gives \(results.count) outputs for the node's \(n.outputs.count)", at: owner)
            }
            for (k, (value, out)) in zip(results, n.outputs).enumerated() where !out.isEmpty {
                nodes.append(Node(op: "Identity", name: "\(base(owner))/output\(k)", inputs: [value], outputs: [out]))
            }
        } else {
            try emitLoop(owner, body: try subgraph("body"))
        }
    }

    private func base(_ node: Node) -> String { node.name.isEmpty ? node.outputs.first ?? node.op : node.name }

    /// Loop `owner` unrolled: M iterations (a constant or a shape value known at import) of
    /// `body`, the loop-carried values threaded from one to the next, each scan output the
    /// Concat of the iterations' values along a new first axis. The condition, when given,
    /// must be a constant, and the body must pass its condition on unchanged (or give a
    /// constant true).
    private mutating func emitLoop(_ owner: Node, body: ONNXGraph) throws {
        let carried = max(0, owner.inputs.count - 2)
        guard body.inputs.count == carried + 2, body.outputs.count >= carried + 1 else {
            throw IRError(
                "its body takes \(body.inputs.count) inputs and gives \(body.outputs.count) outputs; for"
                    + " \(carried) loop-carried values it must take \(carried + 2) and give at least \(carried + 1)",
                at: owner)
        }
        let scans = body.outputs.count - 1 - carried
        guard owner.outputs.count <= carried + scans else {
            throw IRError("gives \(owner.outputs.count) outputs; its body gives \(carried + scans)", at: owner)
        }
        guard let m = owner.input(0) else {
            throw IRError("has no trip count M; npucc unrolls only loops whose trip count is known", at: owner)
        }
        guard let count = constants[m].map({ $0.count == 1 ? Int($0.int64(at: 0)) : -1 }) ?? shapeValue(of: m) else {
            throw IRError(
                "its trip count \"\(m)\" is only known at run time; npucc unrolls a Loop whose trip count is fixed once"
                    + " the input shapes are (fix them with --input-shape)", at: owner)
        }
        guard count >= 0 else { throw IRError("its trip count \"\(m)\" must be one value, at least 0", at: owner) }
        var trips = count
        if let cond = owner.input(1) {
            guard let flag = constants[cond], flag.count == 1, flag.dtype == .bool else {
                throw IRError(
                    "its condition \"\(cond)\" is only known at run time; npucc unrolls only loops"
                        + " that run their whole trip count", at: owner)
            }
            if flag.int64(at: 0) == 0 { trips = 0 }
        }
        guard trips * max(1, body.nodes.count) <= Self.unrolledNodeLimit else {
            throw IRError(
                "unrolled, its \(trips) iterations of \(body.nodes.count) nodes would add more than"
                    + " \(Self.unrolledNodeLimit) nodes", at: owner)
        }
        guard trips > 0 || scans == 0 else {
            throw IRError("runs no iteration, so its scan outputs have no shape", at: owner)
        }
        var current = Array(owner.inputs.dropFirst(2))
        var scanned = [[String]](repeating: [], count: scans)
        let yes = addConstant(Tensor(bools: [true], shape: []), hint: "\(base(owner))_continue")
        for k in 0..<trips {
            var bindings = [body.inputs[0].name: addConstant(Tensor(scalar: Int64(k)), hint: "\(base(owner))_iteration")]
            bindings[body.inputs[1].name] = yes
            for (input, value) in zip(body.inputs.dropFirst(2), current) { bindings[input.name] = value }
            let results = try inline(body, bindings: bindings, tag: "\(k)", owner: owner)
            guard holdsTrue(results[0], yes) else {
                throw IRError(
                    "its body computes whether to go on (\"\(body.outputs[0].name)\"); npucc unrolls only loops that"
                        + " run their whole trip count", at: owner)
            }
            current = Array(results[1...carried])
            for j in 0..<scans { scanned[j].append(results[1 + carried + j]) }
        }
        for (k, out) in owner.outputs.prefix(carried).enumerated() where !out.isEmpty {
            nodes.append(Node(op: "Identity", name: "\(base(owner))/final\(k)", inputs: [current[k]], outputs: [out]))
        }
        let axes = int64Constant([0], hint: "axes")
        for (j, out) in owner.outputs.dropFirst(carried).enumerated() where !out.isEmpty {
            let steps = scanned[j].enumerated().map { k, value in
                emitStep(of: owner, "Unsqueeze", "scan\(j)_\(k)", [value, axes])
            }
            nodes.append(
                Node(
                    op: "Concat", name: "\(base(owner))/scan\(j)", inputs: steps, outputs: [out],
                    attributes: ["axis": .int(0)]))
        }
    }

    /// True when `value` is the constant true `yes`, another constant true, or an Identity of one.
    private func holdsTrue(_ value: String, _ yes: String) -> Bool {
        if value == yes { return true }
        if let t = constants[value] { return t.dtype == .bool && t.count == 1 && t.int64(at: 0) != 0 }
        guard let producer = nodes.last(where: { $0.outputs.contains(value) }), producer.op == "Identity",
            let input = producer.input(0)
        else { return false }
        return holdsTrue(input, yes)
    }

    /// Imports `graph`'s initializers and nodes into the main graph: its inputs read
    /// `bindings`, each value it defines gets a fresh name ending in `_TAG`, names it does
    /// not define are the outer graph's; nested subgraphs read the renamed values. Nodes are
    /// named `OWNER/TAG/NAME`. Returns the values of its outputs.
    private mutating func inline(_ graph: ONNXGraph, bindings: [String: String], tag: String, owner: Node) throws
        -> [String]
    {
        var renamed = bindings
        for t in graph.initializers {
            let value = try t.decode(what: "\(owner.label) subgraph initializer \"\(t.name)\"", externalRoot: externalRoot)
            renamed[t.name] = addConstant(value, hint: "\(t.name)_\(tag)")
        }
        for var node in graph.nodes {
            node.inputs = node.inputs.map { $0.isEmpty ? $0 : renamed[$0] ?? $0 }
            for (k, a) in node.attributes.enumerated() where !a.graph.isEmpty {
                node.attributes[k].graph = a.graph.map { Self.reading(renamed, in: $0) }
            }
            node.outputs = node.outputs.map { out in
                guard !out.isEmpty else { return out }
                let fresh = name(preferring: "\(out)_\(tag)")
                renamed[out] = fresh
                return fresh
            }
            if !node.name.isEmpty { node.name = "\(base(owner))/\(tag)/\(node.name)" }
            let start = nodes.count
            try importNode(node)
            typeEmittedNodes(from: start)
        }
        return graph.outputs.map { renamed[$0.name] ?? $0.name }
    }

    /// `graph` with its nodes (and theirs, nested) reading `renamed`'s values for the names
    /// it maps: the outer values a nested subgraph refers to, renamed when inlined.
    private static func reading(_ renamed: [String: String], in graph: ONNXGraph) -> ONNXGraph {
        var graph = graph
        for i in graph.nodes.indices {
            graph.nodes[i].inputs = graph.nodes[i].inputs.map { renamed[$0] ?? $0 }
            for (k, a) in graph.nodes[i].attributes.enumerated() where !a.graph.isEmpty {
                graph.nodes[i].attributes[k].graph = a.graph.map { reading(renamed, in: $0) }
            }
        }
        return graph
    }
}
