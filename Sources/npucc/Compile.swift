// `npucc compile MODEL.onnx -o OUT.npub`: the deployable bundle.
import ArgumentParser
import Bundle
import Driver
import Formats
import Foundation
import Passes
import Report
import Target

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a model into a bundle (.npub) for the target NPU.",
        discussion: """
            Folds BatchNormalization, fuses activations, calibrates on --calib, gives every
            Conv, ConvTranspose, Gemm and MatMul with constant weights its precision (one for all, or chosen
            per layer with --precision auto under --budget and --rules) and sparsity, and packs
            the weights in the order the target's tiles read them (schemas/weights.md). The
            bundle (schemas/bundle.md) holds the metadata (model, inputs, outputs, the layer
            table, target, options) and the packed weights; it is written whole or not at all,
            and the same inputs and flags give the same bytes.

            --report DIR also writes DIR/report.html (one self-contained page: the
            per-layer table, the precision along the network, the latency per layer,
            and with --precision auto the sensitivities, the precision search's Pareto
            frontier and histograms of the most sensitive layers) and DIR/report.json,
            the same data (schemas/report.md).

            Example:
              npucc compile samples/digits_cnn.onnx -o digits.npub --precision nvfp4 \\
                  --calib samples/digits_calib.npz --input-shape input=1,1,8,8
            """)

    @OptionGroup var options: ModelOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("The bundle to write.", valueName: "OUT.npub"))
    var output: String

    @Option(help: ArgumentHelp("The target description (JSON; the built-in NPU without it).", valueName: "FILE"))
    var target: String?

    @Option(help: "fp16, fp8, nvfp4, or auto (per layer, needs --calib).")
    var precision: String = "fp16"

    @Option(help: "none, 2:4 (every layer whose reduction length allows it), or auto (with --precision auto).")
    var sparsity: String = "none"

    @OptionGroup var quantization: QuantizationOptions

    @Option(
        name: .customLong("analysis-samples"),
        help: "With --precision auto: how many calibration samples measure each candidate's end-to-end error.")
    var analysisSamples: Int = 4

    @Flag(name: .customLong("print-ir-after-all"), help: "Print the IR after every pass.")
    var printIRAfterAll = false

    @OptionGroup var console: ConsoleOptions

    @Option(help: ArgumentHelp("Also write report.html and report.json into this directory.", valueName: "DIR"))
    var report: String?

    func run() throws {
        try reportingErrors(file: options.model) {
            guard output.hasSuffix(".npub") else { throw DriverError(file: output, "the bundle's name must end in .npub") }
            let description = try TargetReport.load(path: target)
            var compile = CompileOptions()
            compile.precision = precision
            guard let s = CompileOptions.Sparsity(rawValue: sparsity) else {
                throw DriverError(file: "--sparsity", "unknown sparsity \"\(sparsity)\" (none, 2:4, auto)")
            }
            compile.sparsity = s
            compile.calibPath = quantization.calib
            compile.calibMethod = quantization.calibMethod
            compile.pruning = try quantization.prune.map(PrecisionSetup.pruningMethod)
            compile.budget = quantization.budget
            compile.rulesPath = quantization.rules
            compile.biasCorrection = quantization.biasCorrection
            guard analysisSamples > 0 else { throw DriverError(file: "--analysis-samples", "must be at least 1") }
            compile.analysisSamples = analysisSamples
            compile.outputError = try quantization.endToEnd()
            if printIRAfterAll { compile.passContext = PassContext(printIRAfter: ["all"]) }
            // The report's directory is checked before the work; the report is made before the
            // bundle is written and written after it (the bundle's folder is checked as it is).
            if let report { try ReportWriter.prepare(report) }
            var loaded = try options.load()
            let original = loaded
            let compiled = try Compilation.compile(&loaded, options: compile, array: try Compilation.arrayShape(description))
            compiled.notes.forEach { Console.status($0) }
            let data = try report.map { _ in
                try CompileReport(compiled, original: original, options: compile, targetPath: target)
            }
            try compiled.bundle().write(to: URL(fileURLWithPath: output))
            if let report, let data { try ReportWriter.write(data, to: report) }
            let weights = compiled.layers.reduce(0) { $0 + $1.rows * $1.columns }
            Console.status(
                "\(output): \(compiled.layers.count) layers, \(weights) weights in \(compiled.weights.count) bytes "
                    + String(format: "(%.2f bits per weight), ", Double(compiled.weights.count * 8) / Double(max(weights, 1)))
                    + "\(compiled.lowered.program.instructions.count) instructions")
            if let report { Console.status("\(report): report.html, report.json") }
        }
    }
}

extension Compile: ConsoleCommand {}
