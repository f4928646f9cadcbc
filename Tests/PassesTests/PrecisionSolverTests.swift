// The precision solver on the design chapter's exercise 3.4 (10 layers, budget 30 units),
// checked against brute force over all 3^10 assignments, and its Pareto frontier.
import Passes
import XCTest

final class PrecisionSolverTests: XCTestCase {
    /// Exercise 3.4: FLOPs and sensitivities of 10 layers. Latency = FLOPs / speed (fp16 1x,
    /// fp8 2x, nvfp4 4x); predicted error = sensitivity x a per-format factor (fp16 0,
    /// fp8 1, nvfp4 4). The factors stand in for what sensitivity analysis will measure;
    /// the solver is exact whatever they are, which brute force checks.
    static let flops: [Double] = [2, 4, 8, 8, 16, 16, 8, 4, 2, 1]
    static let sensitivity: [Double] = [0.9, 0.3, 0.2, 0.2, 0.1, 0.1, 0.3, 0.7, 0.8, 0.95]
    static var layers: [[PrecisionOption]] {
        zip(flops, sensitivity).map { f, s in
            [PrecisionOption("fp16", latency: f, error: 0),
             PrecisionOption("fp8", latency: f / 2, error: s),
             PrecisionOption("nvfp4", latency: f / 4, error: 4 * s)]
        }
    }

    private func bruteForce(_ layers: [[PrecisionOption]], budget: Double) -> (error: Double, latency: Double)? {
        var best: (error: Double, latency: Double)?
        for code in 0..<Int(pow(3.0, Double(layers.count))) {
            var c = code, latency = 0.0, error = 0.0
            for options in layers {
                let o = options[c % 3]
                c /= 3
                latency += o.latency
                error += o.error
            }
            guard latency <= budget + 1e-9 else { continue }
            if best == nil || error < best!.error - 1e-12 || (abs(error - best!.error) <= 1e-12 && latency < best!.latency) {
                best = (error, latency)
            }
        }
        return best
    }

    func testExercise34MatchesBruteForce() throws {
        let plan = try XCTUnwrap(PrecisionSolver.solve(Self.layers, budget: 30))
        let brute = try XCTUnwrap(bruteForce(Self.layers, budget: 30))
        XCTAssertEqual(plan.error, brute.error, accuracy: 1e-9)
        XCTAssertEqual(plan.latency, brute.latency, accuracy: 1e-9)
        XCTAssertLessThanOrEqual(plan.latency, 30)
        let names = zip(Self.layers, plan.choices).map { $0[$1].name }
        // The sensitive first and last layers stay at fp16; the 16-GFLOP layers go to nvfp4.
        XCTAssertEqual(names.first, "fp16")
        XCTAssertEqual(names.last, "fp16")
        XCTAssertEqual(names[4], "nvfp4")
        XCTAssertEqual(names[5], "nvfp4")
    }

    func testEveryBudgetMatchesBruteForce() throws {
        for budget in stride(from: 17.25, through: 69, by: 2.75) {
            let plan = PrecisionSolver.solve(Self.layers, budget: budget)
            let brute = bruteForce(Self.layers, budget: budget)
            XCTAssertEqual(plan?.error ?? -1, brute?.error ?? -1, accuracy: 1e-9, "budget \(budget)")
        }
        XCTAssertNil(PrecisionSolver.solve(Self.layers, budget: 17), "all-nvfp4 needs 17.25 units")
    }

    func testFrontierIsParetoOptimalAndIncreasing() {
        let frontier = PrecisionSolver.frontier(Self.layers, budget: 69)
        XCTAssertEqual(frontier.first?.latency, 17.25)
        XCTAssertEqual(frontier.last?.error, 0)
        for (a, b) in zip(frontier, frontier.dropFirst()) {
            XCTAssertLessThan(a.latency, b.latency)
            XCTAssertGreaterThan(a.error, b.error)
        }
    }
}
