// Operations of the IR graph: an ONNX-style op with named inputs, outputs and
// attributes. Ops are kept in their canonical (newest-opset) form, see OpSchema.

/// One operation. An input named "" is an omitted optional input.
public struct Node: Sendable {
    public var op: String
    public var domain: String
    public var name: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: Attribute]

    public init(op: String, domain: String = "", name: String = "", inputs: [String],
                outputs: [String], attributes: [String: Attribute] = [:]) {
        self.op = op
        self.domain = domain
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }

    /// A label for messages: `Conv "conv1"`, or the first output when unnamed.
    public var label: String {
        name.isEmpty ? "\(op) (output \"\(outputs.first ?? "")\")" : "\(op) \"\(name)\""
    }

    /// Input `i`, or nil when absent or omitted.
    public func input(_ i: Int) -> String? {
        i < inputs.count && !inputs[i].isEmpty ? inputs[i] : nil
    }

    public func int(_ key: String) -> Int? {
        if case .int(let v)? = attributes[key] { return v }
        return nil
    }
    public func int(_ key: String, default value: Int) -> Int { int(key) ?? value }

    public func float(_ key: String) -> Float? {
        switch attributes[key] {
        case .float(let v)?: return v
        case .int(let v)?: return Float(v)
        default: return nil
        }
    }
    public func float(_ key: String, default value: Float) -> Float { float(key) ?? value }

    public func ints(_ key: String) -> [Int]? {
        if case .ints(let v)? = attributes[key] { return v }
        return nil
    }
    public func floats(_ key: String) -> [Float]? {
        if case .floats(let v)? = attributes[key] { return v }
        return nil
    }
    public func string(_ key: String) -> String? {
        if case .string(let v)? = attributes[key] { return v }
        return nil
    }
    public func string(_ key: String, default value: String) -> String { string(key) ?? value }
    public func tensor(_ key: String) -> Tensor? {
        if case .tensor(let v)? = attributes[key] { return v }
        return nil
    }
}
