// Preparing a model to run at a precision: fold BatchNormalization (before anything is
// quantized), calibrate activations when samples are given, then quantize every layer.
import Foundation
import Formats
import IR
import Passes

public enum PrecisionSetup {
    /// Applies `format` to `loaded`; activation ranges come from `calibPath` with `method`
    /// (without samples, each activation is scaled by its own amax at run time).
    public static func apply(_ format: PrecisionFormat, to loaded: inout LoadedModel, calibPath: String?,
                             method: CalibrationMethod) throws -> PassStatistics {
        do {
            try Pipeline([FoldBatchNorm(), EliminateDeadCode()]).run(&loaded.model.graph, PassContext())
            var amax: [String: Float] = [:]
            if let calibPath {
                let samples = try CalibrationSet.load(path: calibPath, graph: loaded.model.graph)
                var calibrator = try Calibrator(graph: loaded.model.graph)
                for sample in samples { try calibrator.observe(sample) }
                for r in calibrator.ranges(method) { amax[r.name] = r.amax }
            }
            var context = PassContext()
            context.quantization = QuantizationPlan(format: format, activationAmax: amax)
            return try Pipeline([QuantizeLayers()]).run(&loaded.model.graph, context)[0].statistics
        } catch let e as IRError {
            throw DriverError(file: loaded.path, e.description)
        }
    }
}
