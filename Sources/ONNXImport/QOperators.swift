// Operator-form quantized models (onnxruntime's quantize_static with QuantFormat.QOperator,
// the int8 models of the ONNX model zoo): QLinearConv, QLinearMatMul and onnxruntime's
// com.microsoft QLinear ops compute on 8-bit codes, each tensor with its scale and zero
// point. Each is imported as the float op it quantizes, between DequantizeLinear of its coded
// inputs and a QuantizeLinear of its output: the QDQ form import-qdq reads. Codes that pass
// through an op that only moves or selects them (MaxPool, Reshape, Flatten, Concat, ...) are
// dequantized before it and quantized again after it with the same scale and zero point,
// which gives the same codes; readers that dequantize them read the op's float output.
import IR

/// Where a tensor of 8-bit codes gets its meaning: the scale and zero point (nil when the
/// producer omits it: zero) its producer quantized it with.
struct CodeParameters: Equatable {
    var scale: String
    var zeroPoint: String?
}

/// The operator-form quantized ops npucc imports: for each, the inputs holding its output's
/// scale and zero point (nil: the op's output is float32 without them).
enum QOperators {
    /// The ops of onnxruntime's com.microsoft domain that are imported.
    static let microsoftOps: Set<String> = [
        "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearAveragePool",
        "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSoftmax", "QLinearWhere", "QGemm",
    ]
    /// The default-domain ones.
    static let defaultOps: Set<String> = ["QLinearConv", "QLinearMatMul"]

    /// The input indices of the output's scale and zero point.
    static func outputParameters(_ op: String) -> (scale: Int, zeroPoint: Int)? {
        switch op {
        case "QuantizeLinear": return (1, 2)
        case "QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul": return (6, 7)
        case "QLinearSigmoid", "QLinearLeakyRelu", "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearSoftmax":
            return (3, 4)
        case "QLinearConcat": return (0, 1)
        case "QGemm", "QLinearWhere": return (7, 8)
        default: return nil
        }
    }

    /// Ops that move or select their input's elements without computing new ones (or take
    /// a maximum or minimum of them), by the inputs that carry the elements; every other
    /// input (shapes, indices, axes) is left as it is. Concat's are all its inputs.
    static let codeMovingOps: [String: [Int]] = [
        "MaxPool": [0], "GlobalMaxPool": [0], "Reshape": [0], "Flatten": [0], "Transpose": [0], "Squeeze": [0],
        "Unsqueeze": [0], "Identity": [0], "Slice": [0], "Gather": [0], "Split": [0], "Pad": [0],
        "DepthToSpace": [0], "SpaceToDepth": [0], "Tile": [0], "Expand": [0], "ReduceMax": [0], "ReduceMin": [0],
        "Resize": [0], "Upsample": [0], "Concat": [],
    ]
    /// Ops that read codes and give no codes, but the same result from their float values
    /// (an index of the greatest or least).
    static let codeReadingOps: Set<String> = ["ArgMax", "ArgMin"]

    /// The code tensors of `nodes` with their parameters: outputs of QuantizeLinear and of
    /// the ops above with a quantized output, and, through code-moving ops, theirs. Found to
    /// a fixed point, so the nodes' order does not matter.
    static func codeTensors(_ nodes: [ONNXNode]) -> [String: CodeParameters] {
        var codes: [String: CodeParameters] = [:]
        func parameter(_ n: ONNXNode, _ k: Int) -> String? { k < n.inputs.count && !n.inputs[k].isEmpty ? n.inputs[k] : nil }
        for n in nodes where isImported(n) || n.opType == "QuantizeLinear" && isDefault(n.domain) {
            guard let (s, z) = outputParameters(n.opType), let scale = parameter(n, s), let out = n.outputs.first,
                !out.isEmpty
            else { continue }
            codes[out] = CodeParameters(scale: scale, zeroPoint: parameter(n, z))
        }
        var changed = true
        while changed {
            changed = false
            for n in nodes where isDefault(n.domain) {
                guard let data = dataInputs(of: n), let source = data.lazy.compactMap({ codes[$0] }).first else { continue }
                for out in n.outputs.prefix(n.opType == "MaxPool" ? 1 : n.outputs.count) where !out.isEmpty && codes[out] == nil {
                    codes[out] = source
                    changed = true
                }
            }
        }
        return codes
    }

    static func isDefault(_ domain: String) -> Bool { domain.isEmpty || domain == "ai.onnx" }

    /// True for the operator-form ops imported here.
    static func isImported(_ n: ONNXNode) -> Bool {
        n.domain == "com.microsoft" ? microsoftOps.contains(n.opType) : isDefault(n.domain) && defaultOps.contains(n.opType)
    }

    /// The names of `n`'s inputs that carry elements, when it is a code-moving op.
    static func dataInputs(of n: ONNXNode) -> [String]? {
        dataIndices(op: n.opType, inputs: n.inputs).map { $0.map { n.inputs[$0] } }
    }

    /// The positions of the given inputs of `op` that carry elements (`codeReadingOps`: the
    /// first), when it moves or reads codes.
    static func dataIndices(op: String, inputs: [String]) -> [Int]? {
        guard let indices = codeReadingOps.contains(op) ? [0] : codeMovingOps[op] else { return nil }
        return (op == "Concat" ? Array(inputs.indices) : indices).filter { $0 < inputs.count && !inputs[$0].isEmpty }
    }
}

extension ImportContext {
    /// Records the model's own DequantizeLinear of each code tensor by its parameters, so
    /// the ops imported here read its output rather than dequantizing the codes again (a
    /// QuantizeLinear read by the model's DequantizeLinear of a graph output and by another
    /// stays one pair).
    mutating func recordDequantizedCodes(_ nodes: [ONNXNode]) {
        for n in nodes where n.opType == "DequantizeLinear" && QOperators.isDefault(n.domain) && n.inputs.count >= 2 {
            guard codeParameters[n.inputs[0]] != nil, let out = n.outputs.first, !out.isEmpty,
                !n.attributes.contains(where: { $0.name == "axis" || $0.name == "block_size" })
            else { continue }
            let key = Self.dequantizedKey(n.inputs[0], n.inputs[1], n.inputs.count > 2 ? n.inputs[2] : "")
            if dequantized[key] == nil { dequantized[key] = out }
        }
    }

    private static func dequantizedKey(_ codes: String, _ scale: String, _ zeroPoint: String) -> String {
        [codes, scale, zeroPoint].joined(separator: "\u{0}")
    }

    /// The float value of code tensor `codes`: one DequantizeLinear per tensor and
    /// parameters, named `CODES/dequantize`, or the model's own.
    mutating func dequantizedCodes(_ codes: String, _ parameters: CodeParameters) -> String {
        let key = Self.dequantizedKey(codes, parameters.scale, parameters.zeroPoint ?? "")
        if let done = dequantized[key] { return done }
        let out = name(preferring: "\(codes)_dequantized")
        nodes.append(
            Node(
                op: "DequantizeLinear", name: "\(codes)/dequantize",
                inputs: [codes, parameters.scale] + (parameters.zeroPoint.map { [$0] } ?? []), outputs: [out]))
        dequantized[key] = out
        return out
    }

    /// `value` quantized into `codes` by QuantizeLinear `NAME/quantize` with `parameters`;
    /// an omitted zero point is a 0 of `codeType`, so the codes keep their element type.
    mutating func quantize(
        _ value: String, into codes: String, _ parameters: CodeParameters, codeType: DType?, name: String
    ) {
        let zero = parameters.zeroPoint ?? addConstant(Tensor(zeros: codeType ?? .uint8, shape: []), hint: "zero_point")
        nodes.append(
            Node(op: "QuantizeLinear", name: "\(name)/quantize", inputs: [value, parameters.scale, zero], outputs: [codes]))
    }

    /// Imports a code-moving op that reads codes (`QOperators.codeMovingOps`): its float
    /// form over the dequantized codes (through the usual import of the op, `importOp`),
    /// then each output quantized with the codes' own parameters (an ArgMax or ArgMin of
    /// codes is the same op of their float values, with no codes after it). Concat's inputs
    /// must share their scale and zero point (by value); a constant input of codes is read
    /// with them. Returns false when `node` reads no codes.
    mutating func importCodeMovingOp(_ node: Node, label: String, importOp: (inout ImportContext, Node) throws -> Void)
        throws -> Bool
    {
        let reads = QOperators.codeReadingOps.contains(node.op)
        guard let data = QOperators.dataIndices(op: node.op, inputs: node.inputs) else { return false }
        let known = codeParameters
        guard let first = data.lazy.compactMap({ known[node.inputs[$0]] }).first else { return false }
        for k in data {
            let parameters = codeParameters[node.inputs[k]]
            guard parameters == nil || parameters == first || sameValues(parameters!, first) else {
                throw IRError(
                    "input \(k) (\"\(node.inputs[k])\") holds codes of another scale or zero point than input \(data[0])'s;"
                        + " only QLinearConcat joins codes of different scales", at: node)
            }
        }
        if node.op == "MaxPool", node.outputs.count > 1, !node.outputs[1].isEmpty {
            throw IRError("MaxPool's Indices output of 8-bit codes is not supported", at: node)
        }
        let codeType = knownType(of: node.inputs[data[0]])?.dtype
        var float = node
        let start = nodes.count
        for k in data { float.inputs[k] = dequantizedCodes(node.inputs[k], first) }
        if node.op == "Pad" { try dequantizePadValue(&float, first) }
        if !reads { float.outputs = node.outputs.map { $0.isEmpty ? $0 : name(preferring: "\($0)_float") } }
        if node.op == "MaxPool" { float.outputs = Array(float.outputs.prefix(1)) }
        typeEmittedNodes(from: start)
        let before = nodes.count
        try importOp(&self, float)
        for emitted in nodes[before...] where emitted.op != node.op && emitted.outputs.first == float.outputs.first {
            importedAs[emitted.label] = label
        }
        for (value, codes) in zip(float.outputs, node.outputs) where !codes.isEmpty && !reads {
            quantize(value, into: codes, first, codeType: codeType, name: node.name.isEmpty ? node.outputs[0] : node.name)
            // The float values are on the codes' grid already: dequantizing the codes gives
            // them back bit for bit, so readers take them (and the QuantizeLinear goes unless
            // the codes themselves are read).
            let key = Self.dequantizedKey(codes, first.scale, first.zeroPoint ?? "")
            if dequantized[key] == nil { dequantized[key] = value }
        }
        return true
    }

    /// True when both parameters are constants of the same values.
    private func sameValues(_ a: CodeParameters, _ b: CodeParameters) -> Bool {
        func equal(_ x: String?, _ y: String?) -> Bool {
            switch (x, y) {
            case (nil, nil): return true
            case let (x?, y?): return constants[x].flatMap { c in constants[y].map { c.bitwiseEqual($0) } } ?? false
            default:
                // An omitted zero point is a zero.
                guard let given = (x ?? y).flatMap({ constants[$0] }) else { return false }
                return given.doubles().allSatisfy { $0 == 0 }
            }
        }
        return equal(a.scale, b.scale) && equal(a.zeroPoint, b.zeroPoint)
    }

    /// A constant Pad of codes pads with a code: the float Pad pads with its value,
    /// (code − zero point) · scale (the default code 0 included).
    private mutating func dequantizePadValue(_ node: inout Node, _ parameters: CodeParameters) throws {
        let mode = node.string("mode") ?? "constant"
        guard mode == "constant" else { return }
        guard let scale = constants[parameters.scale], scale.count == 1 else {
            throw IRError("a Pad of 8-bit codes needs a constant scale of one value", at: node)
        }
        var zero: Float = 0
        if let name = parameters.zeroPoint {
            guard let z = constants[name], z.count == 1 else {
                throw IRError("a Pad of 8-bit codes needs a constant zero point of one value", at: node)
            }
            zero = Float(z.double(at: 0))
        }
        let legacy = opset < 11
        var code: Float = 0
        if legacy {
            code = node.float("value", default: 0)
        } else if let given = node.input(2) {
            guard let c = constants[given], c.count == 1 else {
                throw IRError("a Pad of 8-bit codes needs a constant pad value", at: node)
            }
            code = Float(c.double(at: 0))
        }
        let value = (code - zero) * Float(scale.double(at: 0))
        if legacy {
            node.attributes["value"] = .float(value)
        } else {
            while node.inputs.count < 3 { node.inputs.append("") }
            node.inputs[2] = addConstant(Tensor(scalar: value), hint: "pad_value")
        }
    }

    /// Imports an operator-form quantized op (`QOperators.isImported`) as its float op between
    /// DequantizeLinear of its coded operands and QuantizeLinear of its output (QGemm
    /// without y_scale gives the float output itself):
    /// - QLinearConv: Conv (its attributes), weight per output channel on axis 0, the int32
    ///   bias times x_scale · w_scale;
    /// - QLinearMatMul: MatMul, the second operand's scales per column (its last axis);
    /// - QGemm: Gemm (alpha, transA, transB), B's scales per column of the product, the
    ///   int32 C times alpha · a_scale · b_scale, added with beta 1;
    /// - QLinearAdd, QLinearMul, QLinearSigmoid, QLinearLeakyRelu (alpha), QLinearAveragePool,
    ///   QLinearGlobalAveragePool, QLinearConcat (axis), QLinearSoftmax (axis), QLinearWhere
    ///   (its condition as it is): the op itself.
    /// Layouts with `channels_last` are refused by name, as are biases whose scales are not
    /// constants and a QLinearSoftmax of the flattening form (its `opset` before 13) over an
    /// axis but the last.
    mutating func emitQOperator(_ node: Node, label: String) throws {
        func input(_ k: Int) -> String? { node.input(k) }
        func required(_ k: Int, _ what: String) throws -> String {
            guard let name = input(k) else { throw IRError("has no \(what) (input \(k))", at: node) }
            return name
        }
        func operand(_ k: Int, axis: Int? = nil) throws -> String {
            let codes = try required(k, "input")
            let parameters = CodeParameters(scale: try required(k + 1, "scale of input \(k)"), zeroPoint: input(k + 2))
            guard let axis else { return dequantizedCodes(codes, parameters) }
            // Weights: one DequantizeLinear each, along their channel axis.
            return emitStep(
                of: node, "DequantizeLinear", "dequantize_weight",
                [codes, parameters.scale] + (parameters.zeroPoint.map { [$0] } ?? []), ["axis": .int(axis)])
        }
        guard node.int("channels_last", default: 0) == 0 else {
            throw IRError("channels_last layouts are not supported; export the model channels first", at: node)
        }
        let start = nodes.count
        var floatOp: String, inputs: [String], attributes: [String: Attribute] = [:]
        switch node.op {
        case "QLinearConv":
            floatOp = "Conv"
            attributes = node.attributes
            inputs = [try operand(0), try operand(3, axis: 0)]
            if let bias = input(8) {
                inputs.append(try integerBias(bias, node, scales: [try required(1, "x_scale"), try required(4, "w_scale")]))
            }
        case "QLinearMatMul":
            floatOp = "MatMul"
            let b = try required(3, "input b")
            inputs = [try operand(0), try operand(3, axis: max(0, (rank(of: b) ?? 2) - 1))]
        case "QGemm":
            floatOp = "Gemm"
            let transB = node.int("transB", default: 0)
            let alpha = node.float("alpha", default: 1)
            attributes = ["alpha": .float(alpha), "transA": .int(node.int("transA", default: 0)), "transB": .int(transB)]
            inputs = [try operand(0), try operand(3, axis: transB == 0 ? 1 : 0)]
            if let bias = input(6) {
                inputs.append(
                    try integerBias(bias, node, scales: [try required(1, "a_scale"), try required(4, "b_scale")], times: alpha))
            }
        case "QLinearAdd", "QLinearMul":
            floatOp = node.op == "QLinearAdd" ? "Add" : "Mul"
            inputs = [try operand(0), try operand(3)]
        case "QLinearSigmoid", "QLinearLeakyRelu", "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearSoftmax":
            floatOp = String(node.op.dropFirst("QLinear".count))
            inputs = [try operand(0)]
            attributes = node.attributes
            attributes["channels_last"] = nil
            if node.op == "QLinearSoftmax" {
                attributes["opset"] = nil
                let axis = node.int("axis", default: -1), flattening = node.int("opset", default: 13) < 13
                if flattening, axis != -1, axis != (rank(of: inputs[0]) ?? 0) - 1 {
                    throw IRError(
                        "the Softmax of opset \(node.int("opset", default: 0)) over axis \(axis) and the axes after it"
                            + " is not supported", at: node)
                }
            }
        case "QLinearWhere":
            floatOp = "Where"
            inputs = [try required(0, "condition"), try operand(1), try operand(4)]
        case "QLinearConcat":
            floatOp = "Concat"
            attributes = ["axis": .int(node.int("axis", default: 0))]
            guard (node.inputs.count - 2) % 3 == 0, node.inputs.count > 2 else {
                throw IRError("takes y_scale, y_zero_point and then a (tensor, scale, zero point) triple per input", at: node)
            }
            inputs = try stride(from: 2, to: node.inputs.count, by: 3).map { try operand($0) }
        default:
            throw IRError("is not an operator-form quantized op npucc imports", at: node)
        }
        typeEmittedNodes(from: start)
        guard let out = node.outputs.first, !out.isEmpty, node.outputs.count == 1 else {
            throw IRError("gives one output", at: node)
        }
        let (s, z) = QOperators.outputParameters(node.op)!
        let quantized = node.op != "QGemm" || input(s) != nil
        let float = Node(
            op: floatOp, name: node.name, inputs: inputs, outputs: [quantized ? name(preferring: "\(out)_float") : out],
            attributes: attributes)
        if floatOp == "Conv" { try emitConvolution(float) } else { nodes.append(float) }
        importedAs[float.label] = label
        guard quantized else { return }
        let parameters = CodeParameters(scale: try required(s, "output scale"), zeroPoint: input(z))
        let codes = node.inputs[node.op == "QLinearConcat" ? 2 : node.op == "QLinearWhere" ? 1 : 0]
        quantize(
            float.outputs[0], into: out, parameters, codeType: knownType(of: codes)?.dtype,
            name: node.name.isEmpty ? out : node.name)
    }

    /// An int32 bias of codes whose scale is the product of `scales` (and `times`), zero
    /// point 0, as the float32 constant it stands for.
    private mutating func integerBias(_ bias: String, _ node: Node, scales: [String], times factor: Float = 1) throws
        -> String
    {
        guard let codes = constants[bias], codes.dtype == .int32 else {
            throw IRError("the bias \"\(bias)\" must be a constant of int32 codes", at: node)
        }
        let factors = try scales.map { name -> [Float] in
            guard let t = constants[name], t.count == 1 || t.count == codes.count else {
                throw IRError(
                    "the bias needs constant scales of one value or one per output channel; \"\(name)\" is not", at: node)
            }
            return t.floats()
        }
        let values = codes.int64s().enumerated().map { i, c -> Float in
            let scale = factors.reduce(factor) { $0 * ($1.count == 1 ? $1[0] : $1[i]) }
            return Float(c) * scale
        }
        return addConstant(Tensor(values, shape: codes.shape), hint: "\(bias)_dequantized")
    }
}
