// What a compile report shows, as plain data: the model, the per-layer table, the
// precision analysis when one ran, the cycle profile and the value histograms. The driver
// fills it in; this module renders it (report.html) and writes it as JSON (report.json,
// schemas/report.md), so both hold the same numbers.

public struct CompileReport: Codable, Sendable, Equatable {
    public var format = "npucc-report"
    public var version = 1
    public var model: String
    public var compiler: String
    public var target: String
    /// The compile's options as the bundle's metadata records them.
    public var options: [String: String]
    public var layers: [Layer]
    public var total: Total
    /// The --precision auto analysis; nil at a fixed precision, with `analysisNote` saying so.
    public var analysis: Analysis?
    public var analysisNote: String?
    /// Weight and activation histograms of the most sensitive layers (empty without analysis).
    public var histograms: [ValueHistogram]

    public init(
        model: String, compiler: String, target: String, options: [String: String], layers: [Layer], total: Total,
        analysis: Analysis?, analysisNote: String?, histograms: [ValueHistogram]
    ) {
        self.model = model
        self.compiler = compiler
        self.target = target
        self.options = options
        self.layers = layers
        self.total = total
        self.analysis = analysis
        self.analysisNote = analysisNote
        self.histograms = histograms
    }

    enum CodingKeys: String, CodingKey {
        case format, version, model, compiler, target, options, layers, total, analysis, histograms
        case analysisNote = "analysis_note"
    }

    /// One lowered node of the program, in program order.
    public struct Layer: Codable, Sendable, Equatable {
        public var name: String
        public var op: String
        /// Shapes of the activations it reads and of its outputs.
        public var inputShapes: [[Int]]
        public var outputShapes: [[Int]]
        /// Multiply-accumulates per inference, and elements of its constant inputs.
        public var macs: Int
        public var parameters: Int
        /// "fp16", "fp8", "nvfp4" for matrix layers, "-" otherwise; "2:4", "dense" or "-".
        public var precision: String
        public var sparsity: String
        /// Nominal stored bits per weight of its format and sparsity (matrix layers).
        public var bitsPerWeight: Double?
        /// SQNR of its weights as compiled against the float weights, dB (matrix layers).
        public var weightSQNR: Double?
        /// The analysis's candidates (nil when the layer was not analysed).
        public var sensitivity: [Candidate]?
        /// The roofline lower bound and the cycle model's cycles, and which roofline term wins.
        public var rooflineCycles: Double
        public var simulatedCycles: Int
        public var bound: String

        public init(
            name: String, op: String, inputShapes: [[Int]], outputShapes: [[Int]], macs: Int, parameters: Int,
            precision: String, sparsity: String, bitsPerWeight: Double?, weightSQNR: Double?, sensitivity: [Candidate]?,
            rooflineCycles: Double, simulatedCycles: Int, bound: String
        ) {
            self.name = name
            self.op = op
            self.inputShapes = inputShapes
            self.outputShapes = outputShapes
            self.macs = macs
            self.parameters = parameters
            self.precision = precision
            self.sparsity = sparsity
            self.bitsPerWeight = bitsPerWeight
            self.weightSQNR = weightSQNR
            self.sensitivity = sensitivity
            self.rooflineCycles = rooflineCycles
            self.simulatedCycles = simulatedCycles
            self.bound = bound
        }

        enum CodingKeys: String, CodingKey {
            case name, op, macs, parameters, precision, sparsity, sensitivity, bound
            case inputShapes = "input_shapes", outputShapes = "output_shapes", bitsPerWeight = "bits_per_weight"
            case weightSQNR = "weight_sqnr_db", rooflineCycles = "roofline_cycles", simulatedCycles = "simulated_cycles"
        }

        /// "nvfp4+2:4", "fp16", "-".
        public var candidate: String { precision + (sparsity == "2:4" ? "+2:4" : "") }
    }

    /// One candidate of one layer: the model's output error with only that layer changed.
    public struct Candidate: Codable, Sendable, Equatable {
        public var candidate: String
        public var predictedError: Double
        public var measuredError: Double?
        public var weightSQNR: Double?
        /// True for the candidate the assignment chose.
        public var chosen: Bool

        public init(candidate: String, predictedError: Double, measuredError: Double?, weightSQNR: Double?, chosen: Bool) {
            self.candidate = candidate
            self.predictedError = predictedError
            self.measuredError = measuredError
            self.weightSQNR = weightSQNR
            self.chosen = chosen
        }

        enum CodingKeys: String, CodingKey {
            case candidate, chosen
            case predictedError = "predicted_error", measuredError = "measured_error", weightSQNR = "weight_sqnr_db"
        }

        /// The error the solver weighed: measured when measured, else predicted.
        public var error: Double { measuredError ?? predictedError }
    }

    public struct Total: Codable, Sendable, Equatable {
        public var simulatedCycles: Int
        public var rooflineCycles: Double
        public var seconds: Double
        public var macs: Int
        public var weightBytes: Int

        public init(simulatedCycles: Int, rooflineCycles: Double, seconds: Double, macs: Int, weightBytes: Int) {
            self.simulatedCycles = simulatedCycles
            self.rooflineCycles = rooflineCycles
            self.seconds = seconds
            self.macs = macs
            self.weightBytes = weightBytes
        }

        enum CodingKeys: String, CodingKey {
            case seconds, macs
            case simulatedCycles = "simulated_cycles", rooflineCycles = "roofline_cycles", weightBytes = "weight_bytes"
        }
    }
}
