// Stable topological ordering: sorted input comes back unchanged, shuffled DAGs come back
// in a valid order that keeps the original one where it can, cycles are named.
import IR
import TestSupport
import XCTest

final class TopologicalOrderTests: XCTestCase {
    private func relu(_ name: String, _ inputs: [String], _ output: String) -> Node {
        Node(op: "Relu", name: name, inputs: inputs, outputs: [output])
    }

    func testProducersMoveAheadAndTheRestKeepsItsOrder() throws {
        let nodes = [relu("a", ["t"], "u"), relu("free1", ["x"], "f1"), relu("b", ["x"], "t"), relu("free2", ["x"], "f2")]
        // b must precede a; otherwise the smallest original index goes first.
        XCTAssertEqual(try Verifier.topologicalOrder(nodes).map(\.name), ["free1", "b", "a", "free2"])
    }

    func testRandomDAGsShuffledComeBackValidAndSortedOnesUnchanged() throws {
        var rng = SeededRandom(seed: 7)
        for trial in 0..<100 {
            var b = GraphBuilder()
            var values = [b.input("x", .float32, [.known(1)])]
            for k in 0..<Int.random(in: 1...30, using: &rng) {
                let inputs = (0..<Int.random(in: 1...3, using: &rng)).map { _ in values.randomElement(using: &rng)! }
                values.append(b.node("Sum", inputs, outputs: ["v\(k)"], name: "n\(k)")[0])
            }
            XCTAssertEqual(try Verifier.topologicalOrder(b.graph.nodes).map(\.name), b.graph.nodes.map(\.name))
            var shuffled = b.graph
            shuffled.nodes.shuffle(using: &rng)
            shuffled.nodes = try Verifier.topologicalOrder(shuffled.nodes)
            XCTAssertNoThrow(try Verifier.verify(shuffled), "trial \(trial)")
        }
    }

    func testCyclesAndDoubleDefinitionsAreErrors() {
        let cycle = [relu("c", ["u"], "t"), relu("d", ["t"], "u"), relu("after", ["u"], "w")]
        XCTAssertThrowsError(try Verifier.topologicalOrder(cycle)) { error in
            XCTAssertEqual("\(error)", "node Relu \"c\": the graph has a cycle through values \"t\" -> \"u\" -> \"t\"")
        }
        // A node downstream of a cycle is stuck too, but the cycle is what gets named.
        XCTAssertThrowsError(try Verifier.topologicalOrder([cycle[2], cycle[0], cycle[1]])) { error in
            XCTAssertEqual("\(error)", "node Relu \"d\": the graph has a cycle through values \"u\" -> \"t\" -> \"u\"")
        }
        XCTAssertThrowsError(try Verifier.topologicalOrder([relu("p", ["x"], "y"), relu("q", ["x"], "y")])) { error in
            XCTAssertEqual("\(error)", "node Relu \"q\": value \"y\" is defined twice: by this node and by node Relu \"p\"")
        }
    }
}
