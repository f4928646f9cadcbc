// Preparing a model to run at a precision: fold BatchNormalization (before anything is
// quantized), calibrate activations when samples are given, then quantize every layer.

import Formats
import Foundation
import IR
import Passes

public enum PrecisionSetup {
    /// The refusal of a pruning method (`--prune`) where `--sparsity none` leaves every
    /// layer dense: it would prune nothing. `auto`: with `--precision auto`.
    public static func pruningWithoutSparsity(_ method: String, auto: Bool) -> DriverError {
        DriverError(
            file: "--prune",
            "\(method) prunes 2:4 layers, and --sparsity none leaves every layer dense: give --sparsity 2:4"
                + (auto ? " or auto" : ""))
    }

    /// Refuses a matrix layer whose constant weights (a Conv's, ConvTranspose's, Gemm's or
    /// MatMul's constant operand; after BatchNormalization folding, `NAME_folded`) hold a NaN or an
    /// infinity, naming the node, the weight and the element's index: fp8 and nvfp4 hold
    /// neither, and such a weight makes the layer's outputs NaN or infinite at any precision.
    static func checkFiniteWeights(_ graph: Graph) throws {
        for node in graph.nodes where ["Conv", "ConvTranspose", "Gemm", "MatMul"].contains(node.op) {
            for name in node.inputs.prefix(2) {
                guard let w = graph.constants[name], w.dtype == .float32 else { continue }
                let values = w.floats()
                guard let i = values.firstIndex(where: { !$0.isFinite }) else { continue }
                var index: [Int] = [], rest = i
                for extent in w.shape.reversed() {
                    index.insert(rest % extent, at: 0)
                    rest /= extent
                }
                throw IRError(
                    "weight \"\(name)\" holds \(values[i]) at \(index): a layer's weights must be finite numbers", at: node)
            }
        }
    }

    /// Applies `format` to `loaded`; activation ranges come from `calibPath` with `method`
    /// (without samples, each activation is scaled by its own amax at run time).
    /// With `pruning`, weights are first pruned 2:4 by that method (Wanda and SparseGPT
    /// need samples).
    public static func apply(
        _ format: PrecisionFormat, to loaded: inout LoadedModel, calibPath: String?,
        method: CalibrationMethod, pruning: PruningMethod? = nil,
        biasCorrection: Bool = false, base: PassContext = PassContext()
    ) throws -> PassStatistics {
        do {
            // The weights as the file names them, then as BatchNormalization folding made them.
            try checkFiniteWeights(loaded.model.graph)
            try Pipeline.fuseLayers.run(&loaded.model.graph, base)
            try checkFiniteWeights(loaded.model.graph)
            var amax: [String: Float] = [:]
            var norms: [String: [Float]] = [:]
            var means: [String: [Float]] = [:]
            var hessians: [String: LayerHessian] = [:]
            if let calibPath {
                let samples = try CalibrationSet.load(path: calibPath, graph: loaded.model.graph)
                var calibrator = try Calibrator(
                    graph: loaded.model.graph, ranges: .layerInputs, collectHessians: pruning == .sparsegpt)
                try CalibrationSet.observe(samples, into: &calibrator)
                if let pruning, pruning.needsCalibration {
                    try CalibrationSet.requireFiniteLayerInputs(
                        calibrator, file: calibPath, for: "\(pruning.rawValue) pruning (Hessians, input norms)")
                }
                if biasCorrection {
                    try CalibrationSet.requireFiniteLayerInputs(calibrator, file: calibPath, for: "bias correction (input means)")
                }
                for r in try CalibrationSet.checkedRanges(calibrator, method, file: calibPath) { amax[r.name] = r.amax }
                CalibrationSet.warnAboutNaNs(samples, file: calibPath)
                norms = calibrator.inputNorms()
                means = calibrator.inputMeans()
                hessians = calibrator.takeLayerHessians()
            } else if let pruning, pruning.needsCalibration {
                throw DriverError(file: "--prune", "\(pruning.rawValue) pruning needs calibration samples (--calib)")
            } else if biasCorrection {
                throw DriverError(file: "--bias-correction", "bias correction needs calibration samples (--calib)")
            }
            var context = base
            context.progress = Console.progress
            context.quantization = QuantizationPlan(
                format: format, activationAmax: amax,
                inputMeans: biasCorrection ? means : [:])
            context.sparsity = pruning.map { SparsityPlan(method: $0, inputNorms: norms, hessians: hessians) }
            let passes: [any Pass] = (pruning == nil ? [] : [Prune24()]) + [QuantizeLayers()]
            let results = try Pipeline(passes).run(&loaded.model.graph, context)
            let statistics = results.last!.statistics
            for warning in results.flatMap(\.statistics.warnings) { Console.warn(warning, file: loaded.path) }
            Console.log.info(
                "quantized to \(format.rawValue)\(pruning.map { " with 2:4 by \($0.rawValue)" } ?? ""): \(statistics)")
            return statistics
        } catch let e as IRError {
            throw loaded.error(e)
        }
    }

    /// How compile prunes 2:4 when --prune says nothing: SparseGPT with calibration samples
    /// (its Hessians come from them), magnitude without.
    public static func defaultPruning(calibrated: Bool) -> PruningMethod { calibrated ? .sparsegpt : .magnitude }

    /// The calibration method `text` names on the command line, given with `flag`.
    public static func calibrationMethod(_ text: String, flag: String = "--calib-method") throws -> CalibrationMethod {
        do { return try CalibrationMethod.parse(text) } catch { throw DriverError(file: flag, error.description) }
    }

    /// The pruning method named `name` on the command line.
    public static func pruningMethod(_ name: String) throws -> PruningMethod {
        guard let method = PruningMethod(rawValue: name) else {
            let known = PruningMethod.allCases.map(\.rawValue).joined(separator: ", ")
            throw DriverError(file: "--prune", "unknown pruning method \"\(name)\" (\(known))")
        }
        return method
    }
}
