// `npucc analyze MODEL.onnx --calib CALIB.npz`: per-layer sensitivity to each precision.
import ArgumentParser
import Driver
import Foundation
import Passes

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure each layer's sensitivity to fp8, nvfp4 and 2:4 sparsity.",
        discussion: """
            For every Conv, ConvTranspose, Gemm and MatMul and every candidate (fp8,
            nvfp4; fp16, fp8 and nvfp4 with 2:4 sparsity), the weight SQNR, the layer's
            own output error on its calibration inputs (exact, from the layer Hessian
            X·Xᵀ), and the whole model's output error with only that layer changed (KL
            divergence of the softmaxed outputs for a classifier, relative MSE otherwise),
            on up to 64 calibration samples.

            Example:
              npucc analyze samples/digits_cnn.onnx --calib samples/digits_calib.npz
            """)

    @OptionGroup var options: ModelOptions

    @Option(help: "The calibration samples (.npz).")
    var calib: String

    @Option(name: .customLong("calib-method"), help: "minmax, percentile[:P], entropy or mse.")
    var calibMethod: String = "percentile"

    @Option(help: "2:4 pruning method for the sparse candidates: magnitude, wanda or sparsegpt.")
    var prune: String = "wanda"

    @Option(help: "At most this many calibration samples for the end-to-end errors (all of them calibrate).")
    var samples: Int = 64

    @Option(
        name: .customLong("output-error"),
        help: ArgumentHelp(
            "How each candidate's model output error is found: measured (re-runs), predicted (gains) or estimated (cotangents).",
            valueName: "measured|predicted|estimated"))
    var outputError: String = "measured"

    @Flag(help: "Print the table as JSON.")
    var json = false

    @OptionGroup var console: ConsoleOptions

    func run() throws {
        try reportingErrors(file: options.model) {
            let method = try PrecisionSetup.calibrationMethod(calibMethod)
            let pruning = try PrecisionSetup.pruningMethod(prune)
            guard samples > 0 else { throw DriverError(file: "--samples", "must be at least 1") }
            guard let endToEnd = EndToEndError(rawValue: outputError) else {
                throw DriverError(file: "--output-error", "unknown way \"\(outputError)\" (measured, predicted, estimated)")
            }
            var loaded = try options.load()
            let report = try SensitivitySetup.analyze(
                &loaded, calibPath: calib, method: method, pruning: pruning,
                maxSamples: samples, endToEnd: endToEnd)
            print(json ? try SensitivitySetup.json(report) : SensitivitySetup.table(report))
        }
    }
}

extension Analyze: ConsoleCommand {}
