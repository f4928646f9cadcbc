// quantize: Conv, Gemm and MatMul with constant weights get their weights rounded to the
// chosen format and their input activation marked for rounding at run time.
import Formats
import IR

/// What `quantize` applies: one format for weights and activations of every quantizable
/// layer, and the calibrated amax of each activation.
public struct QuantizationPlan: Sendable {
    public var format: PrecisionFormat
    public var activationAmax: [String: Float]

    public init(format: PrecisionFormat, activationAmax: [String: Float]) {
        self.format = format
        self.activationAmax = activationAmax
    }
}

/// The attributes the interpreter reads on a quantized layer.
public enum QuantizationAttributes {
    public static let activationFormat = "npucc.activation_format"
    public static let activationAmax = "npucc.activation_amax"
    public static let weightFormat = "npucc.weight_format"
}

/// Requires `context.quantization` and constant weights (canonicalize first). Guarantees
/// every Conv, Gemm and MatMul with a constant weight has its weight replaced by the
/// format's fake-quantized values (per output channel along the reduction axis) and carries
/// `npucc.weight_format`, `npucc.activation_format` and `npucc.activation_amax` for the
/// interpreter. Leaves alone layers whose weight is not a constant, and biases (fp32, as the
/// NPU accumulates). Does nothing without a plan.
public struct QuantizeLayers: Pass {
    public let tag = "quantize"
    public let summary = "Round weights to the chosen format and mark activations for fake quantization"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        guard let plan = context.quantization, plan.format != .fp32 else { return stats }
        for (i, node) in graph.nodes.enumerated() where ["Conv", "Gemm", "MatMul"].contains(node.op) {
            guard let wName = node.input(1), let w = graph.constants[wName], w.dtype == .float32, w.rank >= 2,
                  let x = node.input(0) else { continue }
            let transB = node.op == "Gemm" && node.int("transB", default: 0) != 0
            // Rows = output channels, columns = the reduction axis.
            let (rows, columns, transposed): (Int, Int, Bool) = node.op == "Conv"
                ? (w.shape[0], w.count / w.shape[0], false)
                : (transB ? (w.shape[0], w.shape[1], false) : (w.shape[w.rank - 1], w.shape[w.rank - 2], true))
            guard !(node.op == "MatMul" && w.rank != 2) else { continue }
            let values = transposed ? transpose(w.floats(), rows: columns, columns: rows) : w.floats()
            var rounded = try FakeQuantization.weights(values, rows: rows, columns: columns, format: plan.format)
            if transposed { rounded = transpose(rounded, rows: rows, columns: columns) }
            let name = "\(wName)_\(plan.format.rawValue)"
            graph.constants[name] = Tensor(rounded, shape: w.shape)
            var q = node
            q.inputs[1] = name
            q.attributes[QuantizationAttributes.weightFormat] = .string(plan.format.rawValue)
            q.attributes[QuantizationAttributes.activationFormat] = .string(plan.format.rawValue)
            if let amax = plan.activationAmax[x] { q.attributes[QuantizationAttributes.activationAmax] = .float(amax) }
            graph.nodes[i] = q
            stats.add("quantized")
        }
        return stats
    }

    private func transpose(_ x: [Float], rows: Int, columns: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = x[r * columns + c] } }
        return out
    }
}
