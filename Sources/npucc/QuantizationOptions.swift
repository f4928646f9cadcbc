// The options `run` and `compile` share for calibration, pruning and automatic precision.
import ArgumentParser

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
        help: ArgumentHelp(
            "With --precision auto: the budget.",
            discussion: """
                A latency (nvfp4, fp8+2:4: every layer so; 0.3: that fraction of fp16's), a weight size \
                (size=nvfp4, size=0.3, size=2MB) or a predicted error (error=0.01: the fastest within it).
                """))
    var budget: String = "nvfp4"

    @Option(help: "With --precision auto: a JSON file of per-layer precision rules (see README).")
    var rules: String?
}
