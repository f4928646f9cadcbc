// Sensitivity analysis: for each quantizable layer and candidate (fp8, nvfp4, each dense or
// 2:4), the weight SQNR and the end-to-end output error when only that layer is quantized.
import Foundation
import Formats
import IR
import Reference

/// One way to run a layer.
public struct LayerCandidate: Hashable, Sendable, CustomStringConvertible {
    public var format: PrecisionFormat
    public var sparse: Bool

    public init(_ format: PrecisionFormat, sparse: Bool = false) {
        self.format = format
        self.sparse = sparse
    }

    public var description: String { format.rawValue + (sparse ? "+2:4" : "") }

    /// MACs issued relative to fp16 dense (fp8 2x, nvfp4 4x faster; 2:4 halves the MACs).
    public var relativeLatency: Double {
        let rate: Double = format == .nvfp4 ? 4 : (format == .fp8 ? 2 : 1)
        return (sparse ? 0.5 : 1) / rate
    }

    public static let analyzed: [LayerCandidate] = [.init(.fp8), .init(.nvfp4), .init(.fp8, sparse: true), .init(.nvfp4, sparse: true)]
}

/// What one candidate costs one layer.
public struct CandidateError: Sendable {
    public var candidate: LayerCandidate
    /// SQNR of the layer's weights in that candidate, dB.
    public var weightSQNR: Double
    /// Output error of the whole model with only this layer changed: KL divergence of the
    /// softmaxed outputs for a classifier ([N, classes] output), relative MSE otherwise.
    public var outputError: Double

    public init(candidate: LayerCandidate, weightSQNR: Double, outputError: Double) {
        self.candidate = candidate
        self.weightSQNR = weightSQNR
        self.outputError = outputError
    }
}

public struct LayerSensitivity: Sendable {
    /// The layer's output name (its identity in plans).
    public var layer: String
    public var op: String
    /// Multiply-accumulates per sample.
    public var macs: Int
    /// False when the reduction length is not a multiple of 4: 2:4 candidates are absent.
    public var canPrune: Bool
    public var candidates: [CandidateError]

    public init(layer: String, op: String, macs: Int, canPrune: Bool, candidates: [CandidateError]) {
        self.layer = layer
        self.op = op
        self.macs = macs
        self.canPrune = canPrune
        self.candidates = candidates
    }
}

public enum SensitivityAnalysis {
    /// Runs the analysis on `graph` (BatchNormalization already folded) over `samples`.
    public static func run(_ graph: Graph, samples: [[String: Tensor]], activationAmax: [String: Float],
                           inputNorms: [String: [Float]], pruning: PruningMethod) throws -> [LayerSensitivity] {
        let reference = try outputs(graph, samples)
        var result: [LayerSensitivity] = []
        for node in graph.nodes {
            guard let weight = LayerWeight(node, graph), let output = node.outputs.first else { continue }
            let perSample = graph.types[output]?.shape?.dims.dropFirst().compactMap(\.value).reduce(1, *) ?? 1
            var entry = LayerSensitivity(layer: output, op: node.op, macs: perSample * weight.columns,
                                         canPrune: weight.columns % 4 == 0, candidates: [])
            for candidate in LayerCandidate.analyzed where !candidate.sparse || entry.canPrune {
                var g = graph
                var context = PassContext(verify: false)
                context.quantization = QuantizationPlan(format: .fp32, perLayer: [output: candidate.format],
                                                        activationAmax: activationAmax)
                if candidate.sparse {
                    context.sparsity = SparsityPlan(method: pruning, inputNorms: inputNorms, layers: [output])
                    _ = try Prune24().run(&g, context)
                }
                _ = try QuantizeLayers().run(&g, context)
                let q = g.nodes.first { $0.outputs.first == output }.flatMap { $0.input(1) }.flatMap { g.constants[$0] }
                let sqnr = q.map { ErrorMetrics(original: weight.tensor.floats(), quantized: $0.floats()).sqnr } ?? .infinity
                let changed = try outputs(g, samples)
                entry.candidates.append(CandidateError(candidate: candidate, weightSQNR: sqnr, outputError: error(reference, changed)))
            }
            result.append(entry)
        }
        return result
    }

    /// The first graph output for each sample.
    private static func outputs(_ graph: Graph, _ samples: [[String: Tensor]]) throws -> [Tensor] {
        let interpreter = try Interpreter(graph: graph)
        guard let name = graph.outputs.first?.name else { return [] }
        return try samples.map { try interpreter.run($0)[name]! }
    }

    /// Mean KL(softmax(ref) || softmax(q)) over rows for [N, classes] outputs; relative MSE otherwise.
    static func error(_ reference: [Tensor], _ changed: [Tensor]) -> Double {
        var total = 0.0, count = 0
        var signal = 0.0, noise = 0.0
        for (r, q) in zip(reference, changed) {
            let a = r.floats(), b = q.floats()
            if r.rank == 2 {
                let classes = r.shape[1]
                for row in 0..<r.shape[0] {
                    let p = softmax(Array(a[(row * classes)..<((row + 1) * classes)]))
                    let s = softmax(Array(b[(row * classes)..<((row + 1) * classes)]))
                    total += zip(p, s).reduce(0) { $0 + ($1.0 > 0 ? $1.0 * log($1.0 / max($1.1, 1e-30)) : 0) }
                    count += 1
                }
            } else {
                for (x, y) in zip(a, b) { signal += Double(x) * Double(x); noise += Double(x - y) * Double(x - y) }
            }
        }
        return count > 0 ? total / Double(count) : (signal > 0 ? noise / signal : noise)
    }

    private static func softmax(_ x: [Float]) -> [Double] {
        let m = Double(x.max() ?? 0)
        let e = x.map { exp(Double($0) - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}
