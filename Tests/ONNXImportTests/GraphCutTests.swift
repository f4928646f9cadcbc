import XCTest

// `--graph-outputs` on the file's graph: the nodes the named values need, in the file's
// order, a subgraph's reads of outside values counted, unread inputs left out, and bad names
// refused by what they are.
@testable import ONNXImport

final class GraphCutTests: XCTestCase {
    private func node(_ op: String, _ inputs: [String], _ outputs: [String], body: ONNXGraph? = nil) -> ONNXNode {
        var n = ONNXNode(name: outputs[0], opType: op, inputs: inputs, outputs: outputs)
        if let body { n.attributes = [ONNXAttribute(name: "then_branch", type: 5, graphCount: 1, graph: [body])] }
        return n
    }

    /// x -> a -> b -> (post: NonZero of b, reading `extra`); x -> c (read only inside d's
    /// body) ; d = If(flag) whose body reads c; e = Add(b, d). `w` is an initializer.
    private var graph: ONNXGraph {
        var g = ONNXGraph(name: "g")
        let body = ONNXGraph(nodes: [node("Identity", ["c"], ["inner"])], outputs: [ONNXValueInfo(name: "inner")])
        g.nodes = [
            node("Relu", ["x"], ["a"]), node("Mul", ["a", "w"], ["b"]), node("NonZero", ["b", "extra"], ["post"]),
            node("Neg", ["x"], ["c"]), node("If", ["flag"], ["d"], body: body), node("Add", ["b", "d"], ["e"]),
        ]
        g.inputs = ["x", "extra", "flag", "w"].map { ONNXValueInfo(name: $0) }
        g.initializers = [ONNXTensor(name: "w")]
        g.outputs = [ONNXValueInfo(name: "post")]
        g.valueInfo = [ONNXValueInfo(name: "b", type: .tensor(elemType: 1, shape: [.value(1)]))]
        return g
    }

    func testTheNamedValuesKeepWhatTheyNeedInTheFilesOrder() throws {
        let (cut, dropped) = try graph.cut(to: ["e", "a"])
        XCTAssertEqual(cut.nodes.map(\.outputs[0]), ["a", "b", "c", "d", "e"])
        XCTAssertEqual(cut.outputs.map(\.name), ["e", "a"])
        XCTAssertEqual(cut.inputs.map(\.name), ["x", "flag", "w"])  // w: an initializer listed as an input
        XCTAssertEqual(dropped, ["extra"])
        XCTAssertEqual(cut.initializers.map(\.name), ["w"])

        let (alone, droppedAlone) = try graph.cut(to: ["b"])
        XCTAssertEqual(alone.nodes.map(\.outputs[0]), ["a", "b"])
        XCTAssertEqual(droppedAlone, ["extra", "flag"])
        // A value_info entry gives a named value its declared type.
        guard case .tensor(1, let shape) = alone.outputs[0].type, shape?.count == 1 else {
            return XCTFail("b's declared type: \(alone.outputs[0].type)")
        }
    }

    func testBadNamesAreRefusedByWhatTheyAre() {
        let cases: [([String], String)] = [
            (["e", "q"], "\"q\", which no node of the graph computes"),
            (["bb"], "no node of the graph computes; closest values: b"),
            (["w"], "an initializer"),
            (["x"], "a graph input"),
            (["e", "e"], "names \"e\" twice"),
            ([""], "an empty name"),
        ]
        for (names, phrase) in cases {
            XCTAssertThrowsError(try graph.cut(to: names), "\(names)") { error in
                XCTAssertTrue("\(error)".contains(phrase), "\(names): \(error)")
            }
        }
    }
}
