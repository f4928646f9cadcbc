// The textual IR printer: a model header, then the graph with one line per constant and
// per node. Grammar and an example in schemas/ir-text.md; IRParser reads it back.

/// Prints models and graphs in the textual IR.
///
/// The text is deterministic: constants sorted by name, nodes in graph order, attributes
/// sorted by name, opsets sorted by domain. With `constantDataLimit: nil` it holds every
/// byte of every constant, and `IRParser.parse` gives back the same model.
public struct IRPrinter: Sendable {
    /// Constants (and tensor attributes) with more elements print as
    /// `<elided N elements>`; nil prints all data.
    public var constantDataLimit: Int?

    public init(constantDataLimit: Int? = 16) {
        self.constantDataLimit = constantDataLimit
    }

    /// The model header (provenance, opsets, doc string, metadata) and the main graph.
    public func print(_ model: Model) -> String {
        var header = "model"
        if !model.producerName.isEmpty { header += " producer=" + IRSpelling.quoted(model.producerName) }
        if !model.producerVersion.isEmpty { header += " version=" + IRSpelling.quoted(model.producerVersion) }
        if !model.domain.isEmpty { header += " domain=" + IRSpelling.quoted(model.domain) }
        if model.modelVersion != 0 { header += " model_version=\(model.modelVersion)" }
        header += " ir=\(model.irVersion)"
        let opsets = model.opsets.sorted { $0.key < $1.key }.map { IRSpelling.quoted($0.key) + ": \($0.value)" }
        header += " opsets={" + opsets.joined(separator: ", ") + "}\n"
        if !model.docString.isEmpty { header += "  doc=" + IRSpelling.quoted(model.docString) + "\n" }
        if !model.metadata.isEmpty {
            let pairs = model.metadata.map { IRSpelling.quoted($0.key) + ": " + IRSpelling.quoted($0.value) }
            header += "  metadata={" + pairs.joined(separator: ", ") + "}\n"
        }
        return header + print(model.graph)
    }

    /// The graph alone: signature, constants, nodes and the return line.
    public func print(_ graph: Graph) -> String {
        var out = "graph " + IRSpelling.word(graph.name)
        out += "(" + graph.inputs.map(valueInfo).joined(separator: ", ") + ")"
        out += " -> (" + graph.outputs.map(valueInfo).joined(separator: ", ") + ") {\n"
        for (name, tensor) in graph.constants.sorted(by: { $0.key < $1.key }) {
            out += "  const " + IRSpelling.value(name) + ": " + type(tensor.type) + " = " + data(tensor) + "\n"
        }
        for node in graph.nodes { out += "  " + line(node, types: graph.types) + "\n" }
        out += "  return"
        if !graph.outputs.isEmpty { out += " " + graph.outputs.map { IRSpelling.value($0.name) }.joined(separator: ", ") }
        return out + "\n}\n"
    }

    /// `%y: f32[2], _ = Op(%x, _) {key=value} domain="d" name="n"`. A result's type is
    /// printed when `types` knows it; an omitted optional input or output prints `_`.
    func line(_ node: Node, types: [String: TensorType]) -> String {
        let results = node.outputs.map { name -> String in
            guard !name.isEmpty else { return "_" }
            guard let t = types[name] else { return IRSpelling.value(name) }
            return IRSpelling.value(name) + ": " + type(t)
        }
        var line = results.joined(separator: ", ")
        line += (results.isEmpty ? "= " : " = ") + IRSpelling.word(node.op)
        line += "(" + node.inputs.map { $0.isEmpty ? "_" : IRSpelling.value($0) }.joined(separator: ", ") + ")"
        if !node.attributes.isEmpty {
            let attrs = node.attributes.sorted { $0.key < $1.key }
                .map { IRSpelling.word($0.key) + "=" + attribute($0.value) }
            line += " {" + attrs.joined(separator: ", ") + "}"
        }
        if !node.domain.isEmpty { line += " domain=" + IRSpelling.quoted(node.domain) }
        if !node.name.isEmpty { line += " name=" + IRSpelling.quoted(node.name) }
        return line
    }

    func valueInfo(_ v: ValueInfo) -> String { IRSpelling.value(v.name) + ": " + type(v.type) }

    /// `f32[N,3,?]`, `f32[]` for a scalar, `f32[*]` when the rank is unknown. A symbolic
    /// dim that is not a bare word is quoted.
    func type(_ t: TensorType) -> String {
        guard let shape = t.shape else { return t.dtype.name + "[*]" }
        let dims = shape.dims.map { d -> String in
            switch d {
            case .known(let v): return String(v)
            case .symbol(let s): return IRSpelling.word(s)
            case .unknown: return "?"
            }
        }
        return t.dtype.name + "[" + dims.joined(separator: ",") + "]"
    }

    func data(_ t: Tensor) -> String { TensorText.spell(t, limit: constantDataLimit) }

    /// An attribute value. Ints print plain and floats always with `.`, an exponent or as
    /// `nan`/`inf`, so the two never read as each other. Empty lists other than ints carry
    /// their kind (`floats[]`); a tensor prints its type then its data.
    func attribute(_ a: Attribute) -> String {
        switch a {
        case .int(let v): return String(v)
        case .float(let v): return float(v)
        case .string(let v): return IRSpelling.quoted(v)
        case .tensor(let t): return type(t.type) + " " + data(t)
        case .ints(let v): return "[" + v.map(String.init).joined(separator: ", ") + "]"
        case .floats(let v): return v.isEmpty ? "floats[]" : "[" + v.map(float).joined(separator: ", ") + "]"
        case .strings(let v): return v.isEmpty ? "strings[]" : "[" + v.map(IRSpelling.quoted).joined(separator: ", ") + "]"
        case .tensors(let v):
            return v.isEmpty ? "tensors[]" : "[" + v.map { type($0.type) + " " + data($0) }.joined(separator: ", ") + "]"
        }
    }

    /// A float attribute: shortest round trip; every NaN prints `nan` (payloads are not kept).
    func float(_ v: Float) -> String { TensorText.spellFloat(bits: UInt64(v.bitPattern), .float32) ?? "nan" }
}
