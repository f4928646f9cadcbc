// `npucc export --qdq`: the compiler's quantization decisions as an ONNX model onnxruntime
// runs. The same passes as `compile` up to the backend, then the quantized graph in
// standard ops (Q/DQ pairs, casts, the nvfp4 rounding) written whole or not at all.
import Bundle
import Formats
import Foundation
import IR
import ONNXExport
import Passes

/// What an export wrote.
public struct ExportedModel: Sendable {
    public var model: Model
    public var bytes: Int
    /// One row per quantized layer: name, op, how its weights and its input are stored.
    public var layers: [[String]]
    /// Lines for the user (the automatic assignment's summary).
    public var notes: [String]
}

public enum QDQModelExport {
    /// Quantizes `loaded` as `compile` would with `options` and writes it to `path` as ONNX.
    public static func export(_ loaded: inout LoadedModel, options: CompileOptions, to path: String) throws -> ExportedModel {
        let notes = try Compilation.quantize(&loaded, options: options).notes
        var model: Model
        do {
            model = try QDQExport.model(loaded.model)
        } catch let e as IRError {
            throw DriverError(file: loaded.path, e.description)
        }
        // What made the file, as a bundle's metadata records it.
        let flags = options.recorded.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        model.producerVersion = Version.string
        model.metadata.append((key: "npucc_export", value: "--qdq \(flags)"))
        let bytes = ONNXWriter.encode(model)
        do {
            try AtomicFile.write(bytes, to: path)
        } catch {
            throw DriverError(file: path, error.message)
        }
        return ExportedModel(model: model, bytes: bytes.count, layers: layers(loaded.model.graph), notes: notes)
    }

    /// The lines `npucc export` prints: the file, then the quantized layers.
    public static func summary(_ exported: ExportedModel, path: String) -> String {
        var lines = ["\(path): \(exported.model.graph.nodes.count) nodes, \(exported.bytes) bytes, opset \(QDQExport.opset)"]
        if !exported.layers.isEmpty {
            lines += TargetReport.table([["layer", "op", "weights", "input"]] + exported.layers, leftColumns: 4)
        }
        return lines.joined(separator: "\n")
    }

    private static func layers(_ graph: Graph) -> [[String]] {
        graph.nodes.compactMap { node in
            guard let input = node.string(QuantizationAttributes.activationFormat) else { return nil }
            let name = node.name.isEmpty ? node.outputs[0] : node.name
            let sparse = node.string(PruningAttributes.sparsity) == "2:4" ? "+2:4" : ""
            let weights: String
            switch node.string(QuantizationAttributes.weightFormat) {
            case "fp8":
                let scales = node.floats(QuantizationAttributes.weightScale)?.count ?? 1
                weights =
                    "fp8\(sparse): E4M3, \(scales) scale\(scales == 1 ? "" : "s"), DequantizeLinear"
                    + (scales > 1 && QDQExport.outputChannelAxis(of: node) == nil ? " and Mul (channels span two axes)" : "")
            case "fp16": weights = "fp16\(sparse): FLOAT16, Cast"
            case "nvfp4": weights = "nvfp4\(sparse): float32 values"
            case let other?: weights = other
            case nil: weights = "activation, \(node.string(QuantizationAttributes.activationFormatB) ?? "fp32"): Cast"
            }
            let amax = node.float(QuantizationAttributes.activationAmax) ?? 0
            let rounding: String
            switch input {
            case "fp8":
                let scale = node.float(QuantizationAttributes.activationScale) ?? FP8.scale(amax: amax)
                rounding = "fp8: Q/DQ, scale \(scale)"
            case "fp16": rounding = "fp16: Cast"
            case "nvfp4":
                let global = node.float(QuantizationAttributes.activationScale) ?? amax / (6 * 448)
                rounding = "nvfp4: blocks of 16, tensor scale \(global)"
            default: rounding = input
            }
            return [name, node.op, weights, rounding]
        }
    }
}
