// Automatic precision from sensitivities: each kind of budget is respected, a generous one
// keeps everything exact, the choice is the best one (checked by enumeration), and rules
// narrow each layer's candidates.

import Formats
import Foundation
import Passes
import XCTest

final class PrecisionAssignmentTests: XCTestCase {
    /// Errors for fp8, nvfp4, fp16+2:4, fp8+2:4, nvfp4+2:4 (the sparse ones dropped when
    /// the layer cannot be pruned).
    private func layer(_ name: String, macs: Int, parameters: Int, errors: [Double], canPrune: Bool = true) -> LayerSensitivity {
        let candidates = zip(LayerCandidate.analyzed, errors).compactMap { c, e in
            !c.sparse || canPrune ? CandidateError(candidate: c, weightSQNR: 0, measuredError: e) : nil
        }
        return LayerSensitivity(
            layer: name, op: "Conv", macs: macs, parameters: parameters, canPrune: canPrune,
            candidates: candidates)
    }

    private var layers: [LayerSensitivity] {
        [
            layer("a", macs: 1000, parameters: 64, errors: [0.01, 0.2, 0.25, 0.3, 0.9], canPrune: false),
            layer("b", macs: 2400, parameters: 512, errors: [0.001, 0.01, 0.02, 0.05, 0.08]),
            layer("c", macs: 496, parameters: 96, errors: [0.02, 0.5, 0.3, 0.6, 1.0]),
        ]
    }

    /// Every assignment of fp16 dense or an analysed candidate: (latency, bits, error, choice).
    private func everyAssignment(
        _ layers: [LayerSensitivity],
        allowed: [String: Set<LayerCandidate>] = [:]
    ) -> [(Double, Double, Double, [LayerCandidate])] {
        let options = layers.map { l in
            ([LayerCandidate(.fp16)] + l.candidates.map(\.candidate)).filter { allowed[l.layer]?.contains($0) ?? true }
        }
        var out: [(Double, Double, Double, [LayerCandidate])] = []
        func walk(_ i: Int, _ latency: Double, _ bits: Double, _ error: Double, _ picks: [LayerCandidate]) {
            if i == layers.count { out.append((latency, bits, error, picks)); return }
            for c in options[i] {
                let e = layers[i].candidates.first { $0.candidate == c }?.outputError ?? 0
                walk(
                    i + 1, latency + c.relativeLatency * Double(layers[i].macs),
                    bits + c.bitsPerWeight * Double(layers[i].parameters), error + e, picks + [c])
            }
        }
        walk(0, 0, 0, 0, [])
        return out
    }

    func testBitsPerWeightCountScalesAndMetadata() {
        XCTAssertEqual(LayerCandidate(.fp16).bitsPerWeight, 16)
        XCTAssertEqual(LayerCandidate(.fp8).bitsPerWeight, 8)
        XCTAssertEqual(LayerCandidate(.nvfp4).bitsPerWeight, 4.5)
        XCTAssertEqual(LayerCandidate(.nvfp4, sparse: true).bitsPerWeight, 3.5)  // (2 x 4 + 4) / 4 + 0.5
        XCTAssertEqual(LayerCandidate(.fp8, sparse: true).bitsPerWeight, 5)
    }

    func testLatencyBudgetGivesTheLeastErrorThatFits() throws {
        let nvfp4 = PrecisionAssignment.uniformLatency(layers, LayerCandidate(.nvfp4))
        XCTAssertEqual(nvfp4, 250 + 600 + 124)  // all on the solver grid: exact
        let plan = try XCTUnwrap(PrecisionAssignment.solve(layers, budget: .latency(nvfp4)))
        XCTAssertLessThanOrEqual(plan.latency, nvfp4 + 1e-6)
        let best = everyAssignment(layers).filter { $0.0 <= nvfp4 + 1e-6 }.map(\.2).min()!
        XCTAssertEqual(plan.predictedError, best, accuracy: 1e-9)
        // The frontier runs from fast to exact, error falling at each step.
        XCTAssertEqual(plan.frontier.last?.error ?? -1, plan.predictedError, accuracy: 1e-12)
        XCTAssertTrue(zip(plan.frontier, plan.frontier.dropFirst()).allSatisfy { $0.cost < $1.cost && $0.error > $1.error })
        // Each point carries its assignment; the last is the choice, with the same totals.
        let chosen = try XCTUnwrap(plan.frontier.last)
        XCTAssertEqual(chosen.choices, layers.map { plan.choices[$0.layer]! })
        XCTAssertEqual(chosen.latency, plan.latency, accuracy: 1e-9)
        XCTAssertEqual(chosen.weightBits, plan.weightBits, accuracy: 1e-9)
        for point in plan.frontier {
            let errors = zip(layers, point.choices).map { l, c in
                l.candidates.first { $0.candidate == c }?.outputError ?? 0
            }
            XCTAssertEqual(errors.reduce(0, +), point.error, accuracy: 1e-12)
            XCTAssertEqual(
                zip(layers, point.choices).reduce(0) { $0 + Double($1.0.macs) * $1.1.relativeLatency }, point.latency,
                accuracy: 1e-9)
        }
        let generous = try XCTUnwrap(PrecisionAssignment.solve(layers, budget: .latency(1e9)))
        XCTAssertEqual(generous.predictedError, 0)
        XCTAssertTrue(generous.choices.values.allSatisfy { $0 == LayerCandidate(.fp16) })
        XCTAssertNil(PrecisionAssignment.solve(layers, budget: .latency(10)))
    }

    func testSizeBudgetGivesTheLeastErrorThatFits() throws {
        let limit = 0.4 * PrecisionAssignment.uniformSize(layers, LayerCandidate(.fp16))
        let plan = try XCTUnwrap(PrecisionAssignment.solve(layers, budget: .size(limit)))
        XCTAssertLessThanOrEqual(plan.weightBits, limit + 1e-6)
        let best = everyAssignment(layers).filter { $0.1 <= limit + 1e-6 }.map(\.2).min()!
        XCTAssertEqual(plan.predictedError, best, accuracy: 1e-9)
    }

    func testErrorBudgetGivesTheFastestWithinIt() throws {
        for limit in [0.0, 0.03, 0.3, 0.8, 5] {
            let plan = try XCTUnwrap(PrecisionAssignment.solve(layers, budget: .error(limit)))
            XCTAssertLessThanOrEqual(plan.predictedError, limit + 1e-12)
            let fastest = everyAssignment(layers).filter { $0.2 <= limit + 1e-12 }.map(\.0).min()!
            XCTAssertEqual(plan.latency, fastest, accuracy: 1e-6, "error budget \(limit)")
        }
    }

    func testRulesNarrowTheCandidates() throws {
        let rules = try PrecisionRules.parse(
            Data(
                """
                {"rules": [{"layers": "a", "min": "fp8"}, {"layers": "[bc]", "sparsity": "dense"},
                           {"layers": "c", "precision": "fp16"}]}
                """.utf8))
        let allowed = try rules.allowed(layers)
        XCTAssertEqual(allowed["a"], [LayerCandidate(.fp16), LayerCandidate(.fp8)])
        XCTAssertEqual(allowed["b"], [LayerCandidate(.fp16), LayerCandidate(.fp8), LayerCandidate(.nvfp4)])
        XCTAssertEqual(allowed["c"], [LayerCandidate(.fp16)])
        let plan = try XCTUnwrap(PrecisionAssignment.solve(layers, budget: .error(5), allowed: allowed))
        let fastest = everyAssignment(layers, allowed: allowed).min { $0.0 < $1.0 }!
        XCTAssertEqual(plan.latency, fastest.0, accuracy: 1e-6)
        XCTAssertEqual(
            layers.map { plan.choices[$0.layer]! }, [LayerCandidate(.fp8), LayerCandidate(.nvfp4), LayerCandidate(.fp16)])
        XCTAssertThrowsError(try PrecisionRules(rules: [PrecisionRule(layers: "a", sparsity: "2:4")]).allowed(layers)) {
            XCTAssertEqual(
                "\($0)",
                "rule 1 (\"a\") leaves layer a no candidate (its reduction length is not a multiple of 4, so it cannot be 2:4)")
        }
        XCTAssertThrowsError(try PrecisionRules(rules: [PrecisionRule(layers: "z*", min: "fp8")]).allowed(layers)) {
            XCTAssertEqual(
                "\($0)",
                "rule 1 (\"z*\") matches no layer; the layers by node (output), as compiled with BatchNormalization "
                    + "folded and activations fused: a, b, c")
        }
    }

    /// Three steps of a recurrence reading one weight and a layer of its own: the steps take
    /// one candidate, their weight counts once against a size budget, and the choice is the
    /// best of every assignment that gives the steps one candidate (by enumeration).
    func testLayersStoringOneWeightTakeOneCandidateAndCountItOnce() throws {
        var steps = (0..<3).map { t in
            layer("step\(t)", macs: 800, parameters: 256, errors: [0.01, 0.05 * Double(t + 1), 0.2, 0.3, 0.6])
        }
        for t in steps.indices { steps[t].weightKey = "w 16x16 rows" }
        let layers = steps + [layer("own", macs: 1200, parameters: 512, errors: [0.002, 0.02, 0.05, 0.06, 0.1])]
        // All at nvfp4: the shared weight once (256) and the other layer (512), 4.5 bits each.
        XCTAssertEqual(PrecisionAssignment.uniformSize(layers, LayerCandidate(.nvfp4)), 4.5 * 768, accuracy: 1)
        for fraction in [0.3, 0.45, 0.6, 0.8] {
            let limit = fraction * PrecisionAssignment.uniformSize(layers, LayerCandidate(.fp16))
            let a = try XCTUnwrap(PrecisionAssignment.solve(layers, budget: .size(limit)))
            let picks = layers.map { a.choices[$0.layer]! }
            XCTAssertEqual(Set(picks[0..<3]).count, 1, "the steps share one candidate")
            XCTAssertEqual(a.weightBits, picks[0].bitsPerWeight * 256 + picks[3].bitsPerWeight * 512, accuracy: 1e-9)
            XCTAssertLessThanOrEqual(a.weightBits, limit + 1)
            // The best error among assignments whose steps agree and that fit.
            let fitting = everyAssignment(layers).filter { Set($0.3[0..<3]).count == 1 }.map { option -> (Double, Double) in
                (option.3[0].bitsPerWeight * 256 + option.3[3].bitsPerWeight * 512, option.2)
            }.filter { $0.0 <= limit * (1 - 1e-3) }
            let best = try XCTUnwrap(fitting.map(\.1).min())
            XCTAssertLessThanOrEqual(a.predictedError, best + 1e-12)
        }
    }
}
