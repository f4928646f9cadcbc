// PTQ calibration: calibration samples through the reference interpreter, one streaming
// histogram per activation (every value, or the layers' inputs alone), and per-tensor
// scales for fp8 and nvfp4 activations.
import Formats
import IR
import Reference

/// The calibrated range of one activation and the scales it implies.
public struct ActivationRange: Sendable, Equatable {
    public var name: String
    public var minimum: Float
    public var maximum: Float
    /// The clipping range the method chose.
    public var amax: Float
    /// E4M3 per-tensor scale: amax / 448.
    public var fp8Scale: Float { FP8.scale(amax: amax) }
    /// NVFP4 per-tensor scale: amax / (6 * 448); block scales are computed on the device.
    public var nvfp4GlobalScale: Float { amax / (6 * 448) }
}

public struct Calibrator {
    /// The activations that get a histogram (and so a range).
    public enum Ranges: Sendable {
        /// Every graph input and node output: what `npucc calibrate` reports.
        case everyValue
        /// The values a Conv, ConvTranspose, Gemm or MatMul reads as its first input: the
        /// activations a quantized layer rounds, all that compiling needs.
        case layerInputs
    }

    public let interpreter: Interpreter
    public private(set) var histograms: [String: ActivationHistogram] = [:]
    public private(set) var samples = 0
    /// For each input of a Conv, ConvTranspose, Gemm or MatMul: the axis its consumer reduces over.
    private let reductionAxes: [String: Int]
    /// Sums and sums of squares per channel of that axis, and element counts per channel,
    /// over all samples (bias correction's input means, Wanda's input norms).
    private var channels: [String: ChannelMoments] = [:]
    /// For each value feeding a layer whose Hessian is collected: those layers.
    private let hessianConsumers: [String: [Node]]
    /// Per layer (by output name), H = Σ x·xᵀ over the vectors its weight met; collected
    /// only when asked, since a layer with reduction length K holds K² floats.
    public private(set) var hessians: [String: LayerHessian] = [:]
    /// Every value of the first `keptSamples` samples observed (inputs included), as
    /// `Interpreter.run` gives them: what a later pass over those samples would compute again.
    public private(set) var kept: [[String: Tensor]] = []
    private let keptSamples: Int
    /// The values given a histogram; nil: every one.
    private let ranged: Set<String>?
    /// The first sample (in the order observed) that gave a layer's input a NaN or an
    /// infinity, that input, and how many such values it held. Ranges leave those values
    /// out; a Hessian, input norms and means, and every error measured on such a sample
    /// would be NaN, so what needs them refuses the samples (the driver says so).
    public private(set) var nonFiniteLayerInput: (sample: Int, value: String, count: Int)?

    /// `collectHessians` adds each Conv, ConvTranspose, Gemm and MatMul layer's Hessian to the statistics
    /// (SparseGPT and the layer-wise error need them).
    /// `keepingValuesOf` samples, the first observed, keep every value (`kept`).
    public init(
        graph: Graph, ranges: Ranges = .everyValue, collectHessians: Bool = false, keepingValuesOf keptSamples: Int = 0
    ) throws {
        interpreter = try Interpreter(graph: graph)
        self.keptSamples = keptSamples
        switch ranges {
        case .everyValue: ranged = nil
        case .layerInputs:
            ranged = Set(
                graph.nodes.compactMap { ["Conv", "ConvTranspose", "Gemm", "MatMul"].contains($0.op) ? $0.input(0) : nil })
        }
        var consumers: [String: [Node]] = [:]
        if collectHessians {
            for n in graph.nodes {
                guard let weight = LayerWeight(n, graph), let x = n.input(0), let out = n.outputs.first,
                    n.int("transA", default: 0) == 0
                else { continue }
                consumers[x, default: []].append(n)
                hessians[out] = LayerHessian(columns: weight.columns, groups: weight.groups)
            }
        }
        hessianConsumers = consumers
        var axes: [String: Int] = [:]
        for n in graph.nodes {
            guard let x = n.input(0) else { continue }
            switch n.op {
            case "Conv", "ConvTranspose": axes[x] = 1
            case "Gemm" where n.int("transA", default: 0) == 0, "MatMul": axes[x] = -1
            default: break
            }
        }
        reductionAxes = axes
    }

    /// The L2 norm of each channel of `value` along its consumer's reduction axis, over
    /// every calibration sample.
    public func inputNorms() -> [String: [Float]] {
        channels.mapValues { $0.squares.map { Float($0.squareRoot()) } }
    }

    /// The mean of each channel of `value` along its consumer's reduction axis.
    public func inputMeans() -> [String: [Float]] {
        channels.mapValues { m in
            let n = Double(max(m.count, 1))
            return m.sums.map { Float($0 / n) }
        }
    }

    /// Runs one sample (one tensor per graph input) and folds its activations into the
    /// statistics; nothing is kept but the histograms.
    public mutating func observe(_ inputs: [String: Tensor]) throws {
        try observe(batch: [inputs])
    }

    /// `observe` for each sample of `batch` in turn, the same statistics to the bit, with
    /// the work spread over the cores: the samples run through the interpreter side by side
    /// (each on one thread) and their activations are kept until they are folded in; then
    /// each activation's histogram and channel sums, and each layer's Hessian, are separate
    /// pieces of work, each adding the samples in their order.
    public mutating func observe(batch: [[String: Tensor]]) throws {
        let interpreter = self.interpreter
        let constants = interpreter.graph.constants, axes = reductionAxes
        let ranged = self.ranged, consumers = hessianConsumers, keeping = keptSamples - kept.count
        // The values no statistic reads are let go as soon as the interpreter is done with
        // them, unless their sample's values are kept.
        let runs = try parallelResults(batch.count) { s in
            var seen: [(name: String, tensor: Tensor)] = []
            func observed(_ name: String, _ t: Tensor) {
                guard s < keeping || ranged?.contains(name) != false || axes[name] != nil || consumers[name] != nil
                else { return }
                seen.append((name, t))
            }
            for v in interpreter.graph.inputs { if let t = batch[s][v.name] { observed(v.name, t) } }
            _ = try interpreter.run(batch[s]) { name, t in observed(name, t) }
            return seen
        }
        for run in runs where kept.count < keptSamples {
            kept.append(Dictionary(run.map { ($0.name, $0.tensor) }, uniquingKeysWith: { _, last in last }))
        }
        // Each value's tensors, sample by sample, in the order the values came.
        var names: [String] = [], values: [String: [Tensor]] = [:]
        for run in runs {
            for (name, t) in run {
                if values[name] == nil { names.append(name) }
                values[name, default: []].append(t)
            }
        }
        let activations = names.filter { ranged?.contains($0) != false || axes[$0] != nil }
            .map { name in (name: name, tensors: values[name]!.filter { $0.dtype == .float32 }) }
            .filter { !$0.tensors.isEmpty }
        let layers = names.flatMap { name in (hessianConsumers[name] ?? []).map { (layer: $0, inputs: values[name]!) } }
        // Each piece of work takes its statistics out (so no copy is made as it adds to
        // them), adds the samples, and they go back in below.
        var tallies = activations.map {
            Tally(
                histogram: ranged?.contains($0.name) == false
                    ? nil : self.histograms.removeValue(forKey: $0.name) ?? ActivationHistogram(),
                moments: channels.removeValue(forKey: $0.name))
        }
        var grams = layers.map { hessians.removeValue(forKey: $0.layer.outputs[0])! }
        // The largest Hessians first, so that no thread is left with a big one at the end.
        let order = layers.indices.sorted { (grams[$0].size, $1) > (grams[$1].size, $0) }
        var failure: [Error?] = Array(repeating: nil, count: layers.count)
        tallies.withUnsafeMutableBufferPointer { tallies in
            grams.withUnsafeMutableBufferPointer { grams in
                failure.withUnsafeMutableBufferPointer { failure in
                    parallelTasks(layers.count + activations.count) { task in
                        if task < layers.count {
                            let k = order[task], layer = layers[k].layer
                            guard let w = layer.input(1), let shape = constants[w]?.shape else { return }
                            do {
                                for x in layers[k].inputs { try grams[k].add(layer, input: x, weightShape: shape) }
                            } catch { failure[k] = error }
                            return
                        }
                        let k = task - layers.count
                        for (j, t) in activations[k].tensors.enumerated() {
                            tallies[k].add(t, sample: j, channelAxis: axes[activations[k].name])
                        }
                    }
                }
            }
        }
        for (k, v) in activations.enumerated() {
            if let h = tallies[k].histogram { self.histograms[v.name] = h }
            if let m = tallies[k].moments { channels[v.name] = m }
        }
        // The batch's first sample with one, and of its inputs the first in graph order.
        let found = activations.indices.compactMap { k in
            tallies[k].nonFinite.map { (k: k, sample: $0.sample, count: $0.count) }
        }
        if nonFiniteLayerInput == nil, let first = found.min(by: { ($0.sample, $0.k) < ($1.sample, $1.k) }) {
            nonFiniteLayerInput = (samples + first.sample, activations[first.k].name, first.count)
        }
        for (k, l) in layers.enumerated() { hessians[l.layer.outputs[0]] = grams[k] }
        if let error = failure.lazy.compactMap({ $0 }).first { throw error }
        samples += batch.count
    }

    /// What a batch adds to one activation's statistics: its histogram (when its range is
    /// wanted), and for a layer's input its per-channel moments and its first sample holding a
    /// value that is not finite, with how many it held.
    private struct Tally {
        var histogram: ActivationHistogram?
        var moments: ChannelMoments?
        var nonFinite: (sample: Int, count: Int)?

        /// Adds sample `sample` of the batch, `t`, a layer's input when `channelAxis` is given.
        mutating func add(_ t: Tensor, sample: Int, channelAxis: Int?) {
            if histogram != nil { t.withUnsafeBuffer(as: Float.self) { histogram?.add($0) } }
            guard let axis = channelAxis else { return }
            moments = ChannelMoments.adding(t, along: axis, to: moments)
            if nonFinite == nil {
                let count = t.withUnsafeBuffer(as: Float.self) { Calibrator.nonFiniteCount($0) }
                if count > 0 { nonFinite = (sample, count) }
            }
        }
    }

    /// How many of `values` are NaN or infinite: every exponent bit set, counted without a
    /// branch per value.
    static func nonFiniteCount(_ values: UnsafeBufferPointer<Float>) -> Int {
        var count = 0
        for v in values { count &+= v.bitPattern & 0x7F80_0000 == 0x7F80_0000 ? 1 : 0 }
        return count
    }

    /// The collected Hessians, each made symmetric.
    public func layerHessians() -> [String: LayerHessian] {
        hessians.mapValues {
            var h = $0; h.symmetrize(); return h
        }
    }

    /// The collected Hessians, each made symmetric in place (in parallel) and handed over:
    /// the calibrator keeps none, and no copy is made.
    public mutating func takeLayerHessians() -> [String: LayerHessian] {
        let names = hessians.keys.sorted()
        var blocks = names.map { hessians.removeValue(forKey: $0)! }
        blocks.withUnsafeMutableBufferPointer { blocks in parallelTasks(blocks.count) { blocks[$0].symmetrize() } }
        return Dictionary(uniqueKeysWithValues: zip(names, blocks))
    }

    /// The ranges `method` picks, in graph order (inputs, then node outputs).
    public func ranges(_ method: CalibrationMethod) -> [ActivationRange] {
        let graph = interpreter.graph
        let order = graph.inputs.map(\.name) + graph.nodes.flatMap(\.outputs)
        return order.compactMap { name in
            guard let h = histograms[name] else { return nil }
            return ActivationRange(name: name, minimum: h.minimum, maximum: h.maximum, amax: method.amax(h))
        }
    }
}

/// Per channel of an activation's reduction axis: the sum and the sum of squares of its
/// elements over the samples, and the elements per channel counted.
private struct ChannelMoments {
    var sums: [Double], squares: [Double], count = 0

    /// `m` with `t` added along `requested` (negative: from the end); `m` unchanged when
    /// the axis does not fit or the channel count differs from the one seen before, and
    /// with nothing added for an axis without channels.
    static func adding(_ t: Tensor, along requested: Int, to m: ChannelMoments?) -> ChannelMoments? {
        guard t.rank > 0 else { return m }
        let axis = requested < 0 ? t.rank - 1 : requested
        guard axis < t.rank else { return m }
        let n = t.shape[axis], inner = t.shape[(axis + 1)...].reduce(1, *)
        var m = m ?? ChannelMoments(sums: [Double](repeating: 0, count: n), squares: [Double](repeating: 0, count: n))
        guard m.squares.count == n, n > 0 else { return m }
        t.withUnsafeBuffer(as: Float.self) { v in
            let outer = v.count / max(n * inner, 1)
            for o in 0..<outer {
                // Each channel's run is contiguous: summed in float32 in order, then added in
                // double. Four channels' runs at once, so that their sums do not wait on one
                // another; each sum is the same as alone.
                var c = 0
                while c + 4 <= n {
                    let base = (o * n + c) * inner
                    var sum = SIMD4<Float>.zero, square = SIMD4<Float>.zero
                    for j in 0..<inner {
                        let x = SIMD4(v[base + j], v[base + inner + j], v[base + 2 * inner + j], v[base + 3 * inner + j])
                        sum += x
                        square += x * x
                    }
                    for k in 0..<4 {
                        m.sums[c + k] += Double(sum[k])
                        m.squares[c + k] += Double(square[k])
                    }
                    c += 4
                }
                for c in c..<n {
                    let base = (o * n + c) * inner
                    var sum: Float = 0, square: Float = 0
                    for j in 0..<inner {
                        let x = v[base + j]
                        sum += x
                        square += x * x
                    }
                    m.sums[c] += Double(sum)
                    m.squares[c] += Double(square)
                }
            }
        }
        m.count += t.count / n
        return m
    }
}
