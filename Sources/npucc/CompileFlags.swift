// The flags `compile` and `export` share: the precision and sparsity to compile for, with
// calibration, pruning and automatic precision (QuantizationOptions).
import ArgumentParser
import Driver
import Passes

struct CompileFlags: ParsableArguments {
    @Option(help: "fp16, fp8, nvfp4, or auto (per layer, needs --calib).")
    var precision: String = "fp16"

    @Option(help: "none, 2:4 (every layer whose reduction length allows it), or auto (with --precision auto).")
    var sparsity: String = "none"

    @OptionGroup var quantization: QuantizationOptions

    @Option(
        name: .customLong("analysis-samples"),
        parsing: .unconditional,
        help: ArgumentHelp(
            "With --precision auto: how many calibration samples measure each candidate's end-to-end error "
                + "(default: 4)."))
    var analysisSamples: Int?

    @Flag(name: .customLong("print-ir-after-all"), help: "Print the IR after every pass.")
    var printIRAfterAll = false

    /// The flags as the driver takes them; a bad value names its flag.
    func compileOptions() throws -> CompileOptions {
        var compile = CompileOptions()
        compile.precision = precision
        guard let s = CompileOptions.Sparsity(rawValue: sparsity) else {
            throw DriverError(file: "--sparsity", "unknown sparsity \"\(sparsity)\" (none, 2:4, auto)")
        }
        compile.sparsity = s
        compile.calibPath = quantization.calib
        compile.calibMethod = quantization.calibMethod
        compile.pruning = try quantization.prune.map(PrecisionSetup.pruningMethod)
        try quantization.refuseAutoOnlyFlags(precision: precision, analysisSamples: analysisSamples)
        compile.budget = quantization.budgetText
        compile.rulesPath = quantization.rules
        compile.biasCorrection = quantization.biasCorrection
        let analysisSamples = self.analysisSamples ?? 4
        guard analysisSamples > 0 else { throw DriverError(file: "--analysis-samples", "must be at least 1") }
        compile.analysisSamples = analysisSamples
        compile.outputError = try quantization.endToEnd()
        if printIRAfterAll { compile.passContext = PassContext(printIRAfter: ["all"]) }
        return compile
    }
}
