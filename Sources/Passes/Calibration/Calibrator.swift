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

    public init(graph: Graph) throws {
        interpreter = try Interpreter(graph: graph)
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
        }
        samples += 1
    }

    private mutating func record(_ name: String, _ t: Tensor) {
        t.withUnsafeBuffer(as: Float.self) { histograms[name, default: ActivationHistogram()].add($0) }
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
