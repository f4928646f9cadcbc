// Loading a model the way every command does: import, then canonicalize and verify,
// so that all commands see the same graph.
import Foundation
import IR
import ONNXImport
import Passes

/// A model read from disk, with what the file held as written.
public struct LoadedModel: Sendable {
    public var path: String
    public var model: Model
    public var summary: ImportSummary
    /// What canonicalization changed that the user should know (QDQ tensors dequantized),
    /// each once; the command line prints them.
    public var warnings: [String] = []
}

public enum Frontend {
    /// Imports `path`; unless `raw`, runs the canonicalize pipeline and the verifier.
    public static func load(path: String, inputShapes: [String: [Int]] = [:], raw: Bool = false) throws -> LoadedModel {
        let (model, summary) = try ONNXImporter.loadWithSummary(path: path, options: ImportOptions(inputShapes: inputShapes))
        var loaded = LoadedModel(path: path, model: model, summary: summary)
        do {
            try Verifier.verify(loaded.model.graph)
            if !raw {
                loaded.warnings = try canonicalize(&loaded.model.graph)
                try Verifier.verify(loaded.model.graph)
            }
        } catch let e as IRError {
            throw DriverError(file: path, e.description)
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
