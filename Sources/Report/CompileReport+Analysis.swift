// The parts of a compile report only --precision auto has: the solver's budget and Pareto
// frontier, and the histograms of the most sensitive layers' values.

extension CompileReport {
    public struct Analysis: Codable, Sendable, Equatable {
        /// Calibration samples the end-to-end errors were measured on; "predicted" or "measured".
        public var samples: Int
        public var outputError: String
        /// The budget as given, and what the frontier's cost measures: "latency" (MACs at
        /// fp16 dense speed) or "size" (weight bits); "error" budgets trace latency.
        public var budget: String
        public var costKind: String
        /// The fp16 dense assignment's cost, the reference the frontier's x axis is relative to.
        public var fp16Cost: Double
        public var frontier: [FrontierPoint]
        /// Index of the chosen point in `frontier`.
        public var chosen: Int

        public init(
            samples: Int, outputError: String, budget: String, costKind: String, fp16Cost: Double,
            frontier: [FrontierPoint], chosen: Int
        ) {
            self.samples = samples
            self.outputError = outputError
            self.budget = budget
            self.costKind = costKind
            self.fp16Cost = fp16Cost
            self.frontier = frontier
            self.chosen = chosen
        }

        enum CodingKeys: String, CodingKey {
            case samples, budget, frontier, chosen
            case outputError = "output_error", costKind = "cost_kind", fp16Cost = "fp16_cost"
        }
    }

    /// One assignment on the solver's Pareto frontier.
    public struct FrontierPoint: Codable, Sendable, Equatable {
        public var cost: Double
        public var predictedError: Double
        public var latencyMACs: Double
        public var weightBytes: Double
        /// Candidate per analysed layer, by layer name.
        public var choices: [String: String]

        public init(cost: Double, predictedError: Double, latencyMACs: Double, weightBytes: Double, choices: [String: String]) {
            self.cost = cost
            self.predictedError = predictedError
            self.latencyMACs = latencyMACs
            self.weightBytes = weightBytes
            self.choices = choices
        }

        enum CodingKeys: String, CodingKey {
            case cost, choices
            case predictedError = "predicted_error", latencyMACs = "latency_macs", weightBytes = "weight_bytes"
        }
    }

    /// Values of one tensor binned over [lower, upper], and the grid its format represents.
    public struct ValueHistogram: Codable, Sendable, Equatable {
        public var layer: String
        /// "weights" or "activations" (the layer's input over the calibration samples).
        public var kind: String
        public var tensor: String
        /// The format the layer quantizes it to.
        public var format: String
        public var lower: Double
        public var upper: Double
        public var counts: [Int]
        /// Representable values at the largest scale in use, within [lower, upper] and
        /// ±clip; empty for fp16 (finer than the bins).
        public var grid: [Double]
        /// The clipping amax of an activation (calibrated), nil for weights.
        public var clip: Double?
        public var note: String

        public init(
            layer: String, kind: String, tensor: String, format: String, lower: Double, upper: Double, counts: [Int],
            grid: [Double], clip: Double?, note: String
        ) {
            self.layer = layer
            self.kind = kind
            self.tensor = tensor
            self.format = format
            self.lower = lower
            self.upper = upper
            self.counts = counts
            self.grid = grid
            self.clip = clip
            self.note = note
        }
    }
}
