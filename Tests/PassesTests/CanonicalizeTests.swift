// Each canonicalization pass on small graphs, Before and Expected side by side as text,
// including the cases where a pass must not fire.
import IR
import Passes
import TestSupport
import XCTest

final class CanonicalizeTests: XCTestCase {
    private func run(_ pass: any Pass, _ graph: Graph) throws -> (String, PassStatistics) {
        var g = graph
        let stats = try pass.run(&g, PassContext())
        try Verifier.verify(g)
        return (IRPrinter().print(g), stats)
    }

    func testEveryPassIsRegisteredOnceByTag() {
        let tags = PassRegistry.all.map(\.tag)
        XCTAssertEqual(Set(tags).count, tags.count)
        XCTAssertEqual(Set(tags), ["infer-shapes", "fold-constants", "remove-identity", "eliminate-dead-code", "fold-batchnorm",
                                      "prune-2-4", "quantize"])
        for pass in Pipeline.canonicalize.passes { XCTAssertNotNil(PassRegistry.pass(pass.tag), pass.tag) }
    }

    /// x: f32[batch,3,8,8] -> Shape -> Gather(0) -> Unsqueeze -> Concat with [-1] -> Reshape(x, .).
    private func shapeChain(batch: Dim) -> Graph {
        var b = GraphBuilder()
        b.input("x", .float32, [batch, .known(3), .known(8), .known(8)])
        b.constant("zero", Tensor(scalar: Int64(0)))
        b.constant("axes", Tensor([Int64(0)], shape: [1]))
        b.constant("minus_one", Tensor([Int64(-1)], shape: [1]))
        b.node("Shape", ["x"], outputs: ["shape"])
        b.node("Gather", ["shape", "zero"], ["axis": .int(0)], outputs: ["batch"])
        b.node("Unsqueeze", ["batch", "axes"], outputs: ["batch1"])
        b.node("Concat", ["batch1", "minus_one"], ["axis": .int(0)], outputs: ["flat_shape"])
        b.node("Reshape", ["x", "flat_shape"], outputs: ["y"])
        b.output("y")
        return b.graph
    }

    func testExporterShapeChainFoldsOnceTheBatchIsKnown() throws {
        var g = shapeChain(batch: .known(2))
        try Pipeline.canonicalize.run(&g, PassContext())
        XCTAssertEqual(IRPrinter().print(g), """
            graph main(%x: f32[2,3,8,8]) -> (%y: f32[*]) {
              const %flat_shape: i64[2] = [2, -1]
              %y: f32[2,192] = Reshape(%x, %flat_shape)
              return %y
            }

            """)
    }

    func testASymbolicShapeChainStillGivesReshapeItsDims() throws {
        var g = shapeChain(batch: .symbol("N"))
        try Pipeline.canonicalize.run(&g, PassContext())
        XCTAssertEqual(g.types["y"], TensorType(.float32, Shape([.symbol("N"), .known(192)])))
        XCTAssertEqual(g.nodes.map(\.op), ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape"])
    }

    func testWithASymbolicBatchTheChainStays() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.symbol("N"), .known(3)])
        b.node("Shape", ["x"], outputs: ["shape"])
        b.node("Reshape", ["x", "shape"], outputs: ["y"])
        b.output("y")
        let (text, stats) = try run(FoldConstants(), b.graph)
        XCTAssertEqual(stats["folded"], 0)
        XCTAssertTrue(text.contains("Shape(%x)"))
    }

    func testConstantSubgraphWeightBecomesOneConstant() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(2)])
        b.constant("wshape", Tensor([Int64(2), 2], shape: [2]))
        b.constant("base", Tensor([Float(1), 2, 3, 4], shape: [2, 2]))
        b.node("ConstantOfShape", ["wshape"], ["value": .tensor(Tensor([Float(0.5)], shape: [1]))], outputs: ["half"])
        b.node("Add", ["base", "half"], outputs: ["w"])
        b.node("MatMul", ["x", "w"], outputs: ["y"])
        b.output("y")
        var g = b.graph
        try Pipeline.canonicalize.run(&g, PassContext())
        XCTAssertEqual(IRPrinter().print(g), """
            graph main(%x: f32[1,2]) -> (%y: f32[*]) {
              const %w: f32[2,2] = [1.5, 2.5, 3.5, 4.5]
              %y: f32[1,2] = MatMul(%x, %w)
              return %y
            }

            """)
    }

    func testIdentityAndDropoutGoAwayButGraphOutputNamesStay() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2)])
        b.node("Relu", ["x"], outputs: ["r"])
        b.node("Dropout", ["r"], outputs: ["d"])
        b.node("Identity", ["d"], outputs: ["out"])
        b.output("out")
        let (text, stats) = try run(RemoveIdentity(), b.graph)
        XCTAssertEqual(stats["removed"], 2)
        XCTAssertEqual(text, """
            graph main(%x: f32[2]) -> (%out: f32[*]) {
              %out = Relu(%x)
              return %out
            }

            """)
    }

    func testIdentityOfAGraphInputFeedingAnOutputStays() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2)])
        b.node("Identity", ["x"], outputs: ["out"])
        b.output("out")
        let (text, stats) = try run(RemoveIdentity(), b.graph)
        XCTAssertEqual(stats["removed"], 0)
        XCTAssertTrue(text.contains("Identity(%x)"))
    }

    func testDropoutWithAUsedMaskStays() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2)])
        b.node("Dropout", ["x"], outputs: ["d", "mask"])
        b.output("mask")
        let (_, stats) = try run(RemoveIdentity(), b.graph)
        XCTAssertEqual(stats["removed"], 0)
    }

    func testDeadCodeGoesButUsedNodesStay() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2)])
        b.constant("unused", Tensor([Float(1)], shape: [1]))
        b.node("Relu", ["x"], outputs: ["dead"])
        b.node("Sigmoid", ["x"], outputs: ["y"])
        b.output("y")
        let (text, stats) = try run(EliminateDeadCode(), b.graph)
        XCTAssertEqual(stats["nodes"], 1)
        XCTAssertEqual(stats["constants"], 1)
        XCTAssertFalse(text.contains("Relu") || text.contains("unused"))
        XCTAssertTrue(text.contains("Sigmoid"))
    }

    func testInferShapesRefinesDeclaredTypesAndRefusesContradictions() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.symbol("N"), .known(4)])
        b.node("Relu", ["x"], outputs: ["y"])
        b.graph.types["y"] = TensorType(.float32, Shape([.unknown, .unknown]))
        b.output("y")
        var g = b.graph
        _ = try InferShapes().run(&g, PassContext())
        XCTAssertEqual(g.types["y"], TensorType(.float32, Shape([.symbol("N"), .known(4)])))
        g.types["y"] = TensorType(.float32, Shape([.unknown, .known(5)]))
        XCTAssertThrowsError(try InferShapes().run(&g, PassContext())) { error in
            XCTAssertTrue("\(error)".contains("declared f32[?,5] but inferred f32[N,4]"), "\(error)")
        }
    }

    func testPipelineNamesThePassThatBreaksTheIR() {
        struct Breaker: Pass {
            let tag = "break-things"
            let summary = "drops every node"
            func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
                graph.nodes.removeAll()
                return PassStatistics()
            }
        }
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2)])
        b.node("Relu", ["x"], outputs: ["y"])
        b.output("y")
        var g = b.graph
        XCTAssertThrowsError(try Pipeline([Breaker()]).run(&g, PassContext())) { error in
            XCTAssertTrue("\(error)".hasPrefix("after pass break-things:"), "\(error)")
        }
    }
}
