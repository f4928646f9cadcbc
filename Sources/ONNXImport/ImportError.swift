// Errors of reading an ONNX model: the file, and where in it (node, tensor, field).

/// A problem with a model file, rendered by the CLI as `FILE: message`.
public struct ImportError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var message: String

    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
