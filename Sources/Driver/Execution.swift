// `npucc run`: the reference interpreter on npz inputs, writing npz outputs, with an
// optional top-1 accuracy against labels.
import Foundation
import IR
import Reference
import TensorIO

public enum Execution {
    /// Runs `loaded` on the arrays of `inputsPath` and writes the outputs to `outputsPath`
    /// (atomically: nothing is written when anything fails).
    public static func run(_ loaded: LoadedModel, inputsPath: String, outputsPath: String) throws -> [(String, Tensor)] {
        let arrays = try NPZ.read(url: URL(fileURLWithPath: inputsPath))
        var inputs: [String: Tensor] = [:]
        for (name, tensor) in arrays { inputs[name] = tensor }
        let graph = loaded.model.graph
        for v in graph.inputs where inputs[v.name] == nil {
            throw DriverError(
                file: inputsPath, "no array for graph input \"\(v.name)\" (keys: \(arrays.map(\.name).joined(separator: ", ")))")
        }
        try refuseUnknownArrays(arrays.map(\.name), inputs: graph.inputs.map(\.name), as: "a graph input", file: inputsPath)
        let results: [String: Tensor]
        do {
            results = try Interpreter(graph: graph).run(inputs)
        } catch let e as IRError {
            throw loaded.error(e)
        }
        let outputs = graph.outputs.map { ($0.name, results[$0.name]!) }
        try NPZ.write(outputs, to: URL(fileURLWithPath: outputsPath), compressed: false)
        return outputs
    }

    /// Top-1 accuracy of `logits` ([N, classes]) against integer `labels` ([N]).
    /// Refuses an array of `names` that is none of `inputs` (`role`: what each input is).
    static func refuseUnknownArrays(_ names: [String], inputs: [String], as role: String, file: String) throws {
        let known = Set(inputs)
        if let extra = names.first(where: { !known.contains($0) }) {
            throw DriverError(file: file, "array \"\(extra)\" is not \(role) (inputs: \(inputs.joined(separator: ", ")))")
        }
    }

    public static func accuracy(logits: Tensor, labelsPath: String) throws -> (correct: Int, total: Int) {
        let labels = try NPY.read(url: URL(fileURLWithPath: labelsPath))
        guard logits.rank == 2, labels.rank == 1, labels.shape[0] == logits.shape[0] else {
            throw DriverError(file: labelsPath, "labels of shape \(labels.shape) do not match outputs of shape \(logits.shape)")
        }
        let n = logits.shape[0], classes = logits.shape[1]
        guard labels.dtype.isInteger else {
            throw DriverError(file: labelsPath, "labels are \(labels.dtype.name): class indices must be integers")
        }
        if let bad = (0..<n).first(where: { !(0..<Int64(classes)).contains(labels.int64(at: $0)) }) {
            throw DriverError(
                file: labelsPath, "label \(bad) is \(labels.int64(at: bad)), not a class index of 0 to \(classes - 1)")
        }
        let values = logits.floats()
        var correct = 0
        for i in 0..<n {
            var best = 0
            for c in 1..<classes where values[i * classes + c] > values[i * classes + best] { best = c }
            if Int64(best) == labels.int64(at: i) { correct += 1 }
        }
        return (correct, n)
    }
}
