// The parser's value rules: tensor types and dims, tensor data (literal list, hex or
// elided), and attribute values.

extension IRTextParser {
    /// `DTYPE[dim, ...]`, `DTYPE[]` (a scalar) or `DTYPE[*]` (rank unknown).
    mutating func tensorType() throws -> TensorType {
        let at = token
        let name = try word("an element type")
        guard let dtype = DType(name: name) else {
            let known = DType.allCases.map(\.name).joined(separator: ", ")
            throw error("unknown element type '\(name)'; expected one of \(known)", at: at)
        }
        try expect("[")
        if try accept("*") {
            try expect("]")
            return TensorType(dtype, nil)
        }
        var dims: [Dim] = []
        try list(until: "]") { p in dims.append(try p.dim()) }
        return TensorType(dtype, Shape(dims))
    }

    /// A size, a symbol (bare or quoted) or `?`.
    mutating func dim() throws -> Dim {
        switch token.kind {
        case .number(let text):
            guard let v = Int(text) else { throw expected("a dimension") }
            try advance()
            return .known(v)
        case .punct("?"):
            try advance()
            return .unknown
        case .word(let s), .string(let s):
            try advance()
            return .symbol(s)
        default:
            throw expected("a dimension (a size, a symbol or '?')")
        }
    }

    /// The data of a tensor of `type`: `[literal, ...]`, `0x...` or `<elided N elements>`.
    /// `what` names the tensor in messages.
    mutating func data(_ type: TensorType, of what: String) throws -> Tensor {
        let at = token
        guard let shape = type.shape?.concrete, let byteCount = type.dtype.byteCount(of: shape) else {
            throw error("\(what) needs a type of known size, not \(type)", at: at)
        }
        let count = shape.reduce(1, *)
        switch token.kind {
        case .hex(let digits):
            guard digits.count == 2 * byteCount else {
                throw error("\(what) has \(digits.count) hex digits; \(type) needs \(2 * byteCount)")
            }
            guard let t = TensorText.tensor(hexDigits: lexer.bytes[digits], type.dtype, shape) else {
                throw error("\(what) has a character that is not a hex digit in its data")
            }
            try advance()
            return t
        case .punct("<"):
            try advance()
            try expectWord("elided")
            let n = try integer()
            try expectWord("elements")
            try expect(">")
            guard options.elidedDataAsZeros else {
                throw error("\(what) has elided data; print it with all constant data "
                            + "(IRPrinter(constantDataLimit: nil), npucc dump-ir --constants) to parse it", at: at)
            }
            guard n == count else { throw error("\(what) elides \(n) elements but \(type) holds \(count)", at: at) }
            return Tensor(zeros: type.dtype, shape: shape)
        case .punct("["):
            try advance()
            var literals: [(String, IRToken)] = []
            try list(until: "]") { p in
                guard let text = p.token.numberText ?? p.token.boolText else {
                    throw p.expected("a \(type.dtype.name) element")
                }
                literals.append((text, p.token))
                try p.advance()
            }
            guard literals.count == count else {
                throw error("\(what) lists \(literals.count) elements but \(type) holds \(count)", at: at)
            }
            var reader = TensorLiteralReader(type.dtype, shape)
            for (text, t) in literals where !reader.append(text) {
                throw error("'\(text)' is not a value of type \(type.dtype.name)", at: t)
            }
            return reader.tensor
        default:
            throw expected("tensor data ('[...]', '0x...' or '<elided N elements>')")
        }
    }

    /// `INT`, `FLOAT`, `"string"`, `TYPE DATA`, a list of one of those, or an empty list:
    /// `[]` (ints), `floats[]`, `strings[]`, `tensors[]`.
    mutating func attribute() throws -> Attribute {
        if let text = token.numberText {
            let at = token
            try advance()
            return try number(text, at: at)
        }
        switch token.kind {
        case .string(let s):
            try advance()
            return .string(s)
        case .word(let kind) where ["floats", "strings", "tensors"].contains(kind):
            try advance()
            try expect("[")
            try expect("]")
            return kind == "floats" ? .floats([]) : kind == "strings" ? .strings([]) : .tensors([])
        case .word(let w) where DType(name: w) != nil:
            return .tensor(try typedTensor())
        case .punct("["):
            try advance()
            return try attributeList()
        default:
            throw expected("an attribute value")
        }
    }

    /// The rest of a list attribute after `[`.
    mutating func attributeList() throws -> Attribute {
        switch token.kind {
        case .string:
            var items: [String] = []
            try list(until: "]") { p in items.append(try p.string("a string")) }
            return .strings(items)
        case .word(let w) where DType(name: w) != nil:
            var items: [Tensor] = []
            try list(until: "]") { p in items.append(try p.typedTensor()) }
            return .tensors(items)
        default:
            var items: [Attribute] = []
            try list(until: "]") { p in
                let at = p.token
                guard let text = at.numberText else { throw p.expected("an attribute list element") }
                try p.advance()
                items.append(try p.number(text, at: at))
            }
            if items.contains(where: { if case .float = $0 { return true } else { return false } }) {
                return .floats(items.map {
                    switch $0 {
                    case .int(let v): return Float(v)
                    case .float(let v): return v
                    default: return 0
                    }
                })
            }
            return .ints(items.map { if case .int(let v) = $0 { return v } else { return 0 } })
        }
    }

    /// An int unless the spelling has `.`, an exponent, or is `nan`/`inf`; then a float.
    func number(_ text: String, at: IRToken) throws -> Attribute {
        let isFloat = text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) || text.hasSuffix("nan")
            || text.hasSuffix("inf")
        if isFloat {
            guard let v = Float(text) else { throw error("'\(text)' is not a float", at: at) }
            return .float(v)
        }
        guard let v = Int(text) else { throw error("'\(text)' is not an integer in range", at: at) }
        return .int(v)
    }

    /// `TYPE DATA`, as in a tensor attribute.
    mutating func typedTensor() throws -> Tensor {
        let type = try tensorType()
        return try data(type, of: "tensor attribute")
    }
}
