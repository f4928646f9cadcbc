// Errors found in an IR graph: what is wrong and where (node, value, field).

/// A problem with a graph, rendered as one line for users.
public struct IRError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    /// The node it concerns, as `Node.label` spells it, if any.
    public var node: String?

    public init(_ message: String, node: String? = nil) {
        self.message = message
        self.node = node
    }

    public init(_ message: String, at node: Node) {
        self.message = message
        self.node = node.label
    }

    public var description: String {
        if let node { return "node \(node): \(message)" }
        return message
    }
}
