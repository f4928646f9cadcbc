// `npucc run`: the reference interpreter on npz inputs, writing npz outputs, with an
// optional top-1 accuracy against labels. Rows stacked on an input that --input-shape fixes
// to a batch of B run B at a time, as a bundle runs them.
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
        let graph = loaded.model.graph
        for (name, tensor) in arrays {
            inputs[name] = graph.inputs.first { $0.name == name }.map { tensor.widened(for: $0.type.dtype) } ?? tensor
        }
        for v in graph.inputs where inputs[v.name] == nil {
            throw DriverError(
                file: inputsPath, "no array for graph input \"\(v.name)\" (keys: \(arrays.map(\.name).joined(separator: ", ")))")
        }
        try refuseUnknownArrays(arrays.map(\.name), inputs: graph.inputs.map(\.name), as: "a graph input", file: inputsPath)
        // An array of another type is the inputs file's fault, and named so.
        for v in graph.inputs where inputs[v.name]!.dtype != v.type.dtype {
            throw DriverError(
                file: inputsPath,
                "input \"\(v.name)\" has type \(inputs[v.name]!.dtype.name), the model expects \(v.type.dtype.name)")
        }
        let (runs, shared) = try samples(inputs, graph, file: inputsPath)
        var perRun: [[Tensor]] = []
        do {
            let interpreter = try Interpreter(graph: graph)
            for r in 0..<runs {
                let feeds =
                    runs == 1
                    ? inputs
                    : Dictionary(uniqueKeysWithValues: inputs.map { ($0, shared.contains($0) ? $1 : sample($1, r, of: runs)) })
                let results = try interpreter.run(feeds)
                perRun.append(graph.outputs.map { results[$0.name]! })
            }
        } catch let e as IRError {
            throw loaded.error(e)
        }
        let outputs =
            runs == 0
            ? try graph.outputs.map { v in (v.name, try noSamples(of: v, file: inputsPath)) }
            : graph.outputs.enumerated().map { i, v in (v.name, stacked(perRun.map { $0[i] })) }
        try NPZ.write(outputs, to: URL(fileURLWithPath: outputsPath), compressed: false)
        return outputs
    }

    /// How many times the model runs on `inputs`: once, or, as a bundle runs, once per batch
    /// when every input's shape is fixed (`--input-shape`) with a first axis of B and its
    /// array stacks N x B rows along that axis, N > 1 (the same N for every input), or never
    /// when it stacks none (an empty batch, as a bundle takes it). An array of exactly an
    /// input's shape when that batch is not 1 (`sharedInput`) is the same in every run
    /// (`shared`).
    static func samples(_ inputs: [String: Tensor], _ graph: Graph, file: String) throws -> (
        runs: Int, shared: Set<String>
    ) {
        var runs: Int?, shared: [(String, [Int])] = [], stacked: [(String, [Int])] = []
        for v in graph.inputs {
            guard let t = inputs[v.name], let shape = v.type.shape?.concrete else { return (1, []) }
            if sharedInput(t.shape, of: shape) {
                shared.append((v.name, shape))
                continue
            }
            // Neither its shape nor samples of it: named here, not as whichever input the
            // interpreter would check first.
            guard let count = stackedSamples(t.shape, of: shape) else {
                throw DriverError(
                    file: file,
                    "input \"\(v.name)\" has shape \(t.shape); the model takes \(shape)" + batchHint(t.shape, of: shape))
            }
            guard count != 1 else { return (1, []) }
            guard runs == nil || runs == count else {
                throw DriverError(file: file, "the inputs hold different numbers of samples")
            }
            runs = count
            stacked.append((v.name, shape))
        }
        guard let runs else { return (1, []) }
        try refuseOneBatchBeside(shared: shared, stacked: stacked, runs: runs, file: file)
        return (runs, Set(shared.map(\.0)))
    }

    /// Refuses an array of exactly one batch of B > 1 rows (`sharedInput`) beside inputs that
    /// stack several batches of B: it is far more likely a batch the file left out (a mask
    /// for one batch of token ids of two) than one array meant for every batch.
    static func refuseOneBatchBeside(
        shared: [(String, [Int])], stacked: [(String, [Int])], runs: Int, file: String
    ) throws {
        guard runs > 1 else { return }
        for (name, shape) in shared {
            guard let batch = shape.first, batch > 1,
                let other = stacked.first(where: { $0.1.first == batch })
            else { continue }
            throw DriverError(
                file: file,
                "input \"\(name)\" has one batch of \(batch) rows, \(shape), where \"\(other.0)\" holds \(runs) batches; "
                    + "give every input of that batch \(runs * batch) rows")
        }
    }

    /// Output `v` of no samples at all (an empty batch): its shape with a first extent of 0,
    /// as a bundle gives it (a scalar's an empty vector).
    static func noSamples(of v: ValueInfo, file: String) throws -> Tensor {
        guard let shape = v.type.shape?.concrete else {
            throw DriverError(
                file: file, "the inputs hold no samples, and output \"\(v.name)\" has no fixed shape to give none of")
        }
        return Tensor(zeros: v.type.dtype, shape: shape.isEmpty ? [0] : [0] + shape.dropFirst())
    }

    /// Whether an array of `shape` for an input fixed to `fixed` is one the input takes in
    /// every run: the input has no first axis of 1 to stack samples on (a scalar, a mask or
    /// table of its own extents) and the array is its shape. Bundle runs and interpreter runs
    /// share such inputs alike.
    static func sharedInput(_ shape: [Int], of fixed: [Int]) -> Bool { fixed.first != 1 && shape == fixed }

    /// How many runs of `fixed` an array of `shape` holds: 1 when it is `fixed`, N when it
    /// stacks N x B rows along a first axis that `fixed` has as B (N samples of a batch of
    /// 1, N batches of B); nil otherwise. Bundle runs and interpreter runs split their inputs
    /// by it alike.
    static func stackedSamples(_ shape: [Int], of fixed: [Int]) -> Int? {
        if shape == fixed { return 1 }
        guard let batch = fixed.first, batch > 0, shape.count == fixed.count, shape.dropFirst() == fixed.dropFirst(),
            shape[0] % batch == 0
        else { return nil }
        return shape[0] / batch
    }

    /// Why an array whose other extents match is not whole batches, for the error that
    /// refuses it; empty otherwise.
    static func batchHint(_ shape: [Int], of fixed: [Int]) -> String {
        guard let batch = fixed.first, batch > 1, shape.count == fixed.count, shape.dropFirst() == fixed.dropFirst() else {
            return ""
        }
        return ": its \(shape[0]) rows are not a whole number of batches of \(batch)"
    }

    /// Run `r` of the `runs` stacked along `t`'s first axis: its rows r x B ..< (r + 1) x B.
    static func sample(_ t: Tensor, _ r: Int, of runs: Int) -> Tensor {
        let size = t.byteCount / runs, storage = TensorStorage(byteCount: size)
        storage.base.copyMemory(from: t.bytes.baseAddress! + r * size, byteCount: size)
        return Tensor(dtype: t.dtype, shape: [t.shape[0] / runs] + t.shape.dropFirst(), storage: storage)
    }

    /// The runs' tensors one after another along the first axis (a scalar's become a vector).
    static func stacked(_ parts: [Tensor]) -> Tensor {
        guard parts.count > 1, let first = parts.first else { return parts[0] }
        var shape = first.shape
        if shape.isEmpty { shape = [parts.count] } else { shape[0] *= parts.count }
        let storage = TensorStorage(byteCount: parts.reduce(0) { $0 + $1.byteCount })
        var at = 0
        for part in parts where part.byteCount > 0 {
            (storage.base + at).copyMemory(from: part.bytes.baseAddress!, byteCount: part.byteCount)
            at += part.byteCount
        }
        return Tensor(dtype: first.dtype, shape: shape, storage: storage)
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
