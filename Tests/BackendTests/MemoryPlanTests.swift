// The activation memory plan: a chain reuses space as lifetimes end, views share their
// input's bytes, L3 holds what fits while the graph's inputs and outputs stay in DRAM, and
// on random graphs no two buffers of one memory live at the same time overlap; a
// convolution's scratch takes L3 only around its own node.
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

    /// x -> Relu a (256 bytes) -> MatMul big (1,024) -> MatMul c (256) -> Relu y (256), then
    /// Relu z when `z`; the last one is the graph's output.
    private func widening(z: Bool = false) throws -> Graph {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(64)])
        b.node("Relu", ["x"], outputs: ["a"])
        b.constant("w", Tensor([Float](repeating: 0.5, count: 64 * 256), shape: [64, 256]))
        b.node("MatMul", ["a", "w"], outputs: ["big"])
        b.constant("v", Tensor([Float](repeating: 0.5, count: 256 * 64), shape: [256, 64]))
        b.node("MatMul", ["big", "v"], outputs: ["c"])
        b.node("Relu", ["c"], outputs: ["y"])
        if z { b.node("Relu", ["y"], outputs: ["z"]) }
        b.output(z ? "z" : "y")
        return try typed(b)
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
        XCTAssertEqual(plan.place(of: "v"), plan.place(of: "b"))  // a view takes no space
        XCTAssertNotEqual(plan.place(of: "a"), plan.place(of: "b"))
        XCTAssertEqual(plan.place(of: "x")?.address, plan.place(of: "b")?.address)  // x is dead once a exists
        XCTAssertNil(plan.place(of: "shape"))
    }

    func testScratchTakesL3AroundItsNodeAndActivationsFitAroundIt() throws {
        // Node 1 (the MatMul writing big) asks for 1,024 bytes of scratch.
        let g = try widening(z: true)
        // Reserved for the whole program, 1,024 bytes of scratch leave 1,024 of a 2 KiB L3
        // to the activations: big takes them; a and c, live with it, go to DRAM.
        let reserved = try MemoryPlan.plan(g, onChipBytes: 1024, l3Bytes: 2048)
        XCTAssertEqual(reserved.spilled, 2 * 256)
        XCTAssertEqual(reserved.scratchAt, [:])
        // Scoped to node 1, the scratch shares L3 with big; c, live once node 1 is done,
        // takes the scratch's bytes; a, live at node 1 with both, goes to DRAM.
        let scoped = try MemoryPlan.plan(g, onChipBytes: 2048, l3Bytes: 2048, scratch: [1: (1000, 1...1)])
        let scratch = try XCTUnwrap(scoped.scratchAt[1])
        XCTAssertEqual(scoped.spilled, 256)
        XCTAssertEqual(scoped.place(of: "a")?.space, .dram)
        XCTAssertEqual(scoped.place(of: "big")?.space, .l3)
        XCTAssertEqual(scoped.place(of: "c")?.space, .l3)
        XCTAssertEqual(scoped.place(of: "c")?.address, scratch)
        // The scratch and the L3 buffers live with it (at node 1) do not overlap.
        var live: [(String, UInt64, Int)] = [("scratch", scratch, 1024)]
        for v in ["a", "big"] {
            if let p = scoped.place(of: v), p.space == .l3, let n = scoped.buffers.first(where: { $0.values.contains(v) }) {
                live.append((v, p.address, n.size))
            }
        }
        for i in live.indices {
            for j in live.indices where j > i {
                let (p, q) = (live[i], live[j])
                XCTAssertTrue(p.1 + UInt64(p.2) <= q.1 || q.1 + UInt64(q.2) <= p.1, "\(p.0) and \(q.0) overlap")
            }
        }
        XCTAssertLessThanOrEqual(scratch + 1024, 2048)
        // The plan's buffers are the activations' alone.
        XCTAssertFalse(scoped.buffers.contains { $0.values.contains { $0.hasPrefix("scratch") } })
        // A scratch range L3 cannot hold is left out: the node falls back to DRAM's.
        let tooBig = try MemoryPlan.plan(g, onChipBytes: 2048, l3Bytes: 2048, scratch: [1: (4096, 1...1)])
        XCTAssertNil(tooBig.scratchAt[1])
    }

    func testL3HoldsWhatFitsAndTheGraphsEndsStayInDRAM() throws {
        let g = try widening()
        // Room for everything between x and y: at the top of a 4 KiB L3.
        let roomy = try MemoryPlan.plan(g, onChipBytes: 2048, l3Bytes: 4096)
        XCTAssertEqual(roomy.place(of: "x"), Place(.dram, 0))
        XCTAssertEqual(roomy.place(of: "y"), Place(.dram, 0))  // x is dead by then
        XCTAssertEqual(roomy.place(of: "big"), Place(.l3, 4096 - 1024 - 256))
        XCTAssertEqual(roomy.place(of: "a"), Place(.l3, 4096 - 256))
        XCTAssertEqual(roomy.place(of: "c"), Place(.l3, 4096 - 256))  // a is dead once big exists
        XCTAssertEqual([roomy.onChipSize, roomy.onChipBase, roomy.size], [1280, 4096 - 1280, 256])
        // 1,024 bytes of L3: big, placed first (largest), takes it all; a and c go to DRAM.
        let tight = try MemoryPlan.plan(g, onChipBytes: 1024, l3Bytes: 4096)
        XCTAssertEqual(tight.place(of: "big"), Place(.l3, 3072))
        XCTAssertEqual(tight.place(of: "a")?.space, .dram)
        XCTAssertEqual(tight.place(of: "c")?.space, .dram)
        XCTAssertEqual(tight.onChipBase, 3072)
    }

    func testAValueWrittenEarlyIsLiveFromItsWriterAndAnUnstoredOneHasNoPlace() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(16)])
        b.node("Relu", ["x"], outputs: ["a"])
        b.node("Neg", ["a"], outputs: ["m"])  // node 1 writes r (nodes 2 and 3 run with it)
        b.node("Add", ["m", "a"], outputs: ["s"])
        b.node("Relu", ["s"], outputs: ["r"])
        b.node("Neg", ["r"], outputs: ["y"])
        b.output("y")
        let g = try typed(b)
        // As the graph runs, r may take a's bytes: a is dead once s exists.
        let plain = try MemoryPlan.plan(g, onChipBytes: 1024, l3Bytes: 1024)
        XCTAssertEqual(plain.place(of: "r"), plain.place(of: "a"))
        // Written by node 1, r is live while a is still read.
        let fused = try MemoryPlan.plan(g, onChipBytes: 1024, l3Bytes: 1024, writtenAt: ["r": 1], unstored: ["m", "s"])
        XCTAssertNotEqual(fused.place(of: "r"), fused.place(of: "a"))
        XCTAssertNil(fused.place(of: "m"))
        XCTAssertNil(fused.place(of: "s"))
        XCTAssertEqual(fused.onChipSize, 2 * 64)
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
            let graph = try typed(b)
            // Without L3, with an L3 that holds some of the buffers, and with one that holds them all.
            for onChip in [0, 64 * Int.random(in: 1...12, using: &rng), 1 << 20] {
                let plan = try MemoryPlan.plan(graph, onChipBytes: onChip, l3Bytes: 1 << 20)
                XCTAssertLessThanOrEqual(plan.size + plan.onChipSize, plan.unshared)
                XCTAssertLessThanOrEqual(plan.onChipSize, onChip)
                for (i, p) in plan.buffers.enumerated() {
                    if p.space == .l3 {
                        XCTAssertTrue(plan.onChipBase <= p.offset && p.offset + p.size <= 1 << 20, "round \(round): \(p)")
                    }
                    for q in plan.buffers[(i + 1)...] where p.space == q.space && p.first <= q.last && q.first <= p.last {
                        XCTAssertTrue(
                            p.offset + p.size <= q.offset || q.offset + q.size <= p.offset,
                            "round \(round): \(p.values) and \(q.values) overlap while both live")
                    }
                }
                // The runtime reads and writes the graph's inputs and outputs in DRAM.
                for v in graph.inputs.map(\.name) + graph.outputs.map(\.name) {
                    XCTAssertEqual(plan.place(of: v)?.space, .dram, "round \(round): \(v)")
                }
                if onChip == 0 { XCTAssertTrue(plan.buffers.allSatisfy { $0.space == .dram }) }
                XCTAssertEqual(plan, try MemoryPlan.plan(graph, onChipBytes: onChip, l3Bytes: 1 << 20))
            }
        }
    }
}
