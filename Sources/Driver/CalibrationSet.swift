// Calibration data: an .npz with one array per graph input, samples stacked along a new
// leading axis, or an array of the input's own rank split along axis 0 into batches of the
// input's first extent (1 when symbolic). Samples of batch 1 stacked on a new axis, as for a
// model of batch 1, are grouped in turn into batches of the input's.
import Foundation
import IR
import Passes
import Reference
import TensorIO

public enum CalibrationSet {
    /// The samples of `path` for `graph`, each one tensor per graph input.
    public static func load(path: String, graph: Graph) throws -> [[String: Tensor]] {
        try loadRows(path: path, graph: graph).samples
    }

    /// `load`'s samples, and how many of the file's rows each holds: its first input's first
    /// extent when the arrays give rows of the input's own rank in whole batches
    /// (`--input-shape x=2,...`), else 1 (each sample stacked whole on a new first axis).
    public static func loadRows(path: String, graph: Graph) throws -> (samples: [[String: Tensor]], rowsPerSample: Int) {
        let arrays = Dictionary(try NPZ.read(url: URL(fileURLWithPath: path)).map { ($0.name, $0.tensor) }) { a, _ in a }
        for name in arrays.keys.sorted() where !graph.inputs.contains(where: { $0.name == name }) {
            throw DriverError(
                file: path, "array \"\(name)\" is not a graph input (inputs: \(graph.inputs.map(\.name).joined(separator: ", ")))"
            )
        }
        var perInput: [(name: String, samples: [Tensor])] = []
        var rowsPerSample = 1
        for v in graph.inputs {
            guard let array = arrays[v.name] else {
                throw DriverError(file: path, "no calibration array for graph input \"\(v.name)\"")
            }
            let (samples, rows) = try split(array.widened(for: v.type.dtype), for: v, path: path)
            perInput.append((v.name, samples))
            if perInput.count == 1 { rowsPerSample = rows }
        }
        let counts = Set(perInput.map(\.samples.count))
        guard counts.count <= 1 else {
            throw DriverError(
                file: path,
                "inputs have different sample counts: "
                    + perInput.map { "\($0.name) \($0.samples.count)" }.joined(separator: ", "))
        }
        guard let count = counts.first, count > 0 else { throw DriverError(file: path, "the calibration set is empty") }
        let samples = (0..<count).map { i in Dictionary(uniqueKeysWithValues: perInput.map { ($0.name, $0.samples[i]) }) }
        return (samples, rowsPerSample)
    }

    /// Feeds every sample to `calibrator`, with a progress bar: as many samples at a time as
    /// there are threads (`Calibrator.observe(batch:)` runs them side by side).
    /// The ranges a compile quantizes with, checked: a layer input the samples never gave a
    /// finite value is refused (its scale would be meaningless); one that was 0 throughout is
    /// warned about (its scale falls back to 1).
    public static func checkedRanges(
        _ calibrator: Calibrator, _ method: CalibrationMethod, file: String
    ) throws -> [ActivationRange] {
        let ranges = calibrator.ranges(method)
        for r in ranges {
            guard r.minimum <= r.maximum, r.amax.isFinite else {
                throw DriverError(
                    file: file, "calibration gave \"\(r.name)\" no finite value (every sample NaN or infinite there)")
            }
            if r.amax == 0 {
                Console.warn("calibration gave \"\(r.name)\" only zeros: its scale falls back to 1", file: file)
            }
        }
        return ranges
    }

    /// Warns about each input whose samples hold NaNs: calibration's ranges leave them out,
    /// which is seldom what data with NaNs means (what needs layer statistics refuses them,
    /// `requireFiniteLayerInputs`). Called once calibration has succeeded, so that a refusal
    /// stands alone. Infinities are not warned about: a mask's -inf is a value a model is
    /// given on purpose.
    public static func warnAboutNaNs(_ samples: [[String: Tensor]], file: String) {
        var nans: [String: (found: Int, of: Int)] = [:]
        for sample in samples {
            for (name, t) in sample where t.dtype.isFloatingPoint {
                let found =
                    t.dtype == .float32
                    ? t.withUnsafeBuffer(as: Float.self) { v in v.reduce(0) { $0 + ($1.isNaN ? 1 : 0) } }
                    : (0..<t.count).reduce(0) { $0 + (t.double(at: $1).isNaN ? 1 : 0) }
                nans[name, default: (0, 0)].found += found
                nans[name, default: (0, 0)].of += t.count
            }
        }
        for (name, n) in nans.sorted(by: { $0.key < $1.key }) where n.found > 0 {
            Console.warn(
                "array \"\(name)\" holds \(n.found) NaN of its \(n.of) values: calibration's ranges leave them out",
                file: file)
        }
    }

    /// Refuses samples that gave a layer's input a NaN or an infinity (`Calibrator.
    /// nonFiniteLayerInput`) when `purpose` needs that layer's statistics: its Hessian, its
    /// input norms or means, or errors measured through it would be NaN.
    public static func requireFiniteLayerInputs(_ calibrator: Calibrator, file: String, for purpose: String) throws {
        guard let bad = calibrator.nonFiniteLayerInput else { return }
        let readers = calibrator.interpreter.graph.nodes.filter { $0.input(0) == bad.value }.map {
            "\"\($0.name.isEmpty ? $0.outputs.first ?? $0.op : $0.name)\""
        }
        throw DriverError(
            file: file,
            "sample \(bad.sample) gives \"\(bad.value)\" (the input of \(readers.joined(separator: ", "))) \(bad.count) NaN or "
                + "infinite values: \(purpose) cannot use them; drop that sample or replace those values")
    }

    public static func observe(_ samples: [[String: Tensor]], into calibrator: inout Calibrator) throws {
        let bar = ProgressLine(total: samples.count, label: "calibrating")
        for start in stride(from: 0, to: samples.count, by: Parallelism.threadCount) {
            let batch = Array(samples[start..<min(start + Parallelism.threadCount, samples.count)])
            try calibrator.observe(batch: batch)
            for _ in batch { bar.advance() }
        }
        bar.finish()
    }

    /// The samples of `array` for input `v`, and how many rows of the file each holds (1 when
    /// each sample is stacked whole on a new first axis).
    private static func split(_ array: Tensor, for v: ValueInfo, path: String) throws -> (samples: [Tensor], rows: Int) {
        guard array.dtype == v.type.dtype else {
            throw DriverError(
                file: path, "array \"\(v.name)\" has type \(array.dtype.name), the model expects \(v.type.dtype.name)")
        }
        guard let shape = v.type.shape else { return ([array], 1) }
        var sampleShape: [Int], count: Int, rows = 1
        let batch = shape.rank > 0 ? shape.dims[0].value ?? 1 : 1
        if array.rank == shape.rank + 1, batch > 1, array.shape[1] == 1 {
            // Samples of batch 1, as for a model of batch 1: rows, grouped into the input's batches.
            rows = batch
            (sampleShape, count) = try batches(of: Array(array.shape.dropFirst(2)), rows: array.shape[0], v, batch, path)
        } else if array.rank == shape.rank + 1 {
            (sampleShape, count) = (Array(array.shape.dropFirst()), array.shape[0])
        } else if array.rank == shape.rank, shape.rank > 0, batch > 0 {
            // Rows of the input's own rank: whole batches of its first extent (1 when symbolic).
            rows = batch
            (sampleShape, count) = try batches(of: Array(array.shape.dropFirst()), rows: array.shape[0], v, batch, path)
        } else {
            throw DriverError(
                file: path,
                "array \"\(v.name)\" has shape \(array.shape); calibration wants \(v.type) samples stacked on a new first axis")
        }
        for (axis, (d, n)) in zip(shape.dims, sampleShape).enumerated() {
            if let k = d.value, k != n {
                throw DriverError(
                    file: path,
                    "array \"\(v.name)\" has samples of shape \(sampleShape), the model expects \(v.type) (axis \(axis))")
            }
        }
        let size = sampleShape.reduce(1, *) * array.dtype.byteSize
        let samples = (0..<count).map { i in
            let t = Tensor(zeros: array.dtype, shape: sampleShape)
            t.storage.base.copyMemory(from: array.storage.base + i * size, byteCount: size)
            return t
        }
        return (samples, rows)
    }

    /// `rows` rows of shape `row` as samples of `batch` rows each: their shape and count.
    private static func batches(of row: [Int], rows: Int, _ v: ValueInfo, _ batch: Int, _ path: String) throws -> (
        [Int], Int
    ) {
        guard rows % batch == 0 else {
            throw DriverError(
                file: path,
                "array \"\(v.name)\" has \(rows) row\(rows == 1 ? "" : "s"), not whole batches of \(batch); calibration "
                    + "wants \(v.type) samples stacked on a new first axis, or rows in whole batches")
        }
        return ([batch] + row, rows / batch)
    }
}
