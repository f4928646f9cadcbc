// Decodes ONNX files through libprotobuf-c (via the ONNXProto shim) into the Swift
// messages of ONNXMessages.swift. The only file that touches protobuf-c pointers.
import Foundation
import IR
import ONNXProto

enum ProtoReader {
    /// Reads and decodes the model file at `path`.
    static func readModel(path: String) throws -> ONNXModel {
        var error = [CChar](repeating: 0, count: 512)
        guard let proto = npucc_onnx_read_model_file(path, &error, error.count) else {
            throw ImportError(file: path, message: cString(error))
        }
        defer { npucc_onnx_free_model(proto) }
        return model(proto.pointee)
    }

    /// Reads a lone TensorProto (.pb test data).
    static func readTensor(path: String) throws -> ONNXTensor {
        var error = [CChar](repeating: 0, count: 512)
        guard let proto = npucc_onnx_read_tensor_file(path, &error, error.count) else {
            throw ImportError(file: path, message: cString(error))
        }
        defer { npucc_onnx_free_tensor(proto) }
        return tensor(proto)
    }

    private static func cString(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func string(_ p: UnsafeMutablePointer<CChar>?) -> String {
        guard let p else { return "" }
        return String(cString: p)
    }

    private static func array<T, R>(_ p: UnsafeMutablePointer<T>?, _ n: Int, _ f: (T) -> R) -> [R] {
        guard let p, n > 0 else { return [] }
        return UnsafeBufferPointer(start: p, count: n).map(f)
    }

    /// The `n` elements at `p`, copied in one go (repeated fields and byte strings).
    private static func copied<T>(_ p: UnsafeMutablePointer<T>?, _ n: Int) -> [T] {
        guard let p, n > 0 else { return [] }
        return [T](unsafeUninitializedCapacity: n) { buffer, count in
            buffer.baseAddress!.initialize(from: p, count: n)
            count = n
        }
    }

    private static func entries(
        _ p: UnsafeMutablePointer<UnsafeMutablePointer<Onnx__StringStringEntryProto>?>?,
        _ n: Int
    ) -> [(key: String, value: String)] {
        array(p, n) { e in
            guard let e else { return (key: "", value: "") }
            return (key: string(e.pointee.key), value: string(e.pointee.value))
        }
    }

    private static func model(_ m: Onnx__ModelProto) -> ONNXModel {
        var out = ONNXModel()
        out.irVersion = m.ir_version
        out.opsets = array(m.opset_import, m.n_opset_import) { o in
            guard let o else { return (domain: "", version: 0) }
            return (domain: string(o.pointee.domain), version: o.pointee.version)
        }
        out.producerName = string(m.producer_name)
        out.producerVersion = string(m.producer_version)
        out.domain = string(m.domain)
        out.modelVersion = m.model_version
        out.docString = string(m.doc_string)
        out.metadata = entries(m.metadata_props, m.n_metadata_props)
        if let g = m.graph { out.graph = graph(g.pointee) }
        out.functions = array(m.functions, m.n_functions) { f in f.map { function($0.pointee) } ?? ONNXFunction() }
        return out
    }

    private static func function(_ f: Onnx__FunctionProto) -> ONNXFunction {
        var out = ONNXFunction()
        out.name = string(f.name)
        out.domain = string(f.domain)
        out.overload = string(f.overload)
        out.inputs = array(f.input, f.n_input) { string($0) }
        out.outputs = array(f.output, f.n_output) { string($0) }
        out.attributes = array(f.attribute, f.n_attribute) { string($0) }
        out.attributeDefaults = array(f.attribute_proto, f.n_attribute_proto) { a in
            a.map { attribute($0.pointee) } ?? ONNXAttribute()
        }
        out.nodes = array(f.node, f.n_node) { n in n.map { node($0.pointee) } ?? ONNXNode() }
        out.opsets = array(f.opset_import, f.n_opset_import) { o in
            guard let o else { return (domain: "", version: 0) }
            return (domain: string(o.pointee.domain), version: o.pointee.version)
        }
        return out
    }

    private static func graph(_ g: Onnx__GraphProto) -> ONNXGraph {
        var out = ONNXGraph()
        out.name = string(g.name)
        out.nodes = array(g.node, g.n_node) { n in n.map { node($0.pointee) } ?? ONNXNode() }
        out.initializers = array(g.initializer, g.n_initializer) { t in t.map { tensor($0) } ?? ONNXTensor() }
        out.sparseInitializers = array(g.sparse_initializer, g.n_sparse_initializer) { s in
            guard let values = s?.pointee.values else { return "" }
            return string(values.pointee.name)
        }
        out.inputs = array(g.input, g.n_input) { v in v.map { valueInfo($0.pointee) } ?? ONNXValueInfo() }
        out.outputs = array(g.output, g.n_output) { v in v.map { valueInfo($0.pointee) } ?? ONNXValueInfo() }
        out.valueInfo = array(g.value_info, g.n_value_info) { v in v.map { valueInfo($0.pointee) } ?? ONNXValueInfo() }
        return out
    }

    private static func node(_ n: Onnx__NodeProto) -> ONNXNode {
        var out = ONNXNode()
        out.name = string(n.name)
        out.opType = string(n.op_type)
        out.domain = string(n.domain)
        out.overload = string(n.overload)
        out.inputs = array(n.input, n.n_input) { string($0) }
        out.outputs = array(n.output, n.n_output) { string($0) }
        out.attributes = array(n.attribute, n.n_attribute) { a in a.map { attribute($0.pointee) } ?? ONNXAttribute() }
        return out
    }

    private static func bytes(_ b: ProtobufCBinaryData) -> [UInt8] {
        copied(b.data, b.len)
    }

    private static func attribute(_ a: Onnx__AttributeProto) -> ONNXAttribute {
        var out = ONNXAttribute()
        out.name = string(a.name)
        out.refAttrName = string(a.ref_attr_name)
        out.type = a.has_type != 0 ? Int32(a.type.rawValue) : 0
        if a.has_f != 0 { out.f = a.f }
        if a.has_i != 0 { out.i = a.i }
        if a.has_s != 0 { out.s = bytes(a.s) }
        if let t = a.t { out.t = tensor(t) }
        out.floats = copied(a.floats, a.n_floats)
        out.ints = copied(a.ints, a.n_ints)
        out.strings = array(a.strings, a.n_strings) { bytes($0) }
        out.tensors = array(a.tensors, a.n_tensors) { t in t.map { tensor($0) } ?? ONNXTensor() }
        out.graphCount = a.n_graphs + (a.g == nil ? 0 : 1)
        if let g = a.g { out.graph = [graph(g.pointee)] }
        out.otherCount = a.n_sparse_tensors + a.n_type_protos + (a.sparse_tensor == nil ? 0 : 1) + (a.tp == nil ? 0 : 1)
        return out
    }

    /// Copies a TensorProto; a raw_data buffer is adopted, not copied.
    private static func tensor(_ p: UnsafeMutablePointer<Onnx__TensorProto>) -> ONNXTensor {
        let t = p.pointee
        var out = ONNXTensor()
        out.name = string(t.name)
        out.dims = copied(t.dims, t.n_dims)
        out.dataType = t.data_type
        out.hasSegment = t.segment != nil
        var fields: [String] = []
        if t.has_raw_data != 0 { fields.append("raw_data") }
        if t.n_float_data > 0 { fields.append("float_data") }
        if t.n_int32_data > 0 { fields.append("int32_data") }
        if t.n_int64_data > 0 { fields.append("int64_data") }
        if t.n_double_data > 0 { fields.append("double_data") }
        if t.n_uint64_data > 0 { fields.append("uint64_data") }
        if t.n_string_data > 0 { fields.append("string_data") }
        out.populatedFields = fields
        if t.has_data_location != 0 && t.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL {
            out.data = .external(entries(t.external_data, t.n_external_data))
        } else if t.has_raw_data != 0 {
            let count = t.raw_data.len
            if count > 0, let raw = npucc_onnx_take_bytes(&p.pointee.raw_data) {
                out.data = .raw(
                    TensorStorage(adopting: raw, byteCount: count) { npucc_onnx_free_bytes($0) },
                    byteCount: count)
            } else {
                out.data = .raw(TensorStorage(byteCount: 0), byteCount: 0)
            }
        } else if t.n_float_data > 0 {
            out.data = .floats(copied(t.float_data, t.n_float_data))
        } else if t.n_int32_data > 0 {
            out.data = .int32s(copied(t.int32_data, t.n_int32_data))
        } else if t.n_int64_data > 0 {
            out.data = .int64s(copied(t.int64_data, t.n_int64_data))
        } else if t.n_double_data > 0 {
            out.data = .doubles(copied(t.double_data, t.n_double_data))
        } else if t.n_uint64_data > 0 {
            out.data = .uint64s(copied(t.uint64_data, t.n_uint64_data))
        } else if t.n_string_data > 0 {
            out.data = .strings(count: t.n_string_data)
        }
        return out
    }

    private static func valueInfo(_ v: Onnx__ValueInfoProto) -> ONNXValueInfo {
        var out = ONNXValueInfo()
        out.name = string(v.name)
        guard let type = v.type else { return out }
        switch type.pointee.value_case {
        case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE:
            guard let tt = type.pointee.tensor_type else { return out }
            var dims: [ONNXDim]?
            if let shape = tt.pointee.shape {
                dims = array(shape.pointee.dim, shape.pointee.n_dim) { d in
                    guard let d else { return .unknown }
                    switch d.pointee.value_case {
                    case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE: return .value(d.pointee.dim_value)
                    case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM: return .param(string(d.pointee.dim_param))
                    default: return .unknown
                    }
                }
            }
            out.type = .tensor(elemType: tt.pointee.elem_type, shape: dims)
        case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE: out.type = .other("sequence")
        case ONNX__TYPE_PROTO__VALUE_MAP_TYPE: out.type = .other("map")
        case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE: out.type = .other("optional")
        case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE: out.type = .other("sparse tensor")
        default: break
        }
        return out
    }
}
