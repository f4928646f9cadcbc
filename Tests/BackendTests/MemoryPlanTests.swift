// The activation memory plan: a chain reuses space as lifetimes end, views share their
// input's bytes, and on random graphs no two buffers live at the same time overlap.
import Backend
import IR
import Passes
import TestSupport
import XCTest

final class MemoryPlanTests: XCTestCase {
    private func typed(_ b: GraphBuilder) throws -> Graph {
        var g = b.graph
        _ = try InferShapes().run(&g, PassContext())
        return g
    }

    func testAChainReusesWhatIsNoLongerLive() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(16)])
        b.node("Relu", ["x"], outputs: ["a"])
        b.node("Relu", ["a"], outputs: ["b"])
        b.constant("shape", Tensor([Int64(16)], shape: [1]))
        b.node("Reshape", ["b", "shape"], outputs: ["v"])
        b.node("Relu", ["v"], outputs: ["c"])
        b.output("c")
        let plan = try MemoryPlan.plan(try typed(b))
        XCTAssertEqual(plan.unshared, 4 * 64)
        XCTAssertEqual(plan.size, 2 * 64)
        XCTAssertEqual(plan.offset(of: "v"), plan.offset(of: "b"))  // a view takes no space
        XCTAssertNotEqual(plan.offset(of: "a"), plan.offset(of: "b"))
        XCTAssertEqual(plan.offset(of: "x"), plan.offset(of: "b"))  // x is dead once a exists
        XCTAssertNil(plan.offset(of: "shape"))
    }

    func testRandomGraphsNeverOverlapLiveBuffers() throws {
        var rng = SeededRandom(seed: 51)
        for round in 0..<40 {
            var b = GraphBuilder()
            var values: [(String, Int)] = [("x", 8)]
            b.input("x", .float32, [.known(1), .known(8)])
            for i in 0..<30 {
                let (v, width) = values[Int.random(in: max(0, values.count - 6)..<values.count, using: &rng)]
                let out = "v\(i)"
                switch Int.random(in: 0..<4, using: &rng) {
                case 0:
                    let w = Int.random(in: 1...64, using: &rng)
                    b.constant("w\(i)", Tensor([Float](repeating: 0.5, count: width * w), shape: [width, w]))
                    b.node("MatMul", [v, "w\(i)"], outputs: [out])
                    values.append((out, w))
                case 1:
                    if let other = values.last(where: { $0.1 == width && $0.0 != v }) {
                        b.node("Add", [v, other.0], outputs: [out])
                    } else {
                        b.node("Relu", [v], outputs: [out])
                    }
                    values.append((out, width))
                case 2:
                    b.constant("s\(i)", Tensor([Int64(1), Int64(width)], shape: [2]))
                    b.node("Reshape", [v, "s\(i)"], outputs: [out])
                    values.append((out, width))
                default:
                    b.node("Relu", [v], outputs: [out])
                    values.append((out, width))
                }
            }
            b.output(values.last!.0)
            b.output(values[values.count / 2].0)
            let plan = try MemoryPlan.plan(try typed(b))
            XCTAssertLessThanOrEqual(plan.size, plan.unshared)
            for (i, p) in plan.buffers.enumerated() {
                for q in plan.buffers[(i + 1)...] where p.first <= q.last && q.first <= p.last {
                    XCTAssertTrue(p.offset + p.size <= q.offset || q.offset + q.size <= p.offset,
                                  "round \(round): \(p.values) and \(q.values) overlap while both live")
                }
            }
            XCTAssertEqual(plan, try MemoryPlan.plan(try typed(b)))
        }
    }
}
