// Histograms for the compile report: the float weights and the input activations (over the
// calibration samples) of the most sensitive layers, each with the grid of values its
// chosen format represents at the largest scale in use.
import Formats
import Foundation
import IR
import Passes
import Reference
import Report

enum ValueHistograms {
    /// Layers shown, bins per histogram, and calibration samples run for the activations.
    static let layerCount = 3
    static let bins = 60
    static let sampleLimit = 64
    /// Samples stop once every activation shown has this many values (a large model's
    /// activations would otherwise fill memory).
    static let valueLimit = 1 << 21

    /// The histograms of the `layerCount` layers whose worst candidate errs most, weights
    /// then activations, in that order of sensitivity. The weights are those rounded: the
    /// float ones, or for a 2:4 layer the pruned ones; their grid's scale is the largest
    /// magnitude of `compiled`'s rounded weights (the quantizer maps amax onto itself).
    static func collect(
        _ a: PrecisionAnalysis, floatGraph: Graph, compiled: Graph, calibPath: String?, samples: Int
    ) throws -> [CompileReport.ValueHistogram] {
        let ranked = a.sensitivity.layers.enumerated().sorted { x, y in
            let ex = x.element.candidates.map(\.outputError).max() ?? 0, ey = y.element.candidates.map(\.outputError).max() ?? 0
            return ex != ey ? ex > ey : x.offset < y.offset
        }.prefix(layerCount).map(\.element)
        let nodes = Dictionary(
            floatGraph.nodes.compactMap { n in n.outputs.first.map { ($0, n) } }, uniquingKeysWith: { a, _ in a })
        // The activations each chosen layer reads, over the first samples.
        var wanted: [String: [Float]] = [:]
        var used = 0
        for l in ranked { if let input = nodes[l.layer]?.inputs.first { wanted[input] = [] } }
        if let calibPath, !wanted.isEmpty {
            let set = try CalibrationSet.load(path: calibPath, graph: floatGraph)
            do {
                let interpreter = try Interpreter(graph: floatGraph)
                for sample in set.prefix(samples) {
                    if wanted.values.allSatisfy({ $0.count >= valueLimit }) { break }
                    used += 1
                    for (name, t) in sample where wanted[name] != nil { wanted[name]! += t.floats() }
                    _ = try interpreter.run(sample) { name, t in
                        if wanted[name] != nil { wanted[name]! += t.floats() }
                    }
                }
            } catch let e as IRError {
                throw DriverError(file: calibPath, e.description)
            }
        }
        var out: [CompileReport.ValueHistogram] = []
        for l in ranked {
            guard let node = nodes[l.layer], let weight = LayerWeight(node, floatGraph) else { continue }
            let chosen = a.assignment.choices[l.layer] ?? LayerCandidate(.fp16)
            let format = chosen.format
            let pruned = chosen.sparse ? l.pruned : nil
            let w = pruned ?? weight.matrix()
            let rounded = compiled.nodes.first { $0.outputs.first == l.layer }.flatMap { LayerWeight($0, compiled) }
            let wmax = Double((rounded?.matrix() ?? w).map(\.magnitude).max() ?? 0)
            let which = pruned == nil ? "before rounding" : "pruned 2:4, before rounding"
            out.append(
                histogram(
                    w, layer: l.displayName, kind: "weights", tensor: weight.name, format: format, amax: wmax, clip: nil,
                    note: "\(groupedNumber(w.count)) weights after BatchNormalization folding, \(which); "
                        + gridNote(format, weights: true)))
            if let input = node.inputs.first, let values = wanted[input], !values.isEmpty {
                let amax = Double(a.sensitivity.activationAmax[input] ?? 0)
                out.append(
                    histogram(
                        values, layer: l.displayName, kind: "activations", tensor: input, format: format, amax: amax,
                        clip: amax > 0 ? amax : nil,
                        note: "\(groupedNumber(values.count)) values of \"\(input)\" over \(used) calibration samples; "
                            + "calibrated amax \(readableNumber(amax, digits: 4)); " + gridNote(format, weights: false)))
            }
        }
        return out
    }

    private static func gridNote(_ format: PrecisionFormat, weights: Bool) -> String {
        switch (format, weights) {
        case (.fp8, true): return "grid: E4M3 times amax / 448 of the output channel holding the largest |w|"
        case (.fp8, false): return "grid: E4M3 times amax / 448, the tensor's one scale"
        case (.nvfp4, true): return "grid: E2M1 times amax / 6 of the block of 16 holding the largest |w|"
        case (.nvfp4, false): return "grid: E2M1 times amax / 6, a block of 16 holding the amax"
        default: return "fp16: no grid drawn (finer than the bins)"
        }
    }

    private static func histogram(
        _ values: [Float], layer: String, kind: String, tensor: String, format: PrecisionFormat, amax: Double, clip: Double?,
        note: String
    ) -> CompileReport.ValueHistogram {
        let finite = values.filter(\.isFinite)
        var lower = Double(finite.min() ?? 0), upper = Double(finite.max() ?? 0)
        if upper <= lower { (lower, upper) = (lower - 1, upper + 1) }
        var counts = [Int](repeating: 0, count: bins)
        let width = (upper - lower) / Double(bins)
        for v in finite { counts[min(Int((Double(v) - lower) / width), bins - 1)] += 1 }
        let grid = representable(format, amax: amax).filter { $0 >= lower && $0 <= upper }
        return CompileReport.ValueHistogram(
            layer: layer, kind: kind, tensor: tensor, format: format.rawValue, lower: lower, upper: upper, counts: counts,
            grid: grid, clip: clip, note: note)
    }

    /// The values `format` represents at the scale that maps `amax` to its largest value,
    /// computed in float32 as the quantizer computes them: fp8 E4M3 times amax / 448; nvfp4
    /// E2M1 times the block scale E4M3(448) x amax / (6 x 448), that of the block holding
    /// amax; none for fp16 and fp32. Sorted, each once.
    static func representable(_ format: PrecisionFormat, amax: Double) -> [Double] {
        let a = Float(amax)
        guard a > 0 else { return [] }
        let codes: [Float], scale: Float
        switch format {
        case .fp8:
            codes = (0..<256).map { MiniFloatFormat.e4m3.decode(UInt8($0)) }
            scale = a / 448
        case .nvfp4:
            codes = (0..<16).map { MiniFloatFormat.e2m1().decode(UInt8($0)) }
            scale = 448 * (a / (6 * 448))
        default: return []
        }
        return Set(codes.filter(\.isFinite).map { Double($0 * scale) }).sorted()
    }
}
