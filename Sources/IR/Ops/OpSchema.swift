// One entry of the op table: an operator's canonical signature (ONNX opset 21: operand
// counts, typed attributes with their defaults) and the shape rule that types its outputs.
// The entries themselves are in the Ops+<Family>.swift files; OpRegistry collects them.

/// The kinds of attribute value the canonical ops take; the raw value is the spelling
/// `Attribute.kind` and the textual IR use.
public enum AttributeKind: String, Sendable, CaseIterable {
    case int, float, string, tensor, ints, floats, strings
}

/// One attribute an op accepts.
public struct AttributeSchema: Sendable {
    public var name: String
    public var kind: AttributeKind
    /// The value an absent attribute means, when ONNX gives one. nil for required
    /// attributes and for those whose absence the op defines otherwise (`strides`: all 1,
    /// `pads`: all 0, `perm`: reversed axes).
    public var defaultValue: Attribute?
    /// True when a node must carry the attribute (`Cast.to`, `Concat.axis`, ...).
    public var isRequired: Bool

    public init(_ name: String, _ kind: AttributeKind, default defaultValue: Attribute? = nil, required: Bool = false) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.isRequired = required
    }
}

/// The rule giving a node's output types (nil where unknown) from its inputs.
typealias ShapeRuleBody = @Sendable (ShapeRule) throws -> [TensorType?]

/// What the IR knows about one operator, in its canonical form.
public struct OpSchema: Sendable {
    public var name: String
    /// The opset version that introduced the canonical (opset 21) definition.
    public var since: Int
    /// How many inputs a node may list, omitted optional ones ("") included. The first
    /// `inputs.lowerBound` are required. `Int.max` as upper bound means variadic.
    public var inputs: ClosedRange<Int>
    /// How many outputs a node may list; `Int.max` as upper bound means variadic.
    public var outputs: ClosedRange<Int>
    /// Every attribute the op accepts, in ONNX's alphabetical order.
    public var attributes: [AttributeSchema]
    /// The operator's domain: "" for ONNX's own, "trt" for TensorRT's.
    public var domain: String
    let rule: ShapeRuleBody

    init(
        _ name: String, domain: String = "", since: Int, inputs: ClosedRange<Int>, outputs: ClosedRange<Int> = 1...1,
        attributes: [AttributeSchema] = [], rule: @escaping ShapeRuleBody
    ) {
        self.name = name
        self.domain = domain
        self.since = since
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
        self.rule = rule
    }

    /// The schema of attribute `name`, if the op takes one.
    public func attribute(_ name: String) -> AttributeSchema? {
        attributes.first { $0.name == name }
    }

    /// The value of attribute `name` on `node`, or its default when absent.
    public func value(of name: String, on node: Node) -> Attribute? {
        node.attributes[name] ?? attribute(name)?.defaultValue
    }

    /// Checks `node`'s attributes against the table: every required one is present, and
    /// every one the op takes has the kind the table says. Attributes the op does not take
    /// are errors, except those with a namespace prefix (`npucc.activation_format`), which
    /// passes attach for their own use.
    public func checkAttributes(of node: Node) throws {
        for a in attributes where a.isRequired && node.attributes[a.name] == nil {
            throw IRError("\(name) requires attribute \"\(a.name)\" (\(a.kind.rawValue))", at: node)
        }
        for (key, value) in node.attributes.sorted(by: { $0.key < $1.key }) {
            guard let a = attribute(key) else {
                if key.contains(".") { continue }
                throw IRError("\(name) has no attribute \"\(key)\"", at: node)
            }
            guard value.kind == a.kind.rawValue else {
                throw IRError("attribute \"\(key)\" of \(name) must be \(a.kind.rawValue), not \(value.kind)", at: node)
            }
        }
    }
}

// Terse spellings for the family tables: `.int("group", 1)`, `.ints("strides")`,
// `.required(.ints, "kernel_shape")`.
extension AttributeSchema {
    static func int(_ name: String, _ value: Int? = nil) -> AttributeSchema {
        AttributeSchema(name, .int, default: value.map { .int($0) })
    }
    static func float(_ name: String, _ value: Float? = nil) -> AttributeSchema {
        AttributeSchema(name, .float, default: value.map { .float($0) })
    }
    static func string(_ name: String, _ value: String? = nil) -> AttributeSchema {
        AttributeSchema(name, .string, default: value.map { .string($0) })
    }
    static func ints(_ name: String) -> AttributeSchema { AttributeSchema(name, .ints) }
    static func tensor(_ name: String, _ value: Tensor? = nil) -> AttributeSchema {
        AttributeSchema(name, .tensor, default: value.map { .tensor($0) })
    }
    static func required(_ kind: AttributeKind, _ name: String) -> AttributeSchema {
        AttributeSchema(name, kind, required: true)
    }
}
