import Formats
// Sensitivity analysis: for each quantizable layer and candidate (fp16, fp8 and nvfp4 with
// 2:4; fp8 and nvfp4 dense), the weight SQNR, the layer's own output error on its
// calibration inputs (exact, from the layer Hessian), and the end-to-end output error when
// only that layer is changed.
//
// The end-to-end runs reuse a cached prefix: each sample runs through the unchanged model
// once, keeping every activation, and each candidate then re-runs only the nodes downstream
// of its layer. The work is about the sum of each layer's suffix, not a whole network per
// candidate.
import Foundation
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

    /// Parses "fp8", "nvfp4+2:4", ...
    public init?(_ text: String) {
        let sparse = text.hasSuffix("+2:4")
        guard let format = PrecisionFormat(rawValue: sparse ? String(text.dropLast(4)) : text) else { return nil }
        self.init(format, sparse: sparse)
    }

    /// MACs issued relative to fp16 dense (fp8 2x, nvfp4 4x faster; 2:4 halves the MACs).
    public var relativeLatency: Double {
        let rate: Double = format == .nvfp4 ? 4 : (format == .fp8 ? 2 : 1)
        return (sparse ? 0.5 : 1) / rate
    }

    /// The candidates besides fp16 dense (the reference every error is measured against).
    public static let analyzed: [LayerCandidate] = [
        .init(.fp8), .init(.nvfp4), .init(.fp16, sparse: true), .init(.fp8, sparse: true), .init(.nvfp4, sparse: true),
    ]
}

/// What one candidate costs one layer.
public struct CandidateError: Sendable {
    public var candidate: LayerCandidate
    /// SQNR of the layer's weights in that candidate, dB.
    public var weightSQNR: Double
    /// Relative error of the layer's own output (bias aside) from its changed weights, on
    /// its calibration inputs: Σ‖(W − Ŵ)x‖² / Σ‖Wx‖², exact through the layer Hessian. nil
    /// when no Hessian was collected.
    public var layerError: Double?
    /// Output error of the whole model with only this layer changed (weights and input
    /// activation): KL divergence of the softmaxed outputs for a classifier ([N, classes]
    /// output), relative MSE otherwise.
    public var outputError: Double

    public init(candidate: LayerCandidate, weightSQNR: Double, layerError: Double? = nil, outputError: Double) {
        self.candidate = candidate
        self.weightSQNR = weightSQNR
        self.layerError = layerError
        self.outputError = outputError
    }
}

public struct LayerSensitivity: Sendable {
    /// The layer's output name (its identity in plans).
    public var layer: String
    /// The node's own name (may be empty).
    public var name: String
    /// How reports name the layer: its node name, or its output when the node has none.
    public var displayName: String { name.isEmpty ? layer : name }
    public var op: String
    /// Multiply-accumulates per sample.
    public var macs: Int
    /// Weights in the layer.
    public var parameters: Int
    /// False when the reduction length is not a multiple of 4: 2:4 candidates are absent.
    public var canPrune: Bool
    public var candidates: [CandidateError]

    public init(
        layer: String, name: String = "", op: String, macs: Int, parameters: Int = 0, canPrune: Bool,
        candidates: [CandidateError]
    ) {
        self.layer = layer
        self.name = name
        self.op = op
        self.macs = macs
        self.parameters = parameters
        self.canPrune = canPrune
        self.candidates = candidates
    }
}

public enum SensitivityAnalysis {
    /// Runs the analysis on `graph` (BatchNormalization already folded) over `samples`.
    /// Layers that already carry a weight format (fixed by a QDQ model) are left out.
    /// `hessians` (per layer output, from calibration) give the layer errors and SparseGPT.
    public static func run(
        _ graph: Graph, samples: [[String: Tensor]], activationAmax: [String: Float],
        inputNorms: [String: [Float]], hessians: [String: LayerHessian] = [:],
        pruning: PruningMethod
    ) throws -> [LayerSensitivity] {
        var layers: [LayerSensitivity] = []
        var variants: [Variant] = []
        for (index, node) in graph.nodes.enumerated() {
            // A layer whose formats the model fixed (import-qdq) is not a choice to make.
            guard let weight = LayerWeight(node, graph), let output = node.outputs.first,
                node.attributes[QuantizationAttributes.weightFormat] == nil
            else { continue }
            let perSample = graph.types[output]?.shape?.dims.dropFirst().compactMap(\.value).reduce(1, *) ?? 1
            var entry = LayerSensitivity(
                layer: output, name: node.name, op: node.op, macs: perSample * weight.columns,
                parameters: weight.rows * weight.columns, canPrune: weight.columns % 4 == 0, candidates: [])
            // The sparse candidates share one pruning of the layer (the costly part with SparseGPT).
            var pruned: Graph?
            let original = weight.matrix()
            let signal = hessians[output]?.outputEnergy(original, rows: weight.rows)
            for candidate in LayerCandidate.analyzed where !candidate.sparse || entry.canPrune {
                var context = PassContext(verify: false)
                context.quantization = QuantizationPlan(
                    format: .fp32, perLayer: [output: candidate.format],
                    activationAmax: activationAmax)
                if candidate.sparse && pruned == nil {
                    var p = graph
                    context.sparsity = SparsityPlan(
                        method: pruning, inputNorms: inputNorms, hessians: hessians,
                        layers: [output])
                    _ = try Prune24().run(&p, context)
                    pruned = p
                }
                var g = candidate.sparse ? pruned! : graph
                _ = try QuantizeLayers().run(&g, context)
                let changed = LayerWeight(g.nodes[index], g)?.matrix() ?? original
                let sqnr = ErrorMetrics(original: original, quantized: changed).sqnr
                let layerError = hessians[output].map {
                    $0.relativeOutputError(original: original, changed: changed, rows: weight.rows, signal: signal!)
                }
                entry.candidates.append(
                    CandidateError(
                        candidate: candidate, weightSQNR: sqnr, layerError: layerError,
                        outputError: 0))
                variants.append(try Variant(g, from: index, layer: layers.count, candidate: entry.candidates.count - 1))
            }
            layers.append(entry)
        }

        guard let outputName = graph.outputs.first?.name else { return layers }
        let reference = try Interpreter(graph: graph)
        var errors = [OutputError](repeating: OutputError(), count: variants.count)
        for sample in samples {
            var values = sample
            let outputs = try reference.run(sample) { name, t in values[name] = t }
            guard let expected = outputs[outputName] else { continue }
            for (k, v) in variants.enumerated() {
                errors[k].add(reference: expected, changed: try v.run(values) ?? expected)
            }
        }
        for (k, v) in variants.enumerated() {
            layers[v.layer].candidates[v.candidate].outputError = errors[k].value
        }
        return layers
    }

    /// One layer changed to one candidate: the nodes downstream of it, as a graph whose
    /// inputs are the unchanged values they read.
    private struct Variant {
        let layer: Int
        let candidate: Int
        /// nil when the changed layer does not reach the model's first output.
        let suffix: Interpreter?
        let inputs: [String]
        let output: String

        init(_ g: Graph, from index: Int, layer: Int, candidate: Int) throws {
            self.layer = layer
            self.candidate = candidate
            output = g.outputs.first?.name ?? ""
            var produced = Set(g.nodes[index].outputs)
            var nodes = [g.nodes[index]]
            for node in g.nodes[(index + 1)...] where node.inputs.contains(where: produced.contains) {
                nodes.append(node)
                produced.formUnion(node.outputs)
            }
            var read: [String] = []
            for n in nodes {
                for v in n.inputs where !v.isEmpty && !produced.contains(v) && g.constants[v] == nil && !read.contains(v) {
                    read.append(v)
                }
            }
            inputs = read
            guard produced.contains(output) else {
                suffix = nil
                return
            }
            let infos = read.map { ValueInfo(name: $0, type: TensorType(g.type(of: $0)?.dtype ?? .float32, nil as Shape?)) }
            let outputs = g.outputs.filter { produced.contains($0.name) }
            suffix = try Interpreter(
                graph: Graph(
                    name: g.name, inputs: infos, outputs: outputs, nodes: nodes,
                    constants: g.constants, types: g.types))
        }

        /// The model's first output with this change, from the reference run's `values`.
        func run(_ values: [String: Tensor]) throws -> Tensor? {
            guard let suffix else { return nil }
            var feed: [String: Tensor] = [:]
            for v in inputs { feed[v] = values[v] }
            return try suffix.run(feed)[output]
        }
    }
}

/// Mean KL(softmax(reference) ‖ softmax(changed)) over rows for [N, classes] outputs;
/// relative MSE otherwise. Accumulated one sample at a time.
struct OutputError {
    private var divergence = 0.0, rows = 0
    private var signal = 0.0, noise = 0.0

    mutating func add(reference r: Tensor, changed q: Tensor) {
        let a = r.floats(), b = q.floats()
        if r.rank == 2 {
            let classes = r.shape[1]
            for row in 0..<r.shape[0] {
                let p = Self.softmax(a[(row * classes)..<((row + 1) * classes)])
                let s = Self.softmax(b[(row * classes)..<((row + 1) * classes)])
                divergence += zip(p, s).reduce(0) { $0 + ($1.0 > 0 ? $1.0 * log($1.0 / max($1.1, 1e-30)) : 0) }
                rows += 1
            }
        } else {
            for (x, y) in zip(a, b) {
                signal += Double(x) * Double(x)
                noise += Double(x - y) * Double(x - y)
            }
        }
    }

    var value: Double { rows > 0 ? divergence / Double(rows) : (signal > 0 ? noise / signal : noise) }

    private static func softmax(_ x: ArraySlice<Float>) -> [Double] {
        let m = Double(x.max() ?? 0)
        let e = x.map { exp(Double($0) - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}
