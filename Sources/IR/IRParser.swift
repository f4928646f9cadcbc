// Reads the textual IR (schemas/ir-text.md) back into a Model. Hand-written recursive
// descent over IRLexer's tokens; errors give line and column.

public enum IRParser {
    public static func parse(_ text: String) throws -> Model {
        var lexer = IRLexer(text)
        var parser = Parser(tokens: try lexer.tokens())
        return try parser.model()
    }
}

private struct Parser {
    let tokens: [IRToken]
    var at = 0

    var token: IRToken { tokens[at] }

    func error(_ message: String) -> IRError {
        IRError("line \(token.line), column \(token.column): \(message)")
    }

    mutating func next() -> IRToken {
        defer { if at < tokens.count - 1 { at += 1 } }
        return token
    }

    mutating func accept(_ c: Character) -> Bool {
        if token.kind == .symbol(c) { at += 1; return true }
        return false
    }

    mutating func expect(_ c: Character) throws {
        guard accept(c) else { throw error("expected '\(c)'") }
    }

    mutating func acceptWord(_ w: String) -> Bool {
        if token.kind == .word(w) { at += 1; return true }
        return false
    }

    mutating func expectWord(_ w: String) throws {
        guard acceptWord(w) else { throw error("expected '\(w)'") }
    }

    mutating func word() throws -> String {
        guard case .word(let w) = token.kind else { throw error("expected a name") }
        at += 1
        return w
    }

    mutating func string() throws -> String {
        guard case .string(let s) = token.kind else { throw error("expected a string") }
        at += 1
        return s
    }

    mutating func value() throws -> String {
        guard case .value(let v) = token.kind else { throw error("expected a %value") }
        at += 1
        return v
    }

    mutating func number() throws -> String {
        guard case .number(let n) = token.kind else { throw error("expected a number") }
        at += 1
        return n
    }

    mutating func integer() throws -> Int {
        let text = try number()
        guard let v = Int(text) else { throw error("expected an integer, found \(text)") }
        return v
    }

    mutating func model() throws -> Model {
        try expectWord("model")
        var model = Model(irVersion: 0, opsets: [:], graph: Graph())
        while case .word(let key) = token.kind, key != "graph" {
            at += 1
            try expect("=")
            switch key {
            case "producer": model.producerName = try string()
            case "version": model.producerVersion = try string()
            case "ir": model.irVersion = try integer()
            case "opsets":
                try expect("{")
                while !accept("}") {
                    let domain = try string()
                    try expect(":")
                    model.opsets[domain] = try integer()
                    _ = accept(",")
                }
            default: throw error("unknown model field '\(key)'")
            }
        }
        model.graph = try graph()
        guard token.kind == .end else { throw error("text after the graph") }
        return model
    }

    mutating func graph() throws -> Graph {
        try expectWord("graph")
        var g = Graph()
        if case .string(let s) = token.kind { g.name = s; at += 1 } else { g.name = try word() }
        g.inputs = try valueInfos()
        guard case .arrow = next().kind else { throw error("expected '->'") }
        g.outputs = try valueInfos()
        for v in g.inputs { g.types[v.name] = v.type }
        try expect("{")
        while true {
            if acceptWord("const") {
                let name = try value()
                try expect(":")
                let type = try tensorType()
                try expect("=")
                g.constants[name] = try data(type)
            } else if acceptWord("return") {
                var returned: [String] = []
                repeat { returned.append(try value()) } while accept(",")
                guard returned == g.outputs.map(\.name) else { throw error("return list differs from the graph outputs") }
                try expect("}")
                break
            } else {
                g.nodes.append(try node(&g))
            }
        }
        return g
    }

    mutating func valueInfos() throws -> [ValueInfo] {
        try expect("(")
        var out: [ValueInfo] = []
        while !accept(")") {
            let name = try value()
            try expect(":")
            out.append(ValueInfo(name: name, type: try tensorType()))
            _ = accept(",")
        }
        return out
    }

    mutating func tensorType() throws -> TensorType {
        let name = try word()
        guard let dtype = DType(name: name) else { throw error("unknown element type '\(name)'") }
        try expect("[")
        if accept("*") {
            try expect("]")
            return TensorType(dtype, nil)
        }
        var dims: [Dim] = []
        while !accept("]") {
            switch token.kind {
            case .number: dims.append(.known(try integer()))
            case .symbol("?"): at += 1; dims.append(.unknown)
            case .string(let s): at += 1; dims.append(.symbol(s))
            case .word(let s): at += 1; dims.append(.symbol(s))
            default: throw error("expected a dimension")
            }
            _ = accept(",")
        }
        return TensorType(dtype, Shape(dims))
    }

    mutating func node(_ g: inout Graph) throws -> Node {
        var outputs: [String] = []
        repeat {
            if accept("_") { outputs.append(""); continue }
            let name = try value()
            if accept(":") { g.types[name] = try tensorType() }
            outputs.append(name)
        } while accept(",")
        try expect("=")
        var node = Node(op: try word(), inputs: [], outputs: outputs)
        try expect("(")
        while !accept(")") {
            node.inputs.append(accept("_") ? "" : try value())
            _ = accept(",")
        }
        if accept("{") {
            while !accept("}") {
                let key = try word()
                try expect("=")
                node.attributes[key] = try attribute()
                _ = accept(",")
            }
        }
        if acceptWord("domain") { try expect("="); node.domain = try string() }
        if acceptWord("name") { try expect("="); node.name = try string() }
        return node
    }

    mutating func attribute() throws -> Attribute {
        switch token.kind {
        case .number(let text):
            at += 1
            return isFloatLiteral(text) ? .float(try float(text)) : .int(try parseInt(text))
        case .string(let s):
            at += 1
            return .string(s)
        case .word("floats"): at += 1; try expect("["); try expect("]"); return .floats([])
        case .word("strings"): at += 1; try expect("["); try expect("]"); return .strings([])
        case .word("tensors"): at += 1; try expect("["); try expect("]"); return .tensors([])
        case .word:
            let type = try tensorType()
            return .tensor(try data(type))
        case .symbol("["):
            at += 1
            if accept("]") { return .ints([]) }
            switch token.kind {
            case .string:
                var v: [String] = []
                repeat { v.append(try string()) } while accept(",")
                try expect("]")
                return .strings(v)
            case .word:
                var v: [Tensor] = []
                repeat { let t = try tensorType(); v.append(try data(t)) } while accept(",")
                try expect("]")
                return .tensors(v)
            default:
                var texts: [String] = []
                repeat { texts.append(try number()) } while accept(",")
                try expect("]")
                if texts.contains(where: isFloatLiteral) { return .floats(try texts.map(float)) }
                return .ints(try texts.map(parseInt))
            }
        default:
            throw error("expected an attribute value")
        }
    }

    func isFloatLiteral(_ text: String) -> Bool {
        text.contains(".") || text.contains("e") || text.contains("E") || text.hasSuffix("nan") || text.hasSuffix("inf")
    }

    func float(_ text: String) throws -> Float {
        guard let v = Float(text) else { throw error("bad number \(text)") }
        return v
    }

    func parseInt(_ text: String) throws -> Int {
        guard let v = Int(text) else { throw error("bad integer \(text)") }
        return v
    }

    /// A constant's data, `[v, ...]`, for `type` (which must be fully known).
    mutating func data(_ type: TensorType) throws -> Tensor {
        guard let shape = type.shape?.concrete else { throw error("a constant needs a fully known shape") }
        if accept("<") { throw error("constant data is elided; print with all constant data to parse it back") }
        try expect("[")
        var texts: [String] = []
        while !accept("]") {
            switch token.kind {
            case .number(let n): texts.append(n); at += 1
            case .word("true"): texts.append("1"); at += 1
            case .word("false"): texts.append("0"); at += 1
            default: throw error("expected a number")
            }
            _ = accept(",")
        }
        let count = shape.reduce(1, *)
        guard texts.count == count else { throw error("\(texts.count) values for a constant of \(count) elements") }
        let dtype = type.dtype
        switch dtype {
        case .float32: return Tensor(try texts.map(float), shape: shape)
        case .float64:
            return Tensor(try texts.map { t -> Double in
                guard let v = Double(t) else { throw error("bad number \(t)") }
                return v
            }, shape: shape)
        case .float16, .bfloat16: return Tensor(try texts.map(float), shape: shape).cast(to: dtype)
        case .uint64:
            return Tensor(try texts.map { t -> UInt64 in
                guard let v = UInt64(t) else { throw error("bad integer \(t)") }
                return v
            }, shape: shape)
        default:
            let values = try texts.map { t -> Int64 in
                guard let v = Int64(t) else { throw error("bad integer \(t)") }
                return v
            }
            return Tensor(values, shape: shape).cast(to: dtype)
        }
    }
}
