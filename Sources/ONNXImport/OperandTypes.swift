// The element types ONNX's operator definitions allow for an op's index and parameter
// operands: shapes, axes, pads, repeats, counts, indices, scales, bounds and the
// parameters of normalizations. Import reads such operands' values whatever their type;
// checking them here refuses, by node, a model onnxruntime would not load, instead of
// compiling it or exporting it again as one that still does not load.
import IR

/// What one operand of an op may be.
struct OperandRule: Sendable {
    enum Allowed: Sendable {
        /// One of these types.
        case oneOf([DType])
        /// The type of input `k`, named so in the operator's definition.
        case sameAs(Int, String)
    }

    /// The opsets the rule holds in (the operand was an attribute, or typed otherwise, before).
    var opsets: ClosedRange<Int>
    var input: Int
    /// The operand's name in the operator's definition.
    var name: String
    var allowed: Allowed

    init(_ input: Int, _ name: String, _ allowed: Allowed, since: Int = 1, until: Int = Int.max) {
        self.opsets = since...until
        self.input = input
        self.name = name
        self.allowed = allowed
    }
}

enum OperandTypes {
    static let int64: OperandRule.Allowed = .oneOf([.int64])
    static let indices: OperandRule.Allowed = .oneOf([.int32, .int64])
    static let floats: OperandRule.Allowed = .oneOf([.float16, .bfloat16, .float32, .float64])

    /// Ops whose first output (every output, for Split) has the type of one input, by its
    /// index, as ONNX defines them: what a half model's import knows of the values they make.
    static let outputTypeOf: [String: Int] = {
        var table = ["Where": 1]
        for op in [
            "Abs", "Neg", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
            "Exp", "Log", "Sqrt", "Reciprocal", "Erf", "Gelu", "Softplus", "Softsign", "Sin", "Cos", "Floor", "Ceil",
            "Round", "Clip", "Identity", "Dropout", "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "MatMul",
            "Gemm", "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Softmax",
            "LogSoftmax", "LayerNormalization", "BatchNormalization", "InstanceNormalization", "Reshape", "Transpose",
            "Flatten", "Squeeze", "Unsqueeze", "Slice", "Gather", "Expand", "Tile", "Pad", "Concat", "Split", "Resize",
            "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
        ] {
            table[op] = 0
        }
        return table
    }()

    /// The types `node`'s outputs take from its input (`outputTypeOf`) when `type` knows it.
    static func outputTypes(_ node: Node, type: (String) -> DType?) -> [(String, DType)] {
        guard let k = outputTypeOf[node.op], k < node.inputs.count, !node.inputs[k].isEmpty, let t = type(node.inputs[k])
        else { return [] }
        let outputs = node.op == "Split" ? node.outputs : Array(node.outputs.prefix(1))
        return outputs.filter { !$0.isEmpty }.map { ($0, t) }
    }

    /// Variadic ops whose operands are all of one type, by the operands' name in ONNX's
    /// definition: each operand is checked against the first.
    static let variadic: [String: String] = [
        "Max": "data_0", "Min": "data_0", "Sum": "data_0", "Mean": "data_0", "Concat": "inputs",
    ]

    /// By ONNX op type (default domain).
    static let table: [String: [OperandRule]] = {
        var table: [String: [OperandRule]] = [
            "Reshape": [OperandRule(1, "shape", int64, since: 5)],
            "Expand": [OperandRule(1, "shape", int64)],
            "Tile": [OperandRule(1, "repeats", int64, since: 6)],
            "ConstantOfShape": [OperandRule(0, "input", int64)],
            "Squeeze": [OperandRule(1, "axes", int64, since: 13)],
            "Unsqueeze": [OperandRule(1, "axes", int64, since: 13)],
            "Split": [OperandRule(1, "split", int64, since: 13)],
            "Pad": [
                OperandRule(1, "pads", int64, since: 11), OperandRule(2, "constant_value", .sameAs(0, "data"), since: 11),
                OperandRule(3, "axes", indices, since: 18),
            ],
            "TopK": [OperandRule(1, "K", int64, since: 10)],
            "Slice": [
                OperandRule(1, "starts", indices, since: 10), OperandRule(2, "ends", .sameAs(1, "starts"), since: 10),
                OperandRule(3, "axes", .sameAs(1, "starts"), since: 10), OperandRule(4, "steps", .sameAs(1, "starts"), since: 10),
            ],
            "Gather": [OperandRule(1, "indices", indices)],
            "GatherElements": [OperandRule(1, "indices", indices)],
            "GatherND": [OperandRule(1, "indices", int64)],
            "ScatterElements": [OperandRule(1, "indices", indices), OperandRule(2, "updates", .sameAs(0, "data"))],
            "Scatter": [OperandRule(1, "indices", indices), OperandRule(2, "updates", .sameAs(0, "data"))],
            "ScatterND": [OperandRule(1, "indices", int64), OperandRule(2, "updates", .sameAs(0, "data"))],
            "CumSum": [OperandRule(1, "axis", indices)],
            "CumProd": [OperandRule(1, "axis", indices)],
            "Trilu": [OperandRule(1, "k", int64)],
            "ReverseSequence": [OperandRule(1, "sequence_lens", int64)],
            "MaxUnpool": [OperandRule(1, "I", int64), OperandRule(2, "output_shape", int64)],
            "Col2Im": [OperandRule(1, "image_shape", int64), OperandRule(2, "block_shape", int64)],
            "CenterCropPad": [OperandRule(1, "shape", indices)],
            "Upsample": [OperandRule(1, "scales", .oneOf([.float32]), since: 9)],
            "Resize": [
                OperandRule(1, "scales", .oneOf([.float32]), since: 10, until: 10),
                OperandRule(1, "roi", floats, since: 11), OperandRule(2, "scales", .oneOf([.float32]), since: 11),
                OperandRule(3, "sizes", int64, since: 11),
            ],
            "Clip": [
                OperandRule(1, "min", .sameAs(0, "input"), since: 11), OperandRule(2, "max", .sameAs(0, "input"), since: 11),
            ],
            "Range": [OperandRule(1, "limit", .sameAs(0, "start")), OperandRule(2, "delta", .sameAs(0, "start"))],
            "PRelu": [OperandRule(1, "slope", .sameAs(0, "X"))],
            "BatchNormalization": [
                OperandRule(1, "scale", .sameAs(0, "X"), until: 14), OperandRule(2, "B", .sameAs(0, "X"), until: 14),
                OperandRule(3, "input_mean", .sameAs(0, "X"), until: 14), OperandRule(4, "input_var", .sameAs(0, "X"), until: 14),
                OperandRule(1, "scale", floats, since: 15), OperandRule(2, "B", .sameAs(1, "scale"), since: 15),
                OperandRule(3, "input_mean", floats, since: 15), OperandRule(4, "input_var", .sameAs(3, "input_mean"), since: 15),
            ],
            "InstanceNormalization": [OperandRule(1, "scale", .sameAs(0, "input")), OperandRule(2, "B", .sameAs(0, "input"))],
            "LayerNormalization": [OperandRule(1, "Scale", .sameAs(0, "X")), OperandRule(2, "B", .sameAs(0, "X"))],
            "GroupNormalization": [OperandRule(1, "scale", .sameAs(0, "X")), OperandRule(2, "bias", .sameAs(0, "X"))],
            "Dropout": [OperandRule(1, "ratio", floats, since: 12), OperandRule(2, "training_mode", .oneOf([.bool]), since: 12)],
            "GridSample": [OperandRule(1, "grid", floats)],
            "Conv": [OperandRule(1, "W", .sameAs(0, "X")), OperandRule(2, "B", .sameAs(0, "X"))],
            "ConvTranspose": [OperandRule(1, "W", .sameAs(0, "X")), OperandRule(2, "B", .sameAs(0, "X"))],
            "Gemm": [OperandRule(1, "B", .sameAs(0, "A")), OperandRule(2, "C", .sameAs(0, "A"))],
            "QuantizeLinear": [OperandRule(1, "y_scale", floats)],
            "DequantizeLinear": [OperandRule(1, "x_scale", floats)],
            "DFT": [OperandRule(1, "dft_length", indices, since: 17), OperandRule(2, "axis", int64, since: 20)],
            "Compress": [OperandRule(1, "condition", .oneOf([.bool]))],
            "RoiAlign": [OperandRule(1, "rois", .sameAs(0, "X")), OperandRule(2, "batch_indices", int64)],
            "DeformConv": [
                OperandRule(1, "W", .sameAs(0, "X")), OperandRule(2, "offset", .sameAs(0, "X")),
                OperandRule(3, "B", .sameAs(0, "X")),
                OperandRule(4, "mask", .sameAs(0, "X")),
            ],
            "NonMaxSuppression": [
                OperandRule(0, "boxes", .oneOf([.float32])), OperandRule(1, "scores", .oneOf([.float32])),
                OperandRule(2, "max_output_boxes_per_class", int64), OperandRule(3, "iou_threshold", .oneOf([.float32])),
                OperandRule(4, "score_threshold", .oneOf([.float32])),
            ],
        ]
        for op in [
            "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
            "ReduceLogSumExp", "ReduceSumSquare",
        ] {
            table[op] = [OperandRule(1, "axes", int64, since: 18)]
        }
        table["ReduceSum"] = [OperandRule(1, "axes", int64, since: 13)]
        // Operands of one type T: a float16 input added to a float32 one is a model
        // onnxruntime refuses, which a half model's import (in float32) would otherwise take.
        for op in ["Add", "Sub", "Mul", "Div", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "MatMul"] {
            table[op] = [OperandRule(1, "B", .sameAs(0, "A"))]
        }
        table["Where"] = [OperandRule(2, "Y", .sameAs(1, "X"))]
        return table
    }()

    /// Throws naming the first operand of `node` (read at `opset`) whose type its op's
    /// definition does not allow; `type` gives what import knows of a value's type (nil: not
    /// yet known, left to the shape rules).
    static func check(_ node: Node, opset: Int, type: (String) -> DType?) throws {
        func operand(_ k: Int) -> DType? { k < node.inputs.count && !node.inputs[k].isEmpty ? type(node.inputs[k]) : nil }
        if let name = variadic[node.op], let first = operand(0) {
            for k in node.inputs.indices.dropFirst() {
                guard let got = operand(k), got != first else { continue }
                throw IRError(
                    "input \(k) (\(name)) is \(got.name) but input 0 is \(first.name); ONNX defines all its inputs as one type",
                    at: node)
            }
        }
        guard let rules = table[node.op] else { return }
        for rule in rules where rule.opsets.contains(opset) {
            guard let got = operand(rule.input) else { continue }
            switch rule.allowed {
            case .oneOf(let types) where !types.contains(got):
                let names = types.map(\.name)
                let allowed = names.count == 1 ? names[0] : names.dropLast().joined(separator: ", ") + " or " + names.last!
                throw IRError("input \(rule.input) (\(rule.name)) is \(got.name); ONNX defines it as \(allowed)", at: node)
            case .sameAs(let k, let name):
                guard let other = operand(k), other != got else { continue }
                throw IRError(
                    "input \(rule.input) (\(rule.name)) is \(got.name) but input \(k) (\(name)) is \(other.name); ONNX "
                        + "defines them as one type", at: node)
            default: continue
            }
        }
    }
}
