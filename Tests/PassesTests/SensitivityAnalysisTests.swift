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
        var rng = SeededRandom(seed: 31)
        let graph = model(&rng)
        let samples = (0..<3).map { _ in
            ["x": Tensor((0..<32).map { _ in Float.random(in: -2...2, using: &rng) }, shape: [4, 8])]
        }
        var calibrator = try Calibrator(graph: graph, collectHessians: true)
        for s in samples { try calibrator.observe(s) }
        let amax = Dictionary(uniqueKeysWithValues: calibrator.ranges(.minmax).map { ($0.name, $0.amax) })
        let hessians = calibrator.layerHessians()
        let layers = try SensitivityAnalysis.run(
            graph, samples: samples, activationAmax: amax,
            inputNorms: calibrator.inputNorms(), hessians: hessians, pruning: .sparsegpt)
        XCTAssertEqual(layers.map(\.layer), ["h", "z"])
        XCTAssertEqual(layers.map(\.parameters), [64, 40])
        let reference = try samples.map { try Interpreter(graph: graph).run($0)["y"]! }
        for l in layers {
            XCTAssertEqual(l.candidates.map(\.candidate), LayerCandidate.analyzed)
            for c in l.candidates {
                var g = graph
                var context = PassContext()
                context.quantization = QuantizationPlan(
                    format: .fp32, perLayer: [l.layer: c.candidate.format], activationAmax: amax)
                if c.candidate.sparse {
                    context.sparsity = SparsityPlan(method: .sparsegpt, hessians: hessians, layers: [l.layer])
                    _ = try Prune24().run(&g, context)
                }
                _ = try QuantizeLayers().run(&g, context)
                let changed = try samples.map { try Interpreter(graph: g).run($0)["y"]! }
                XCTAssertEqual(c.outputError, kl(reference, changed), accuracy: 1e-12, "\(l.layer) \(c.candidate)")
                XCTAssertGreaterThan(c.outputError, 0)
                let layerError = try XCTUnwrap(c.layerError)
                XCTAssertGreaterThan(layerError, 0)
            }
        }
    }
}
