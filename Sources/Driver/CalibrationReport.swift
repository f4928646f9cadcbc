// Calibration results as a table or JSON, one activation per line, in graph order.
import Foundation
import Passes

public enum CalibrationReport {
    /// `samples` counts the model's runs, each `rowsPerSample` rows of the file when it gave
    /// rows of the input's own rank in whole batches.
    public static func table(_ ranges: [ActivationRange], method: String, samples: Int, rowsPerSample: Int = 1) -> String {
        let width = max(10, ranges.map(\.name.count).max() ?? 0)
        let rows = rowsPerSample > 1 ? " (\(samples * rowsPerSample) rows in batches of \(rowsPerSample))" : ""
        var lines = [
            "calibration: \(samples) samples\(rows), method \(method)",
            "activation".padding(toLength: width, withPad: " ", startingAt: 0)
                + "         min          max         amax    fp8 scale  nvfp4 scale",
        ]
        for r in ranges {
            lines.append(
                r.name.padding(toLength: width, withPad: " ", startingAt: 0)
                    + String(
                        format: " %12.5g %12.5g %12.5g %12.5g %12.5g", r.minimum, r.maximum, r.amax,
                        r.fp8Scale, r.nvfp4GlobalScale))
        }
        return lines.joined(separator: "\n")
    }

    public static func json(_ ranges: [ActivationRange], method: String, samples: Int, rowsPerSample: Int = 1) -> String {
        let entries: [[String: Any]] = ranges.map {
            [
                "name": $0.name, "min": Double($0.minimum), "max": Double($0.maximum), "amax": Double($0.amax),
                "fp8_scale": Double($0.fp8Scale), "nvfp4_global_scale": Double($0.nvfp4GlobalScale),
            ]
        }
        let object: [String: Any] = [
            "method": method, "samples": samples, "rows_per_sample": rowsPerSample, "activations": entries,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
