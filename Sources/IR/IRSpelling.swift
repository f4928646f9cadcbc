// How the textual IR spells names and strings: which names print bare and how quoted
// strings escape. IRPrinter and IRLexer both use these rules, so they cannot disagree.

enum IRSpelling {
    /// Bytes of a bare value name after `%`: `[A-Za-z0-9_.:/-]`.
    static func isValueNameByte(_ b: UInt8) -> Bool {
        isLetterOrDigit(b) || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: ":")
            || b == UInt8(ascii: "/") || b == UInt8(ascii: "-")
    }

    /// The first byte of a bare word (op, dtype, dim symbol, attribute key): `[A-Za-z_]`.
    static func isWordStart(_ b: UInt8) -> Bool { isLetter(b) || b == UInt8(ascii: "_") }

    /// The other bytes of a bare word: `[A-Za-z0-9_.]`.
    static func isWordByte(_ b: UInt8) -> Bool {
        isLetterOrDigit(b) || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
    }

    static func isLetter(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
    }

    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    static func isLetterOrDigit(_ b: UInt8) -> Bool { isLetter(b) || isDigit(b) }

    /// True when `name` prints as `%name`. A trailing `:` would read as the type separator
    /// (`%x: f32[2]`), so such names are quoted.
    static func isBareValueName(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard let last = utf8.last, last != UInt8(ascii: ":") else { return false }
        return utf8.allSatisfy(isValueNameByte)
    }

    /// True when `word` prints without quotes where the grammar allows a word or a string.
    static func isBareWord(_ word: String) -> Bool {
        let utf8 = word.utf8
        guard let first = utf8.first, isWordStart(first) else { return false }
        return utf8.allSatisfy(isWordByte)
    }

    /// `%name`, or `%"..."` when the name needs quoting.
    static func value(_ name: String) -> String {
        isBareValueName(name) ? "%" + name : "%" + quoted(name)
    }

    /// `word` bare when it can be, quoted otherwise.
    static func word(_ word: String) -> String { isBareWord(word) ? word : quoted(word) }

    /// A double-quoted string: `\"`, `\\`, `\n`, `\t`, `\r`, and `\u{hex}` for the other
    /// control characters. Everything else (non-ASCII included) prints as itself.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if c.value < 0x20 || c.value == 0x7F {
                    out += "\\u{" + String(c.value, radix: 16) + "}"
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }
}
