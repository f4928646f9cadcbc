// Sensitivity analysis: for each quantizable layer and candidate (fp16, fp8 and nvfp4 with
// 2:4; fp8 and nvfp4 dense), the weight SQNR, the layer's own output error (from the layer
// Hessian, weights only; and as the layer computes it, weights and input activation), and
// the end-to-end output error when only that layer is changed, measured or predicted.
//
// The end-to-end runs reuse a cached prefix: each sample runs through the unchanged model
// once, keeping every activation, and a changed layer re-runs only the nodes downstream of
// it. Measured, every candidate does so. Predicted, two candidates per layer do, giving the
// layer's gains (model output error per unit of layer output error) for rounding's error
// (nvfp4) and for pruning's (fp16+2:4); every candidate's error is then predicted from its
// own layer output error, which costs one run of the layer alone: rounding's and pruning's
// errors are independent, their squares add, and each passes on through its own gain.
// Estimated, the gains come without re-runs: cotangents of the model's output error,
// backpropagated once per sample and output vector, reach every layer at once.
import Formats
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

/// How the analysis finds each candidate's end-to-end output error.
public enum EndToEndError: String, Sendable, CaseIterable {
    /// Every candidate re-runs what its layer reaches, on every analysis sample.
    case measured
    /// Two re-runs per layer give the layer's gains for rounding's and pruning's errors; each
    /// candidate's error is predicted from its layer output error. Two fifths of the
    /// measured re-runs.
    case predicted
    /// As predicted, with the gains' model output errors estimated instead of re-run:
    /// cotangents of the model's output error, backpropagated once per sample and output
    /// vector to every layer at once, give a gain candidate's error to second order from
    /// its layer output change δ as Σ w·(vᵀ·J·δ)² (OutputCotangents.swift). A layer
    /// upstream of an op without a derivative rule has its gains re-run.
    case estimated
}

/// What one candidate costs one layer.
public struct CandidateError: Sendable {
    public var candidate: LayerCandidate
    /// SQNR of the layer's weights in that candidate, dB.
    public var weightSQNR: Double
    /// Relative error of the layer's own output (bias aside) from its changed weights, on
    /// its calibration inputs: Σ‖(W − Ŵ)x‖² / Σ‖Wx‖², exact through the layer Hessian. nil
    /// when no Hessian was collected, and when the output errors are predicted.
    public var layerError: Double?
    /// Relative error of the layer's output as the changed layer computes it (weights and
    /// input activation rounded, fused activation applied) on the analysis samples:
    /// Σ‖ŷ − y‖² / Σ‖y‖².
    public var layerOutputError: Double
    /// The model's output error predicted from the layer's (`SensitivityAnalysis.predict`).
    public var predictedError: Double
    /// The output error of the whole model with only this layer changed (weights and input
    /// activation), measured on the analysis samples: KL divergence of the softmaxed outputs
    /// for a classifier ([N, classes] output), relative MSE otherwise. nil when not measured.
    public var measuredError: Double?
    /// The error assignments weigh: the measured one when there is one, else the predicted.
    public var outputError: Double { measuredError ?? predictedError }

    public init(
        candidate: LayerCandidate, weightSQNR: Double, layerError: Double? = nil, layerOutputError: Double = 0,
        predictedError: Double = 0, measuredError: Double? = nil
    ) {
        self.candidate = candidate
        self.weightSQNR = weightSQNR
        self.layerError = layerError
        self.layerOutputError = layerOutputError
        self.predictedError = predictedError
        self.measuredError = measuredError
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
    /// The stored weight: its constant's name and layout. Layers with the same key (an
    /// unrolled recurrence's steps) store one weight, so they take one precision; empty for
    /// a weight of its own.
    public var weightKey = ""
    public var candidates: [CandidateError]
    /// The model's output error per unit of this layer's relative output error, measured
    /// with the gain candidates: for rounding's error (nvfp4) and for pruning's (fp16+2:4).
    /// 0 when the layer does not reach the model's first output, or has no 2:4 candidate.
    public var gain = 0.0, pruningGain = 0.0
    /// The op without a derivative rule that kept an estimated analysis from this layer (its
    /// errors are then predicted); nil otherwise.
    public var notEstimatedBecauseOf: String?
    /// The weights the 2:4 candidates were made from ([rows, columns], pruned, before
    /// rounding), for applying a 2:4 choice without pruning again; nil when prune-2-4 left
    /// the layer dense.
    public var pruned: [Float]?

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
    /// The candidates whose re-runs measure a layer's gains: nvfp4 for rounding's error (the
    /// largest, furthest above the noise of a few samples) and fp16+2:4 for pruning's alone.
    /// The two differ in where they fall (SparseGPT leaves its error where the layer's
    /// inputs seldom point), and the model passes them on differently.
    public static let gainCandidates = [LayerCandidate(.nvfp4), LayerCandidate(.fp16, sparse: true)]

    /// A candidate's model output error from the layer's gains and the layer output errors
    /// `layerOutput` of its candidates: gain × its own for a dense candidate, pruning gain ×
    /// its own for fp16+2:4, and for fp8 and nvfp4 with 2:4 the sum of pruning's part
    /// (fp16+2:4's) and rounding's (the rest), each through its gain.
    public static func predict(
        _ candidate: LayerCandidate, gain: Double, pruningGain: Double, layerOutput: [LayerCandidate: Double]
    ) -> Double {
        let own = layerOutput[candidate] ?? 0
        guard candidate.sparse else { return gain * own }
        let pruning = layerOutput[LayerCandidate(.fp16, sparse: true)] ?? 0
        return pruningGain * min(pruning, own) + gain * max(own - pruning, 0)
    }

    /// Runs the analysis on `graph` (BatchNormalization already folded) over `samples`;
    /// `values`, when given, are every value of each sample as the interpreter computes it
    /// on `graph` (calibration's, kept), which the analysis then does not compute again.
    /// Layers that already carry a weight format (fixed by a QDQ model) are left out.
    /// `hessians` (per layer output, from calibration) give the layer errors and SparseGPT.
    /// Without `sparse`, only the dense candidates are analysed: nothing is pruned, and the
    /// pruning gains are not measured (0). Without `dense`, a layer that can be 2:4 is
    /// analysed in its 2:4 candidates and in nvfp4, whose error gives rounding's gain: no
    /// dense choice is open to it (`--sparsity 2:4`).
    public static func run(
        _ graph: Graph, samples: [[String: Tensor]], activationAmax: [String: Float],
        inputNorms: [String: [Float]], hessians: [String: LayerHessian] = [:],
        pruning: PruningMethod, sparse: Bool = true, dense: Bool = true, endToEnd: EndToEndError = .measured,
        values known: [[String: Tensor]]? = nil,
        progress: @escaping @Sendable (_ label: String, _ total: Int, _ finished: Int) -> Void = { _, _, _ in }
    ) throws -> [LayerSensitivity] {
        // The layers to analyse: Conv, ConvTranspose, Gemm and MatMul with constant weights whose formats the
        // model did not fix (import-qdq).
        let analysed = graph.nodes.indices.filter {
            LayerWeight(graph.nodes[$0], graph) != nil && graph.nodes[$0].outputs.first != nil
                && graph.nodes[$0].attributes[QuantizationAttributes.weightFormat] == nil
        }
        // Every layer's 2:4 weights, pruned once for all its sparse candidates (in parallel).
        var pruned = graph
        if sparse {
            var context = PassContext(verify: false)
            context.progress = progress
            context.sparsity = SparsityPlan(
                method: pruning, inputNorms: inputNorms, hessians: hessians,
                layers: Set(analysed.compactMap { graph.nodes[$0].outputs.first }))
            _ = try Prune24().run(&pruned, context)
        }

        // Each sample through the unchanged model once, every value kept (the samples in
        // parallel, each on one thread).
        let reference = try Interpreter(graph: graph)
        let outputName = graph.outputs.first?.name
        progress("reference outputs", samples.count, 0)
        let runs = try parallelResults(samples.count) { s -> (values: [String: Tensor], expected: Tensor?) in
            if let known, s < known.count, let name = outputName, let expected = known[s][name] {
                progress("reference outputs", samples.count, 1)
                return (samples[s].merging(known[s]) { _, computed in computed }, expected)
            }
            var values = samples[s]
            let outputs = try reference.run(samples[s]) { name, t in values[name] = t }
            progress("reference outputs", samples.count, 1)
            return (values, outputName.flatMap { outputs[$0] })
        }
        let unchanged = UnchangedRuns(graph: graph, pruned: pruned, values: runs.map(\.values), expected: runs.map(\.expected))

        // The layers in parallel, each on one thread: each one's numbers do not depend on
        // which thread measured it, nor on the others.
        progress("analysing layers", analysed.count, 0)
        var layers = try parallelResults(analysed.count) { k -> AnalysedLayer? in
            defer { progress("analysing layers", analysed.count, 1) }
            return try analyse(
                layer: analysed[k], unchanged, activationAmax: activationAmax, hessians: hessians, sparse: sparse,
                dense: dense, endToEnd: endToEnd)
        }
        if endToEnd == .estimated, let outputName {
            // The gain candidates' model output errors from the output's cotangents; a layer
            // they cannot reach through derivative rules has its gains re-run instead.
            let estimates = try OutputErrorEstimates(
                graph, runs: unchanged, output: outputName, changes: layers.map { $0.map { ($0.entry.layer, $0.changes) } },
                progress: progress)
            let blocked = layers.indices.filter { layers[$0].map { estimates.blocked[$0.entry.layer] != nil } ?? false }
            let again = try parallelResults(blocked.count) { b in
                try analyse(
                    layer: analysed[blocked[b]], unchanged, activationAmax: activationAmax, hessians: hessians,
                    sparse: sparse, dense: dense, endToEnd: .predicted)
            }
            for (k, layer) in zip(blocked, again) {
                guard var layer else { continue }
                layer.entry.notEstimatedBecauseOf = estimates.blocked[layer.entry.layer]
                layers[k] = layer
            }
            for k in layers.indices {
                guard var layer = layers[k], layer.entry.notEstimatedBecauseOf == nil else { continue }
                estimates.setGains(of: &layer.entry)
                layer.changes = [:]
                layers[k] = layer
            }
        }
        return layers.compactMap { $0?.entry }
    }

    /// One layer's analysis and, estimated, each gain candidate's change of the layer's
    /// output per sample (bfloat16), for the cotangents to weigh.
    private struct AnalysedLayer {
        var entry: LayerSensitivity
        var changes: [LayerCandidate: [[UInt16]]] = [:]
    }

    /// The unchanged model's runs the analysis compares with: each sample's values (every
    /// one kept) and the model's first output, and the graph with every layer pruned 2:4.
    fileprivate struct UnchangedRuns {
        var graph: Graph, pruned: Graph
        var values: [[String: Tensor]]
        var expected: [Tensor?]
    }

    /// The gain candidates' model output errors to second order: the output's cotangent
    /// vectors backpropagated to every layer at once, one pass per sample and vector, each
    /// weighing the changes of the layers' outputs as it reaches them.
    fileprivate struct OutputErrorEstimates {
        /// Random output vectors in all, spread over the samples (at least 4 per sample),
        /// where an output is too large for every direction: the estimates' relative
        /// standard error is then about √(2/32) = 0.25.
        static let randomDraws = 32

        /// Per layer output and gain candidate: Σ over samples and vectors of w·(vᵀ·δ)².
        var sums: [String: [LayerCandidate: Double]] = [:]
        /// What the sums are divided by: the samples for a classifier's KL divergence,
        /// Σ‖z‖² for a relative squared error.
        var denominator = 0.0
        /// Layers some path from which to the output runs through an op without a rule.
        var blocked: [String: String] = [:]

        init(
            _ graph: Graph, runs: UnchangedRuns, output: String, changes: [(String, [LayerCandidate: [[UInt16]]])?],
            progress: @escaping @Sendable (String, Int, Int) -> Void
        ) throws {
            let samples = runs.expected.filter { $0 != nil }.count
            let perSample = max(4, (Self.randomDraws + samples - 1) / max(samples, 1))
            let seeds = runs.expected.enumerated().map { s, z in
                z.map { OutputCotangents.make(for: $0, random: perSample, seed: UInt64(s)) }
            }
            let changed = changes.compactMap { $0 }
            let layers = Set(changed.map(\.0))
            let tasks = seeds.enumerated().flatMap { s, c in (0..<(c?.vectors.count ?? 0)).map { (s, $0) } }
            progress("output cotangents", tasks.count, 0)
            // Each pass's products with every layer's changes; the cotangents themselves are
            // dropped as soon as they are weighed.
            let results = try parallelResults(tasks.count) {
                k -> (dots: [String: [LayerCandidate: Double]], blocked: [String: String]) in
                defer { progress("output cotangents", tasks.count, 1) }
                let (s, j) = tasks[k]
                let result = try Backpropagation.run(
                    graph, values: runs.values[s], output: output, cotangent: seeds[s]!.vectors[j], wanted: layers)
                var dots: [String: [LayerCandidate: Double]] = [:]
                for (layer, candidates) in changed {
                    guard let g = result.cotangents[layer] else { continue }
                    for (candidate, perSample) in candidates where s < perSample.count {
                        dots[layer, default: [:]][candidate] = Self.dot(g, perSample[s])
                    }
                }
                return (dots, result.blocked)
            }
            for ((s, _), result) in zip(tasks, results) {
                for (layer, op) in result.blocked { blocked[layer] = op }
                for (layer, dots) in result.dots {
                    for (candidate, dot) in dots {
                        sums[layer, default: [:]][candidate, default: 0] += seeds[s]!.weight * dot * dot
                    }
                }
            }
            let classifier = runs.expected.contains { $0.map(OutputError.isClassifier) ?? false }
            denominator = runs.expected.reduce(0.0) { sum, z in
                guard let z else { return sum }
                return sum + (classifier ? 1 : z.floats().reduce(0) { $0 + Double($1) * Double($1) })
            }
        }

        /// vᵀ·δ for a cotangent and a change stored as bfloat16: partial sums in 16 float
        /// lanes (element i in lane i mod 16), folded into a double every 4096 terms.
        private static func dot(_ g: Tensor, _ change: [UInt16]) -> Double {
            g.withUnsafeBuffer(as: Float.self) { v in
                change.withUnsafeBufferPointer { c in
                    let n = min(v.count, c.count)
                    var total = 0.0
                    for chunk in stride(from: 0, to: n, by: 4096) {
                        let end = min(n, chunk + 4096)
                        // The even lanes and the odd ones apart: a 32-bit word of the change
                        // holds an even element (its low half) and the odd one after it, each
                        // made float32 by a shift or a mask (bfloat16 is float32's upper half).
                        var even = SIMD8<Float>.zero, odd = SIMD8<Float>.zero
                        var i = chunk
                        while i + 16 <= end {
                            let x = UnsafeRawPointer(v.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self)
                            let words = UnsafeRawPointer(c.baseAddress! + i).loadUnaligned(as: SIMD8<UInt32>.self)
                            even += x.evenHalf * unsafeBitCast(words &<< 16, to: SIMD8<Float>.self)
                            odd += x.oddHalf * unsafeBitCast(words & 0xFFFF_0000, to: SIMD8<Float>.self)
                            i += 16
                        }
                        var lanes = SIMD16<Float>.zero
                        for j in 0..<8 { (lanes[2 * j], lanes[2 * j + 1]) = (even[j], odd[j]) }
                        while i < end {
                            lanes[i & 15] += v[i] * bfloat16ToFloat(c[i])
                            i += 1
                        }
                        total += Double(lanes.sum())
                    }
                    return total
                }
            }
        }

        /// The layer's gains (estimated model output error per unit of layer output error)
        /// and every candidate's prediction from them.
        func setGains(of entry: inout LayerSensitivity) {
            func gain(_ c: LayerCandidate) -> Double {
                guard let own = entry.candidates.first(where: { $0.candidate == c })?.layerOutputError, own > 0,
                    own.isFinite, denominator > 0
                else { return 0 }
                return (sums[entry.layer]?[c] ?? 0) / denominator / own
            }
            entry.gain = gain(gainCandidates[0])
            entry.pruningGain = gain(gainCandidates[1])
            setPredictions(of: &entry)
        }
    }

    /// One layer's candidates: each candidate's weights, layer output error and, where
    /// measured, model output error, then the layer's gains and every candidate's prediction.
    /// Estimated, the gain candidates' changes of the layer's output are handed back and the
    /// gains are left to `OutputErrorEstimates`.
    private static func analyse(
        layer index: Int, _ unchanged: UnchangedRuns, activationAmax: [String: Float],
        hessians: [String: LayerHessian], sparse: Bool, dense: Bool, endToEnd: EndToEndError
    ) throws -> AnalysedLayer? {
        let graph = unchanged.graph, pruned = unchanged.pruned
        let node = graph.nodes[index], output = node.outputs[0]
        guard let weight = LayerWeight(node, graph) else { return nil }
        let perSample = graph.types[output]?.shape?.dims.dropFirst().compactMap(\.value).reduce(1, *) ?? 1
        var entry = LayerSensitivity(
            layer: output, name: node.name, op: node.op, macs: perSample * weight.columns,
            parameters: weight.rows * weight.columns, canPrune: weight.columns % 4 == 0, candidates: [])
        entry.weightKey = "\(weight.name) \(weight.rows)x\(weight.columns) \(weight.layout)"
        let original = weight.matrix(), weightEnergy = ErrorMetrics.energy(original)
        // Predicting, nothing reads the Hessian's layer error: it is left out (it costs a
        // product with a K x K matrix per candidate).
        let signal = endToEnd != .measured ? nil : hessians[output]?.outputEnergy(original, rows: weight.rows)
        // Estimated, nothing re-runs the rest of the model.
        let suffix = endToEnd == .estimated ? nil : try ModelSuffix(graph, after: index)
        var gainErrors: [LayerCandidate: (layer: Double, model: Double)] = [:]
        var changes: [LayerCandidate: [[UInt16]]] = [:]
        // Each sample's input rounded once per rounding (the dense and 2:4 candidates of a
        // format round it alike), by the attributes that decide it.
        var roundedInputs: [String: [Tensor?]] = [:]
        // A layer that must be 2:4 keeps, of its dense candidates, the gain's.
        let mustPrune = sparse && !dense && entry.canPrune
        for candidate in LayerCandidate.analyzed
        where candidate.sparse ? sparse && entry.canPrune : !mustPrune || gainCandidates.contains(candidate) {
            var g = graph
            if candidate.sparse, let w = pruned.nodes[index].input(1) {
                g.nodes[index] = pruned.nodes[index]
                g.constants[w] = pruned.constants[w]
                // Only weights prune-2-4 made 2:4 are handed on (it may leave a layer dense).
                if entry.pruned == nil && g.nodes[index].string(PruningAttributes.sparsity) == "2:4" {
                    entry.pruned = LayerWeight(g.nodes[index], g)?.matrix()
                }
            }
            var context = PassContext(verify: false)
            context.quantization = QuantizationPlan(
                format: .fp32, perLayer: [output: candidate.format], activationAmax: activationAmax)
            _ = try QuantizeLayers().run(&g, context)
            var changed = g.nodes[index]
            let changedWeights = LayerWeight(changed, g)?.matrix() ?? original
            if endToEnd != .measured {
                // A prediction needs the rounded weights and activation, not the NPU's order
                // of additions (float32 rounding apart, the same sums): the fast product.
                changed.attributes[QuantizationAttributes.weightFormat] = nil
            }
            // The layer's output as it changes, and what it does to the model's.
            let measure = endToEnd == .measured || (endToEnd == .predicted && gainCandidates.contains(candidate))
            let keep = endToEnd == .estimated && gainCandidates.contains(candidate)
            var layerOutput = RelativeError(), modelOutput = OutputError()
            let rounding = [
                QuantizationAttributes.activationFormat, QuantizationAttributes.activationAmax,
                QuantizationAttributes.activationScale,
            ]
            .map { changed.attributes[$0].map { "\($0)" } ?? "-" }.joined(separator: " ")
            if roundedInputs[rounding] == nil {
                roundedInputs[rounding] = try unchanged.values.map { values in
                    try Kernels.roundedInput(changed, [changed.input(0).flatMap { values[$0] }])
                }
            }
            let rounded = roundedInputs[rounding]!
            var bare = changed
            bare.attributes[QuantizationAttributes.activationFormat] = nil
            for (s, values) in unchanged.values.enumerated() {
                var args = changed.inputs.map { $0.isEmpty ? nil : (values[$0] ?? g.constants[$0]) }
                if let x = rounded[s] { args[0] = x }
                guard let y = try Kernels.evaluate(rounded[s] == nil ? changed : bare, args).first,
                    let before = values[output]
                else { continue }
                layerOutput.add(reference: before, changed: y)
                if keep {
                    // By sample index: a sample without the layer's output keeps an empty change.
                    changes[candidate, default: Array(repeating: [], count: unchanged.values.count)][s] =
                        y.withUnsafeBuffer(as: Float.self) { b in
                            before.withUnsafeBuffer(as: Float.self) { a in
                                (0..<min(a.count, b.count)).map { floatToBfloat16(b[$0] - a[$0]) }
                            }
                        }
                }
                if measure, let suffix, let e = unchanged.expected[s] {
                    modelOutput.add(reference: e, changed: try suffix.run(values, changing: output, to: y) ?? e)
                }
            }
            gainErrors[candidate] = (layerOutput.value, modelOutput.value)
            entry.candidates.append(
                CandidateError(
                    candidate: candidate,
                    weightSQNR: ErrorMetrics.sqnr(signal: weightEnergy, original: original, quantized: changedWeights),
                    layerError: endToEnd != .measured
                        ? nil
                        : hessians[output].map {
                            $0.relativeOutputError(
                                original: original, changed: changedWeights, rows: weight.rows, signal: signal!)
                        },
                    layerOutputError: layerOutput.value,
                    measuredError: endToEnd == .measured ? modelOutput.value : nil))
        }
        func gain(_ c: LayerCandidate) -> Double {
            guard let (layer, model) = gainErrors[c], layer > 0, layer.isFinite else { return 0 }
            return model / layer
        }
        entry.gain = gain(gainCandidates[0])
        entry.pruningGain = gain(gainCandidates[1])
        setPredictions(of: &entry)
        return AnalysedLayer(entry: entry, changes: changes)
    }

    /// Every candidate's prediction from the layer's gains (`predict`).
    private static func setPredictions(of entry: inout LayerSensitivity) {
        let layerOutput = Dictionary(uniqueKeysWithValues: entry.candidates.map { ($0.candidate, $0.layerOutputError) })
        for (k, c) in entry.candidates.enumerated() {
            entry.candidates[k].predictedError = predict(
                c.candidate, gain: entry.gain, pruningGain: entry.pruningGain, layerOutput: layerOutput)
        }
    }
}
