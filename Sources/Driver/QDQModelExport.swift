// `npucc export --qdq`: the compiler's quantization decisions as an ONNX model onnxruntime
// runs. The same passes as `compile` up to the backend, then the quantized graph in
// standard ops (Q/DQ pairs, casts, the nvfp4 rounding) written whole or not at all.
import Bundle
import Foundation
import IR
import ONNXExport

/// What an export wrote.
public struct ExportedModel: Sendable {
    public var model: Model
    public var bytes: Int
    /// Lines for the user (the automatic assignment's summary).
    public var notes: [String]
}

public enum QDQModelExport {
    /// Quantizes `loaded` as `compile` would with `options` and writes it to `path` as ONNX.
    public static func export(_ loaded: inout LoadedModel, options: CompileOptions, to path: String) throws -> ExportedModel {
        let notes = try Compilation.quantize(&loaded, options: options)
        let model: Model
        do {
            model = try QDQExport.model(loaded.model)
        } catch let e as IRError {
            throw DriverError(file: loaded.path, e.description)
        }
        let bytes = ONNXWriter.encode(model)
        do {
            try AtomicFile.write(bytes, to: path)
        } catch {
            throw DriverError(file: path, error.message)
        }
        return ExportedModel(model: model, bytes: bytes.count, notes: notes)
    }
}
