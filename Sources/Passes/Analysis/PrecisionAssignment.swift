// Automatic precision: per layer one of {fp16, fp8, nvfp4} x {dense, 2:4}, minimising the
// predicted output error under a latency budget with the exact solver.

public struct PrecisionAssignment: Sendable {
    /// Chosen candidate per layer (fp16 dense when absent).
    public var choices: [String: LayerCandidate]
    public var latency: Double
    public var predictedError: Double
    /// The budget, and the latency of all layers at fp16 dense, in the same units (MACs).
    public var budget: Double
    public var fp16Latency: Double

    /// Solves for the least summed predicted error within `budget` (in MACs issued at fp16
    /// speed). nil when no assignment fits.
    public static func solve(_ layers: [LayerSensitivity], budget: Double) -> PrecisionAssignment? {
        let total = layers.reduce(0) { $0 + Double($1.macs) }
        // Latencies in units of total/4000, so the solver's quarter-unit grid is fine enough.
        let unit = unitSize(layers)
        var options: [[PrecisionOption]] = []
        var candidates: [[LayerCandidate]] = []
        for l in layers {
            var opts = [PrecisionOption("fp16", latency: quarter(Double(l.macs) / unit), error: 0)]
            var cands = [LayerCandidate(.fp16)]
            for c in l.candidates {
                opts.append(PrecisionOption(c.candidate.description, latency: quarter(Double(l.macs) * c.candidate.relativeLatency / unit),
                                            error: c.outputError))
                cands.append(c.candidate)
            }
            options.append(opts)
            candidates.append(cands)
        }
        guard let plan = PrecisionSolver.solve(options, budget: budget / unit + 1e-9) else { return nil }
        var choices: [String: LayerCandidate] = [:]
        for (i, l) in layers.enumerated() { choices[l.layer] = candidates[i][plan.choices[i]] }
        return PrecisionAssignment(choices: choices, latency: plan.latency * unit, predictedError: plan.error,
                                   budget: budget, fp16Latency: total)
    }

    /// The latency (MACs at fp16 speed) of running every layer as `candidate` (dense where a
    /// layer cannot be pruned), on the solver's grid.
    public static func uniformLatency(_ layers: [LayerSensitivity], _ candidate: LayerCandidate) -> Double {
        let unit = unitSize(layers)
        return layers.reduce(0) { sum, l in
            let c = candidate.sparse && !l.canPrune ? LayerCandidate(candidate.format) : candidate
            return sum + quarter(Double(l.macs) * c.relativeLatency / unit) * unit
        }
    }

    private static func unitSize(_ layers: [LayerSensitivity]) -> Double {
        max(layers.reduce(0) { $0 + Double($1.macs) } / 4000, 1)
    }

    private static func quarter(_ x: Double) -> Double { (x * 4).rounded(.up) / 4 }
}
