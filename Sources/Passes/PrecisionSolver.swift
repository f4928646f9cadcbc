// Exact precision assignment: one candidate per layer minimising predicted error under a
// latency budget (a multiple-choice knapsack, solved by dynamic programming over the
// budget), with the Pareto frontier of latency against error kept for reports.

/// One way to run one layer: its predicted latency (in budget units) and error.
public struct PrecisionOption: Sendable, Equatable {
    public var name: String
    public var latency: Double
    public var error: Double

    public init(_ name: String, latency: Double, error: Double) {
        self.name = name
        self.latency = latency
        self.error = error
    }
}

/// A choice per layer and its totals.
public struct PrecisionPlan: Sendable, Equatable {
    /// For each layer, the index of the chosen option.
    public var choices: [Int]
    public var latency: Double
    public var error: Double
}

public enum PrecisionSolver {
    /// Latencies are compared in steps of `1 / resolution` units (exact for the seed's
    /// table, whose latencies are multiples of 1/4).
    public static let resolution = 4.0

    /// The plan of least total error whose total latency is at most `budget`; ties go to
    /// the lower latency, then to the earlier options. nil when no plan fits.
    public static func solve(_ layers: [[PrecisionOption]], budget: Double) -> PrecisionPlan? {
        frontier(layers, budget: budget).last
    }

    /// The Pareto frontier up to `budget`: plans in increasing latency, each with strictly
    /// less error than every faster one.
    public static func frontier(_ layers: [[PrecisionOption]], budget: Double) -> [PrecisionPlan] {
        // No plan costs more than every layer at its slowest option: a larger budget adds nothing.
        let slowest = layers.reduce(0) { $0 + Int((($1.map(\.latency).max() ?? 0) * resolution).rounded()) }
        let limit = min(Int((min(budget, Double(Int.max / 8)) * resolution + 1e-9).rounded(.down)), slowest)
        guard limit >= 0 else { return [] }
        // best[c] = least error reaching exactly cost c with the layers so far.
        var best = [Double](repeating: .infinity, count: limit + 1)
        best[0] = 0
        var choice: [[Int]] = []  // per layer, per cost: the option taken (-1 unreachable)
        for options in layers {
            var next = [Double](repeating: .infinity, count: limit + 1)
            var taken = [Int](repeating: -1, count: limit + 1)
            for c in 0...limit where best[c].isFinite {
                for (k, option) in options.enumerated() {
                    let cost = c + Int((option.latency * resolution).rounded())
                    guard cost <= limit else { continue }
                    let error = best[c] + option.error
                    if error < next[cost] - 1e-12 {
                        next[cost] = error
                        taken[cost] = k
                    }
                }
            }
            best = next
            choice.append(taken)
        }
        var plans: [PrecisionPlan] = []
        var least = Double.infinity
        for c in 0...limit where best[c] < least - 1e-12 {
            least = best[c]
            plans.append(reconstruct(layers, choice: choice, cost: c, error: best[c]))
        }
        return plans
    }

    private static func reconstruct(_ layers: [[PrecisionOption]], choice: [[Int]], cost: Int, error: Double) -> PrecisionPlan {
        var picks = [Int](repeating: 0, count: layers.count)
        var c = cost
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let k = choice[l][c]
            picks[l] = k
            c -= Int((layers[l][k].latency * resolution).rounded())
        }
        let latency = zip(layers, picks).reduce(0) { $0 + $1.0[$1.1].latency }
        return PrecisionPlan(choices: picks, latency: latency, error: error)
    }
}
