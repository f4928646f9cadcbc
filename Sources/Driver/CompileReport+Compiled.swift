// The compile report's data, collected from a compiled model: the per-layer table (shapes,
// MACs, parameters, formats, weight SQNR against the float weights, the cycle model's and
// the roofline's cycles as `npucc profile` computes them from the bundle's bytes) and, with
// --precision auto, the analysis, the solver's frontier and the histograms.
import Backend
import Bundle
import Formats
import Foundation
import IR
import Passes
import Reference
import Report

extension CompileReport {
    /// The report of `compiled`, compiled from `original` (the model as loaded, before any
    /// pass) with `options`, its cycles on `targetPath`'s description (the built-in one without).
    /// `bundle` is the compiled bundle's bytes, when the caller has encoded them already.
    public init(
        _ compiled: CompiledModel, original: LoadedModel, options: CompileOptions, targetPath: String?,
        bundle: [UInt8]? = nil
    ) throws {
        let name = URL(fileURLWithPath: original.path).lastPathComponent
        let file = try BundleReader.parse(try bundle ?? compiled.bundle().encoded(file: name), file: name)
        let profile = try BundleProfile.profile(file, bundlePath: name, targetPath: targetPath)
        let floatGraph = try Self.floatGraph(original)
        let graph = compiled.graph
        let nodes = Dictionary(graph.nodes.map { (Self.layerName($0), $0) }, uniquingKeysWith: { a, _ in a })
        let floatNodes = Dictionary(floatGraph.nodes.map { (Self.layerName($0), $0) }, uniquingKeysWith: { a, _ in a })
        let packed = Dictionary(compiled.layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let analysed = Dictionary(
            (compiled.analysis?.sensitivity.layers ?? []).map { ($0.displayName, $0) }, uniquingKeysWith: { a, _ in a })
        let choices = compiled.analysis?.assignment.choices ?? [:]
        var rows: [Layer] = []
        for p in profile.layers {
            let node = nodes[p.name]
            let packedLayer = packed[p.name]
            let precision = packedLayer?.format ?? p.precision
            var sqnr: Double?
            if let node, let float = floatNodes[p.name], let q = LayerWeight(node, graph), let w = LayerWeight(float, floatGraph),
                packedLayer != nil
            {
                sqnr = Self.finite(ErrorMetrics(original: w.matrix(), quantized: q.matrix()).sqnr)
            }
            var sensitivity: [Candidate]?
            if let s = analysed[p.name] {
                let chosen = choices[s.layer] ?? LayerCandidate(.fp16)
                sensitivity =
                    [
                        Candidate(
                            candidate: "fp16", predictedError: 0, measuredError: nil, weightSQNR: nil,
                            chosen: chosen == LayerCandidate(.fp16))
                    ]
                    + s.candidates.map {
                        Candidate(
                            candidate: "\($0.candidate)", predictedError: $0.predictedError, measuredError: $0.measuredError,
                            weightSQNR: Self.finite($0.weightSQNR), chosen: $0.candidate == chosen)
                    }
            }
            rows.append(
                Layer(
                    name: p.name, op: p.op, inputShapes: node.map { Self.shapes($0.inputs, graph) } ?? [],
                    outputShapes: node.map { Self.shapes($0.outputs, graph) } ?? [], macs: p.macs,
                    parameters: node.map { Self.parameters($0, graph) } ?? 0, precision: precision,
                    sparsity: packedLayer.map { $0.sparse ? "2:4" : "dense" } ?? "-",
                    bitsPerWeight: packedLayer.flatMap { l in
                        PrecisionFormat(rawValue: l.format).map { LayerCandidate($0, sparse: l.sparse).bitsPerWeight }
                    },
                    weightSQNR: sqnr, sensitivity: sensitivity, rooflineCycles: p.rooflineCycles, simulatedCycles: p.cycles,
                    bound: p.bound))
        }
        var analysis: Analysis?
        var histograms: [ValueHistogram] = []
        if let a = compiled.analysis {
            analysis = Self.analysis(a, options: options)
            histograms = try ValueHistograms.collect(
                a, floatGraph: floatGraph, compiled: graph, calibPath: options.calibPath,
                samples: ValueHistograms.sampleLimit)
        }
        self.init(
            model: name, compiler: "npucc \(Version.string)", target: profile.target, options: options.recorded, layers: rows,
            total: Total(
                simulatedCycles: profile.total.cycles, rooflineCycles: profile.total.rooflineCycles,
                seconds: profile.total.seconds, macs: profile.total.macs, weightBytes: compiled.weights.count),
            analysis: analysis,
            analysisNote: analysis == nil
                ? "The sensitivity analysis runs with --precision auto; this model was compiled with --precision "
                    + "\(options.precision), so there is no per-layer sensitivity, precision search or histogram of "
                    + "the most sensitive layers." : nil,
            histograms: histograms)
    }

    /// The solver's frontier with the chosen point.
    private static func analysis(_ a: PrecisionAnalysis, options: CompileOptions) -> Analysis {
        let layers = a.sensitivity.layers, assignment = a.assignment
        let bySize: Bool
        if case .size = assignment.budget { bySize = true } else { bySize = false }
        let chosen = layers.map { assignment.choices[$0.layer] ?? LayerCandidate(.fp16) }
        let points = assignment.frontier.map { p in
            FrontierPoint(
                cost: p.cost, predictedError: p.error, latencyMACs: p.latency, weightBytes: p.weightBits / 8,
                choices: Dictionary(
                    zip(layers, p.choices).map { ($0.0.displayName, "\($0.1)") }, uniquingKeysWith: { a, _ in a }))
        }
        return Analysis(
            samples: a.sensitivity.samples, outputError: options.outputError.rawValue, budget: options.budget,
            costKind: bySize ? "size" : "latency",
            fp16Cost: bySize
                ? PrecisionAssignment.uniformSize(layers, LayerCandidate(.fp16)) / 8 : assignment.fp16Latency,
            frontier: points, chosen: assignment.frontier.firstIndex { $0.choices == chosen } ?? max(points.count - 1, 0))
    }

    /// The model as the analysis saw it: BatchNormalization folded, activations fused, weights in float.
    private static func floatGraph(_ original: LoadedModel) throws -> Graph {
        var graph = original.model.graph
        do {
            try Pipeline.fuseLayers.run(&graph, PassContext(verify: false))
        } catch let e as IRError {
            throw DriverError(file: original.path, e.description)
        }
        return graph
    }

    /// How the lowering names a node: its own name, or its first output's.
    static func layerName(_ node: Node) -> String { node.name.isEmpty ? node.outputs.first ?? "" : node.name }

    private static func shapes(_ values: [String], _ graph: Graph) -> [[Int]] {
        values.filter { !$0.isEmpty && graph.constants[$0] == nil }.map {
            graph.type(of: $0)?.shape?.dims.map { $0.value ?? -1 } ?? []
        }
    }

    private static func parameters(_ node: Node, _ graph: Graph) -> Int {
        Set(node.inputs).compactMap { graph.constants[$0]?.count }.reduce(0, +)
    }

    static func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }
}
