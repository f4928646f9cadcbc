// PTQ calibration: calibration samples through the reference interpreter, one streaming
// histogram per activation, and per-tensor scales for fp8 and nvfp4 activations.
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
    public var fp8Scale: Float { amax > 0 ? amax / 448 : 1 }
    /// NVFP4 per-tensor scale: amax / (6 * 448); block scales are computed on the device.
    public var nvfp4GlobalScale: Float { amax / (6 * 448) }
}

public struct Calibrator {
    public let interpreter: Interpreter
    public private(set) var histograms: [String: ActivationHistogram] = [:]
    public private(set) var samples = 0
    /// For each input of a Conv, ConvTranspose, Gemm or MatMul: the axis its consumer reduces over.
    private let reductionAxes: [String: Int]
    /// Sums and sums of squares per channel of that axis, and element counts per channel,
    /// over all samples (bias correction's input means, Wanda's input norms).
    private var channelSums: [String: [Double]] = [:]
    private var channelSquares: [String: [Double]] = [:]
    private var channelCounts: [String: Int] = [:]
    /// For each value feeding a layer whose Hessian is collected: those layers.
    private let hessianConsumers: [String: [Node]]
    /// Per layer (by output name), H = Σ x·xᵀ over the vectors its weight met; collected
    /// only when asked, since a layer with reduction length K holds K² floats.
    public private(set) var hessians: [String: LayerHessian] = [:]

    /// `collectHessians` adds each Conv, ConvTranspose, Gemm and MatMul layer's Hessian to the statistics
    /// (SparseGPT and the layer-wise error need them).
    public init(graph: Graph, collectHessians: Bool = false) throws {
        interpreter = try Interpreter(graph: graph)
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
        channelSquares.mapValues { $0.map { Float($0.squareRoot()) } }
    }

    /// The mean of each channel of `value` along its consumer's reduction axis.
    public func inputMeans() -> [String: [Float]] {
        var means: [String: [Float]] = [:]
        for (name, sums) in channelSums {
            let n = Double(max(channelCounts[name] ?? 1, 1))
            means[name] = sums.map { Float($0 / n) }
        }
        return means
    }

    /// Runs one sample (one tensor per graph input) and folds its activations into the
    /// statistics; nothing is kept but the histograms.
    public mutating func observe(_ inputs: [String: Tensor]) throws {
        for v in interpreter.graph.inputs where v.type.dtype == .float32 {
            if let t = inputs[v.name] { record(v.name, t) }
        }
        let interpreter = self.interpreter
        _ = try interpreter.run(inputs) { name, t in
            if t.dtype == .float32 { record(name, t) }
            for layer in hessianConsumers[name] ?? [] { try accumulateHessian(layer, t) }
        }
        for v in interpreter.graph.inputs {
            if let t = inputs[v.name] { for layer in hessianConsumers[v.name] ?? [] { try accumulateHessian(layer, t) } }
        }
        samples += 1
    }

    /// The collected Hessians, each made symmetric.
    public func layerHessians() -> [String: LayerHessian] {
        hessians.mapValues {
            var h = $0; h.symmetrize(); return h
        }
    }

    private mutating func accumulateHessian(_ layer: Node, _ x: Tensor) throws {
        guard let out = layer.outputs.first, let w = layer.input(1),
            let shape = interpreter.graph.constants[w]?.shape
        else { return }
        try hessians[out]!.accumulate { try InputGram.accumulate(layer, input: x, weightShape: shape, into: $0) }
    }

    private mutating func record(_ name: String, _ t: Tensor) {
        t.withUnsafeBuffer(as: Float.self) { histograms[name, default: ActivationHistogram()].add($0) }
        guard let requested = reductionAxes[name], t.rank > 0 else { return }
        let axis = requested < 0 ? t.rank - 1 : requested
        guard axis < t.rank else { return }
        let n = t.shape[axis], inner = t.shape[(axis + 1)...].reduce(1, *)
        var squares = channelSquares[name] ?? [Double](repeating: 0, count: n)
        var sums = channelSums[name] ?? [Double](repeating: 0, count: n)
        guard squares.count == n else { return }
        t.withUnsafeBuffer(as: Float.self) { v in
            let outer = v.count / max(n * inner, 1)
            for o in 0..<outer {
                for c in 0..<n {
                    // Each channel's run is contiguous: sum it in float32, then add in double.
                    let base = (o * n + c) * inner
                    var sum: Float = 0, square: Float = 0
                    for j in 0..<inner {
                        let x = v[base + j]
                        sum += x
                        square += x * x
                    }
                    sums[c] += Double(sum)
                    squares[c] += Double(square)
                }
            }
        }
        channelSquares[name] = squares
        channelSums[name] = sums
        channelCounts[name, default: 0] += t.count / n
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
