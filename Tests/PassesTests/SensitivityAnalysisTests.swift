import Formats
// Sensitivity analysis re-runs only what a changed layer reaches: its numbers equal those
// of quantizing the layer in the whole graph and running all of it.
import Foundation
import IR
import Passes
import Reference
import TestSupport
import XCTest

final class SensitivityAnalysisTests: XCTestCase {
    /// x [4, 8] -> Gemm "fc1" [8 -> 8] -> Relu -> Gemm "fc2" [8 -> 5] -> Add of x's first
    /// five columns (a branch around both layers).
    private func model(_ rng: inout SeededRandom) -> Graph {
        func random(_ shape: [Int]) -> Tensor {
            Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: shape)
        }
        var b = GraphBuilder()
        b.input("x", .float32, [.known(4), .known(8)])
        b.constant("w1", random([8, 8]))
        b.constant("w2", random([5, 8]))
        b.constant("starts", Tensor([Int64(0)], shape: [1]))
        b.constant("ends", Tensor([Int64(5)], shape: [1]))
        b.constant("axes", Tensor([Int64(1)], shape: [1]))
        b.node("Gemm", ["x", "w1"], ["transB": .int(1)], outputs: ["h"], name: "fc1")
        b.node("Relu", ["h"], outputs: ["r"])
        b.node("Gemm", ["r", "w2"], ["transB": .int(1)], outputs: ["z"], name: "fc2")
        b.node("Slice", ["x", "starts", "ends", "axes"], outputs: ["s"])
        b.node("Add", ["z", "s"], outputs: ["y"])
        b.output("y")
        var g = b.graph
        _ = try? InferShapes().run(&g, PassContext())
        return g
    }

    private func kl(_ reference: [Tensor], _ changed: [Tensor]) -> Double {
        var total = 0.0, rows = 0
        for (r, q) in zip(reference, changed) {
            let a = r.floats(), b = q.floats(), c = r.shape[1]
            for row in 0..<r.shape[0] {
                func softmax(_ v: ArraySlice<Float>) -> [Double] {
                    let m = Double(v.max()!), e = v.map { exp(Double($0) - m) }, s = e.reduce(0, +)
                    return e.map { $0 / s }
                }
                let p = softmax(a[(row * c)..<((row + 1) * c)]), s = softmax(b[(row * c)..<((row + 1) * c)])
                total += zip(p, s).reduce(0) { $0 + $1.0 * log($1.0 / $1.1) }
                rows += 1
            }
        }
        return total / Double(rows)
    }

    func testCachedPrefixGivesTheWholeGraphsErrors() throws {
        let c = try calibrated(seed: 31)
        let (graph, samples, amax, hessians) = (c.graph, c.samples, c.amax, c.hessians)
        let layers = try c.analyse()
        XCTAssertEqual(layers.map(\.layer), ["h", "z"])
        XCTAssertEqual(layers.map(\.parameters), [64, 40])
        let reference = try samples.map { try Interpreter(graph: graph).run($0)["y"]! }
        for l in layers {
            XCTAssertEqual(l.candidates.map(\.candidate), LayerCandidate.analyzed)
            for c in l.candidates {
                let g = try changed(graph, l.layer, c.candidate, amax, hessians)
                let changed = try samples.map { try Interpreter(graph: g).run($0)["y"]! }
                XCTAssertEqual(c.outputError, kl(reference, changed), accuracy: 1e-12, "\(l.layer) \(c.candidate)")
                XCTAssertGreaterThan(c.outputError, 0)
                let layerError = try XCTUnwrap(c.layerError)
                XCTAssertGreaterThan(layerError, 0)
            }
        }
    }

    /// `graph` with only `layer` changed to `candidate` (pruned by SparseGPT, then rounded).
    private func changed(
        _ graph: Graph, _ layer: String, _ candidate: LayerCandidate, _ amax: [String: Float],
        _ hessians: [String: LayerHessian]
    ) throws -> Graph {
        var g = graph
        var context = PassContext()
        context.quantization = QuantizationPlan(format: .fp32, perLayer: [layer: candidate.format], activationAmax: amax)
        if candidate.sparse {
            context.sparsity = SparsityPlan(method: .sparsegpt, hessians: hessians, layers: [layer])
            _ = try Prune24().run(&g, context)
        }
        _ = try QuantizeLayers().run(&g, context)
        return g
    }

    /// The small model with its samples, calibrated.
    private struct Calibrated {
        var graph: Graph
        var samples: [[String: Tensor]]
        var amax: [String: Float]
        var norms: [String: [Float]]
        var hessians: [String: LayerHessian]

        func analyse(_ endToEnd: EndToEndError = .measured, sparse: Bool = true) throws -> [LayerSensitivity] {
            try SensitivityAnalysis.run(
                graph, samples: samples, activationAmax: amax, inputNorms: norms, hessians: hessians,
                pruning: .sparsegpt, sparse: sparse, endToEnd: endToEnd)
        }
    }

    private func calibrated(seed: UInt64) throws -> Calibrated {
        var rng = SeededRandom(seed: seed)
        let graph = model(&rng)
        let samples = (0..<3).map { _ in
            ["x": Tensor((0..<32).map { _ in Float.random(in: -2...2, using: &rng) }, shape: [4, 8])]
        }
        var calibrator = try Calibrator(graph: graph, collectHessians: true)
        for s in samples { try calibrator.observe(s) }
        let amax = Dictionary(uniqueKeysWithValues: calibrator.ranges(.minmax).map { ($0.name, $0.amax) })
        return Calibrated(
            graph: graph, samples: samples, amax: amax, norms: calibrator.inputNorms(), hessians: calibrator.layerHessians())
    }

    func testLayerOutputErrorIsTheChangedLayersAsTheWholeGraphComputesIt() throws {
        let c = try calibrated(seed: 32)
        let (graph, samples, amax, hessians) = (c.graph, c.samples, c.amax, c.hessians)
        let layers = try c.analyse()
        for l in layers {
            for c in l.candidates {
                if c.candidate.sparse {
                    var pruned = graph
                    var context = PassContext()
                    context.sparsity = SparsityPlan(method: .sparsegpt, hessians: hessians, layers: [l.layer])
                    _ = try Prune24().run(&pruned, context)
                    let i = try XCTUnwrap(pruned.nodes.firstIndex { $0.outputs == [l.layer] })
                    XCTAssertEqual(l.pruned, LayerWeight(pruned.nodes[i], pruned)?.matrix(), "\(l.layer)")
                }
                let g = try changed(graph, l.layer, c.candidate, amax, hessians)
                // The quantized graph's value of the layer's output against the unchanged one's,
                // with the unchanged values as inputs: changing only this layer.
                var signal = 0.0, noise = 0.0
                for sample in samples {
                    var values = sample
                    _ = try Interpreter(graph: graph).run(sample) { name, t in values[name] = t }
                    let node = try XCTUnwrap(g.nodes.first { $0.outputs == [l.layer] })
                    let args = node.inputs.map { values[$0] ?? g.constants[$0] }
                    let y = try Kernels.evaluate(node, args)[0].floats(), reference = values[l.layer]!.floats()
                    for (a, b) in zip(reference, y) {
                        signal += Double(a) * Double(a)
                        noise += Double(a - b) * Double(a - b)
                    }
                }
                XCTAssertEqual(c.layerOutputError, noise / signal, accuracy: 1e-6 * noise / signal, "\(l.layer) \(c.candidate)")
                XCTAssertGreaterThan(c.layerOutputError, 0)
            }
        }
    }

    /// Predicted: the gain candidates' re-runs give each layer's gains, every candidate's
    /// error follows from its layer output error, and nothing else is re-run.
    func testPredictedErrorsAreTheGainTimesTheLayerOutputError() throws {
        let c = try calibrated(seed: 33)
        let measured = try c.analyse(.measured), predicted = try c.analyse(.predicted)
        XCTAssertEqual(SensitivityAnalysis.gainCandidates, [LayerCandidate(.nvfp4), LayerCandidate(.fp16, sparse: true)])
        for (m, p) in zip(measured, predicted) {
            XCTAssertGreaterThan(p.gain, 0)
            XCTAssertGreaterThan(p.pruningGain, 0)
            XCTAssertEqual(p.gain, m.gain, accuracy: 1e-4 * m.gain)
            for (mc, pc) in zip(m.candidates, p.candidates) {
                XCTAssertNil(pc.measuredError)
                XCTAssertNil(pc.layerError)
                XCTAssertEqual(pc.outputError, pc.predictedError)
                let pruning = p.candidates.first { $0.candidate == LayerCandidate(.fp16, sparse: true) }!.layerOutputError
                let expected =
                    !pc.candidate.sparse
                    ? p.gain * pc.layerOutputError
                    : p.pruningGain * min(pruning, pc.layerOutputError) + p.gain * max(pc.layerOutputError - pruning, 0)
                XCTAssertEqual(pc.predictedError, expected, accuracy: 1e-15 * expected)
                // Predicted runs the changed layer with the fast product: the same up to float rounding.
                XCTAssertEqual(pc.layerOutputError, mc.layerOutputError, accuracy: 1e-4 * mc.layerOutputError)
                let measuredError = try XCTUnwrap(mc.measuredError)
                if SensitivityAnalysis.gainCandidates.contains(mc.candidate) {
                    XCTAssertEqual(pc.predictedError, measuredError, accuracy: 1e-4 * measuredError, "\(m.layer) \(mc.candidate)")
                    XCTAssertEqual(mc.predictedError, measuredError, accuracy: 1e-12 * measuredError)
                }
            }
        }
    }

    /// Dense only: the 2:4 candidates are left out and nothing is pruned, and the dense
    /// candidates' numbers are those of the whole analysis.
    func testADenseAnalysisIsTheWholeOnesDenseCandidates() throws {
        let c = try calibrated(seed: 35)
        let whole = try c.analyse(.predicted), dense = try c.analyse(.predicted, sparse: false)
        XCTAssertEqual(dense.map(\.layer), whole.map(\.layer))
        for (d, w) in zip(dense, whole) {
            XCTAssertEqual(d.candidates.map(\.candidate), [LayerCandidate(.fp8), LayerCandidate(.nvfp4)])
            XCTAssertEqual(w.candidates.count, 5)
            XCTAssertTrue(d.canPrune)
            XCTAssertNil(d.pruned)
            XCTAssertEqual(d.pruningGain, 0)
            XCTAssertGreaterThan(w.pruningGain, 0)
            XCTAssertEqual(d.gain, w.gain)
            for dc in d.candidates {
                let wc = try XCTUnwrap(w.candidates.first { $0.candidate == dc.candidate })
                XCTAssertEqual(dc.layerOutputError, wc.layerOutputError)
                XCTAssertEqual(dc.predictedError, wc.predictedError)
                XCTAssertEqual(dc.weightSQNR, wc.weightSQNR)
            }
        }
    }

    /// A layer prune-2-4 leaves dense (Wanda's input norms do not fit a grouped convolution)
    /// hands on no 2:4 weights, so applying a 2:4 choice cannot mark dense weights 2:4.
    func testALayerLeftDenseHandsOnNoPrunedWeights() throws {
        var rng = SeededRandom(seed: 34)
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(8), .known(6), .known(6)])
        // Two groups: each output channel reduces over 4 x 3 x 3 = 36 inputs, the norms cover 8 channels.
        b.constant("w", Tensor((0..<288).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [8, 4, 3, 3]))
        b.node("Conv", ["x", "w"], ["group": .int(2), "pads": .ints([1, 1, 1, 1])], outputs: ["y"], name: "conv")
        b.output("y")
        var graph = b.graph
        _ = try InferShapes().run(&graph, PassContext())
        let sample = ["x": Tensor((0..<288).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [1, 8, 6, 6])]
        var calibrator = try Calibrator(graph: graph, collectHessians: true)
        try calibrator.observe(sample)
        let amax = Dictionary(uniqueKeysWithValues: calibrator.ranges(.minmax).map { ($0.name, $0.amax) })
        for (method, handsOn) in [(PruningMethod.wanda, false), (.magnitude, true)] {
            let layers = try SensitivityAnalysis.run(
                graph, samples: [sample], activationAmax: amax, inputNorms: calibrator.inputNorms(),
                hessians: calibrator.layerHessians(), pruning: method, endToEnd: .predicted)
            XCTAssertTrue(layers[0].canPrune)
            XCTAssertEqual(layers[0].pruned != nil, handsOn, "\(method)")
        }
    }
}
