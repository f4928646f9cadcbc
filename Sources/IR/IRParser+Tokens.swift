// The parser's token-level steps: advance, accept or expect one token, comma-separated
// lists, and errors that say where they are and what was expected instead.

extension IRTextParser {
    mutating func advance() throws { token = try lexer.next() }

    /// "line L, column C: message" at `token` (the current one by default).
    func error(_ message: String, at token: IRToken? = nil) -> IRError {
        let t = token ?? self.token
        return lexer.error(message, offset: t.offset, line: t.line)
    }

    /// "expected WHAT, found TOKEN" at the current token.
    func expected(_ what: String) -> IRError { error("expected \(what), found \(token.found)") }

    mutating func accept(_ c: Character) throws -> Bool {
        guard token.kind == .punct(c) else { return false }
        try advance()
        return true
    }

    mutating func expect(_ c: Character) throws {
        guard try accept(c) else { throw expected("'\(c)'") }
    }

    mutating func acceptWord(_ w: String) throws -> Bool {
        guard token.kind == .word(w) else { return false }
        try advance()
        return true
    }

    mutating func expectWord(_ w: String) throws {
        guard try acceptWord(w) else { throw expected("'\(w)'") }
    }

    mutating func word(_ what: String) throws -> String {
        guard case .word(let w) = token.kind else { throw expected(what) }
        try advance()
        return w
    }

    /// A bare word or a quoted string (names the printer quotes when they are not words).
    mutating func wordOrString(_ what: String) throws -> String {
        switch token.kind {
        case .word(let s), .string(let s):
            try advance()
            return s
        default: throw expected(what)
        }
    }

    mutating func string(_ what: String) throws -> String {
        guard case .string(let s) = token.kind else { throw expected(what) }
        try advance()
        return s
    }

    mutating func value(_ what: String) throws -> String {
        guard case .value(let v) = token.kind else { throw expected(what) }
        try advance()
        return v
    }

    mutating func integer() throws -> Int {
        guard case .number(let text) = token.kind, let v = Int(text) else { throw expected("an integer") }
        try advance()
        return v
    }

    /// `item ("," item)*` then `close`, or just `close` for an empty list.
    mutating func list(until close: Character, _ item: (inout IRTextParser) throws -> Void) throws {
        if try accept(close) { return }
        repeat { try item(&self) } while try accept(",")
        guard try accept(close) else { throw expected("',' or '\(close)'") }
    }
}
