// AttributeProto -> IR Attribute, including old files that leave `type` unset (the
// kind is then read off whichever field holds a value).
import Foundation
import IR

extension ONNXAttribute {
    /// AttributeProto.AttributeType codes.
    private enum Code: Int32 {
        case float = 1, int = 2, string = 3, tensor = 4, graph = 5, floats = 6, ints = 7
        case strings = 8, tensors = 9, graphs = 10, sparseTensor = 11, sparseTensors = 12
        case typeProto = 13, typeProtos = 14
    }

    /// The attribute as IR; `what` names the node for messages.
    func decode(what: String, externalRoot: URL?) throws -> Attribute {
        if !refAttrName.isEmpty {
            throw TensorDecodingError(
                "\(what): attribute \"\(name)\" refers to function attribute \"\(refAttrName)\" outside a local function")
        }
        let code = type != 0 ? Code(rawValue: type) : inferredCode
        switch code {
        case .float?: return .float(f ?? 0)
        case .int?: return .int(Int(i ?? 0))
        case .string?: return .string(String(decoding: s ?? [], as: UTF8.self))
        case .tensor?:
            guard let t else { throw TensorDecodingError("\(what): tensor attribute \"\(name)\" has no tensor") }
            return .tensor(try t.decode(what: "\(what) attribute \"\(name)\"", externalRoot: externalRoot))
        case .floats?: return .floats(floats)
        case .ints?: return .ints(ints.map { Int($0) })
        case .strings?: return .strings(strings.map { String(decoding: $0, as: UTF8.self) })
        case .tensors?:
            return .tensors(
                try tensors.enumerated().map { (k, t) in
                    try t.decode(what: "\(what) attribute \"\(name)\"[\(k)]", externalRoot: externalRoot)
                })
        case .graph?, .graphs?:
            throw TensorDecodingError(
                "\(what): attribute \"\(name)\" holds a subgraph, which only Loop, Scan and If may hold"
            )
        case .sparseTensor?, .sparseTensors?, .typeProto?, .typeProtos?:
            throw TensorDecodingError("\(what): attribute \"\(name)\" has a kind npucc does not support (sparse tensor or type)")
        case nil:
            throw TensorDecodingError("\(what): attribute \"\(name)\" has unknown type \(type)")
        }
    }

    /// The kind of an attribute written without `type` (IR versions before 2's writers).
    private var inferredCode: Code? {
        if f != nil { return .float }
        if i != nil { return .int }
        if s != nil { return .string }
        if t != nil { return .tensor }
        if graphCount > 0 { return .graph }
        if !floats.isEmpty { return .floats }
        if !ints.isEmpty { return .ints }
        if !strings.isEmpty { return .strings }
        if !tensors.isEmpty { return .tensors }
        return .ints
    }
}
