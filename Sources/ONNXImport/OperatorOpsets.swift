// The opset in which each default-domain operator first appeared (ONNX's operator
// definitions, `since_version` of each operator's first version), for operators that did
// not exist in opset 1. A model that uses one at an earlier opset is not a valid model:
// onnxruntime refuses to load it, and import refuses it by node. Except the operators
// onnxruntime defines itself at earlier opsets (`earlierInOnnxruntime`).
extension ImportContext {
    /// Operators onnxruntime loads before ONNX defines them: LayerNormalization (its own
    /// definition from opset 1, which exporters and its transformer optimizer write into
    /// models of opsets before 17), and the first opsets' experimental ThresholdedRelu and
    /// MeanVarianceNormalization.
    static let earlierInOnnxruntime: Set<String> = ["LayerNormalization", "MeanVarianceNormalization", "ThresholdedRelu"]

    /// Operator name -> the first opset that defines it (opset 1 for those not listed).
    static let firstOpsets: [String: Int] = {
        var table: [String: Int] = [:]
        for (opset, ops) in introduced {
            for op in ops { table[op] = opset }
        }
        return table
    }()

    /// Operators by the opset that introduced them.
    private static let introduced: [Int: [String]] = [
        7: ["Acos", "Asin", "Atan", "Cos", "Multinomial", "Sin", "Tan"],
        8: ["Expand", "Scan"],
        9: [
            "Acosh", "Asinh", "Atanh", "Compress", "ConstantOfShape", "Cosh", "Erf", "EyeLike", "IsNaN", "MaxUnpool",
            "MeanVarianceNormalization", "NonZero", "OneHot", "Scatter", "Shrink", "Sign", "Sinh", "TfIdfVectorizer", "Where",
        ],
        10: [
            "ConvInteger", "DequantizeLinear", "IsInf", "MatMulInteger", "Mod", "NonMaxSuppression", "QLinearConv",
            "QLinearMatMul", "QuantizeLinear", "Resize", "ReverseSequence", "RoiAlign", "StringNormalizer", "ThresholdedRelu",
        ],
        11: [
            "BitShift", "ConcatFromSequence", "CumSum", "Det", "DynamicQuantizeLinear", "GatherElements", "GatherND", "Range",
            "Round", "ScatterElements", "ScatterND", "SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceErase",
            "SequenceInsert", "SequenceLength", "SplitToSequence", "Unique",
        ],
        12: ["Celu", "Einsum", "GreaterOrEqual", "LessOrEqual", "NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"],
        14: ["HardSwish", "Trilu"],
        15: ["Bernoulli", "CastLike", "Optional", "OptionalGetElement", "OptionalHasElement"],
        16: ["GridSample"],
        17: [
            "BlackmanWindow", "DFT", "HammingWindow", "HannWindow", "LayerNormalization", "MelWeightMatrix", "STFT",
            "SequenceMap",
        ],
        18: ["BitwiseAnd", "BitwiseNot", "BitwiseOr", "BitwiseXor", "CenterCropPad", "Col2Im", "GroupNormalization", "Mish"],
        19: ["DeformConv"],
        20: ["AffineGrid", "Gelu", "ImageDecoder", "RegexFullMatch", "StringConcat", "StringSplit"],
        23: ["Attention", "RMSNormalization", "RotaryEmbedding"],
        24: ["Swish", "TensorScatter"],
        26: ["BitCast", "CumProd"],
        27: ["CausalConvWithState", "LinearAttention"],
        28: ["SwiGLU"],
    ]
}
