// Reads the textual IR (schemas/ir-text.md) back into a Model: recursive descent over
// IRLexer's tokens, one method per grammar rule. Types, data and attributes are in
// IRParser+Values.swift.

/// Parses the text IRPrinter prints.
public enum IRParser {
    public struct Options: Sendable {
        /// Read `<elided N elements>` data as N zeros instead of failing. The model then has
        /// the original's structure and types but not its weights: for tests and tools that
        /// only look at the graph.
        public var elidedDataAsZeros: Bool

        public init(elidedDataAsZeros: Bool = false) {
            self.elidedDataAsZeros = elidedDataAsZeros
        }
    }

    /// The model in `text`. The `model ...` header is optional; without it the model has
    /// `Model`'s defaults. Throws an `IRError` whose message starts "line L, column C:".
    public static func parse(_ text: String, options: Options = Options()) throws -> Model {
        var parser = try IRTextParser(text, options: options)
        return try parser.model()
    }

    /// The graph in `text` (with or without a model header), e.g. a pass test's input.
    public static func parseGraph(_ text: String, options: Options = Options()) throws -> Graph {
        try parse(text, options: options).graph
    }
}

/// The parser's state: the lexer and the current token (the grammar is LL(1)).
struct IRTextParser {
    var lexer: IRLexer
    var token: IRToken
    let options: IRParser.Options

    init(_ text: String, options: IRParser.Options) throws {
        lexer = IRLexer(text)
        token = try lexer.next()
        self.options = options
    }

    // MARK: model and graph

    /// `("model" field*)? graph`
    mutating func model() throws -> Model {
        var model = Model(graph: Graph())
        if try acceptWord("model") { try header(&model) }
        model.graph = try graph()
        guard token.kind == .end else { throw expected("the end of the text after the graph") }
        return model
    }

    /// `key=value` fields up to `graph`, each at most once.
    mutating func header(_ model: inout Model) throws {
        var seen = Set<String>()
        while case .word(let key) = token.kind, key != "graph" {
            let keyToken = token
            guard seen.insert(key).inserted else { throw error("model field '\(key)' is given twice", at: keyToken) }
            try advance()
            try expect("=")
            switch key {
            case "producer": model.producerName = try string("a producer string")
            case "version": model.producerVersion = try string("a version string")
            case "domain": model.domain = try string("a domain string")
            case "model_version": model.modelVersion = try integer()
            case "ir": model.irVersion = try integer()
            case "doc": model.docString = try string("a doc string")
            case "opsets":
                var opsets: [String: Int] = [:]
                try expect("{")
                try list(until: "}") { p in
                    let at = p.token
                    let domain = try p.string("an opset domain string")
                    try p.expect(":")
                    guard opsets.updateValue(try p.integer(), forKey: domain) == nil else {
                        throw p.error("opset domain \(IRSpelling.quoted(domain)) is given twice", at: at)
                    }
                }
                model.opsets = opsets
            case "metadata":
                var metadata: [(key: String, value: String)] = []
                try expect("{")
                try list(until: "}") { p in
                    let key = try p.string("a metadata key string")
                    try p.expect(":")
                    metadata.append((key, try p.string("a metadata value string")))
                }
                model.metadata = metadata
            default:
                throw error("unknown model field '\(key)'; expected producer, version, domain, model_version, "
                            + "ir, opsets, doc or metadata", at: keyToken)
            }
        }
    }

    /// `graph NAME (inputs) -> (outputs) { const* node* return values }`
    mutating func graph() throws -> Graph {
        try expectWord("graph")
        var g = Graph()
        g.name = try wordOrString("a graph name")
        var inputs: [ValueInfo] = [], outputs: [ValueInfo] = []
        try expect("(")
        try list(until: ")") { p in inputs.append(try p.valueInfo()) }
        guard token.kind == .arrow else { throw expected("'->'") }
        try advance()
        try expect("(")
        try list(until: ")") { p in outputs.append(try p.valueInfo()) }
        (g.inputs, g.outputs) = (inputs, outputs)
        for v in inputs { g.types[v.name] = v.type }
        try expect("{")
        while true {
            switch token.kind {
            case .word("const"): try constant(&g)
            case .word("return"): return try returnLine(g)
            case .value, .word("_"), .punct("="): g.nodes.append(try node(&g))
            default: throw expected("'const', a node or 'return'")
            }
        }
    }

    /// `return %a, %b }`: must list the graph outputs, in order.
    mutating func returnLine(_ g: Graph) throws -> Graph {
        let at = token
        try advance()
        var returned: [String] = []
        if case .value = token.kind {
            repeat { returned.append(try value("a returned %value")) } while try accept(",")
        }
        let declared = g.outputs.map(\.name)
        guard returned == declared else {
            let list = { (names: [String]) in
                names.isEmpty ? "nothing" : names.map(IRSpelling.value).joined(separator: ", ")
            }
            throw error("return gives \(list(returned)) but the graph outputs are \(list(declared))", at: at)
        }
        try expect("}")
        return g
    }

    /// `%name: type`
    mutating func valueInfo() throws -> ValueInfo {
        let name = try value("a %value")
        try expect(":")
        return ValueInfo(name: name, type: try tensorType())
    }

    /// `const %name: type = data`
    mutating func constant(_ g: inout Graph) throws {
        try advance()
        let at = token
        let name = try value("a constant's %name")
        try expect(":")
        let type = try tensorType()
        try expect("=")
        let tensor = try data(type, of: "constant \(IRSpelling.value(name))")
        guard g.constants.updateValue(tensor, forKey: name) == nil else {
            throw error("constant \(IRSpelling.value(name)) is defined twice", at: at)
        }
    }

    /// `results = Op(operands) {attributes}? (domain="d")? (name="n")?`, where a result is
    /// `_` or `%name` with an optional `: type`, and an operand `_` or `%name`.
    mutating func node(_ g: inout Graph) throws -> Node {
        var outputs: [String] = []
        if token.kind != .punct("=") {
            repeat {
                if try acceptWord("_") {
                    outputs.append("")
                    continue
                }
                let name = try value("a result %value or '_'")
                if try accept(":") { g.types[name] = try tensorType() }
                outputs.append(name)
            } while try accept(",")
        }
        try expect("=")
        var node = Node(op: try wordOrString("an op name"), inputs: [], outputs: outputs)
        try expect("(")
        try list(until: ")") { p in
            node.inputs.append(try p.acceptWord("_") ? "" : try p.value("an operand %value or '_'"))
        }
        if try accept("{") {
            try list(until: "}") { p in
                let at = p.token
                let key = try p.wordOrString("an attribute name")
                try p.expect("=")
                guard node.attributes.updateValue(try p.attribute(), forKey: key) == nil else {
                    throw p.error("attribute '\(key)' is given twice", at: at)
                }
            }
        }
        if try acceptWord("domain") {
            try expect("=")
            node.domain = try string("a domain string")
        }
        if try acceptWord("name") {
            try expect("=")
            node.name = try string("a node name string")
        }
        return node
    }
}
