// Errors reading or writing .npy / .npz files: the file, the array key, what is wrong.

public struct TensorIOError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var key: String?
    public var message: String

    public init(file: String, key: String? = nil, _ message: String) {
        self.file = file
        self.key = key
        self.message = message
    }

    public var description: String {
        key.map { "\(file): array \"\($0)\": \(message)" } ?? "\(file): \(message)"
    }
}
