// Automatic precision from sensitivities: the budget is respected, a generous budget keeps
// everything exact, and the choice is the least-error one (checked by enumeration).
import Formats
import Passes
import XCTest

final class PrecisionAssignmentTests: XCTestCase {
    private func layer(_ name: String, macs: Int, errors: [Double], canPrune: Bool = true) -> LayerSensitivity {
        let candidates = zip(LayerCandidate.analyzed, errors).compactMap { c, e in
            !c.sparse || canPrune ? CandidateError(candidate: c, weightSQNR: 0, outputError: e) : nil
        }
        return LayerSensitivity(layer: name, op: "Conv", macs: macs, canPrune: canPrune, candidates: candidates)
    }

    private var layers: [LayerSensitivity] {
        [layer("a", macs: 1000, errors: [0.01, 0.2, 0.3, 0.9], canPrune: false),
         layer("b", macs: 2400, errors: [0.001, 0.01, 0.05, 0.08]),
         layer("c", macs: 496, errors: [0.02, 0.5, 0.6, 1.0])]
    }

    func testBudgetsAndOptimality() throws {
        let nvfp4 = PrecisionAssignment.uniformLatency(layers, LayerCandidate(.nvfp4))
        XCTAssertEqual(nvfp4, 250 + 600 + 124)  // all on the solver grid: exact
        let plan = try XCTUnwrap(PrecisionAssignment.solve(layers, budget: nvfp4))
        XCTAssertLessThanOrEqual(plan.latency, nvfp4 + 1e-6)
        // Enumerate every assignment (fp16 + the analysed candidates) for the best error.
        var best = Double.infinity
        let options = layers.map { l in [(1.0, 0.0)] + l.candidates.map { ($0.candidate.relativeLatency, $0.outputError) } }
        func walk(_ i: Int, _ latency: Double, _ error: Double) {
            if i == options.count { if latency <= nvfp4 + 1e-6 { best = min(best, error) }; return }
            for (rel, e) in options[i] { walk(i + 1, latency + rel * Double(layers[i].macs), error + e) }
        }
        walk(0, 0, 0)
        XCTAssertEqual(plan.predictedError, best, accuracy: 1e-9)
        let generous = try XCTUnwrap(PrecisionAssignment.solve(layers, budget: 1e9))
        XCTAssertEqual(generous.predictedError, 0)
        XCTAssertTrue(generous.choices.values.allSatisfy { $0 == LayerCandidate(.fp16) })
        XCTAssertNil(PrecisionAssignment.solve(layers, budget: 10))
    }
}
