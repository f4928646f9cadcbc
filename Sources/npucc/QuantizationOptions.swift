// The options `run` and `compile` share for calibration, pruning and automatic precision.
import ArgumentParser
import Driver
import Passes

struct QuantizationOptions: ParsableArguments {
    @Option(help: "Calibration samples (.npz): activation scales, and what auto, Wanda and SparseGPT measure.")
    var calib: String?

    @Option(name: .customLong("calib-method"), help: "minmax, percentile[:P], entropy or mse.")
    var calibMethod: String = "percentile"

    @Option(help: "2:4 pruning method: magnitude, wanda or sparsegpt (the last two need --calib).")
    var prune: String?

    @Flag(
        name: .customLong("bias-correction"),
        help: "Correct each quantized layer's bias for its weights' expected error (needs --calib).")
    var biasCorrection = false

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "With --precision auto: the budget (default: nvfp4).",
            discussion: """
                A latency (nvfp4, fp8+2:4: every layer so; 0.3: that fraction of fp16's), a weight size \
                (size=nvfp4, size=0.3, size=2MB) or a predicted error (error=0.01: the fastest within it).
                """))
    var budget: String?

    @Option(help: "With --precision auto: a JSON file of per-layer precision rules (see README).")
    var rules: String?

    @Option(
        name: .customLong("output-error"),
        help: ArgumentHelp(
            "With --precision auto: how each candidate's model output error is found.",
            discussion: """
                estimated (the default): to second order, from the model output's cotangents \
                backpropagated to every layer, no re-runs; predicted: the layer's own output error times \
                the layer's gain, two re-runs of the model's rest per layer; measured: one re-run per \
                candidate.
                """, valueName: "estimated|predicted|measured"))
    var outputError: String?

    /// The budget, "nvfp4" unless given.
    var budgetText: String { budget ?? "nvfp4" }

    func endToEnd() throws -> EndToEndError {
        let way = outputError ?? "estimated"
        guard let e = EndToEndError(rawValue: way) else {
            throw DriverError(file: "--output-error", "unknown way \"\(way)\" (estimated, predicted, measured)")
        }
        return e
    }

    /// Refuses, unless `precision` is auto, the flags only the per-layer choice reads
    /// (`analysisSamples` given with --analysis-samples), so that none is ignored unseen.
    func refuseAutoOnlyFlags(precision: String?, analysisSamples: Int?) throws {
        guard precision != "auto" else { return }
        let given = [
            ("--budget", budget != nil), ("--rules", rules != nil), ("--output-error", outputError != nil),
            ("--analysis-samples", analysisSamples != nil),
        ]
        if let (flag, _) = given.first(where: \.1) {
            throw DriverError(file: flag, "applies to --precision auto only (it chooses each layer's precision)")
        }
    }
}
