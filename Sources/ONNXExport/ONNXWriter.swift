// Encodes an IR model as an ONNX ModelProto through libprotobuf-c: the messages are built
// as protobuf-c structs in memory this file owns, packed, and freed. The only file of the
// module that touches protobuf-c pointers.
import Foundation
import IR
import ONNXProto

public enum ONNXWriter {
    /// The ModelProto bytes of `model`: the graph's nodes in order, its constants as
    /// initializers sorted by name, every attribute sorted by name, the opsets sorted by
    /// domain. The same model gives the same bytes.
    public static func encode(_ model: Model) -> [UInt8] {
        let arena = ProtoArena()
        defer { arena.release() }
        let proto = arena.model(model)
        let size = onnx__model_proto__get_packed_size(proto)
        var bytes = [UInt8](repeating: 0, count: size)
        let written = bytes.withUnsafeMutableBufferPointer { onnx__model_proto__pack(proto, $0.baseAddress) }
        return Array(bytes.prefix(written))
    }
}

/// Every allocation of one encoding, released together; tensors are kept alive so their
/// storage can be packed in place as raw_data.
private final class ProtoArena {
    private var allocations: [UnsafeMutableRawPointer] = []
    private var tensors: [Tensor] = []

    func release() {
        allocations.forEach { free($0) }
        allocations.removeAll()
        tensors.removeAll()
    }

    private func allocate<T>(_ type: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
        let raw = calloc(max(count, 1), MemoryLayout<T>.stride)!
        allocations.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    private func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        allocations.append(UnsafeMutableRawPointer(p))
        return p
    }

    private func bytes(_ b: [UInt8]) -> ProtobufCBinaryData {
        let p = allocate(UInt8.self, count: b.count)
        for (i, v) in b.enumerated() { p[i] = v }
        return ProtobufCBinaryData(len: b.count, data: p)
    }

    /// A C array of `items`, each built by `make`.
    private func array<T, R>(_ items: [T], _ make: (T) -> R) -> (Int, UnsafeMutablePointer<R>?) {
        guard !items.isEmpty else { return (0, nil) }
        let p = allocate(R.self, count: items.count)
        for (i, item) in items.enumerated() { (p + i).initialize(to: make(item)) }
        return (items.count, p)
    }

    func model(_ m: Model) -> UnsafeMutablePointer<Onnx__ModelProto> {
        let p = allocate(Onnx__ModelProto.self)
        onnx__model_proto__init(p)
        p.pointee.has_ir_version = 1
        p.pointee.ir_version = Int64(m.irVersion)
        (p.pointee.n_opset_import, p.pointee.opset_import) = array(m.opsets.sorted { $0.key < $1.key }) { opset in
            let o = allocate(Onnx__OperatorSetIdProto.self)
            onnx__operator_set_id_proto__init(o)
            o.pointee.domain = string(opset.key)
            o.pointee.has_version = 1
            o.pointee.version = Int64(opset.value)
            return Optional(o)
        }
        if !m.producerName.isEmpty { p.pointee.producer_name = string(m.producerName) }
        if !m.producerVersion.isEmpty { p.pointee.producer_version = string(m.producerVersion) }
        if !m.docString.isEmpty { p.pointee.doc_string = string(m.docString) }
        (p.pointee.n_metadata_props, p.pointee.metadata_props) = array(m.metadata) { entry in
            let e = allocate(Onnx__StringStringEntryProto.self)
            onnx__string_string_entry_proto__init(e)
            e.pointee.key = string(entry.key)
            e.pointee.value = string(entry.value)
            return Optional(e)
        }
        p.pointee.graph = graph(m.graph)
        return p
    }

    private func graph(_ g: Graph) -> UnsafeMutablePointer<Onnx__GraphProto> {
        let p = allocate(Onnx__GraphProto.self)
        onnx__graph_proto__init(p)
        p.pointee.name = string(g.name)
        (p.pointee.n_node, p.pointee.node) = array(g.nodes) { Optional(node($0)) }
        (p.pointee.n_initializer, p.pointee.initializer) = array(g.constants.sorted { $0.key < $1.key }) {
            Optional(tensor($0.value, name: $0.key))
        }
        (p.pointee.n_input, p.pointee.input) = array(g.inputs) { Optional(valueInfo($0)) }
        (p.pointee.n_output, p.pointee.output) = array(g.outputs) { Optional(valueInfo($0)) }
        return p
    }

    private func node(_ n: Node) -> UnsafeMutablePointer<Onnx__NodeProto> {
        let p = allocate(Onnx__NodeProto.self)
        onnx__node_proto__init(p)
        (p.pointee.n_input, p.pointee.input) = array(n.inputs) { Optional(string($0)) }
        (p.pointee.n_output, p.pointee.output) = array(n.outputs) { Optional(string($0)) }
        if !n.name.isEmpty { p.pointee.name = string(n.name) }
        p.pointee.op_type = string(n.op)
        if !n.domain.isEmpty { p.pointee.domain = string(n.domain) }
        (p.pointee.n_attribute, p.pointee.attribute) = array(n.attributes.sorted { $0.key < $1.key }) {
            Optional(attribute($0.key, $0.value))
        }
        return p
    }

    private func attribute(_ name: String, _ value: Attribute) -> UnsafeMutablePointer<Onnx__AttributeProto> {
        let p = allocate(Onnx__AttributeProto.self)
        onnx__attribute_proto__init(p)
        p.pointee.name = string(name)
        p.pointee.has_type = 1
        switch value {
        case .int(let i):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT
            (p.pointee.has_i, p.pointee.i) = (1, Int64(i))
        case .float(let f):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
            (p.pointee.has_f, p.pointee.f) = (1, f)
        case .string(let s):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING
            (p.pointee.has_s, p.pointee.s) = (1, bytes(Array(s.utf8)))
        case .tensor(let t):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR
            p.pointee.t = tensor(t, name: "")
        case .ints(let values):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
            (p.pointee.n_ints, p.pointee.ints) = array(values) { Int64($0) }
        case .floats(let values):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
            (p.pointee.n_floats, p.pointee.floats) = array(values) { $0 }
        case .strings(let values):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS
            (p.pointee.n_strings, p.pointee.strings) = array(values) { bytes(Array($0.utf8)) }
        case .tensors(let values):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS
            (p.pointee.n_tensors, p.pointee.tensors) = array(values) { Optional(tensor($0, name: "")) }
        }
        return p
    }

    /// A TensorProto holding `t`'s elements as raw_data (little-endian, as the IR stores them).
    private func tensor(_ t: Tensor, name: String) -> UnsafeMutablePointer<Onnx__TensorProto> {
        let p = allocate(Onnx__TensorProto.self)
        onnx__tensor_proto__init(p)
        if !name.isEmpty { p.pointee.name = string(name) }
        (p.pointee.n_dims, p.pointee.dims) = array(t.shape) { Int64($0) }
        (p.pointee.has_data_type, p.pointee.data_type) = (1, t.dtype.rawValue)
        tensors.append(t)
        p.pointee.has_raw_data = 1
        p.pointee.raw_data = ProtobufCBinaryData(
            len: t.byteCount, data: t.byteCount > 0 ? t.storage.base.assumingMemoryBound(to: UInt8.self) : nil)
        return p
    }

    private func valueInfo(_ v: ValueInfo) -> UnsafeMutablePointer<Onnx__ValueInfoProto> {
        let p = allocate(Onnx__ValueInfoProto.self)
        onnx__value_info_proto__init(p)
        p.pointee.name = string(v.name)
        let tensorType = allocate(Onnx__TypeProto__Tensor.self)
        onnx__type_proto__tensor__init(tensorType)
        (tensorType.pointee.has_elem_type, tensorType.pointee.elem_type) = (1, v.type.dtype.rawValue)
        if let shape = v.type.shape {
            let s = allocate(Onnx__TensorShapeProto.self)
            onnx__tensor_shape_proto__init(s)
            (s.pointee.n_dim, s.pointee.dim) = array(shape.dims) { d in
                let dim = allocate(Onnx__TensorShapeProto__Dimension.self)
                onnx__tensor_shape_proto__dimension__init(dim)
                switch d {
                case .known(let n):
                    dim.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                    dim.pointee.dim_value = Int64(n)
                case .symbol(let name):
                    dim.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                    dim.pointee.dim_param = string(name)
                case .unknown:
                    break
                }
                return Optional(dim)
            }
            tensorType.pointee.shape = s
        }
        let type = allocate(Onnx__TypeProto.self)
        onnx__type_proto__init(type)
        type.pointee.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
        type.pointee.tensor_type = tensorType
        p.pointee.type = type
        return p
    }
}
