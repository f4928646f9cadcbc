// Tokens of the textual IR, read on demand from the UTF-8 bytes, each with its position
// so the parser can say "line L, column C: expected ...".

struct IRToken: Equatable {
    enum Kind: Equatable {
        /// A bare word: keyword, op, dtype, dim symbol, attribute key, `nan`, `true`, `_`.
        case word(String)
        /// `%name` or `%"quoted name"`, without the `%`.
        case value(String)
        /// A double-quoted string, escapes resolved.
        case string(String)
        /// A decimal number: `12`, `-3`, `1.5e-05`, `-inf`.
        case number(String)
        /// `0x` data: the byte range of the hex digits in the text.
        case hex(Range<Int>)
        /// One of `( ) { } [ ] , : = < > * ?`.
        case punct(Character)
        /// `->`
        case arrow
        case end
    }

    var kind: Kind
    /// Byte offset of the token's first character, and its 1-based line.
    var offset: Int
    var line: Int

    /// The spelling of a number token or of the words `nan` and `inf`.
    var numberText: String? {
        switch kind {
        case .number(let text): return text
        case .word(let w) where w == "nan" || w == "inf": return w
        default: return nil
        }
    }

    /// The words `true` and `false`, the literals of bool data.
    var boolText: String? {
        if case .word(let w) = kind, w == "true" || w == "false" { return w }
        return nil
    }

    /// How an error message names the token ("found ...").
    var found: String {
        switch kind {
        case .word(let w): return "'\(w)'"
        case .value(let v): return IRSpelling.value(v)
        case .string(let s): return "string \(IRSpelling.quoted(s))"
        case .number(let n): return "number \(n)"
        case .hex(let r): return "hex data of \(r.count / 2) bytes"
        case .punct(let c): return "'\(c)'"
        case .arrow: return "'->'"
        case .end: return "the end of the text"
        }
    }
}

/// Reads tokens one at a time; `//` comments and whitespace are skipped.
struct IRLexer {
    let bytes: [UInt8]
    private var i = 0
    private var line = 1

    init(_ text: String) { bytes = Array(text.utf8) }

    /// The 1-based column (in Unicode scalars) of byte `offset` on its line.
    func column(of offset: Int) -> Int {
        var start = min(offset, bytes.count)
        while start > 0 && bytes[start - 1] != UInt8(ascii: "\n") { start -= 1 }
        return bytes[start..<min(offset, bytes.count)].reduce(1) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 }
    }

    /// "line L, column C: message", for the position of byte `offset` on `line`.
    func error(_ message: String, offset: Int, line: Int) -> IRError {
        IRError("line \(line), column \(column(of: offset)): \(message)")
    }

    private func peek(_ k: Int = 0) -> UInt8? { i + k < bytes.count ? bytes[i + k] : nil }

    private mutating func skipSpaceAndComments() {
        while let b = peek() {
            if b == UInt8(ascii: "\n") {
                line += 1
                i += 1
            } else if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\r") {
                i += 1
            } else if b == UInt8(ascii: "/") && peek(1) == UInt8(ascii: "/") {
                while let c = peek(), c != UInt8(ascii: "\n") { i += 1 }
            } else {
                return
            }
        }
    }

    mutating func next() throws -> IRToken {
        skipSpaceAndComments()
        let start = i
        func token(_ kind: IRToken.Kind) -> IRToken { IRToken(kind: kind, offset: start, line: line) }
        guard let b = peek() else { return token(.end) }
        if b == UInt8(ascii: "%") {
            i += 1
            if peek() == UInt8(ascii: "\"") { return token(.value(try quoted())) }
            while let c = peek(), IRSpelling.isValueNameByte(c) { i += 1 }
            while i > start + 1 && bytes[i - 1] == UInt8(ascii: ":") { i -= 1 }  // `%x: type`
            guard i > start + 1 else { throw error("expected a value name after '%'", offset: start, line: line) }
            return token(.value(String(decoding: bytes[(start + 1)..<i], as: UTF8.self)))
        }
        if b == UInt8(ascii: "\"") { return token(.string(try quoted())) }
        if b == UInt8(ascii: "-") && peek(1) == UInt8(ascii: ">") {
            i += 2
            return token(.arrow)
        }
        if b == UInt8(ascii: "0") && (peek(1) == UInt8(ascii: "x") || peek(1) == UInt8(ascii: "X")) {
            i = bytes.withUnsafeBufferPointer { text in  // data can be megabytes: a tight loop
                var j = start + 2
                while j < text.count && (text[j] >= UInt8(ascii: "0") && text[j] <= UInt8(ascii: "9")
                                         || text[j] | 0x20 >= UInt8(ascii: "a") && text[j] | 0x20 <= UInt8(ascii: "z")) {
                    j += 1
                }
                return j
            }
            return token(.hex((start + 2)..<i))
        }
        if IRSpelling.isDigit(b) || b == UInt8(ascii: "-") { return token(.number(try number())) }
        if IRSpelling.isWordStart(b) {
            while let c = peek(), IRSpelling.isWordByte(c) { i += 1 }
            return token(.word(String(decoding: bytes[start..<i], as: UTF8.self)))
        }
        if "(){}[],:=<>*?".utf8.contains(b) {
            i += 1
            return token(.punct(Character(Unicode.Scalar(b))))
        }
        let scalar = String(decoding: bytes[start...].prefix(4), as: UTF8.self).unicodeScalars.first ?? "?"
        throw error("unexpected character '\(scalar)'", offset: start, line: line)
    }

    /// `-?digits(.digits)?(e[+-]?digits)?`, or `-inf` / `-nan`.
    private mutating func number() throws -> String {
        let start = i
        if peek() == UInt8(ascii: "-") {
            i += 1
            if peek() == UInt8(ascii: "i") || peek() == UInt8(ascii: "n") {
                while let c = peek(), IRSpelling.isWordByte(c) { i += 1 }
                let text = String(decoding: bytes[start..<i], as: UTF8.self)
                guard text == "-inf" || text == "-nan" else {
                    throw error("expected a number after '-'", offset: start, line: line)
                }
                return text
            }
            guard let d = peek(), IRSpelling.isDigit(d) else {
                throw error("expected a number after '-'", offset: start, line: line)
            }
        }
        while let c = peek() {
            let afterExponent = i > start && (bytes[i - 1] == UInt8(ascii: "e") || bytes[i - 1] == UInt8(ascii: "E"))
            if IRSpelling.isDigit(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
                || ((c == UInt8(ascii: "+") || c == UInt8(ascii: "-")) && afterExponent) {
                i += 1
            } else {
                break
            }
        }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    /// A double-quoted string starting at the current byte, escapes resolved.
    private mutating func quoted() throws -> String {
        let (open, openLine) = (i, line)
        i += 1
        var out: [UInt8] = []
        while true {
            guard let b = peek(), b != UInt8(ascii: "\n") else {
                throw error("unterminated string", offset: open, line: openLine)
            }
            i += 1
            if b == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            guard b == UInt8(ascii: "\\") else {
                out.append(b)
                continue
            }
            let escapeAt = i - 1
            guard let e = peek() else { throw error("unterminated string", offset: open, line: openLine) }
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(e)
            case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
            case UInt8(ascii: "t"): out.append(UInt8(ascii: "\t"))
            case UInt8(ascii: "r"): out.append(UInt8(ascii: "\r"))
            case UInt8(ascii: "u"):
                guard peek() == UInt8(ascii: "{") else {
                    throw error("expected '{' after \\u", offset: escapeAt, line: line)
                }
                let digitsStart = i + 1
                while let c = peek(), c != UInt8(ascii: "}"), c != UInt8(ascii: "\"") { i += 1 }
                let hex = String(decoding: bytes[digitsStart..<i], as: UTF8.self)
                guard peek() == UInt8(ascii: "}"), let v = UInt32(hex, radix: 16), let u = Unicode.Scalar(v) else {
                    throw error("bad escape \\u{\(hex)}: expected a Unicode scalar in hex", offset: escapeAt, line: line)
                }
                i += 1
                out += Array(String(u).utf8)
            default:
                throw error("unknown escape '\\\(Character(Unicode.Scalar(e)))'", offset: escapeAt, line: line)
            }
        }
    }
}
