// Errors as users see them: one line, `FILE: what`, whatever stage raised them.
import Bundle
import IR
import ONNXImport
import Report
import Target
import TensorIO

/// A problem tied to a file the user gave (model, npz, labels).
public struct DriverError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

/// The one-line rendering of any error, prefixed with `file` when the error itself does
/// not name one.
public func renderError(_ error: Error, file: String) -> String {
    switch error {
    case let e as DriverError: return e.description
    case let e as BundleError: return e.description
    case let e as ImportError: return e.description
    case let e as TensorIOError: return e.description
    case let e as TargetError: return e.description
    case let e as ReportWriter.WriteError: return e.description
    case let e as IRError: return "\(file): \(e.description)"
    case let e as CustomStringConvertible: return "\(file): \(e.description)"
    default: return "\(file): \(error)"
    }
}
