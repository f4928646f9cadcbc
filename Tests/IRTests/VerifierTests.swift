// The verifier names what is wrong and where: one test per kind of error, the message
// checked for the node and the value it concerns; and graphs it must accept.
import IR
import TestSupport
import XCTest

final class VerifierTests: XCTestCase {
    private func assertInvalid(_ graph: Graph, _ message: String, line: UInt = #line) {
        XCTAssertThrowsError(try Verifier.verify(graph), line: line) { error in
            XCTAssertEqual("\(error)", message, line: line)
        }
    }

    /// x -> Relu "r" -> Add "a" (with constant b) -> output y.
    private func valid() -> GraphBuilder {
        var b = GraphBuilder()
        let x = b.input("x", .float32, [.symbol("N"), .known(2)])
        let w = b.constant("b", Tensor([Float(1), 2], shape: [2]))
        let r = b.node("Relu", [x], outputs: ["r"], name: "r")[0]
        let y = b.node("Add", [r, w], outputs: ["y"], name: "a")[0]
        b.output(y)
        return b
    }

    func testWellFormedGraphsPass() throws {
        try Verifier.verify(valid().graph)
        var b = valid()
        b.node("Clip", ["y", "", ""], outputs: ["clipped"], name: "optional inputs omitted")
        b.node("MaxPool", ["x"], ["kernel_shape": .ints([1])], outputs: ["pooled", ""], name: "optional output omitted")
        b.node("Fused", ["x", "nowhere?"], outputs: ["f"], domain: "com.example")
        XCTAssertThrowsError(try Verifier.verify(b.graph))  // "nowhere?" is still undefined
        b.graph.nodes[b.graph.nodes.count - 1].inputs = ["x"]
        try Verifier.verify(b.graph)  // ops of other domains are not checked against the table
    }

    func testUndefinedInput() {
        var b = valid()
        b.graph.nodes[1].inputs[1] = "missing_bias"
        assertInvalid(b.graph, "node Add \"a\": input \"missing_bias\" is not defined "
                      + "(no graph input, constant or node output has that name)")
    }

    func testValueDefinedTwice() {
        var b = valid()
        b.constant("x", Tensor([Float(0)], shape: [1]))
        assertInvalid(b.graph, "value \"x\" is defined twice: by a constant and by a graph input")
        b = valid()
        b.node("Neg", ["x"], outputs: ["r"], name: "again")
        assertInvalid(b.graph, "node Neg \"again\": value \"r\" is defined twice: by node Neg \"again\" and by node Relu \"r\"")
        b = valid()
        b.node("Neg", ["x"], outputs: ["b"], name: "shadow")
        assertInvalid(b.graph, "node Neg \"shadow\": value \"b\" is defined twice: by node Neg \"shadow\" and by a constant")
    }

    func testNodesOutOfOrder() {
        var b = valid()
        b.graph.nodes.swapAt(0, 1)
        assertInvalid(b.graph, "node Add \"a\": input \"r\" is used before node Relu \"r\" defines it: "
                      + "the nodes are not in topological order")
    }

    func testCycleIsNamedByItsValues() {
        var b = GraphBuilder()
        let x = b.input("x", .float32, [.known(2)])
        b.node("Add", [x, "u"], outputs: ["t"], name: "first")
        b.node("Relu", ["t"], outputs: ["u"], name: "second")
        b.output("u")
        assertInvalid(b.graph, "node Add \"first\": the graph has a cycle through values \"t\" -> \"u\" -> \"t\"")
        b = GraphBuilder()
        b.node("Relu", ["self"], outputs: ["self"], name: "loop")
        assertInvalid(b.graph, "node Relu \"loop\": the graph has a cycle through values \"self\" -> \"self\"")
    }

    func testGraphOutputNotDefined() {
        var b = valid()
        b.output("nowhere")
        assertInvalid(b.graph, "graph output \"nowhere\" is not defined by a graph input, constant or node")
    }

    func testConstantsAndInputsAgreeWithGraphTypes() {
        var b = valid()
        b.type("b", TensorType(.float32, [3]))
        assertInvalid(b.graph, "constant \"b\" has data of type f32[2] but is typed f32[3] in the graph")
        b = valid()
        b.type("x", TensorType(.float32, [4, 2]))
        assertInvalid(b.graph, "graph input \"x\" is declared f32[N,2] but typed f32[4,2] in the graph")
        b = valid()
        b.constant("negative", Tensor(zeros: .float32, shape: [-1, -1]))
        assertInvalid(b.graph, "constant \"negative\" has a negative dimension in its shape [-1, -1]")
    }

    func testOfManyBadConstantsTheFirstByNameIsNamed() {
        // Dictionary order differs from run to run; the message must not.
        var b = valid()
        for i in 0..<64 { b.constant("c\(i)", Tensor([Float(0)], shape: [1])) }
        for name in ["c40", "c17", "c5", "c63"] { b.type(name, TensorType(.float32, [2])) }
        b.constant("c2", Tensor(zeros: .float32, shape: [-1]))
        assertInvalid(b.graph, "constant \"c17\" has data of type f32[1] but is typed f32[2] in the graph")
        b = valid()
        for name in ["y2", "m", "w", "q"] { b.input(name, .float32, [.known(1)]) }
        for name in ["y2", "q", "w", "m"] { b.constant(name, Tensor([Float(0)], shape: [1])) }
        assertInvalid(b.graph, "value \"m\" is defined twice: by a constant and by a graph input")
        b.constant("", Tensor([Float(0)], shape: [1]))
        assertInvalid(b.graph, "a constant has an empty name")
    }

    func testEmptyNames() {
        var b = valid()
        b.graph.inputs.append(ValueInfo(name: "", type: TensorType(.float32, [1])))
        assertInvalid(b.graph, "graph input 1 has an empty name")
        b = valid()
        b.constant("", Tensor([Float(0)], shape: [1]))
        assertInvalid(b.graph, "a constant has an empty name")
    }

    func testOpChecksAgainstTheOpTable() {
        var b = valid()
        b.node("", ["x"], outputs: ["e"])
        assertInvalid(b.graph, "node  (output \"e\"): node has an empty op")
        b = valid()
        b.node("FooBar", ["x"], name: "foo")
        assertInvalid(b.graph, "node FooBar \"foo\": unknown op FooBar: not in the op table (schemas/ops.md)")
        b = valid()
        b.node("Relu", ["x", "x"], name: "two")
        assertInvalid(b.graph, "node Relu \"two\": Relu takes 1 inputs, not 2")
        b = valid()
        b.node("Conv", ["x"], name: "one")
        assertInvalid(b.graph, "node Conv \"one\": Conv takes 2 to 3 inputs, not 1")
        b = valid()
        b.node("Relu", ["x"], outputs: ["p", "q"], name: "many")
        assertInvalid(b.graph, "node Relu \"many\": Relu has 1 outputs, not 2")
        b = valid()
        b.node("Conv", ["x", ""], name: "no weight")
        assertInvalid(b.graph, "node Conv \"no weight\": input 1 of Conv is required but omitted")
        b = valid()
        b.node("Concat", [], name: "empty")
        assertInvalid(b.graph, "node Concat \"empty\": Concat takes at least 1 inputs, not 0")
    }

    func testAttributesChecksAgainstTheOpTable() throws {
        var b = valid()
        b.node("Concat", ["x", "x"], name: "no axis")
        assertInvalid(b.graph, "node Concat \"no axis\": Concat requires attribute \"axis\" (int)")
        b = valid()
        b.node("Concat", ["x", "x"], ["axis": .float(1)], name: "float axis")
        assertInvalid(b.graph, "node Concat \"float axis\": attribute \"axis\" of Concat must be int, not float")
        b = valid()
        b.node("Relu", ["x"], ["alpha": .float(0.1)], name: "alpha")
        assertInvalid(b.graph, "node Relu \"alpha\": Relu has no attribute \"alpha\"")
        b = valid()
        b.node("Relu", ["x"], ["npucc.activation_format": .string("fp8")], name: "annotated")
        try Verifier.verify(b.graph)  // namespaced attributes belong to the passes that set them
    }
}
