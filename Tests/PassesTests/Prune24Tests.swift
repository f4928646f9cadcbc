// prune-2-4: at most 2 of every 4 weights along the reduction axis survive, Wanda weighs
// them by the input norms, a ConvTranspose prunes the flipped kernel of the convolution it
// equals, and layers whose reduction length is not a multiple of 4 stay.
import IR
import Passes
import Reference
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

    /// A ConvTranspose prunes the reduction axis of the convolution it equals: each output
    /// channel's [c, ky, kx] of the flipped kernel, where groups of 4 cross channels
    /// differently from the stored [c, m, ky, kx] order.
    func testConvTransposePrunesAlongTheFlippedKernel() throws {
        var rng = SeededRandom(seed: 4)
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(4), .known(3), .known(3)])
        // C = 4, M = 2, kernel 1 x 3: reduction 12 per output channel.
        b.constant("w", Tensor((0..<24).map { _ in Float.random(in: 0.1...1, using: &rng) }, shape: [4, 2, 1, 3]))
        b.node("ConvTranspose", ["x", "w"], outputs: ["y"], name: "up")
        b.output("y")
        var g = b.graph
        XCTAssertEqual(try run(&g, SparsityPlan(method: .magnitude))["pruned"], 1)
        let matrix = try XCTUnwrap(LayerWeight(g.nodes[0], g)).matrix()
        for row in 0..<2 {
            for group in 0..<3 {
                let kept = (0..<4).filter { matrix[row * 12 + group * 4 + $0] != 0 }.count
                XCTAssertEqual(kept, 2, "output \(row) group \(group)")
            }
        }
        // In the stored order (output m's [c, kx] unflipped) some group of 4 keeps 1 or 3.
        let w = try XCTUnwrap(g.constants[g.nodes[0].inputs[1]]).floats()
        var uneven = 0
        for m in 0..<2 {
            for group in 0..<3 {
                var kept = 0
                for k in (group * 4)..<(group * 4 + 4) {
                    let (c, kx) = (k / 3, k % 3)
                    if w[(c * 2 + m) * 3 + kx] != 0 { kept += 1 }
                }
                if kept != 2 { uneven += 1 }
            }
        }
        XCTAssertGreaterThan(uneven, 0)
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

    func testWeightsAlreadyPrunedAreUsedAsTheyAre() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(4)])
        b.constant("w", Tensor([Float](repeating: 1, count: 8), shape: [4, 2]))  // [K, N]: rows of the matrix are columns
        b.node("Gemm", ["x", "w"], outputs: ["y"])
        b.output("y")
        var g = b.graph
        // [rows = 2, columns = 4], as LayerWeight.matrix() gives it.
        var plan = SparsityPlan(method: .magnitude)
        plan.pruned["y"] = [0, 2, 0, 3, 4, 0, 5, 0]
        XCTAssertEqual(try run(&g, plan)["pruned"], 1)
        XCTAssertEqual(g.constants[g.nodes[0].inputs[1]]?.floats(), [0, 4, 2, 0, 0, 5, 3, 0])
    }

    /// Layers are pruned in parallel: the weights do not depend on the thread count.
    func testSparseGPTOnManyLayersIsTheSameOnOneThreadOrTwo() throws {
        var rng = SeededRandom(seed: 4)
        var b = GraphBuilder()
        b.input("x", .float32, [.known(32), .known(16)])
        var previous = "x"
        for i in 0..<5 {
            b.constant("w\(i)", Tensor((0..<256).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [16, 16]))
            b.node("Gemm", [previous, "w\(i)"], ["transB": .int(1)], outputs: ["y\(i)"], name: "fc\(i)")
            previous = "y\(i)"
        }
        b.output(previous)
        let graph = b.graph
        var calibrator = try Calibrator(graph: graph, collectHessians: true)
        for _ in 0..<2 {
            try calibrator.observe(["x": Tensor((0..<512).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [32, 16])])
        }
        let plan = SparsityPlan(method: .sparsegpt, hessians: calibrator.layerHessians())
        let before = Parallelism.threadCount
        defer { Parallelism.setThreadCount(before) }
        var results: [[[Float]]] = []
        for threads in [1, 2] {
            Parallelism.setThreadCount(threads)
            var g = graph
            XCTAssertEqual(try run(&g, plan)["pruned"], 5)
            results.append(g.nodes.map { g.constants[$0.inputs[1]]!.floats() })
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertNotEqual(results[0][0], graph.constants["w0"]!.floats())
    }

    /// Two layers reading one weight (a recurrence's steps) prune it once: both read the same
    /// pruned constant, and with their Hessians summed the error over both layers' inputs is
    /// below what either layer's Hessian alone gives.
    func testASharedWeightIsPrunedOnceForEveryLayerThatReadsIt() throws {
        var rng = SeededRandom(seed: 9)
        var b = GraphBuilder()
        b.input("x", .float32, [.known(64), .known(16)])
        b.constant("w", Tensor((0..<256).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [16, 16]))
        b.constant("shift", Tensor((0..<16).map { _ in Float.random(in: -2...2, using: &rng) }, shape: [16]))
        b.node("Gemm", ["x", "w"], ["transB": .int(1)], outputs: ["y1"], name: "step1")
        b.node("Mul", ["y1", "shift"], outputs: ["z"])
        b.node("Gemm", ["z", "w"], ["transB": .int(1)], outputs: ["y2"], name: "step2")
        b.output("y2")
        let graph = b.graph
        var calibrator = try Calibrator(graph: graph, collectHessians: true)
        for _ in 0..<2 {
            try calibrator.observe(["x": Tensor((0..<1024).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [64, 16])])
        }
        let hessians = calibrator.layerHessians()
        let original = graph.constants["w"]!.floats()
        func pruned(_ layers: [String]) throws -> (names: [String], values: [Float]) {
            var g = graph
            _ = try run(&g, SparsityPlan(method: .sparsegpt, hessians: hessians.filter { layers.contains($0.key) }))
            return (g.nodes.filter { $0.op == "Gemm" }.map { $0.inputs[1] }, g.constants[g.nodes[0].inputs[1]]!.floats())
        }
        func error(_ values: [Float]) -> Double {
            ["y1", "y2"].reduce(0) { $0 + hessians[$1]!.relativeOutputError(original: original, changed: values, rows: 16) }
        }
        let both = try pruned(["y1", "y2"])
        XCTAssertEqual(Set(both.names).count, 1, "the layers read one pruned constant")
        let (first, second) = (try pruned(["y1"]).values, try pruned(["y2"]).values)
        XCTAssertNotEqual(both.values, first)
        XCTAssertNotEqual(both.values, second)
        XCTAssertLessThan(error(both.values), min(error(first), error(second)))
    }
}
