// Sensitivity analysis re-runs only what a changed layer reaches: its numbers equal those
// of quantizing the layer in the whole graph and running all of it.

import Formats
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
        /// The values of the first two samples, kept by calibration.
        var kept: [[String: Tensor]]

        /// `graph` calibrated (minmax) on `samples`, with every layer's Hessian.
        init(_ graph: Graph, _ samples: [[String: Tensor]]) throws {
            var calibrator = try Calibrator(graph: graph, collectHessians: true, keepingValuesOf: 2)
            for s in samples { try calibrator.observe(s) }
            kept = calibrator.kept
            self.graph = graph
            self.samples = samples
            amax = Dictionary(uniqueKeysWithValues: calibrator.ranges(.minmax).map { ($0.name, $0.amax) })
            norms = calibrator.inputNorms()
            hessians = calibrator.layerHessians()
        }

        func analyse(
            _ endToEnd: EndToEndError = .measured, sparse: Bool = true, values: [[String: Tensor]]? = nil
        ) throws -> [LayerSensitivity] {
            try SensitivityAnalysis.run(
                graph, samples: samples, activationAmax: amax, inputNorms: norms, hessians: hessians,
                pruning: .sparsegpt, sparse: sparse, endToEnd: endToEnd, values: values)
        }
    }

    /// Calibration keeps the first samples' values as the interpreter gives them; an analysis
    /// handed them (for two of its three samples) gives every number of one that runs them.
    func testValuesKeptByCalibrationGiveTheSameAnalysis() throws {
        let c = try calibrated(seed: 36)
        XCTAssertEqual(c.kept.count, 2)
        for (s, kept) in c.kept.enumerated() {
            var values = c.samples[s]
            _ = try Interpreter(graph: c.graph).run(c.samples[s]) { name, t in values[name] = t }
            XCTAssertEqual(Set(kept.keys), Set(values.keys))
            for (name, t) in values { XCTAssertTrue(kept[name]!.bitwiseEqual(t), name) }
        }
        for endToEnd in EndToEndError.allCases {
            let computed = try c.analyse(endToEnd), handed = try c.analyse(endToEnd, values: c.kept)
            for (a, b) in zip(computed, handed) {
                XCTAssertEqual(a.gain, b.gain)
                XCTAssertEqual(a.pruningGain, b.pruningGain)
                for (x, y) in zip(a.candidates, b.candidates) {
                    XCTAssertEqual(x.layerOutputError, y.layerOutputError)
                    XCTAssertEqual(x.predictedError, y.predictedError)
                    XCTAssertEqual(x.measuredError, y.measuredError)
                }
            }
        }
    }

    private func calibrated(seed: UInt64) throws -> Calibrated {
        var rng = SeededRandom(seed: seed)
        let graph = model(&rng)
        let samples = (0..<3).map { _ in
            ["x": Tensor((0..<32).map { _ in Float.random(in: -2...2, using: &rng) }, shape: [4, 8])]
        }
        return try Calibrated(graph, samples)
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

    /// A grouped convolution is pruned by every method: Wanda weighs each row's weights by the
    /// norms of its own group's input channels (the norms cover all 8), and the analysis
    /// hands on the 2:4 weights its candidates were made from.
    func testAGroupedConvolutionHandsOnPrunedWeightsByEveryMethod() throws {
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
        for method in [PruningMethod.wanda, .magnitude, .sparsegpt] {
            let layers = try SensitivityAnalysis.run(
                graph, samples: [sample], activationAmax: amax, inputNorms: calibrator.inputNorms(),
                hessians: calibrator.layerHessians(), pruning: method, endToEnd: .predicted)
            XCTAssertTrue(layers[0].canPrune)
            let pruned = try XCTUnwrap(layers[0].pruned, "\(method)")
            // Two of every four consecutive reduction weights are zero.
            for start in stride(from: 0, to: pruned.count, by: 4) {
                XCTAssertGreaterThanOrEqual(pruned[start..<(start + 4)].filter { $0 == 0 }.count, 2, "\(method)")
            }
        }
    }

    /// x [1, 4, 8] -> MatMul "m1" [8 -> 8] -> `middle` -> MatMul "m2" [8 -> columns] -> y
    /// [1, 4, columns]: a relative squared error output, linear unless `middle` is not.
    private func linearModel(columns: Int, middle: String = "Identity", seed: UInt64) throws -> Calibrated {
        var rng = SeededRandom(seed: seed)
        func random(_ shape: [Int]) -> Tensor {
            Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: shape)
        }
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(4), .known(8)])
        b.constant("w1", random([8, 8]))
        b.constant("w2", random([8, columns]))
        b.constant("axis", Tensor(scalar: Int64(2)))
        b.node("MatMul", ["x", "w1"], outputs: ["h"], name: "m1")
        b.node(middle, middle == "CumSum" ? ["h", "axis"] : ["h"], outputs: ["r"])
        b.node("MatMul", ["r", "w2"], outputs: ["y"], name: "m2")
        b.output("y")
        var graph = b.graph
        _ = try InferShapes().run(&graph, PassContext())
        let samples = (0..<3).map { _ in ["x": random([1, 4, 8])] }
        return try Calibrated(graph, samples)
    }

    /// Through a linear model the second order is the whole error: with every output
    /// direction (24 values), each gain candidate's estimate is its measured error, up to
    /// the bfloat16 cotangents' rounding; the other candidates follow from the gains, as
    /// predicted ones do; nothing is measured.
    func testEstimatedGainsOfALinearModelAreTheMeasuredOnes() throws {
        let c = try linearModel(columns: 6, seed: 41)
        let measured = try c.analyse(.measured), estimated = try c.analyse(.estimated)
        XCTAssertEqual(estimated.map(\.layer), ["h", "y"])
        for (m, e) in zip(measured, estimated) {
            XCTAssertNil(e.notEstimatedBecauseOf)
            XCTAssertEqual(e.candidates.count, 5)
            XCTAssertEqual(e.gain, m.gain, accuracy: 1e-2 * m.gain)
            XCTAssertEqual(e.pruningGain, m.pruningGain, accuracy: 1e-2 * m.pruningGain)
            let own = Dictionary(uniqueKeysWithValues: e.candidates.map { ($0.candidate, $0.layerOutputError) })
            for (mc, ec) in zip(m.candidates, e.candidates) {
                let error = try XCTUnwrap(mc.measuredError)
                XCTAssertNil(ec.measuredError)
                if SensitivityAnalysis.gainCandidates.contains(ec.candidate) {
                    XCTAssertEqual(ec.outputError, error, accuracy: 1e-2 * error, "\(e.layer) \(ec.candidate)")
                }
                let expected = SensitivityAnalysis.predict(
                    ec.candidate, gain: e.gain, pruningGain: e.pruningGain, layerOutput: own)
                XCTAssertEqual(ec.predictedError, expected, accuracy: 1e-15 * expected)
            }
        }
        // The last layer's output is the model's: its gains are 1.
        XCTAssertEqual(estimated[1].gain, 1, accuracy: 1e-2)
        XCTAssertEqual(estimated[1].pruningGain, 1, accuracy: 1e-2)
    }

    /// An output of 80 values draws random directions, 32 in all (11 for each of the 3
    /// samples): the same numbers on every run, and unbiased, so near the measured gains.
    func testRandomOutputDirectionsAreReproducible() throws {
        let c = try linearModel(columns: 20, seed: 42)
        let first = try c.analyse(.estimated), second = try c.analyse(.estimated), measured = try c.analyse(.measured)
        for (m, (a, b)) in zip(measured, zip(first, second)) {
            XCTAssertEqual(a.candidates.map(\.predictedError), b.candidates.map(\.predictedError))
            for (estimate, truth) in [(a.gain, m.gain), (a.pruningGain, m.pruningGain)] {
                XCTAssertGreaterThan(estimate, truth / 2, "\(m.layer)")
                XCTAssertLessThan(estimate, truth * 2, "\(m.layer)")
            }
        }
    }

    /// A layer upstream of an op without a derivative rule (CumSum) is predicted, as the
    /// predicted analysis predicts it, and says why; the layer after it is estimated.
    func testALayerBehindAnOpWithoutARuleIsPredicted() throws {
        let c = try linearModel(columns: 6, middle: "CumSum", seed: 43)
        let predicted = try c.analyse(.predicted), estimated = try c.analyse(.estimated), measured = try c.analyse(.measured)
        XCTAssertEqual(estimated.map(\.notEstimatedBecauseOf), ["CumSum", nil])
        XCTAssertEqual(estimated[0].candidates.map(\.predictedError), predicted[0].candidates.map(\.predictedError))
        XCTAssertEqual(estimated[1].gain, measured[1].gain, accuracy: 1e-2 * measured[1].gain)
    }

    /// A classifier's KL divergence to second order, with every output direction: after the
    /// last layer the model is linear (fc2, then the branch's add), so fc2's gain
    /// candidates' estimates are ½·dᵀ·F·d averaged over rows, d the whole graph's change of
    /// the logits and F the softmax's Fisher matrix diag(p) − p·pᵀ, computed here from the
    /// graphs.
    func testEstimatedDivergenceIsTheSecondOrderOfTheMeasuredOne() throws {
        let c = try calibrated(seed: 44)
        let estimated = try c.analyse(.estimated)
        let last = try XCTUnwrap(estimated.first { $0.layer == "z" })
        let reference = try c.samples.map { try Interpreter(graph: c.graph).run($0)["y"]! }
        for e in last.candidates where SensitivityAnalysis.gainCandidates.contains(e.candidate) {
            let g = try changed(c.graph, "z", e.candidate, c.amax, c.hessians)
            var total = 0.0, rows = 0
            for (sample, r) in zip(c.samples, reference) {
                let q = try Interpreter(graph: g).run(sample)["y"]!.floats(), a = r.floats(), classes = r.shape[1]
                for row in 0..<r.shape[0] {
                    let z = a[(row * classes)..<((row + 1) * classes)]
                    let m = Double(z.max()!), ez = z.map { exp(Double($0) - m) }, sum = ez.reduce(0, +)
                    let p = ez.map { $0 / sum }
                    let d = (0..<classes).map { Double(q[row * classes + $0]) - Double(a[row * classes + $0]) }
                    let mean = zip(p, d).reduce(0) { $0 + $1.0 * $1.1 }
                    total += 0.5 * zip(p, d).reduce(0) { $0 + $1.0 * ($1.1 - mean) * ($1.1 - mean) }
                    rows += 1
                }
            }
            let expected = total / Double(rows)
            XCTAssertGreaterThan(expected, 0)
            XCTAssertEqual(e.outputError, expected, accuracy: 1e-2 * expected, "\(e.candidate)")
        }
    }
}
