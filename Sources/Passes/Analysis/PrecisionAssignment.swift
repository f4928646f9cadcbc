// Automatic precision: per layer one of {fp16, fp8, nvfp4} x {dense, 2:4}, chosen with the
// exact solver: the least predicted output error under a latency or weight-size budget, or
// the least latency whose predicted error stays within an error budget. The Pareto frontier
// of latency against error is kept for reports.

/// What the assignment must respect.
public enum PrecisionBudget: Sendable, Equatable {
    /// Latency, in MACs issued at fp16 dense speed.
    case latency(Double)
    /// Weight storage, in bits.
    case size(Double)
    /// Summed predicted output error.
    case error(Double)
}

extension LayerCandidate {
    /// Storage bits per weight as the packed layout stores them (schemas/weights.md),
    /// scales and sparsity metadata included: fp16 16, fp8 8 (per-channel scales not
    /// counted), nvfp4 4 + one E4M3 scale per 16 positions = 4.5. 2:4 keeps 2 values and
    /// two 2-bit indices per group of 4, (2 x bits + 4) / 4; nvfp4's block scales still
    /// cover 16 dense positions: nvfp4+2:4 is 3 + 0.5 = 3.5.
    public var bitsPerWeight: Double {
        let bits: Double = format == .nvfp4 ? 4 : (format == .fp8 ? 8 : 16)
        let scale: Double = format == .nvfp4 ? 8.0 / 16 : 0
        return (sparse ? (2 * bits + 4) / 4 : bits) + scale
    }
}

public struct PrecisionAssignment: Sendable {
    /// Chosen candidate per layer (fp16 dense when absent).
    public var choices: [String: LayerCandidate]
    /// Latency in MACs at fp16 speed, weight bits, predicted error of the choice.
    public var latency: Double
    public var weightBits: Double
    public var predictedError: Double
    public var budget: PrecisionBudget
    /// The latency of all layers at fp16 dense, in the same units.
    public var fp16Latency: Double
    /// The Pareto frontier the choice was taken from, in increasing cost (latency, or
    /// weight bits for a size budget), each point with less error than every cheaper one;
    /// the last point within the budget is the choice.
    public var frontier: [FrontierPoint]

    /// One assignment on the solver's Pareto frontier.
    public struct FrontierPoint: Sendable {
        /// The budget's measure on the solver's grid (latency in MACs at fp16 speed, or
        /// weight bits), and the summed predicted error.
        public var cost: Double
        public var error: Double
        /// Exact latency (MACs at fp16 speed) and weight bits of the assignment.
        public var latency: Double
        public var weightBits: Double
        /// The candidate per layer, in the order of the layers solved.
        public var choices: [LayerCandidate]
    }

    /// Solves for `budget`, each layer restricted to `allowed[layer]` when given (fp16
    /// dense plus its analysed candidates otherwise). nil when no assignment fits.
    public static func solve(
        _ layers: [LayerSensitivity], budget: PrecisionBudget,
        allowed: [String: Set<LayerCandidate>] = [:]
    ) -> PrecisionAssignment? {
        let bySize: Bool
        if case .size = budget { bySize = true } else { bySize = false }
        // Costs in units of total/4000, so the solver's quarter-unit grid is fine enough.
        let unit = unitSize(layers, bySize: bySize)
        var options: [[PrecisionOption]] = []
        var candidates: [[LayerCandidate]] = []
        for l in layers {
            var cands = [LayerCandidate(.fp16)] + l.candidates.map(\.candidate)
            var errors = [0.0] + l.candidates.map(\.outputError)
            if let permitted = allowed[l.layer] {
                let keep = cands.indices.filter { permitted.contains(cands[$0]) }
                cands = keep.map { cands[$0] }
                errors = keep.map { errors[$0] }
            }
            guard !cands.isEmpty else { return nil }
            options.append(
                zip(cands, errors).map { c, e in
                    PrecisionOption(c.description, latency: quarter(cost(l, c, bySize: bySize) / unit), error: e)
                })
            candidates.append(cands)
        }
        let plans: [PrecisionPlan]
        let chosen: PrecisionPlan?
        switch budget {
        case .latency(let limit), .size(let limit):
            plans = PrecisionSolver.frontier(options, budget: limit / unit + 1e-9)
            chosen = plans.last
        case .error(let limit):
            plans = PrecisionSolver.frontier(options, budget: .infinity)
            chosen = plans.first { $0.error <= limit + 1e-12 }
        }
        guard let plan = chosen else { return nil }
        var choices: [String: LayerCandidate] = [:]
        for (i, l) in layers.enumerated() { choices[l.layer] = candidates[i][plan.choices[i]] }
        let latency = layers.reduce(0) { $0 + cost($1, choices[$1.layer]!, bySize: false) }
        let bits = layers.reduce(0) { $0 + cost($1, choices[$1.layer]!, bySize: true) }
        let frontier = plans.map { p in
            let picks = p.choices.enumerated().map { candidates[$0.offset][$0.element] }
            return FrontierPoint(
                cost: p.latency * unit, error: p.error,
                latency: zip(layers, picks).reduce(0) { $0 + cost($1.0, $1.1, bySize: false) },
                weightBits: zip(layers, picks).reduce(0) { $0 + cost($1.0, $1.1, bySize: true) }, choices: picks)
        }
        return PrecisionAssignment(
            choices: choices, latency: latency, weightBits: bits, predictedError: plan.error,
            budget: budget, fp16Latency: uniformLatency(layers, LayerCandidate(.fp16)),
            frontier: frontier)
    }

    /// The latency (MACs at fp16 speed) of running every layer as `candidate` (dense where
    /// a layer cannot be pruned), on the solver's grid: a budget of exactly this admits it.
    public static func uniformLatency(_ layers: [LayerSensitivity], _ candidate: LayerCandidate) -> Double {
        uniform(layers, candidate, bySize: false)
    }

    /// The weight bits of every layer as `candidate` (dense where a layer cannot be
    /// pruned), on the solver's grid.
    public static func uniformSize(_ layers: [LayerSensitivity], _ candidate: LayerCandidate) -> Double {
        uniform(layers, candidate, bySize: true)
    }

    private static func uniform(_ layers: [LayerSensitivity], _ candidate: LayerCandidate, bySize: Bool) -> Double {
        let unit = unitSize(layers, bySize: bySize)
        return layers.reduce(0) { $0 + quarter(cost($1, candidate.fitting($1), bySize: bySize) / unit) * unit }
    }

    private static func cost(_ l: LayerSensitivity, _ c: LayerCandidate, bySize: Bool) -> Double {
        bySize ? Double(l.parameters) * c.bitsPerWeight : Double(l.macs) * c.relativeLatency
    }

    private static func unitSize(_ layers: [LayerSensitivity], bySize: Bool) -> Double {
        max(layers.reduce(0) { $0 + cost($1, LayerCandidate(.fp16), bySize: bySize) } / 4000, 1)
    }

    private static func quarter(_ x: Double) -> Double { (x * 4).rounded(.up) / 4 }
}

extension LayerCandidate {
    /// This candidate, made dense for a layer that cannot be pruned.
    func fitting(_ layer: LayerSensitivity) -> LayerCandidate {
        sparse && !layer.canPrune ? LayerCandidate(format) : self
    }
}
