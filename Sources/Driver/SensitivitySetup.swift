// Sensitivity analysis and automatic precision for the commands: fold BatchNormalization,
// calibrate, measure each layer's candidates, and solve for a budget.

import Formats
import Foundation
import IR
import Passes

public struct SensitivityReport: Sendable {
    public var layers: [LayerSensitivity]
    public var activationAmax: [String: Float]
    public var inputNorms: [String: [Float]]
    public var inputMeans: [String: [Float]]
    /// Per layer, H = Σ x·xᵀ over its calibration inputs (SparseGPT, layer errors).
    public var hessians: [String: LayerHessian]
    /// The 2:4 method the sparse candidates were pruned with.
    public var pruning: PruningMethod
    /// Samples the analysis ran on, and its wall time in seconds.
    public var samples: Int
    public var seconds: Double
}

public enum SensitivitySetup {
    /// Folds BN in `loaded`, calibrates on `calibPath`, and analyses every layer on at most
    /// `maxSamples` of the samples; without `sparse`, its dense candidates only (nothing is
    /// pruned); without `dense`, a layer that can be 2:4 in its 2:4 candidates only, and in
    /// nvfp4 for rounding's gain. The layer Hessians are collected when something reads
    /// them: SparseGPT for the 2:4 candidates, and the measured analysis's layer errors.
    public static func analyze(
        _ loaded: inout LoadedModel, calibPath: String, method: CalibrationMethod,
        pruning: PruningMethod, sparse: Bool = true, dense: Bool = true, maxSamples: Int = 64,
        endToEnd: EndToEndError = .measured,
        base: PassContext = PassContext()
    ) throws -> SensitivityReport {
        do {
            // The weights as the file names them, then as BatchNormalization folding made them.
            try PrecisionSetup.checkFiniteWeights(loaded.model.graph)
            try Pipeline.fuseLayers.run(&loaded.model.graph, base)
            try PrecisionSetup.checkFiniteWeights(loaded.model.graph)
            let samples = try CalibrationSet.load(path: calibPath, graph: loaded.model.graph)
            // The analysed samples' values come from calibration, which runs them first.
            var calibrator = try Calibrator(
                graph: loaded.model.graph, ranges: .layerInputs,
                collectHessians: endToEnd == .measured || (sparse && pruning == .sparsegpt),
                keepingValuesOf: min(maxSamples, samples.count))
            try CalibrationSet.observe(samples, into: &calibrator)
            try CalibrationSet.requireFiniteLayerInputs(
                calibrator, file: calibPath, for: "the sensitivity analysis (errors, Hessians, input norms)")
            let statistics = Date()
            let amax = Dictionary(
                uniqueKeysWithValues: try CalibrationSet.checkedRanges(calibrator, method, file: calibPath).map {
                    ($0.name, $0.amax)
                })
            CalibrationSet.warnAboutNaNs(samples, file: calibPath)
            let norms = calibrator.inputNorms(), hessians = calibrator.takeLayerHessians()
            let seconds = String(format: "%.2f", Date().timeIntervalSince(statistics))
            Console.log.info(
                "activation ranges, input norms\(hessians.isEmpty ? "" : " and \(hessians.count) layer Hessians") in \(seconds) s"
            )
            let used = Array(samples.prefix(maxSamples))
            let start = Date()
            let layers = try SensitivityAnalysis.run(
                loaded.model.graph, samples: used, activationAmax: amax,
                inputNorms: norms, hessians: hessians, pruning: pruning, sparse: sparse, dense: dense,
                endToEnd: endToEnd,
                values: calibrator.kept, progress: Console.progress)
            Console.log.info(
                "analysed \(layers.count) layers on \(used.count) samples in \(String(format: "%.2f", Date().timeIntervalSince(start))) s"
            )
            // Gains re-run instead of estimated: each blocking op once, with the layers it blocked.
            var blocked: [String: [String]] = [:]
            for l in layers { if let op = l.notEstimatedBecauseOf { blocked[op, default: []].append(l.displayName) } }
            for (op, names) in blocked.sorted(by: { $0.key < $1.key }) {
                Console.warn(
                    "\(op) has no derivative rule: the gains of \(names.count) layer\(names.count == 1 ? "" : "s") before it "
                        + "(\(names.prefix(3).joined(separator: ", "))\(names.count > 3 ? ", ..." : "")) are re-run, not estimated",
                    file: loaded.path)
            }
            return SensitivityReport(
                layers: layers, activationAmax: amax, inputNorms: norms,
                inputMeans: calibrator.inputMeans(), hessians: hessians, pruning: pruning, samples: used.count,
                seconds: Date().timeIntervalSince(start))
        } catch let e as IRError {
            throw loaded.error(e)
        }
    }

    /// The budget named by `text`: a latency ("nvfp4", "nvfp4+2:4": every layer so; "0.3":
    /// that fraction of the all-fp16 latency; "latency=" may prefix either), a weight size
    /// ("size=nvfp4", "size=0.3" of fp16's, "size=2.5MB", "size=800KB"), or a predicted
    /// error ("error=0.01": the fastest assignment within it).
    public static func budget(_ text: String, _ layers: [LayerSensitivity]) throws -> PrecisionBudget {
        let usage = "\"\(text)\" is not a budget (nvfp4, fp8+2:4, 0.3, size=nvfp4, size=0.3, size=2MB, error=0.01)"
        // A number as a person writes one: decimal, finite ("inf", "nan" and hexadecimal,
        // which Double(_:) also reads, are not budgets).
        func number(_ s: String) -> Double? {
            guard s.allSatisfy({ $0.isNumber || ".eE+-".contains($0) }), let v = Double(s), v.isFinite else { return nil }
            return v
        }
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        let (kind, value) = parts.count == 2 ? (parts[0], parts[1]) : ("latency", text)
        switch kind {
        case "latency":
            if let fraction = number(value), fraction > 0 {
                return .latency(fraction * PrecisionAssignment.uniformLatency(layers, LayerCandidate(.fp16)))
            }
            if let c = LayerCandidate(value) { return .latency(PrecisionAssignment.uniformLatency(layers, c)) }
        case "size":
            if let fraction = number(value), fraction > 0 {
                return .size(fraction * PrecisionAssignment.uniformSize(layers, LayerCandidate(.fp16)))
            }
            if let c = LayerCandidate(value) { return .size(PrecisionAssignment.uniformSize(layers, c)) }
            for (suffix, scale) in [("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("B", 1.0)] where value.hasSuffix(suffix) {
                if let n = number(String(value.dropLast(suffix.count))), n > 0 { return .size(n * scale * 8) }
            }
        case "error":
            if let e = number(value), e >= 0 { return .error(e) }
        default:
            break
        }
        throw DriverError(file: "--budget", usage)
    }

    /// The rules in the JSON file at `path`.
    public static func rules(path: String) throws -> PrecisionRules {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw DriverError(file: path, "cannot read the rules file")
        }
        let rules: PrecisionRules
        do { rules = try PrecisionRules.parse(data) } catch let e as PrecisionRuleError {
            throw DriverError(file: path, e.description)
        } catch {
            throw DriverError(file: path, "not a rules file: \(error.localizedDescription)")
        }
        if let repeated = JSONKeys.firstRepeated(in: data), case .key(let key) = repeated.last {
            // Named as the rules' own errors name a place: rule 2: field "precision".
            let rule = repeated.lazy.compactMap { step -> Int? in if case .index(let i) = step { i } else { nil } }.first
            throw DriverError(
                file: path,
                (rule.map { "rule \($0 + 1): " } ?? "")
                    + "field \"\(key)\" is given twice; JSON readers disagree on which value counts")
        }
        return rules
    }

    /// Solves `budget` under `rules`; every failure names its cause.
    /// `sparsity` "none" keeps every layer dense, "2:4" makes every layer that can be 2:4
    /// sparse, "auto" lets the solver choose.
    public static func assign(
        _ report: SensitivityReport, budget text: String, rules: PrecisionRules?,
        rulesPath: String = "--rules", sparsity: String = "auto"
    ) throws -> PrecisionAssignment {
        let budget = try budget(text, report.layers)
        var allowed: [String: Set<LayerCandidate>] = [:]
        if let rules {
            do { allowed = try rules.allowed(report.layers) } catch let e as PrecisionRuleError {
                throw DriverError(file: rulesPath, e.description)
            }
        }
        if sparsity != "auto" {
            for l in report.layers {
                let all = allowed[l.layer] ?? Set([LayerCandidate(.fp16)] + l.candidates.map(\.candidate))
                let sparse = sparsity == "2:4" && l.canPrune
                allowed[l.layer] = all.filter { $0.sparse == sparse }
                if allowed[l.layer]!.isEmpty {
                    throw DriverError(
                        file: "--sparsity", "layer \(l.displayName) has no \(sparse ? "2:4" : "dense") candidate the rules allow")
                }
            }
        }
        guard let assignment = PrecisionAssignment.solve(report.layers, budget: budget, allowed: allowed) else {
            let detail: String
            switch budget {
            case .latency(let l): detail = String(format: "%.0f MACs at fp16 speed", l)
            case .size(let b): detail = String(format: "%.0f bytes of weights", b / 8)
            case .error(let e): detail = "predicted error \(e)"
            }
            throw DriverError(
                file: "--budget",
                "no assignment\(rules == nil ? "" : " allowed by the rules") fits the budget \"\(text)\" (\(detail))")
        }
        return assignment
    }

    /// One line: the assignment's totals and each layer's choice; layers that read one
    /// weight (an unrolled recurrence's steps), which take one choice, as one entry.
    public static func summary(_ assignment: PrecisionAssignment, _ layers: [LayerSensitivity]) -> String {
        guard !layers.isEmpty else { return "precision auto: no layer to assign (the model fixed every layer's formats)" }
        let choices = PrecisionAssignment.sharing(layers).map { group in
            let (first, last) = (layers[group[0]], layers[group[group.count - 1]])
            let choice = assignment.choices[first.layer].map { "\($0)" } ?? "fp16"
            guard group.count > 1 else { return "\(first.displayName)=\(choice)" }
            return "\(first.displayName)..\(last.displayName) (\(group.count) layers of one weight)=\(choice)"
        }
        return String(
            format: "precision auto: latency %.0f MACs (fp16: %.0f), weights %.0f bytes, predicted error %.4g: ",
            assignment.latency, assignment.fp16Latency, assignment.weightBits / 8, assignment.predictedError)
            + choices.joined(separator: ", ")
    }

    /// Applies an assignment: per-layer formats and 2:4 layers, weights and activations,
    /// with bias correction when asked.
    public static func apply(
        _ assignment: PrecisionAssignment, report: SensitivityReport, pruning: PruningMethod,
        biasCorrection: Bool = false, to loaded: inout LoadedModel,
        base: PassContext = PassContext()
    ) throws {
        var context = base
        context.progress = Console.progress
        context.quantization = QuantizationPlan(
            format: .fp32, perLayer: assignment.choices.mapValues(\.format),
            activationAmax: report.activationAmax,
            inputMeans: biasCorrection ? report.inputMeans : [:])
        let sparseLayers = Set(assignment.choices.filter { $0.value.sparse }.map(\.key))
        context.sparsity = SparsityPlan(
            method: pruning, inputNorms: report.inputNorms, hessians: report.hessians,
            layers: sparseLayers)
        if pruning == report.pruning {
            for l in report.layers where sparseLayers.contains(l.layer) { context.sparsity?.pruned[l.layer] = l.pruned }
        }
        do {
            let passes = try Pipeline([Prune24(), QuantizeLayers()]).run(&loaded.model.graph, context)
            for warning in passes.flatMap(\.statistics.warnings) { Console.warn(warning, file: loaded.path) }
        } catch let e as IRError {
            throw loaded.error(e)
        }
    }

    /// One row per layer and candidate: weight SQNR, the layer's own output error, the
    /// model's output error measured and predicted.
    public static func table(_ report: SensitivityReport) -> String {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s.padding(toLength: n, withPad: " ", startingAt: 0) }
        // The op column fits the longest op (ConvTranspose), at least as wide as "Conv, Gemm".
        let opWidth = max(8, (report.layers.map(\.op.count).max() ?? 0) + 1)
        var lines = [
            pad("layer", 16) + pad("op", opWidth) + pad("MACs/sample", 13) + pad("candidate", 11)
                + "SQNR dB  layer error  output error     predicted"
        ]
        for l in report.layers {
            for c in l.candidates {
                let layerError = c.layerError.map { String(format: "%.4g", $0) } ?? "-"
                lines.append(
                    pad(l.displayName, 16) + pad(l.op, opWidth) + pad("\(l.macs)", 13) + pad("\(c.candidate)", 11)
                        + String(format: "%7.2f  ", c.weightSQNR)
                        + String(repeating: " ", count: max(0, 11 - layerError.count)) + layerError
                        + (c.measuredError.map { String(format: "  %12.4g", $0) } ?? "             -")
                        + String(format: "  %12.4g", c.predictedError))
            }
            if !l.canPrune {
                lines.append(
                    pad(l.displayName, 16) + pad(l.op, opWidth) + pad("\(l.macs)", 13)
                        + "2:4: reduction not a multiple of 4, stays dense")
            }
        }
        lines.append(String(format: "%d layers, %d samples, %.2f s", report.layers.count, report.samples, report.seconds))
        return lines.joined(separator: "\n")
    }

    /// The same data as JSON (sorted keys, stable for a given model and samples).
    public static func json(_ report: SensitivityReport) throws -> String {
        struct Row: Encodable {
            var candidate: String
            var weight_sqnr_db: Double?
            var layer_error: Double?
            var layer_output_error: Double
            var output_error: Double?
            var predicted_error: Double
        }
        struct Layer: Encodable {
            var layer: String, name: String, op: String, macs: Int, prunable: Bool, gain: Double, pruning_gain: Double
            /// With --output-error estimated: the op that kept the gains from being estimated.
            var gains_rerun_because_of: String?
            var candidates: [Row]
        }
        struct Document: Encodable { var samples: Int; var layers: [Layer] }
        let document = Document(
            samples: report.samples,
            layers: report.layers.map { l in
                Layer(
                    layer: l.layer, name: l.name, op: l.op, macs: l.macs, prunable: l.canPrune, gain: l.gain,
                    pruning_gain: l.pruningGain, gains_rerun_because_of: l.notEstimatedBecauseOf,
                    candidates: l.candidates.map {
                        Row(
                            candidate: "\($0.candidate)", weight_sqnr_db: $0.weightSQNR.isFinite ? $0.weightSQNR : nil,
                            layer_error: $0.layerError, layer_output_error: $0.layerOutputError,
                            output_error: $0.measuredError, predicted_error: $0.predictedError)
                    })
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(document), as: UTF8.self)
    }
}
