// One NodeProto -> canonical IR nodes: domain and op checks, Constant nodes to
// constants, attributes decoded, then the opset rewrites of OpsetUpgrades.swift.
import Foundation
import IR

extension ImportContext {
    mutating func importNode(_ n: ONNXNode) throws {
        let label = n.name.isEmpty ? "\(n.opType) (output \"\(n.outputs.first ?? "")\")" : "\(n.opType) \"\(n.name)\""
        let what = "node \(label)"
        guard n.domain.isEmpty || n.domain == "ai.onnx" || QOperators.isImported(n) || Self.isTensorRTOp(n) else {
            throw TensorDecodingError(
                "\(what): operator domain \"\(n.domain)\" is not supported (only the default ONNX domain is, com.microsoft's QLinear ops and trt's TRT_FP4DynamicQuantize)"
                    + Self.suggestion(for: n.opType, among: "default-domain operators") + cutHint(reading: n.inputs))
        }
        guard !n.opType.isEmpty else { throw TensorDecodingError("\(what) has no op_type") }
        if QOperators.isDefault(n.domain), let first = Self.firstOpsets[n.opType], opset < first,
            !Self.earlierInOnnxruntime.contains(n.opType)
        {
            throw TensorDecodingError(
                "\(what): \(n.opType) is defined from opset \(first), and the model imports the default domain at opset "
                    + "\(opset) (onnxruntime does not load it either): export it at opset \(first) or later")
        }
        if !Self.sequenceOps.contains(n.opType), let s = n.inputs.first(where: { sequences[$0] != nil }) {
            throw TensorDecodingError(
                "\(what) reads sequence \"\(s)\": npucc keeps a sequence only as a list of values known at import, "
                    + "which SequenceAt, SequenceLength, ConcatFromSequence, SequenceInsert and SequenceErase read")
        }
        if ["Loop", "Scan", "If"].contains(n.opType), QOperators.isDefault(n.domain) {
            // Their subgraphs are imported as nodes of this graph, not decoded as attributes.
            try emitControlFlow(n)
            return
        }
        var attributes: [String: Attribute] = [:]
        for a in n.attributes {
            guard attributes[a.name] == nil else {
                throw TensorDecodingError("\(what): attribute \"\(a.name)\" is given twice")
            }
            attributes[a.name] = try a.decode(what: "\(what) (opset \(opset))", externalRoot: externalRoot)
        }
        attributes["consumed_inputs"] = nil
        if n.opType == "Constant", case .tensor(let t)? = attributes["value"], let output = n.outputs.first {
            declaredTypes[output] = t.dtype
        }
        // What a Cast makes, before a half model's casts to half become casts to float32.
        if n.opType == "Cast", case .int(let code)? = attributes["to"], let to = DType(rawValue: Int32(code)),
            let output = n.outputs.first
        {
            declaredTypes[output] = to
        }
        if widensHalf {
            // A half model's tensors (a Constant's value, ConstantOfShape's fill) and casts to
            // half, in float32.
            for (key, value) in attributes {
                if case .tensor(let t) = value, t.dtype.isHalf { attributes[key] = .tensor(t.cast(to: .float32)) }
            }
            if n.opType == "Cast", let to = attributes["to"], case .int(let code) = to,
                DType(rawValue: Int32(code))?.isHalf == true
            {
                attributes["to"] = .int(Int(DType.float32.rawValue))
            }
        }
        let node = Node(
            op: n.opType, domain: Self.isTensorRTOp(n) ? n.domain : "", name: n.name, inputs: n.inputs, outputs: n.outputs,
            attributes: attributes)
        if node.op == "Constant" {
            try importConstant(node, what: what)
            return
        }
        if QOperators.isImported(n) {
            try emitQOperator(node, label: label)
            return
        }
        if try importCodeMovingOp(node, label: label, importOp: { try $0.importDecoded($1, label: label, what: what) }) {
            return
        }
        try importDecoded(node, label: label, what: what)
    }

    /// TensorRT's own ops that NVIDIA's quantization tools export and npucc reads.
    static func isTensorRTOp(_ n: ONNXNode) -> Bool { n.domain == "trt" && n.opType == "TRT_FP4DynamicQuantize" }

    /// Imports a default-domain node with its attributes decoded: by its decomposition, or
    /// as the op it is in its current opset's form.
    mutating func importDecoded(_ node: Node, label: String, what: String) throws {
        try OperandTypes.check(node, opset: opset) { operandType(of: $0) }
        if widensHalf {
            // In float32 now, a half model's values keep their declared types for the checks.
            for (output, type) in OperandTypes.outputTypes(node, type: { operandType(of: $0) }) where declaredTypes[output] == nil
            {
                declaredTypes[output] = type
            }
        }
        var node = node
        if let decompose = Self.decompositions[node.op] {
            if let known = Self.decomposedAttributes[node.op],
                let unknown = node.attributes.keys.sorted().first(where: { !known.contains($0) })
            {
                throw IRError("\(node.op) has no attribute \"\(unknown)\"", at: node)
            }
            let before = nodes.count
            try decompose(&self, node)
            for emitted in nodes[before...] where emitted.op != node.op && emitted.outputs.first == node.outputs.first {
                importedAs[emitted.label] = label
            }
            return
        }
        let originalOp = node.op
        if node.op == "Upsample" { node.op = "Resize" }
        guard OpRegistry.schema(node.op)?.domain == node.domain else {
            throw TensorDecodingError(
                "\(what): unsupported operator \(originalOp) (default domain, opset \(opset))"
                    + Self.suggestion(for: originalOp, among: "supported operators") + cutHint(reading: node.inputs))
        }
        try upgrade(&node, originalOp: originalOp)
    }

    /// The ops imported as the ops they are made of, each by its emitter.
    static let decompositions: [String: @Sendable (inout ImportContext, Node) throws -> Void] = {
        var table: [String: @Sendable (inout ImportContext, Node) throws -> Void] = [
            "GroupNormalization": { try $0.emitGroupNormalization($1) }, "Einsum": { try $0.emitEinsum($1) },
            "LpNormalization": { try $0.emitLpNormalization($1) }, "Mish": { try $0.emitMish($1) },
            "RMSNormalization": { try $0.emitRMSNormalization($1) }, "ImageScaler": { try $0.emitImageScaler($1) },
            "Attention": { try $0.emitAttention($1) }, "GatherND": { try $0.emitGatherND($1) },
            "GatherElements": { try $0.emitGatherElements($1) },
            "ScatterElements": { try $0.emitScatterElements($1) }, "Scatter": { try $0.emitScatterElements($1) },
            "LpPool": { try $0.emitLpPool($1) }, "GlobalLpPool": { try $0.emitLpPool($1) },
            "CenterCropPad": { try $0.emitCenterCropPad($1) }, "EyeLike": { try $0.emitEyeLike($1) },
            "OneHot": { try $0.emitOneHot($1) }, "TensorScatter": { try $0.emitTensorScatter($1) },
            "Col2Im": { try $0.emitCol2Im($1) }, "DFT": { try $0.emitDFT($1) }, "STFT": { try $0.emitSTFT($1) },
            "MelWeightMatrix": { try $0.emitMelWeightMatrix($1) },
            "ReverseSequence": { try $0.emitReverseSequence($1) },
            "GridSample": { try $0.emitGridSample($1) },
            "DeformConv": { try $0.emitDeformableConvolution($1) }, "RoiAlign": { try $0.emitRoiAlign($1) },
            "AffineGrid": { try $0.emitAffineGrid($1) },
            "RotaryEmbedding": { try $0.emitRotaryEmbedding($1) }, "Conv": { try $0.emitConvolution($1) },
            "ConvTranspose": { try $0.emitTransposedConvolution($1) },
            "CausalConvWithState": { try $0.emitCausalConvWithState($1) },
            "LinearAttention": { try $0.emitLinearAttention($1) },
        ]
        for op in ["Swish", "SwiGLU"] { table[op] = { try $0.emitSwish($1) } }
        for op in sequenceOps { table[op] = { try $0.emitSequenceOp($1) } }
        for op in ["LSTM", "GRU", "RNN"] { table[op] = { try $0.emitRecurrent($1) } }
        for op in ["Celu", "ThresholdedRelu", "Shrink", "IsNaN", "IsInf", "Hardmax", "MeanVarianceNormalization", "Xor"] {
            table[op] = { try $0.emitFunctionOp($1) }
        }
        for op in ["DepthToSpace", "SpaceToDepth"] { table[op] = { try $0.emitBlockRearrangement($1) } }
        for op in ["HannWindow", "HammingWindow", "BlackmanWindow"] { table[op] = { try $0.emitWindow($1) } }
        for op in ["ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"] {
            table[op] = { try $0.emitComposedReduction($1) }
        }
        return table
    }()

    /// The attributes ONNX defines for the ops imported by decomposition (at any opset; Conv
    /// and ConvTranspose are checked as the ops they stay): one it does not define is
    /// refused rather than left out.
    static let decomposedAttributes: [String: Set<String>] = {
        var table: [String: Set<String>] = [
            "GroupNormalization": ["epsilon", "num_groups", "stash_type"], "Einsum": ["equation"],
            "LpNormalization": ["axis", "p"], "Mish": [], "RMSNormalization": ["axis", "epsilon", "stash_type"],
            "ImageScaler": ["scale", "bias"],
            "Attention": [
                "is_causal", "kv_num_heads", "left_window_size", "q_num_heads", "qk_matmul_output_mode",
                "right_window_size", "scale", "softcap", "softmax_precision",
            ],
            "GatherND": ["batch_dims"], "GatherElements": ["axis"], "ScatterElements": ["axis", "reduction"],
            "Scatter": ["axis"], "ReverseSequence": ["batch_axis", "time_axis"],
            "LpPool": ["auto_pad", "ceil_mode", "dilations", "kernel_shape", "p", "pads", "strides"],
            "GlobalLpPool": ["p"], "CenterCropPad": ["axes"], "EyeLike": ["dtype", "k"],
            "OneHot": ["axis"], "TensorScatter": ["axis", "mode"], "Col2Im": ["dilations", "pads", "strides"],
            "DFT": ["axis", "inverse", "onesided"], "STFT": ["onesided"], "HannWindow": ["output_datatype", "periodic"],
            "HammingWindow": ["output_datatype", "periodic"], "BlackmanWindow": ["output_datatype", "periodic"],
            "MelWeightMatrix": ["output_datatype"],
            "GridSample": ["align_corners", "mode", "padding_mode"], "AffineGrid": ["align_corners"],
            "DeformConv": ["dilations", "group", "kernel_shape", "offset_group", "pads", "strides"],
            "RotaryEmbedding": ["interleaved", "num_heads", "rotary_embedding_dim"],
            "CausalConvWithState": ["activation"],
            "LinearAttention": ["chunk_size", "kv_num_heads", "q_num_heads", "scale", "update_rule"],
            "Swish": ["alpha"], "SwiGLU": ["alpha"], "Celu": ["alpha"], "ThresholdedRelu": ["alpha"],
            "Shrink": ["bias", "lambd"], "IsNaN": [], "IsInf": ["detect_negative", "detect_positive"],
            "Hardmax": ["axis"], "MeanVarianceNormalization": ["axes"], "Xor": ["axis", "broadcast"],
            "DepthToSpace": ["blocksize", "mode"], "SpaceToDepth": ["blocksize", "mode"],
            "SequenceEmpty": ["dtype"], "SequenceConstruct": [], "SequenceInsert": [], "SequenceErase": [],
            "SequenceAt": [], "SequenceLength": [], "SplitToSequence": ["axis", "keepdims"],
            "ConcatFromSequence": ["axis", "new_axis"],
        ]
        let recurrent: Set<String> = [
            "activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size", "layout",
            "output_sequence",
        ]
        table["RNN"] = recurrent
        table["LSTM"] = recurrent.union(["input_forget"])
        table["GRU"] = recurrent.union(["linear_before_reset"])
        for op in ["ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"] {
            table[op] = ["axes", "keepdims", "noop_with_empty_axes"]
        }
        return table
    }()

    /// How to leave out an unsupported op that ends the model (post-processing): the values
    /// of the file it reads, where `--graph-outputs` can end the model.
    func cutHint(reading inputs: [String]) -> String {
        "; "
            + OpRegistry.graphOutputsHint(
                reading: inputs.filter { !$0.isEmpty && constants[$0] == nil && fileValues.contains($0) })
    }

    /// "; closest supported operators: A, B" when some are near `op`.
    static func suggestion(for op: String, among what: String) -> String {
        let near = OpRegistry.closest(to: op)
        return near.isEmpty ? "" : "; closest \(what): \(near.joined(separator: ", "))"
    }

    /// A Constant node becomes a graph constant named by its output.
    private mutating func importConstant(_ node: Node, what: String) throws {
        guard node.outputs.count == 1, let name = node.outputs.first, !name.isEmpty else {
            throw TensorDecodingError("\(what): Constant must have one named output")
        }
        guard constants[name] == nil else { throw TensorDecodingError("\(what): value \"\(name)\" is defined twice") }
        guard node.attributes.count == 1, let (key, value) = node.attributes.first else {
            throw TensorDecodingError("\(what): Constant needs exactly one value attribute")
        }
        let tensor: Tensor
        switch (key, value) {
        case ("value", .tensor(let t)): tensor = t
        case ("value_float", .float(let f)): tensor = Tensor(scalar: f)
        case ("value_floats", .floats(let f)): tensor = Tensor(f, shape: [f.count])
        case ("value_int", .int(let i)): tensor = Tensor(scalar: Int64(i))
        case ("value_ints", .ints(let i)): tensor = Tensor(i.map(Int64.init), shape: [i.count])
        default:
            throw TensorDecodingError("\(what): Constant attribute \"\(key)\" (\(value.kind)) is not supported")
        }
        defineConstant(name, tensor)
    }
}
