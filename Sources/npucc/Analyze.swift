// `npucc analyze MODEL.onnx --calib CALIB.npz`: per-layer sensitivity to each precision.
import ArgumentParser
import Driver
import Foundation
import Passes

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure each layer's sensitivity to fp8, nvfp4 and 2:4 sparsity.",
        discussion: """
            For every Conv, Gemm and MatMul and every candidate, the weight SQNR and the whole
            model's output error with only that layer changed (KL divergence of the softmaxed
            outputs for a classifier, relative MSE otherwise), on up to 64 calibration samples.

            Example:
              npucc analyze samples/digits_cnn.onnx --calib samples/digits_calib.npz
            """)

    @OptionGroup var options: ModelOptions

    @Option(help: "The calibration samples (.npz).")
    var calib: String

    @Option(name: .customLong("calib-method"), help: "minmax, percentile[:P], entropy or mse.")
    var calibMethod: String = "percentile"

    @Option(help: "2:4 pruning method for the sparse candidates: magnitude or wanda.")
    var prune: String = "wanda"

    func run() throws {
        try reportingErrors(file: options.model) {
            guard let method = CalibrationMethod(calibMethod) else {
                throw DriverError(file: "--calib-method", "unknown calibration method \"\(calibMethod)\"")
            }
            guard let pruning = PruningMethod(rawValue: prune) else {
                throw DriverError(file: "--prune", "unknown pruning method \"\(prune)\" (magnitude, wanda)")
            }
            var loaded = try Frontend.load(path: options.model, inputShapes: try parseInputShapes(options.inputShapes))
            let report = try SensitivitySetup.analyze(&loaded, calibPath: calib, method: method, pruning: pruning)
            print(SensitivitySetup.table(report))
        }
    }
}
