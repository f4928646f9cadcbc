// Loading a model the way every command does: import, then canonicalize and verify,
// so that all commands see the same graph.
import Foundation
import IR
import ONNXImport
import Passes
import Reference

/// A model read from disk, with what the file held as written.
public struct LoadedModel: Sendable {
    public var path: String
    public var model: Model
    public var summary: ImportSummary
    /// What canonicalization changed that the user should know (QDQ tensors dequantized),
    /// each once; the command line prints them.
    public var warnings: [String] = []
}

extension LoadedModel {
    /// The default domain's opset the model imports.
    public var opset: Int { model.opsets[""] ?? model.opsets["ai.onnx"] ?? 0 }

    /// `e` as the user reads it: the model file, and a node's op type with the opset it is
    /// read at; a node imported as another op by the file's op, and the op it became.
    public func error(_ e: IRError) -> DriverError {
        guard let node = e.node else { return DriverError(file: path, e.message) }
        if let original = summary.importedAs[node], let op = node.split(separator: " ").first {
            return DriverError(file: path, "node \(original) (opset \(opset), imported as \(op)): \(e.message)")
        }
        return DriverError(file: path, "node \(node) (opset \(opset)): \(e.message)")
    }
}

extension ImportEvaluator {
    /// The reference interpreter's kernels: import computes with them what the model runs.
    public static let interpreter = ImportEvaluator(supports: Kernels.supports, evaluate: Kernels.evaluate)
}

public enum Frontend {
    /// Imports `path`; unless `raw`, runs the canonicalize pipeline and the verifier.
    public static func load(
        path: String, inputShapes: [String: [Int]] = [:], graphOutputs: [String] = [], raw: Bool = false
    ) throws -> LoadedModel {
        let (model, summary) = try ONNXImporter.loadWithSummary(
            path: path,
            options: ImportOptions(inputShapes: inputShapes, graphOutputs: graphOutputs, evaluator: .interpreter))
        var loaded = LoadedModel(path: path, model: model, summary: summary)
        if let half = summary.half {
            let io = [("inputs", half.inputs), ("outputs", half.outputs)].filter { !$0.1.isEmpty }
                .map { "\($0.0) \($0.1.joined(separator: ", "))" }.joined(separator: " and ")
            loaded.warnings.append(
                "the model computes in float16 (or bfloat16): npucc reads its weights and values as float32, exactly, "
                    + "and runs its layers at the precision asked for"
                    + (io.isEmpty ? "" : "; \(io) are float32 (float16 and bfloat16 input arrays are widened)"))
        }
        if !summary.droppedInputs.isEmpty {
            let names = summary.droppedInputs.map { "\"\($0)\"" }.joined(separator: ", ")
            loaded.warnings.append(
                "--graph-outputs leaves out every node that reads graph input\(summary.droppedInputs.count == 1 ? "" : "s") "
                    + "\(names): the model no longer takes \(summary.droppedInputs.count == 1 ? "it" : "them")")
        }
        let nodes = summary.opCounts.values.reduce(0, +)
        Console.log.info("imported \(path): \(nodes) nodes, \(summary.initializerCount) initializers, opset \(loaded.opset)")
        do {
            try Verifier.verify(loaded.model.graph)
            if !raw {
                loaded.warnings += try canonicalize(&loaded.model.graph)
                try Verifier.verify(loaded.model.graph)
                Console.log.info("canonicalized: \(loaded.model.graph.nodes.count) nodes")
            }
        } catch let e as IRError {
            throw loaded.error(e)
        }
        return loaded
    }

    /// Canonicalization, then graph outputs take the types inference found for them.
    /// Returns the passes' warnings.
    static func canonicalize(_ graph: inout Graph) throws -> [String] {
        let statistics = try Pipeline.canonicalize.run(&graph, PassContext())
        for i in graph.outputs.indices {
            if let inferred = graph.type(of: graph.outputs[i].name) { graph.outputs[i].type = inferred }
        }
        return statistics.flatMap(\.statistics.warnings)
    }
}
