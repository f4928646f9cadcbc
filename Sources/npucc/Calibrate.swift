// `npucc calibrate MODEL.onnx --calib CALIB.npz`: activation ranges and the scales they give.
import ArgumentParser
import Driver
import Foundation
import Passes

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run calibration samples through the model and report each activation's range and scales.",
        discussion: """
            CALIB.npz holds one array per graph input, samples stacked on a new first axis
            (for an input whose batch is 1 or symbolic, an array of the input's own rank
            is split along its first axis; for a fixed batch of B, into batches of B
            rows). Methods: minmax, percentile (99.99, or percentile:P), entropy, mse.

            Example:
              npucc calibrate samples/digits_cnn.onnx --calib samples/digits_calib.npz \\
                  --method entropy
            """)

    @OptionGroup var options: ModelOptions

    @Option(help: "The calibration samples (.npz).")
    var calib: String

    @Option(help: "minmax, percentile[:P], entropy or mse.")
    var method: String = "percentile"

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @OptionGroup var console: ConsoleOptions

    func run() throws {
        try reportingErrors(file: options.model) {
            let chosen = try PrecisionSetup.calibrationMethod(method, flag: "--method")
            let loaded = try options.load()
            let (samples, rows) = try CalibrationSet.loadRows(path: calib, graph: loaded.model.graph)
            var calibrator = try Calibrator(graph: loaded.model.graph)
            try CalibrationSet.observe(samples, into: &calibrator)
            let ranges = calibrator.ranges(chosen)
            CalibrationSet.warnAboutNaNs(samples, file: calib)
            print(
                json
                    ? CalibrationReport.json(ranges, method: method, samples: samples.count, rowsPerSample: rows)
                    : CalibrationReport.table(ranges, method: method, samples: samples.count, rowsPerSample: rows))
        }
    }
}

extension Calibrate: ConsoleCommand {}
