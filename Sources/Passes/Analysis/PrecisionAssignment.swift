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
    /// Storage bits per weight as the packed layout stores them (`PrecisionFormat.bitsPerWeight`).
    public var bitsPerWeight: Double { format.bitsPerWeight(sparse: sparse) }
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
    /// dense plus its analysed candidates otherwise). Layers that store one weight (the
    /// steps of an unrolled recurrence: the same `weightKey`) are one choice: they take the
    /// same candidate, their latencies and errors add up, and their weights count once. nil
    /// when no assignment fits.
    public static func solve(
        _ layers: [LayerSensitivity], budget: PrecisionBudget,
        allowed: [String: Set<LayerCandidate>] = [:]
    ) -> PrecisionAssignment? {
        let bySize: Bool
        if case .size = budget { bySize = true } else { bySize = false }
        // Costs in units of total/4000, so the solver's quarter-unit grid is fine enough.
        let unit = unitSize(layers, bySize: bySize)
        let groups = sharing(layers)
        var options: [[PrecisionOption]] = []
        var candidates: [[LayerCandidate]] = []
        for members in groups {
            let first = layers[members[0]]
            var cands = [LayerCandidate(.fp16)] + first.candidates.map(\.candidate)
            cands = cands.filter { c in
                members.allSatisfy { m in
                    (c == LayerCandidate(.fp16) || layers[m].candidates.contains { $0.candidate == c })
                        && allowed[layers[m].layer].map { $0.contains(c) } ?? true
                }
            }
            guard !cands.isEmpty else { return nil }
            options.append(
                cands.map { c in
                    let error = members.reduce(0.0) { sum, m in
                        sum + (layers[m].candidates.first { $0.candidate == c }?.outputError ?? 0)
                    }
                    return PrecisionOption(c.description, latency: quarter(cost(members, c, layers, bySize) / unit), error: error)
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
        /// A plan's candidate per layer, in the layers' order.
        func picks(_ p: PrecisionPlan) -> [LayerCandidate] {
            var picked = [LayerCandidate](repeating: LayerCandidate(.fp16), count: layers.count)
            for (g, members) in groups.enumerated() { for m in members { picked[m] = candidates[g][p.choices[g]] } }
            return picked
        }
        func totals(_ p: PrecisionPlan) -> (latency: Double, bits: Double) {
            groups.enumerated().reduce((0.0, 0.0)) { sum, group in
                let c = candidates[group.offset][p.choices[group.offset]]
                return (sum.0 + cost(group.element, c, layers, false), sum.1 + cost(group.element, c, layers, true))
            }
        }
        let picked = picks(plan)
        var choices: [String: LayerCandidate] = [:]
        for (i, l) in layers.enumerated() { choices[l.layer] = picked[i] }
        let (latency, bits) = totals(plan)
        let frontier = plans.map { p in
            let (latency, bits) = totals(p)
            return FrontierPoint(cost: p.latency * unit, error: p.error, latency: latency, weightBits: bits, choices: picks(p))
        }
        return PrecisionAssignment(
            choices: choices, latency: latency, weightBits: bits, predictedError: plan.error,
            budget: budget, fp16Latency: uniformLatency(layers, LayerCandidate(.fp16)),
            frontier: frontier)
    }

    /// The layers (indices, in order of first appearance) grouped by the weight they store:
    /// a layer with no `weightKey` alone.
    public static func sharing(_ layers: [LayerSensitivity]) -> [[Int]] {
        var groups: [[Int]] = [], at: [String: Int] = [:]
        for (i, l) in layers.enumerated() {
            if !l.weightKey.isEmpty, let g = at[l.weightKey] {
                groups[g].append(i)
            } else {
                if !l.weightKey.isEmpty { at[l.weightKey] = groups.count }
                groups.append([i])
            }
        }
        return groups
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
        return sharing(layers).reduce(0) { sum, members in
            sum + quarter(cost(members, candidate.fitting(layers[members[0]]), layers, bySize) / unit) * unit
        }
    }

    /// A group's latency (every member's MACs) or weight bits (its weight once).
    private static func cost(_ members: [Int], _ c: LayerCandidate, _ layers: [LayerSensitivity], _ bySize: Bool) -> Double {
        bySize
            ? Double(layers[members[0]].parameters) * c.bitsPerWeight
            : members.reduce(0) { $0 + Double(layers[$1].macs) * c.relativeLatency }
    }

    private static func unitSize(_ layers: [LayerSensitivity], bySize: Bool) -> Double {
        let total = sharing(layers).reduce(0) { $0 + cost($1, LayerCandidate(.fp16), layers, bySize) }
        return max(total / 4000, 1)
    }

    private static func quarter(_ x: Double) -> Double { (x * 4).rounded(.up) / 4 }
}

extension LayerCandidate {
    /// This candidate, made dense for a layer that cannot be pruned.
    func fitting(_ layer: LayerSensitivity) -> LayerCandidate {
        sparse && !layer.canPrune ? LayerCandidate(format) : self
    }
}
