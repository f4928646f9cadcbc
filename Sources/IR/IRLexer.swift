// Tokens of the textual IR, with their line and column for error messages.

struct IRToken: Equatable {
    enum Kind: Equatable {
        case word(String)       // keywords, op names, dtype names, attribute keys
        case value(String)      // %name or %"quoted name"
        case string(String)     // "text"
        case number(String)     // 12, -3, 1.5e-05, nan, inf, -inf
        case symbol(Character)  // ( ) { } [ ] , : = < > _ *
        case arrow              // ->
        case end
    }
    var kind: Kind
    var line: Int
    var column: Int
}

struct IRLexer {
    private let scalars: [Unicode.Scalar]
    private var i = 0
    private var line = 1
    private var column = 1

    init(_ text: String) { scalars = Array(text.unicodeScalars) }

    private func error(_ message: String) -> IRError { IRError("line \(line), column \(column): \(message)") }

    private mutating func advance() {
        if scalars[i] == "\n" { line += 1; column = 1 } else { column += 1 }
        i += 1
    }

    private static func isWord(_ c: Unicode.Scalar) -> Bool {
        (c.value < 128 && c.properties.isAlphabetic) || ("0"..."9").contains(c) || c == "_" || c == "." || c == ":" || c == "/" || c == "-"
    }

    /// Characters of bare words: keywords, op names, dtypes, attribute keys, dim symbols.
    private static func isPlain(_ c: Unicode.Scalar) -> Bool {
        (c.value < 128 && c.properties.isAlphabetic) || ("0"..."9").contains(c) || c == "_" || c == "."
    }

    mutating func tokens() throws -> [IRToken] {
        var out: [IRToken] = []
        while true {
            while i < scalars.count, scalars[i] == " " || scalars[i] == "\n" || scalars[i] == "\t" || scalars[i] == "\r" { advance() }
            if i + 1 < scalars.count, scalars[i] == "/", scalars[i + 1] == "/" {
                while i < scalars.count, scalars[i] != "\n" { advance() }
                continue
            }
            let (l, c) = (line, column)
            guard i < scalars.count else { out.append(IRToken(kind: .end, line: l, column: c)); return out }
            let ch = scalars[i]
            if ch == "%" {
                advance()
                if i < scalars.count, scalars[i] == "\"" {
                    out.append(IRToken(kind: .value(try quoted()), line: l, column: c))
                } else {
                    var name = ""
                    // A ':' belongs to the name unless it ends it (`%x: f32[...]`).
                    while i < scalars.count, Self.isWord(scalars[i]),
                          scalars[i] != ":" || (i + 1 < scalars.count && Self.isWord(scalars[i + 1])) {
                        name.unicodeScalars.append(scalars[i])
                        advance()
                    }
                    guard !name.isEmpty else { throw error("expected a value name after %") }
                    out.append(IRToken(kind: .value(name), line: l, column: c))
                }
            } else if ch == "\"" {
                out.append(IRToken(kind: .string(try quoted()), line: l, column: c))
            } else if ch == "-" && i + 1 < scalars.count && scalars[i + 1] == ">" {
                advance(); advance()
                out.append(IRToken(kind: .arrow, line: l, column: c))
            } else if ("0"..."9").contains(ch) || (ch == "-" && i + 1 < scalars.count && (("0"..."9").contains(scalars[i + 1]) || scalars[i + 1] == "i")) {
                var text = ""
                repeat { text.unicodeScalars.append(scalars[i]); advance() }
                while i < scalars.count && (("0"..."9").contains(scalars[i]) || "+-.eEinf".unicodeScalars.contains(scalars[i])
                                              && !(scalars[i] == "-" && !(text.last == "e" || text.last == "E")))
                out.append(IRToken(kind: .number(text), line: l, column: c))
            } else if "(){}[],:=<>*?".unicodeScalars.contains(ch) {
                advance()
                out.append(IRToken(kind: .symbol(Character(ch)), line: l, column: c))
            } else if Self.isPlain(ch) {
                var text = ""
                while i < scalars.count, Self.isPlain(scalars[i]) {
                    text.unicodeScalars.append(scalars[i]); advance()
                }
                if text == "nan" || text == "inf" { out.append(IRToken(kind: .number(text), line: l, column: c)) } else if text == "_" {
                    out.append(IRToken(kind: .symbol("_"), line: l, column: c))
                } else {
                    out.append(IRToken(kind: .word(text), line: l, column: c))
                }
            } else {
                throw error("unexpected character '\(ch)'")
            }
        }
    }

    private mutating func quoted() throws -> String {
        advance()
        var s = ""
        while true {
            guard i < scalars.count else { throw error("unterminated string") }
            let ch = scalars[i]
            advance()
            if ch == "\"" { return s }
            if ch == "\\" {
                guard i < scalars.count else { throw error("unterminated string") }
                let e = scalars[i]
                advance()
                switch e {
                case "n": s += "\n"
                case "t": s += "\t"
                case "u":
                    var hex = ""
                    guard i < scalars.count, scalars[i] == "{" else { throw error("bad \\u escape") }
                    advance()
                    while i < scalars.count, scalars[i] != "}" { hex.unicodeScalars.append(scalars[i]); advance() }
                    advance()
                    guard let v = UInt32(hex, radix: 16), let u = Unicode.Scalar(v) else { throw error("bad \\u escape") }
                    s.unicodeScalars.append(u)
                default: s.unicodeScalars.append(e)
                }
            } else {
                s.unicodeScalars.append(ch)
            }
        }
    }
}
