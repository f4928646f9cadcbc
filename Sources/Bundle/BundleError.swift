// Errors reading or writing a bundle: the file, the part of it at fault (the header, the
// section table or one section) and what is wrong, as one line.

public struct BundleError: Error, Sendable, CustomStringConvertible {
    /// The part of the bundle an error is about.
    public enum Part: Sendable, Equatable, CustomStringConvertible {
        case header
        case table
        case section(SectionKind)
        /// The file as a whole (it cannot be read or written, or its size is wrong).
        case file

        public var description: String {
            switch self {
            case .header: return "header"
            case .table: return "section table"
            case .section(let kind): return "section \(kind)"
            case .file: return "file"
            }
        }
    }

    public var file: String
    public var part: Part
    /// The message after the file name, naming the part (`section WGHT: checksum mismatch ...`).
    public var message: String

    /// An error whose message starts with the part's name.
    public init(file: String, _ part: Part, _ what: String) {
        self.file = file
        self.part = part
        message = part == .file ? what : "\(part): \(what)"
    }

    /// A truncation: `truncated: section INST ends at byte N, file has M`.
    public static func truncated(file: String, _ part: Part, endsAt end: Int, fileHas count: Int) -> BundleError {
        var error = BundleError(file: file, part, "")
        error.message = "truncated: \(part) ends at byte \(end), file has \(count)"
        return error
    }

    public var description: String { "\(file): \(message)" }
}

/// `0x0000abcd`: a checksum as errors and reports print it.
func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}
