// The textual IR: one line per constant and node, attributes sorted, names quoted when
// they need it. Grammar and an example in schemas/ir-text.md.

public struct IRPrinter: Sendable {
    /// Constants with more elements print as `<N elements>`; nil prints all data.
    public var constantDataLimit: Int?

    public init(constantDataLimit: Int? = 16) {
        self.constantDataLimit = constantDataLimit
    }

    public func print(_ model: Model) -> String {
        var header = "model"
        if !model.producerName.isEmpty { header += " producer=\(quoted(model.producerName))" }
        if !model.producerVersion.isEmpty { header += " version=\(quoted(model.producerVersion))" }
        header += " ir=\(model.irVersion)"
        let opsets = model.opsets.keys.sorted().map { "\(quoted($0)): \(model.opsets[$0]!)" }
        header += " opsets={\(opsets.joined(separator: ", "))}"
        return header + "\n" + print(model.graph)
    }

    public func print(_ graph: Graph) -> String {
        var out = ""
        let inputs = graph.inputs.map { "\(value($0.name)): \(type($0.type))" }.joined(separator: ", ")
        let outputs = graph.outputs.map { "\(value($0.name)): \(type($0.type))" }.joined(separator: ", ")
        let plainName = !graph.name.isEmpty && graph.name.unicodeScalars.allSatisfy {
            $0.value < 128 && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == ".")
        }
        out += "graph \(plainName ? graph.name : quoted(graph.name))(\(inputs)) -> (\(outputs)) {\n"
        for name in graph.constants.keys.sorted() {
            let t = graph.constants[name]!
            out += "  const \(value(name)): \(type(t.type)) = \(data(t))\n"
        }
        for node in graph.nodes {
            let results = node.outputs.map { o -> String in
                guard !o.isEmpty else { return "_" }
                return graph.types[o].map { "\(value(o)): \(type($0))" } ?? value(o)
            }
            var line = "  " + results.joined(separator: ", ") + " = " + node.op
            line += "(" + node.inputs.map { $0.isEmpty ? "_" : value($0) }.joined(separator: ", ") + ")"
            if !node.attributes.isEmpty {
                let attrs = node.attributes.keys.sorted().map { "\($0)=\(attribute(node.attributes[$0]!))" }
                line += " {" + attrs.joined(separator: ", ") + "}"
            }
            if !node.domain.isEmpty { line += " domain=\(quoted(node.domain))" }
            if !node.name.isEmpty { line += " name=\(quoted(node.name))" }
            out += line + "\n"
        }
        out += "  return " + graph.outputs.map { value($0.name) }.joined(separator: ", ") + "\n}\n"
        return out
    }

    /// `f32[N,3,?]`; a symbol that is not a plain word is quoted.
    func type(_ t: TensorType) -> String {
        guard let shape = t.shape else { return t.dtype.name + "[*]" }
        let dims = shape.dims.map { d -> String in
            guard case .symbol(let s) = d else { return d.description }
            let plain = s.unicodeScalars.first.map { $0.properties.isAlphabetic || $0 == "_" } ?? false
                && s.unicodeScalars.allSatisfy { $0.value < 128 && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }
            return plain ? s : quoted(s)
        }
        return t.dtype.name + "[" + dims.joined(separator: ",") + "]"
    }

    /// `%name`, quoted when the name has characters outside [A-Za-z0-9_.:/-] or ends in ':'.
    func value(_ name: String) -> String {
        let plain = !name.isEmpty && name.unicodeScalars.allSatisfy {
            ($0.value < 128) && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.:/-".unicodeScalars.contains($0))
        }
        return plain && !name.hasSuffix(":") ? "%" + name : "%" + quoted(name)
    }

    func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 { out += "\\u{\(String(c.value, radix: 16))}" } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }

    func attribute(_ a: Attribute) -> String {
        switch a {
        case .int(let v): return String(v)
        case .float(let v): return number(Double(v), isFloat: true)
        case .string(let v): return quoted(v)
        case .ints(let v): return "[" + v.map(String.init).joined(separator: ", ") + "]"
        case .floats(let v) where v.isEmpty: return "floats[]"
        case .floats(let v): return "[" + v.map { number(Double($0), isFloat: true) }.joined(separator: ", ") + "]"
        case .strings(let v) where v.isEmpty: return "strings[]"
        case .strings(let v): return "[" + v.map(quoted).joined(separator: ", ") + "]"
        case .tensor(let t): return "\(type(t.type)) \(data(t))"
        case .tensors(let ts) where ts.isEmpty: return "tensors[]"
        case .tensors(let ts): return "[" + ts.map { "\(type($0.type)) \(data($0))" }.joined(separator: ", ") + "]"
        }
    }

    func data(_ t: Tensor) -> String {
        if let limit = constantDataLimit, t.count > limit { return "<\(t.count) elements>" }
        let values = (0..<t.count).map { i -> String in
            if t.dtype.isFloatingPoint {
                if t.dtype == .float32 { return number(Double(t.withUnsafeBuffer(as: Float.self) { $0[i] }), isFloat: true) }
                return number(t.double(at: i), isFloat: t.dtype != .float64)
            }
            if t.dtype == .bool { return t.int64(at: i) != 0 ? "true" : "false" }
            if t.dtype == .uint64 { return String(UInt64(bitPattern: t.int64(at: i))) }
            return String(t.int64(at: i))
        }
        return "[" + values.joined(separator: ", ") + "]"
    }

    /// Shortest text that reads back to the same value; `nan`, `inf`, `-inf` spelled out.
    func number(_ v: Double, isFloat: Bool) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v < 0 ? "-inf" : "inf" }
        return isFloat ? Float(v).description : v.description
    }
}
