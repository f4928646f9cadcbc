// Errors of reading a target description: the file, the field as a JSON path
// (`memories[2].size_bytes`), and what is wrong with it.

/// A target file that cannot be used, naming the file and the field.
public struct TargetError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The target file as the user named it (or the built-in target's name).
    public var file: String
    /// The JSON path of the offending field, e.g. `compute.mac_array.rows`; empty when the
    /// problem is the file as a whole (unreadable, not JSON).
    public var field: String
    /// What is wrong, in the domain's words.
    public var message: String

    public init(file: String, field: String, _ message: String) {
        self.file = file
        self.field = field
        self.message = message
    }

    public var description: String { field.isEmpty ? "\(file): \(message)" : "\(file): \(field): \(message)" }
}

/// A problem found at a field while decoding or validating, before the file is known.
struct FieldError: Error {
    var field: String
    var message: String

    init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    init(_ path: [any CodingKey], _ message: String) {
        self.init(jsonPath(path), message)
    }
}

/// `memories[2].size_bytes` for the decoder's coding path.
func jsonPath(_ path: [any CodingKey]) -> String {
    var out = ""
    for key in path {
        if let i = key.intValue {
            out += "[\(i)]"
        } else {
            out += out.isEmpty ? key.stringValue : "." + key.stringValue
        }
    }
    return out
}

/// The field error a Foundation decoding error stands for.
func fieldError(_ error: DecodingError) -> FieldError {
    switch error {
    case .keyNotFound(let key, let context):
        return FieldError(context.codingPath + [key], "missing")
    case .valueNotFound(_, let context):
        return FieldError(context.codingPath, "is null; a value is required")
    case .typeMismatch(let type, let context):
        return FieldError(context.codingPath, "expected \(jsonKind(type))")
    case .dataCorrupted(let context) where context.codingPath.isEmpty:
        let reason = (context.underlyingError.map { "\($0)" } ?? context.debugDescription)
        return FieldError("", "not valid JSON: \(reason)")
    case .dataCorrupted(let context):
        return FieldError(context.codingPath, context.debugDescription)
    @unknown default:
        return FieldError("", "\(error)")
    }
}

/// How a Swift type reads in JSON's words.
private func jsonKind(_ type: Any.Type) -> String {
    switch type {
    case is Int.Type: return "an integer"
    case is Double.Type: return "a number"
    case is String.Type: return "a string"
    case is [Any].Type: return "an array"
    case is [String: Any].Type: return "an object"
    default: return "\(type)"
    }
}
