// Control flow as exporters write it for work whose extent is fixed once the input shapes
// are: a Loop whose trip count and conditions import can compute (TorchScript's `for i in
// range(n)`, tf2onnx's while loops counting to a sequence length) is unrolled, each
// iteration's body imported as nodes of the main graph, as is a Scan over axes of known
// extent; an If whose condition import can compute is the branch it takes. Import computes
// a value from constants and known shapes with the evaluator it was given (the
// interpreter's kernels, `ImportEvaluator`). The NPU runs one static program, so a trip
// count or a condition only known at run time is refused by name.
import IR

extension ImportContext {
    /// The most body nodes an unrolled Loop may add, over all its iterations.
    static let unrolledNodeLimit = 200_000

    /// Imports Loop, Scan or If `n` (its subgraph attributes undecoded) as the nodes it runs.
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
            guard let flag = evaluated(cond), flag.count == 1, flag.dtype == .bool else {
                throw IRError(
                    "its condition \"\(cond)\" is only known at run time; npucc takes an If's branch only when its"
                        + " condition follows from constants and the input shapes", at: owner)
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
        } else if n.opType == "Scan" {
            try emitScan(owner, n.attributes, body: try subgraph("body"))
        } else {
            try emitLoop(owner, body: try subgraph("body"))
        }
    }

    /// Scan `owner` (opset 9's form) unrolled: one iteration per element of its scan inputs'
    /// scan axes (their extents known at import), the body reading each input's slice at
    /// that iteration (from the end for reverse directions), the states threaded, and each
    /// scan output its iterations' values stacked along its output axis (in reverse order
    /// for reverse directions).
    private mutating func emitScan(_ owner: Node, _ attributes: [ONNXAttribute], body: ONNXGraph) throws {
        guard opset >= 9 else {
            throw IRError("the Scan of opset \(opset) (with sequence_lens) is not supported; opset 9's is", at: owner)
        }
        func ints(_ name: String, _ count: Int) -> [Int] {
            let given = attributes.first { $0.name == name }?.ints.map { Int($0) } ?? []
            return given.isEmpty ? [Int](repeating: 0, count: count) : given
        }
        guard let m = attributes.first(where: { $0.name == "num_scan_inputs" })?.i.map(Int.init), m >= 1,
            m <= owner.inputs.count
        else {
            throw IRError("needs num_scan_inputs between 1 and its \(owner.inputs.count) inputs", at: owner)
        }
        let states = owner.inputs.count - m, scans = body.outputs.count - states
        guard body.inputs.count == states + m, scans >= 0, owner.outputs.count <= states + scans else {
            throw IRError(
                "its body takes \(body.inputs.count) inputs and gives \(body.outputs.count) outputs, which do not fit"
                    + " \(states) states and \(m) scan inputs", at: owner)
        }
        let inputAxes = ints("scan_input_axes", m), inputReversed = ints("scan_input_directions", m)
        let outputAxes = ints("scan_output_axes", scans), outputReversed = ints("scan_output_directions", scans)
        guard inputAxes.count == m, inputReversed.count == m, outputAxes.count == scans, outputReversed.count == scans
        else {
            throw IRError("its axes and directions attributes must have one value per scan input or output", at: owner)
        }
        var length: Int?
        var axes: [Int] = []
        for (j, input) in owner.inputs.suffix(m).enumerated() {
            guard let dims = knownType(of: input)?.shape?.dims else {
                throw IRError("scan input \"\(input)\" needs a known rank", at: owner)
            }
            let axis = inputAxes[j] < 0 ? inputAxes[j] + dims.count : inputAxes[j]
            guard (0..<dims.count).contains(axis), let extent = dims[axis].value else {
                throw IRError(
                    "scan input \"\(input)\"'s scan axis \(inputAxes[j]) has no extent known at import (fix the input"
                        + " shapes with --input-shape)", at: owner)
            }
            guard length == nil || length == extent else {
                throw IRError("its scan inputs' scan axes differ in length (\(length!) and \(extent))", at: owner)
            }
            length = extent
            axes.append(axis)
        }
        let steps = length ?? 0
        guard steps > 0 || scans == 0 else { throw IRError("scans no element, so its outputs have no shape", at: owner) }
        guard steps * max(1, body.nodes.count) <= Self.unrolledNodeLimit else {
            throw IRError(
                "unrolled, its \(steps) iterations of \(body.nodes.count) nodes would add more than"
                    + " \(Self.unrolledNodeLimit) nodes", at: owner)
        }
        var current = Array(owner.inputs.prefix(states))
        var scanned = [[String]](repeating: [], count: scans)
        for k in 0..<steps {
            var bindings: [String: String] = [:]
            for (input, value) in zip(body.inputs, current) { bindings[input.name] = value }
            let start = nodes.count
            for (j, input) in owner.inputs.suffix(m).enumerated() {
                let index = int64Scalar(inputReversed[j] != 0 ? steps - 1 - k : k, hint: "\(base(owner))_index")
                bindings[body.inputs[states + j].name] = emitStep(
                    of: owner, "Gather", "slice\(j)_\(k)", [input, index], ["axis": .int(axes[j])])
            }
            typeEmittedNodes(from: start)
            let results = try inline(body, bindings: bindings, tag: "\(k)", owner: owner)
            current = Array(results.prefix(states))
            for j in 0..<scans { scanned[j].append(results[states + j]) }
        }
        try finishUnrolled(
            owner, final: current, scanned: scanned,
            axes: outputAxes, reversed: outputReversed.map { $0 != 0 })
    }

    /// The outputs of unrolled Loop or Scan `owner`: its first outputs the `final` states
    /// (Identity), then each scan output its iterations' values (`scanned[j]`, in iteration
    /// order; the other way when `reversed[j]`) stacked along `axes[j]` of the result (one
    /// more than the values' rank; negative from the end) by Unsqueeze and Concat.
    private mutating func finishUnrolled(
        _ owner: Node, final: [String], scanned: [[String]], axes: [Int], reversed: [Bool]
    ) throws {
        for (k, out) in owner.outputs.prefix(final.count).enumerated() where !out.isEmpty {
            nodes.append(Node(op: "Identity", name: "\(base(owner))/final\(k)", inputs: [final[k]], outputs: [out]))
        }
        for (j, out) in owner.outputs.dropFirst(final.count).enumerated() where !out.isEmpty {
            let rank = rank(of: scanned[j][0]), given = axes[j]
            guard let axis = given < 0 ? rank.map({ given + $0 + 1 }) : given, axis >= 0,
                rank.map({ axis <= $0 }) ?? true
            else {
                throw IRError("scan output \(j)'s axis \(given) is out of range (or its values' rank unknown)", at: owner)
            }
            let ordered = reversed[j] ? Array(scanned[j].reversed()) : scanned[j]
            let axisConstant = int64Constant([axis], hint: "axes")
            let parts = ordered.enumerated().map { k, value in
                emitStep(of: owner, "Unsqueeze", "scan\(j)_\(k)", [value, axisConstant])
            }
            nodes.append(
                Node(
                    op: "Concat", name: "\(base(owner))/scan\(j)", inputs: parts, outputs: [out],
                    attributes: ["axis": .int(axis)]))
        }
    }

    private func base(_ node: Node) -> String { node.name.isEmpty ? node.outputs.first ?? node.op : node.name }

    /// Loop `owner` unrolled: its iterations of `body` while the iteration is below the trip
    /// count M and the condition holds, both computed at import (`evaluated`; M may be
    /// absent when the condition ends the loop), the loop-carried values threaded from one
    /// to the next, each scan output the Concat of the iterations' values along a new first
    /// axis.
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
        var trips = Int.max
        if let m = owner.input(0) {
            guard let count = evaluated(m), count.count == 1, count.dtype.isInteger else {
                throw IRError(
                    "its trip count \"\(m)\" is only known at run time; npucc unrolls a Loop whose trip count follows"
                        + " from constants and the input shapes (fix them with --input-shape)", at: owner)
            }
            trips = max(0, Int(count.int64(at: 0)))
        }
        var going = true
        if let cond = owner.input(1) { going = try condition(cond, owner) }
        guard owner.input(0) != nil || owner.input(1) != nil else {
            throw IRError("has neither a trip count nor a condition: it would not end", at: owner)
        }
        let most = Self.unrolledNodeLimit / max(1, body.nodes.count)
        var current = Array(owner.inputs.dropFirst(2))
        var scanned = [[String]](repeating: [], count: scans)
        let yes = addConstant(Tensor(bools: [true], shape: []), hint: "\(base(owner))_going")
        var k = 0
        while k < trips && going {
            guard k < most else {
                throw IRError(
                    "unrolled, more than \(most) iterations of its \(body.nodes.count) nodes would add more than"
                        + " \(Self.unrolledNodeLimit) nodes", at: owner)
            }
            var bindings = [body.inputs[0].name: addConstant(Tensor(scalar: Int64(k)), hint: "\(base(owner))_iteration")]
            bindings[body.inputs[1].name] = yes
            for (input, value) in zip(body.inputs.dropFirst(2), current) { bindings[input.name] = value }
            let results = try inline(body, bindings: bindings, tag: "\(k)", owner: owner)
            going = try condition(results[0], owner, body: body.outputs[0].name)
            current = Array(results[1..<(1 + carried)])
            for j in 0..<scans { scanned[j].append(results[1 + carried + j]) }
            k += 1
        }
        guard k > 0 || scans == 0 else {
            throw IRError("runs no iteration, so its scan outputs have no shape", at: owner)
        }
        try finishUnrolled(
            owner, final: current, scanned: scanned, axes: [Int](repeating: 0, count: scans),
            reversed: [Bool](repeating: false, count: scans))
    }

    /// A Loop's condition `value` (its input, or `body`'s output of that name) as computed
    /// at import.
    private mutating func condition(_ value: String, _ owner: Node, body: String? = nil) throws -> Bool {
        guard let flag = evaluated(value), flag.count == 1, flag.dtype == .bool else {
            let what = body.map { "its body's condition \"\($0)\"" } ?? "its condition \"\(value)\""
            throw IRError(
                "\(what) is only known at run time; npucc unrolls a Loop whose conditions follow from constants, the"
                    + " iteration count and the input shapes", at: owner)
        }
        return flag.int64(at: 0) != 0
    }

    /// `value` when import can compute it: a constant, or a tensor of at most 4,096 elements
    /// that the nodes imported so far compute from constants and from the shapes of values
    /// whose shape is known (Shape, Size), by `evaluator` (the interpreter's kernels). nil
    /// otherwise.
    mutating func evaluated(_ value: String, depth: Int = 0) -> Tensor? {
        if let t = constants[value] { return t }
        if let t = evaluatedValues[value] { return t }
        guard depth < 64, let node = nodes.last(where: { $0.outputs.contains(value) }) else { return nil }
        var result: [Tensor]?
        switch node.op {
        case "Shape", "Size":
            let input = node.input(0).flatMap { knownType(of: $0) }
            let dims = node.op == "Size" ? input?.shape?.dims : ShapeValues.propagate(node, values: [], types: [input])
            guard let extents = dims?.compactMap(\.value), extents.count == dims?.count else { return nil }
            result = [
                node.op == "Size"
                    ? Tensor(scalar: Int64(extents.reduce(1, *))) : Tensor(extents.map(Int64.init), shape: [extents.count])
            ]
        default:
            guard let evaluator, evaluator.supports(node.op) else { return nil }
            var inputs: [Tensor?] = []
            for input in node.inputs {
                if input.isEmpty {
                    inputs.append(nil)
                    continue
                }
                guard let t = evaluated(input, depth: depth + 1), t.count <= 4096 else { return nil }
                inputs.append(t)
            }
            result = try? evaluator.evaluate(node, inputs)
        }
        guard let result, let k = node.outputs.firstIndex(of: value), k < result.count, result[k].count <= 4096 else {
            return nil
        }
        evaluatedValues[value] = result[k]
        return result[k]
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
