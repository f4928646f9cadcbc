// `npucc run MODEL.onnx --inputs IN.npz --outputs OUT.npz`: the reference interpreter, in fp32
// or with every layer fake-quantized to a chosen precision.
import ArgumentParser
import Driver
import Formats
import Foundation
import IR
import Passes

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on the reference interpreter (fp32 or fake-quantized), or a bundle on the simulator.",
        discussion: """
            The keys of the input .npz are the graph's input names; the output .npz holds
            one array per graph output, under the output's name.

            Example:
              npucc run samples/digits_cnn.onnx --inputs samples/digits_test.npz \\
                  --outputs out.npz --labels samples/digits_test_labels.npy
            """)

    @OptionGroup var options: ModelOptions

    @Option(help: "An .npz with one array per graph input.")
    var inputs: String

    @Option(help: "Where to write the .npz of graph outputs.")
    var outputs: String

    @Option(help: "An .npy of integer class labels: print the top-1 accuracy of the first output.")
    var labels: String?

    @Option(help: "Comma-separated passes to run before interpreting (e.g. fold-batchnorm).")
    var passes: String = ""

    @Option(
        help: "Run every Conv, ConvTranspose, Gemm and MatMul at fp16, fp8 or nvfp4 (weights and activations, fake-quantized).")
    var precision: String = "fp32"

    @OptionGroup var quantization: QuantizationOptions

    @Option(
        help: ArgumentHelp(
            "none, 2:4 or auto. With --precision auto, the candidates (auto, the default here; compile's is none); "
                + "with fp16, fp8 or nvfp4, 2:4 prunes every layer as compile does (--prune's method; SparseGPT "
                + "with --calib, else magnitude).",
            valueName: "none|2:4|auto"))
    var sparsity: String?

    @Option(
        name: .customLong("analysis-samples"),
        parsing: .unconditional,
        help: "With --precision auto: how many calibration samples measure each candidate (64 here; compile's default is 4).")
    var analysisSamples: Int?

    @OptionGroup var console: ConsoleOptions

    func run() throws {
        try reportingErrors(file: options.model) {
            try OutputPaths.refuseOverwriting(
                outputs, inputs: [options.model, inputs] + (quantization.calib.map { [$0] } ?? []) + (labels.map { [$0] } ?? []))
            if BundleInspection.isBundle(path: options.model) {
                // A compiled bundle runs on the simulator, as compiled.
                guard passes.isEmpty, precision == "fp32", quantization.calib == nil, quantization.prune == nil,
                    sparsity == nil, quantization.rules == nil, !quantization.biasCorrection,
                    options.givenModelOnlyOption == nil
                else {
                    throw DriverError(
                        file: options.model,
                        "a bundle runs as it was compiled: --passes, --precision, --calib, --prune, --sparsity, "
                            + "--rules, --bias-correction, --input-shape and --graph-outputs apply to ONNX models")
                }
                try printResults(try BundleExecution.run(bundlePath: options.model, inputsPath: inputs, outputsPath: outputs))
                return
            }
            let selection = try PassSelection.parse(passes)
            var loaded = try options.load()
            let statistics = try selection.run(on: &loaded) { print($0, terminator: "") }
            collectWarnings(statistics.flatMap(\.statistics.warnings), file: options.model)
            let method = try PrecisionSetup.calibrationMethod(quantization.calibMethod)
            var pruning = try quantization.prune.map(PrecisionSetup.pruningMethod)
            try quantization.refuseAutoOnlyFlags(precision: precision, analysisSamples: analysisSamples)
            let ruleSet = try quantization.rules.map(SensitivitySetup.rules(path:))
            guard ["none", "2:4", "auto"].contains(sparsity ?? "auto") else {
                throw DriverError(file: "--sparsity", "unknown sparsity \"\(sparsity ?? "")\" (none, 2:4, auto)")
            }
            let analysisSamples = self.analysisSamples ?? 64
            guard analysisSamples > 0 else { throw DriverError(file: "--analysis-samples", "must be at least 1") }
            if let chosen = quantization.prune, sparsity == "none" {
                throw PrecisionSetup.pruningWithoutSparsity(chosen, auto: precision == "auto")
            }
            if let sparsity, precision != "auto" {
                // Compile's fixed-precision flags: 2:4 prunes every layer, by compile's default method.
                guard sparsity != "auto" else {
                    throw DriverError(file: "--sparsity", "auto chooses per layer and needs --precision auto")
                }
                if sparsity == "2:4" {
                    pruning = pruning ?? PrecisionSetup.defaultPruning(calibrated: quantization.calib != nil)
                }
            }
            if precision == "auto" {
                guard let calib = quantization.calib else {
                    throw DriverError(file: "--precision", "auto needs calibration samples (--calib)")
                }
                let pruning = pruning ?? .wanda
                let report = try SensitivitySetup.analyze(
                    &loaded, calibPath: calib, method: method, pruning: pruning, sparse: sparsity != "none",
                    dense: sparsity != "2:4", maxSamples: analysisSamples,
                    endToEnd: try quantization.endToEnd())
                let assignment = try SensitivitySetup.assign(
                    report, budget: quantization.budgetText, rules: ruleSet, rulesPath: quantization.rules ?? "",
                    sparsity: sparsity ?? "auto")
                try SensitivitySetup.apply(
                    assignment, report: report, pruning: pruning, biasCorrection: quantization.biasCorrection,
                    to: &loaded)
                print(SensitivitySetup.summary(assignment, report.layers))
                try printResults(try Execution.run(loaded, inputsPath: inputs, outputsPath: outputs))
                return
            }
            guard let format = PrecisionFormat(rawValue: precision) else {
                throw DriverError(file: "--precision", "unknown precision \"\(precision)\" (fp32, fp16, fp8, nvfp4, auto)")
            }
            if (format == .fp8 || format == .nvfp4) && quantization.calib == nil {
                Console.warn(
                    "\(format.rawValue) without --calib: each activation is scaled by its own range as it runs, not by the fixed scales of calibration a compiled bundle uses",
                    file: "--precision")
            }
            if format != .fp32 || pruning != nil {
                _ = try PrecisionSetup.apply(
                    format, to: &loaded, calibPath: quantization.calib, method: method, pruning: pruning,
                    biasCorrection: quantization.biasCorrection)
            }
            try printResults(try Execution.run(loaded, inputsPath: inputs, outputsPath: outputs))
        }
    }

    /// The outputs' types, and with --labels the top-1 accuracy (the output file is removed
    /// when the labels cannot be scored, so no half-made result stays).
    private func printResults(_ results: [(String, Tensor)]) throws {
        for (name, tensor) in results { print("\(name): \(tensor.dtype.name)\(tensor.shape)") }
        guard let labels, let first = results.first else { return }
        let scored: (correct: Int, total: Int)
        do {
            scored = try Execution.accuracy(logits: first.1, labelsPath: labels)
        } catch {
            try? FileManager.default.removeItem(atPath: outputs)
            throw error
        }
        print(
            String(
                format: "top-1 accuracy: %.2f%% (%d of %d)", 100 * Double(scored.correct) / Double(max(scored.total, 1)),
                scored.correct, scored.total))
    }
}

extension Run: ConsoleCommand {}
