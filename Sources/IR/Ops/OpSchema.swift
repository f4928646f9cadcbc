// The op table: every operator the IR knows, in its canonical (opset 21) form, with the
// number of inputs and outputs it takes. Importer, verifier and interpreter share it.

/// What the IR knows about one operator.
public struct OpSchema: Sendable {
    public var name: String
    /// How many inputs (omitted optional ones included) the op accepts.
    public var inputs: ClosedRange<Int>
    public var outputs: ClosedRange<Int>

    public init(_ name: String, inputs: ClosedRange<Int>, outputs: ClosedRange<Int> = 1...1) {
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
    }
}

public enum OpRegistry {
    private static let variadic = 1...Int.max

    /// Every supported op, by name.
    public static let all: [OpSchema] = {
        var table: [OpSchema] = []
        let unary = ["Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Softplus",
                     "Softsign", "Erf", "Gelu", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Floor", "Ceil", "Sign",
                     "Not", "Identity", "Softmax", "LogSoftmax", "Flatten", "Transpose", "Shape", "Size",
                     "GlobalAveragePool", "GlobalMaxPool", "LRN", "Cast", "ArgMax", "ArgMin", "ConstantOfShape"]
        table += unary.map { OpSchema($0, inputs: 1...1) }
        let binary = ["Add", "Sub", "Mul", "Div", "Pow", "PRelu", "Equal", "Greater", "Less", "GreaterOrEqual",
                      "LessOrEqual", "And", "Or", "MatMul", "Reshape", "Expand", "Gather", "Tile"]
        table += binary.map { OpSchema($0, inputs: 2...2) }
        table += ["Sum", "Max", "Min", "Mean", "Concat"].map { OpSchema($0, inputs: variadic) }
        table += ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "Squeeze", "Unsqueeze"]
            .map { OpSchema($0, inputs: 1...2) }
        table += [
            OpSchema("Conv", inputs: 2...3),
            OpSchema("ConvTranspose", inputs: 2...3),
            OpSchema("BatchNormalization", inputs: 5...5),
            OpSchema("InstanceNormalization", inputs: 3...3),
            OpSchema("LayerNormalization", inputs: 2...3, outputs: 1...3),
            OpSchema("Gemm", inputs: 2...3),
            OpSchema("Clip", inputs: 1...3),
            OpSchema("Where", inputs: 3...3),
            OpSchema("MaxPool", inputs: 1...1, outputs: 1...2),
            OpSchema("AveragePool", inputs: 1...1),
            OpSchema("Split", inputs: 1...2, outputs: variadic),
            OpSchema("Slice", inputs: 3...5),
            OpSchema("Pad", inputs: 1...4),
            OpSchema("Resize", inputs: 1...4),
            OpSchema("Range", inputs: 3...3),
            OpSchema("Dropout", inputs: 1...3, outputs: 1...2),
        ]
        return table
    }()

    private static let byName: [String: OpSchema] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    public static func schema(_ op: String) -> OpSchema? { byName[op] }
}
