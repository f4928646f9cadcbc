// Comparing IR models exactly, for round-trip tests: the first difference, described, or
// nil. Tensors compare bit for bit; float attributes by bits, any NaN equal to any NaN.
import IR

/// The first difference between two models, or nil when they are the same: header fields,
/// graph name, inputs, outputs, nodes (every field, attributes deeply), constants bit for
/// bit, and the type of every value the graph defines (`Graph.type(of:)`, so a type in
/// `graph.types` for a constant or for a name no longer in the graph is not compared).
public func modelDifference(_ a: Model, _ b: Model) -> String? {
    if a.irVersion != b.irVersion { return "irVersion \(a.irVersion) vs \(b.irVersion)" }
    if a.producerName != b.producerName { return "producerName \(a.producerName) vs \(b.producerName)" }
    if a.producerVersion != b.producerVersion { return "producerVersion \(a.producerVersion) vs \(b.producerVersion)" }
    if a.domain != b.domain { return "domain \(a.domain) vs \(b.domain)" }
    if a.modelVersion != b.modelVersion { return "modelVersion \(a.modelVersion) vs \(b.modelVersion)" }
    if a.docString != b.docString { return "docString \(a.docString.debugDescription) vs \(b.docString.debugDescription)" }
    if a.opsets != b.opsets { return "opsets \(a.opsets) vs \(b.opsets)" }
    if a.metadata.map(\.key) != b.metadata.map(\.key) || a.metadata.map(\.value) != b.metadata.map(\.value) {
        return "metadata \(a.metadata) vs \(b.metadata)"
    }
    return graphDifference(a.graph, b.graph)
}

/// The first difference between two graphs, or nil (see `modelDifference`).
public func graphDifference(_ a: Graph, _ b: Graph) -> String? {
    if a.name != b.name { return "graph name \(a.name) vs \(b.name)" }
    for (what, x, y) in [("inputs", a.inputs, b.inputs), ("outputs", a.outputs, b.outputs)] {
        if x.map(\.name) != y.map(\.name) || x.map(\.type) != y.map(\.type) {
            return "graph \(what) \(x.map { "\($0.name): \($0.type)" }) vs \(y.map { "\($0.name): \($0.type)" })"
        }
    }
    if a.nodes.count != b.nodes.count { return "\(a.nodes.count) nodes vs \(b.nodes.count)" }
    for (i, (x, y)) in zip(a.nodes, b.nodes).enumerated() {
        if let d = nodeDifference(x, y) { return "node \(i) (\(x.label)): \(d)" }
    }
    if Set(a.constants.keys) != Set(b.constants.keys) {
        return "constants \(a.constants.keys.sorted()) vs \(b.constants.keys.sorted())"
    }
    for name in a.constants.keys.sorted() {
        if let x = a.constants[name], let y = b.constants[name], !x.bitwiseEqual(y) {
            return "constant \"\(name)\": \(x.type) vs \(y.type) or different bytes"
        }
    }
    let defined = a.inputs.map(\.name) + a.constants.keys.sorted() + a.nodes.flatMap(\.outputs).filter { !$0.isEmpty }
    for name in defined where a.type(of: name) != b.type(of: name) {
        return "type of \"\(name)\": \(a.type(of: name).map(\.description) ?? "unknown") vs "
            + (b.type(of: name).map(\.description) ?? "unknown")
    }
    return nil
}

/// The first difference between two nodes, or nil.
public func nodeDifference(_ a: Node, _ b: Node) -> String? {
    if a.op != b.op { return "op \(a.op) vs \(b.op)" }
    if a.domain != b.domain { return "domain \(a.domain) vs \(b.domain)" }
    if a.name != b.name { return "name \(a.name) vs \(b.name)" }
    if a.inputs != b.inputs { return "inputs \(a.inputs) vs \(b.inputs)" }
    if a.outputs != b.outputs { return "outputs \(a.outputs) vs \(b.outputs)" }
    if Set(a.attributes.keys) != Set(b.attributes.keys) {
        return "attributes \(a.attributes.keys.sorted()) vs \(b.attributes.keys.sorted())"
    }
    for key in a.attributes.keys.sorted() {
        if let x = a.attributes[key], let y = b.attributes[key], !attributesIdentical(x, y) {
            return "attribute \(key): \(x) vs \(y)"
        }
    }
    return nil
}

/// Same kind and value; floats by bit pattern (every NaN equal), tensors bit for bit.
public func attributesIdentical(_ a: Attribute, _ b: Attribute) -> Bool {
    func same(_ x: Float, _ y: Float) -> Bool { x.bitPattern == y.bitPattern || (x.isNaN && y.isNaN) }
    switch (a, b) {
    case (.int(let x), .int(let y)): return x == y
    case (.float(let x), .float(let y)): return same(x, y)
    case (.string(let x), .string(let y)): return x == y
    case (.tensor(let x), .tensor(let y)): return x.bitwiseEqual(y)
    case (.ints(let x), .ints(let y)): return x == y
    case (.floats(let x), .floats(let y)): return x.count == y.count && zip(x, y).allSatisfy(same)
    case (.strings(let x), .strings(let y)): return x == y
    case (.tensors(let x), .tensors(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.bitwiseEqual($1) }
    default: return false
    }
}
