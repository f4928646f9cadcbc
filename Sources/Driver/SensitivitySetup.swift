// Sensitivity analysis and automatic precision for the commands: fold BatchNormalization,
// calibrate, measure each layer's candidates, and solve for a budget.
import Foundation
import Formats
import IR
import Passes

public struct SensitivityReport: Sendable {
    public var layers: [LayerSensitivity]
    public var activationAmax: [String: Float]
    public var inputNorms: [String: [Float]]
    public var inputMeans: [String: [Float]]
}

public enum SensitivitySetup {
    /// Folds BN in `loaded`, calibrates on `calibPath`, and analyses every layer on at most
    /// `maxSamples` of the samples.
    public static func analyze(_ loaded: inout LoadedModel, calibPath: String, method: CalibrationMethod,
                               pruning: PruningMethod, maxSamples: Int = 64) throws -> SensitivityReport {
        do {
            try Pipeline([FoldBatchNorm(), EliminateDeadCode()]).run(&loaded.model.graph, PassContext())
            let samples = try CalibrationSet.load(path: calibPath, graph: loaded.model.graph)
            var calibrator = try Calibrator(graph: loaded.model.graph)
            for sample in samples { try calibrator.observe(sample) }
            let amax = Dictionary(uniqueKeysWithValues: calibrator.ranges(method).map { ($0.name, $0.amax) })
            let norms = calibrator.inputNorms()
            let layers = try SensitivityAnalysis.run(loaded.model.graph, samples: Array(samples.prefix(maxSamples)),
                                                     activationAmax: amax, inputNorms: norms, pruning: pruning)
            return SensitivityReport(layers: layers, activationAmax: amax, inputNorms: norms,
                                     inputMeans: calibrator.inputMeans())
        } catch let e as IRError {
            throw DriverError(file: loaded.path, e.description)
        }
    }

    /// The budget named by `text`: "nvfp4", "fp8", "nvfp4+2:4" (every layer so), or a
    /// fraction of the all-fp16 latency ("0.3").
    public static func budget(_ text: String, _ layers: [LayerSensitivity]) throws -> Double {
        let fp16 = PrecisionAssignment.uniformLatency(layers, LayerCandidate(.fp16))
        if let fraction = Double(text), fraction > 0 { return fraction * fp16 }
        let sparse = text.hasSuffix("+2:4")
        guard let format = PrecisionFormat(rawValue: sparse ? String(text.dropLast(4)) : text) else {
            throw DriverError(file: "--budget", "\"\(text)\" is not a budget (fp8, nvfp4, nvfp4+2:4, or a fraction of fp16 latency)")
        }
        return PrecisionAssignment.uniformLatency(layers, LayerCandidate(format, sparse: sparse))
    }

    /// Applies an assignment: per-layer formats and 2:4 layers, weights and activations,
    /// with bias correction when asked.
    public static func apply(_ assignment: PrecisionAssignment, report: SensitivityReport, pruning: PruningMethod,
                             biasCorrection: Bool = false, to loaded: inout LoadedModel) throws {
        var context = PassContext()
        context.quantization = QuantizationPlan(format: .fp32, perLayer: assignment.choices.mapValues(\.format),
                                                activationAmax: report.activationAmax,
                                                inputMeans: biasCorrection ? report.inputMeans : [:])
        let sparseLayers = Set(assignment.choices.filter { $0.value.sparse }.map(\.key))
        context.sparsity = SparsityPlan(method: pruning, inputNorms: report.inputNorms, layers: sparseLayers)
        do {
            try Pipeline([Prune24(), QuantizeLayers()]).run(&loaded.model.graph, context)
        } catch let e as IRError {
            throw DriverError(file: loaded.path, e.description)
        }
    }

    public static func table(_ report: SensitivityReport) -> String {
        var lines = ["layer".padding(toLength: 16, withPad: " ", startingAt: 0) + "op      MACs/sample  "
                     + LayerCandidate.analyzed.map { "\($0)".padding(toLength: 22, withPad: " ", startingAt: 0) }.joined()]
        lines.append(String(repeating: " ", count: 37) + LayerCandidate.analyzed.map { _ in "SQNR dB   out error   " }.joined())
        for l in report.layers {
            var line = l.layer.padding(toLength: 16, withPad: " ", startingAt: 0) + l.op.padding(toLength: 8, withPad: " ", startingAt: 0)
                + String(format: "%11d  ", l.macs)
            for c in LayerCandidate.analyzed {
                if let e = l.candidates.first(where: { $0.candidate == c }) {
                    line += String(format: "%7.2f  %10.3g   ", e.weightSQNR, e.outputError)
                } else {
                    line += "      -           -   "
                }
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
