// Repeated keys in the JSON files users write (target descriptions, precision rules). JSON
// leaves an object with a key twice undefined, and Foundation's two readers disagree on it
// (JSONSerialization keeps the last value, JSONDecoder the first): an override appended to a
// copied file would be read or dropped by chance. Such a file is refused by key instead.
import Foundation

enum JSONKeys {
    /// One step from a value into a member of it.
    enum Step: Equatable {
        case key(String)
        case index(Int)
    }

    /// The steps from the top of `data` to the first member whose key an earlier member of
    /// the same object has (that key last); nil when every object's keys are distinct, or
    /// when `data` is not JSON (which its reader reports).
    static func firstRepeated(in data: Data) -> [Step]? {
        var scanner = Scanner(bytes: [UInt8](data))
        do {
            scanner.skipSpace()
            _ = try scanner.value(at: [], depth: 0)
        } catch {
            return error.path
        }
        return nil
    }

    /// `steps` as a path in the files' own terms: `memories[1].name`.
    static func path(_ steps: [Step]) -> String {
        steps.enumerated().map { k, step in
            switch step {
            case .key(let key): return k == 0 ? key : ".\(key)"
            case .index(let i): return "[\(i)]"
            }
        }.joined()
    }

    private struct Repeated: Error { var path: [Step] }

    /// A recursive reader of JSON text that keeps each object's keys; false where the text
    /// stops being JSON.
    private struct Scanner {
        let bytes: [UInt8]
        var at = 0
        /// Deeper than this is no file a person writes (and Foundation refuses it anyway).
        static let deepest = 512

        mutating func skipSpace() {
            while at < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[at]) { at += 1 }
        }

        mutating func value(at path: [Step], depth: Int) throws(Repeated) -> Bool {
            guard at < bytes.count, depth < Self.deepest else { return false }
            switch bytes[at] {
            case UInt8(ascii: "{"):
                at += 1
                var keys = Set<String>()
                return try members(closing: UInt8(ascii: "}")) { scanner throws(Repeated) in
                    guard let key = scanner.string() else { return false }
                    guard keys.insert(key).inserted else { throw Repeated(path: path + [.key(key)]) }
                    scanner.skipSpace()
                    guard scanner.at < scanner.bytes.count, scanner.bytes[scanner.at] == UInt8(ascii: ":") else { return false }
                    scanner.at += 1
                    scanner.skipSpace()
                    return try scanner.value(at: path + [.key(key)], depth: depth + 1)
                }
            case UInt8(ascii: "["):
                at += 1
                var index = 0
                return try members(closing: UInt8(ascii: "]")) { scanner throws(Repeated) in
                    defer { index += 1 }
                    return try scanner.value(at: path + [.index(index)], depth: depth + 1)
                }
            case UInt8(ascii: "\""):
                return string() != nil
            default:
                // A number, true, false or null: up to the next delimiter.
                let start = at
                while at < bytes.count, !",]} \t\n\r".utf8.contains(bytes[at]) { at += 1 }
                return at > start
            }
        }

        /// The members of an object or array up to `closing`, each read by `member` (false:
        /// not JSON), separated by commas; false where the text is no such list.
        mutating func members(closing: UInt8, _ member: (inout Scanner) throws(Repeated) -> Bool) throws(Repeated) -> Bool {
            skipSpace()
            if at < bytes.count, bytes[at] == closing {
                at += 1
                return true
            }
            while true {
                skipSpace()
                guard try member(&self) else { return false }
                skipSpace()
                guard at < bytes.count else { return false }
                at += 1
                if bytes[at - 1] == closing { return true }
                guard bytes[at - 1] == UInt8(ascii: ",") else { return false }
            }
        }

        /// The string at `at` (a `"`), its escapes decoded; nil when there is none.
        mutating func string() -> String? {
            guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { return nil }
            at += 1
            var utf8: [UInt8] = []
            var pendingHigh: UInt16?
            func append(_ scalar: Unicode.Scalar) { utf8 += Array(String(Character(scalar)).utf8) }
            func flush() {
                if pendingHigh != nil { append("\u{FFFD}") }
                pendingHigh = nil
            }
            while at < bytes.count {
                let byte = bytes[at]
                at += 1
                switch byte {
                case UInt8(ascii: "\""):
                    flush()
                    return String(decoding: utf8, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard at < bytes.count else { return nil }
                    let escaped = bytes[at]
                    at += 1
                    guard escaped == UInt8(ascii: "u") else {
                        flush()
                        let plain: [UInt8: UInt8] = [
                            UInt8(ascii: "b"): 0x08, UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A,
                            UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09,
                        ]
                        utf8.append(plain[escaped] ?? escaped)
                        continue
                    }
                    guard at + 4 <= bytes.count,
                        let unit = UInt16(String(decoding: bytes[at..<(at + 4)], as: UTF8.self), radix: 16)
                    else { return nil }
                    at += 4
                    if let high = pendingHigh, (0xDC00...0xDFFF).contains(unit) {
                        let value = 0x10000 + (UInt32(high - 0xD800) << 10) + UInt32(unit - 0xDC00)
                        pendingHigh = nil
                        append(Unicode.Scalar(value) ?? "\u{FFFD}")
                    } else {
                        flush()
                        if (0xD800...0xDBFF).contains(unit) {
                            pendingHigh = unit
                        } else {
                            append(Unicode.Scalar(UInt32(unit)) ?? "\u{FFFD}")
                        }
                    }
                default:
                    flush()
                    utf8.append(byte)
                }
            }
            return nil
        }
    }
}
