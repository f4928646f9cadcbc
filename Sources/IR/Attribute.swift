// Node attributes: the typed values an ONNX AttributeProto can hold (graphs excepted).

/// One attribute value.
public enum Attribute: Sendable {
    case int(Int)
    case float(Float)
    case string(String)
    case tensor(Tensor)
    case ints([Int])
    case floats([Float])
    case strings([String])
    case tensors([Tensor])

    /// The kind's name, as the textual IR and error messages spell it.
    public var kind: String {
        switch self {
        case .int: return "int"
        case .float: return "float"
        case .string: return "string"
        case .tensor: return "tensor"
        case .ints: return "ints"
        case .floats: return "floats"
        case .strings: return "strings"
        case .tensors: return "tensors"
        }
    }
}
