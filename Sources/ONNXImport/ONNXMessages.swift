// Plain Swift copies of the ONNX messages npucc reads. ProtoReader fills them from
// protobuf-c's structs, so nothing past that file sees a C pointer.
import IR

/// ModelProto.
struct ONNXModel {
    var irVersion: Int64 = 0
    var opsets: [(domain: String, version: Int64)] = []
    var producerName = ""
    var producerVersion = ""
    var domain = ""
    var modelVersion: Int64 = 0
    var docString = ""
    var graph: ONNXGraph?
    var metadata: [(key: String, value: String)] = []
    var functions: [ONNXFunction] = []
}

/// FunctionProto: a model-local function.
struct ONNXFunction {
    var name = ""
    var domain = ""
    var overload = ""
    var inputs: [String] = []
    var outputs: [String] = []
    /// Attributes a call may give, and the defaults of some of them.
    var attributes: [String] = []
    var attributeDefaults: [ONNXAttribute] = []
    var nodes: [ONNXNode] = []
    var opsets: [(domain: String, version: Int64)] = []
}

/// GraphProto.
struct ONNXGraph {
    var name = ""
    var nodes: [ONNXNode] = []
    var initializers: [ONNXTensor] = []
    var sparseInitializers: [String] = []
    var inputs: [ONNXValueInfo] = []
    var outputs: [ONNXValueInfo] = []
    var valueInfo: [ONNXValueInfo] = []
}

/// NodeProto.
struct ONNXNode {
    var name = ""
    var opType = ""
    var domain = ""
    var overload = ""
    var inputs: [String] = []
    var outputs: [String] = []
    var attributes: [ONNXAttribute] = []
}

/// AttributeProto; `type` is AttributeProto.AttributeType (0 when the writer left it out).
struct ONNXAttribute {
    var name = ""
    var type: Int32 = 0
    var f: Float?
    var i: Int64?
    var s: [UInt8]?
    var t: ONNXTensor?
    var floats: [Float] = []
    var ints: [Int64] = []
    var strings: [[UInt8]] = []
    var tensors: [ONNXTensor] = []
    var graphCount = 0
    /// The subgraph of a graph attribute (If's branches, Loop's body), when it holds one.
    var graph: [ONNXGraph] = []
    var otherCount = 0
    var refAttrName = ""
}

/// Where a TensorProto keeps its elements.
enum ONNXTensorData {
    case none
    case raw(TensorStorage, byteCount: Int)
    case floats([Float])
    case int32s([Int32])
    case int64s([Int64])
    case doubles([Double])
    case uint64s([UInt64])
    case strings(count: Int)
    case external([(key: String, value: String)])
}

/// TensorProto.
struct ONNXTensor {
    var name = ""
    var dims: [Int64] = []
    var dataType: Int32 = 0
    var data: ONNXTensorData = .none
    var hasSegment = false
    /// Fields with data, for a message when a tensor has more than one.
    var populatedFields: [String] = []
}

/// TensorShapeProto.Dimension.
enum ONNXDim {
    case value(Int64)
    case param(String)
    case unknown
}

/// TypeProto, reduced to what npucc uses.
enum ONNXType {
    case tensor(elemType: Int32, shape: [ONNXDim]?)
    case other(String)
    case missing
}

/// ValueInfoProto.
struct ONNXValueInfo {
    var name = ""
    var type: ONNXType = .missing
}
