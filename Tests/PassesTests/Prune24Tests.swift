// prune-2-4: at most 2 of every 4 weights along the reduction axis survive, Wanda weighs
// them by the input norms, and layers whose reduction length is not a multiple of 4 stay.
import IR
import Passes
import TestSupport
import XCTest

final class Prune24Tests: XCTestCase {
    private func run(_ g: inout Graph, _ plan: SparsityPlan) throws -> PassStatistics {
        var context = PassContext()
        context.sparsity = plan
        return try Prune24().run(&g, context)
    }

    func testGemmWithoutTransposePrunesAlongItsReductionAxis() throws {
        var rng = SeededRandom(seed: 2)
        var b = GraphBuilder()
        b.input("x", .float32, [.known(3), .known(8)])
        // B is [K = 8, N = 5]: groups of 4 run down each column.
        b.constant("w", Tensor((0..<40).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [8, 5]))
        b.node("Gemm", ["x", "w"], outputs: ["y"])
        b.output("y")
        var g = b.graph
        XCTAssertEqual(try run(&g, SparsityPlan(method: .magnitude))["pruned"], 1)
        let w = try XCTUnwrap(g.constants[g.nodes[0].inputs[1]]).floats()
        for column in 0..<5 {
            for group in 0..<2 {
                let kept = (0..<4).filter { w[(group * 4 + $0) * 5 + column] != 0 }.count
                XCTAssertLessThanOrEqual(kept, 2, "column \(column) group \(group)")
            }
        }
        XCTAssertEqual(g.nodes[0].string("npucc.sparsity"), "2:4")
    }

    func testWandaKeepsTheWeightsOfHighNormInputs() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(4)])
        b.constant("w", Tensor([Float](repeating: 1, count: 8), shape: [2, 4]))  // equal magnitudes
        b.node("Gemm", ["x", "w"], ["transB": .int(1)], outputs: ["y"])
        b.output("y")
        var g = b.graph
        _ = try run(&g, SparsityPlan(method: .wanda, inputNorms: ["x": [0.1, 5, 0.2, 3]]))
        XCTAssertEqual(g.constants[g.nodes[0].inputs[1]]?.floats(), [0, 1, 0, 1, 0, 1, 0, 1])
    }

    func testConvWithAReductionNotAMultipleOfFourStaysDense() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(1), .known(5), .known(5)])
        b.constant("w", Tensor([Float](repeating: 1, count: 18), shape: [2, 1, 3, 3]))  // reduction 9
        b.node("Conv", ["x", "w"], outputs: ["y"])
        b.output("y")
        var g = b.graph
        let stats = try run(&g, SparsityPlan(method: .magnitude))
        XCTAssertEqual(stats["dense"], 1)
        XCTAssertEqual(g.nodes[0].inputs[1], "w")
    }
}
