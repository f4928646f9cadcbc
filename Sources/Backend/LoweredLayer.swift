// What the lowering records per lowered node for the profile: its slice of the program, the
// multiply-accumulates it does, its precision and sparsity, and the bytes it must move at the
// least (its weights and constants, its input and output activations), and how many of the
// activations' bytes the memory plan keeps on chip (L3) rather than in DRAM.
import IR

/// One lowered node: instructions `first ..< first + count` of the program are its own.
public struct LoweredLayer: Sendable, Equatable, Codable {
    public var name: String
    public var op: String
    public var first: Int
    public var count: Int
    /// Dense multiply-accumulates (a 2:4 layer's skipped products counted as done).
    public var macs: Int
    /// The weights' format and the activations' (matrix layers; nil otherwise), and 2:4.
    public var precision: String?
    public var activationFormat: String?
    public var sparse: Bool
    /// Bytes of weights and constants, of input activations and of output activations.
    public var weightBytes: Int
    public var inputBytes: Int
    public var outputBytes: Int
    /// Of `inputBytes + outputBytes`, those in L3.
    public var onChipBytes: Int

    enum CodingKeys: String, CodingKey {
        case name, op, first, count, macs, precision, sparse
        case activationFormat = "activation_format", weightBytes = "weight_bytes", inputBytes = "input_bytes"
        case outputBytes = "output_bytes", onChipBytes = "on_chip_bytes"
    }

    /// `node`, lowered to `count` instructions from `first`; `packed` its weights when it is
    /// a matrix layer, `epilogue` what its epilogue took over; `memory` where its activations
    /// live. `reads`, when given, is what the layer reads instead of the node's inputs (a
    /// chain of element-wise nodes lowered at its last).
    init(
        _ node: Node, _ graph: Graph, packed: PackedLayer?, memory: MemoryPlan, epilogue: Epilogue? = nil,
        reads: [String]? = nil, first: Int, count: Int
    ) {
        func bytes(_ value: String) -> Int {
            guard let t = graph.type(of: value), let dims = t.shape?.dims.compactMap(\.value) else { return 0 }
            return dims.reduce(t.dtype.byteSize, *)
        }
        func onChip(_ values: [String]) -> Int {
            values.filter { !$0.isEmpty && memory.place(of: $0)?.space == .l3 }.map(bytes).reduce(0, +)
        }
        let output = node.outputs.first ?? ""
        name = node.name.isEmpty ? output : node.name
        op = node.op
        self.first = first
        self.count = count
        outputBytes = node.outputs.filter { !$0.isEmpty }.map(bytes).reduce(0, +)
        // A matrix product's MACs: output elements times the dense reduction length.
        let outputElements = outputBytes / max(graph.type(of: output)?.dtype.byteSize ?? 4, 1)
        if let p = packed {
            macs = outputElements * p.columns
            precision = p.format
            activationFormat = node.string(QuantizationAttributes.activationFormat) ?? "fp32"
            sparse = p.sparse
            let bias = node.op == "MatMul" ? 0 : node.input(2).map(bytes) ?? 0
            weightBytes = p.size + bias + 4 * (epilogue?.bias?.count ?? 0)
            // The residual an epilogue adds is an input; the value it writes its output.
            let inputs = [node.inputs[0]] + (epilogue?.residual.map { [$0] } ?? [])
            inputBytes = inputs.map(bytes).reduce(0, +)
            onChipBytes = onChip(inputs + [epilogue?.result ?? output])
        } else if node.op == "MatMul", let format = node.string(QuantizationAttributes.activationFormat),
            let k = graph.type(of: node.inputs[0])?.shape?.dims.last?.value
        {
            // A product of two activations on the matrix unit, both operands in `format`.
            macs = outputElements * k
            precision = format
            activationFormat = format
            sparse = false
            weightBytes = 0
            inputBytes = node.inputs.map(bytes).reduce(0, +)
            onChipBytes = onChip(node.inputs + node.outputs)
        } else {
            macs = 0
            sparse = false
            let constants = (reads ?? node.inputs).filter { graph.constants[$0] != nil }
            let readsConstants = reads != nil || ["Add", "Sub", "Mul", "Div"].contains(node.op)
            weightBytes = readsConstants ? constants.map(bytes).reduce(0, +) : 0
            // A look-up in a constant table reads only the rows it copies: the output's bytes.
            if node.op == "Gather", constants == [node.inputs[0]] { weightBytes = outputBytes }
            let activations = (reads ?? node.inputs).filter { !$0.isEmpty && graph.constants[$0] == nil }
            inputBytes = activations.map(bytes).reduce(0, +)
            onChipBytes = onChip(activations + node.outputs)
        }
    }
}
