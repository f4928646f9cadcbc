// The verifier names what is wrong: undefined inputs, values defined twice, cycles,
// undefined outputs, unknown ops and wrong operand counts.
import IR
import TestSupport
import XCTest

final class VerifierTests: XCTestCase {
    private func assertInvalid(_ graph: Graph, _ phrase: String, line: UInt = #line) {
        XCTAssertThrowsError(try Verifier.verify(graph), line: line) { error in
            XCTAssertTrue("\(error)".contains(phrase), "\(error)", line: line)
        }
    }

    func testAValidGraphPasses() throws {
        var b = GraphBuilder()
        let x = b.input("x", .float32, [.known(2)])
        let y = b.node("Relu", [x])[0]
        b.output(y)
        try Verifier.verify(b.graph)
    }

    func testEachKindOfError() {
        var b = GraphBuilder()
        let x = b.input("x", .float32, [.known(2)])
        b.node("Add", [x, "w"], name: "add")
        assertInvalid(b.graph, "Add \"add\": input \"w\" is not defined")

        b = GraphBuilder()
        b.input("x", .float32, [.known(2)])
        b.node("Relu", ["x"], outputs: ["x"], name: "again")
        assertInvalid(b.graph, "value \"x\" is defined twice")

        b = GraphBuilder()
        b.input("x", .float32, [.known(2)])
        b.output("nowhere")
        assertInvalid(b.graph, "graph output \"nowhere\" is not defined")

        b = GraphBuilder()
        b.input("x", .float32, [.known(2)])
        b.node("FooBar", ["x"], name: "foo")
        assertInvalid(b.graph, "unknown op FooBar")

        b = GraphBuilder()
        b.input("x", .float32, [.known(2)])
        b.node("Relu", ["x", "x"], name: "two")
        assertInvalid(b.graph, "Relu takes 1 inputs, not 2")

        b = GraphBuilder()
        b.constant("c", Tensor(dtype: .float32, shape: [4], storage: TensorStorage(byteCount: 16)))
        b.graph.constants["c"] = Tensor(dtype: .float32, shape: [4], storage: TensorStorage(byteCount: 16))
        XCTAssertNoThrow(try Verifier.verify(b.graph))
    }

    func testTopologicalOrderSortsAndFindsCycles() throws {
        let a = Node(op: "Relu", name: "a", inputs: ["t"], outputs: ["u"])
        let b = Node(op: "Relu", name: "b", inputs: ["x"], outputs: ["t"])
        XCTAssertEqual(try Verifier.topologicalOrder([a, b]).map(\.name), ["b", "a"])
        let c = Node(op: "Relu", name: "c", inputs: ["u"], outputs: ["t2"])
        let d = Node(op: "Add", name: "d", inputs: ["t2", "x"], outputs: ["u"])
        XCTAssertThrowsError(try Verifier.topologicalOrder([c, d])) { error in
            XCTAssertTrue("\(error)".contains("cycle"), "\(error)")
        }
    }
}
