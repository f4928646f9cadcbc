// The synchronization step on small programs, before and after side by side (one cluster of
// two tiles: semaphores s0 and s1 are the tiles' DMA queues, s2 and s3 their matrix queues,
// s4 and s5 their vector queues, s6 the cluster's DMA engines): a signal after each
// instruction another queue depends on and a wait before that one, none where queue order or
// an earlier wait (directly or through another queue) already orders the two, none between
// bytes that share a 64-byte block but no word. Every result passes the checker, and without
// any one of its waits fails it, naming both instructions.
import Backend
import ISA
import Reference
import XCTest

final class SynchronizationTests: XCTestCase {
    private let units = Units(clusters: 1, tilesPerCluster: 2)

    private func synchronized(_ descriptors: [String], _ code: [String]) throws -> [String] {
        let text =
            ".descriptors\n" + descriptors.enumerated().map { "d\($0): \($1)" }.joined(separator: "\n") + "\n.code\n"
            + code.joined(separator: "\n") + "\nhalt\n"
        let out = try Synchronization.synchronize(try Program(assembly: text), units: units).program
        try assertEveryWaitIsNeeded(out)
        return Array(out.assembly().split(separator: "\n").drop { $0 != ".code" }.dropFirst().dropLast().map(String.init))
    }

    /// The program passes the checker; without any one of its waits, it fails naming the
    /// instruction the wait held and the one before the signal it counted.
    private func assertEveryWaitIsNeeded(_ program: Program, line: UInt = #line) throws {
        XCTAssertNoThrow(try program.checkSynchronization(units: units), line: line)
        for (k, i) in program.instructions.enumerated() where i.spec.mnemonic == "wait" {
            var cut = program
            cut.instructions.remove(at: k)
            let signals = program.instructions.indices.filter {
                program.instructions[$0].spec.mnemonic == "signal" && program.instructions[$0]["sem"] == i["sem"]
            }
            let producer = signals[Int(i["count"]) - 1] - 1
            let consumer = cut.instructions[k...].firstIndex { $0.spec.mnemonic != "wait" }!
            XCTAssertThrowsError(try cut.checkSynchronization(units: units), line: line) {
                XCTAssertTrue("\($0)".hasPrefix("instruction \(consumer) ("), "\($0)", line: line)
                XCTAssertTrue("\($0)".contains(", which instruction \(producer) ("), "\($0)", line: line)
            }
        }
    }

    func testALoadItsRoundingItsProductAndTheStore() throws {
        let out = try synchronized(
            [
                "dram f32 @0x0 [4,16] [16,1]", "sram c0.t0 f32 @0x0 [4,16] [16,1]", "sram c0.t0 packed @0x400 [64] [1]",
                "weights packed @0x0 [64] [1]", "sram c0.t0 f32 @0x800 [4,4] [4,1]", "dram f32 @0x1000 [4,4] [4,1]",
            ],
            [
                "dma dst=d1, src=d0", "dma dst=d2, src=d3", "quant dst=d1, src=d1, fmt=fp16, amax=1.0, scale=0",
                "mma out=d4, act=d1, wgt=d2, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0", "dma dst=d5, src=d4",
            ])
        // The mma waits for the rounding (vector), then for the weights' load, which the
        // vector queue's wait did not cover; the store waits for the product.
        XCTAssertEqual(
            out,
            [
                "dma dst=d1, src=d0", "signal after=dma, unit=c0.t0, sem=s0", "dma dst=d2, src=d3",
                "signal after=dma, unit=c0.t0, sem=s0", "wait queue=vector, unit=c0.t0, sem=s0, count=1",
                "quant dst=d1, src=d1, fmt=fp16, amax=1.0, scale=0", "signal after=vector, unit=c0.t0, sem=s4",
                "wait queue=matrix, unit=c0.t0, sem=s4, count=1", "wait queue=matrix, unit=c0.t0, sem=s0, count=2",
                "mma out=d4, act=d1, wgt=d2, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0",
                "signal after=matrix, unit=c0.t0, sem=s2", "wait queue=dma, unit=c0.t0, sem=s2, count=1",
                "dma dst=d5, src=d4",
            ])
    }

    func testOneWaitCoversWhatItsSignalsQueueKnew() throws {
        // The rounding waits for the second load, which covers the first (the same queue's,
        // earlier); so the product, waiting for the rounding, needs no wait for its weights.
        // The third load overwrites the buffer the rounding (vector) and the product (matrix)
        // used: waiting for the product covers the rounding, which the matrix queue waited for.
        let out = try synchronized(
            [
                "dram f32 @0x0 [4,16] [16,1]", "sram c0.t0 f32 @0x0 [4,16] [16,1]", "sram c0.t0 f32 @0x800 [4,4] [4,1]",
                "sram c0.t0 f32 @0x400 [16,4] [4,1]", "dram f32 @0x1000 [16,4] [4,1]",
            ],
            [
                "dma dst=d3, src=d4", "dma dst=d1, src=d0", "quant dst=d1, src=d1, fmt=fp16, amax=1.0, scale=0",
                "mma out=d2, act=d1, wgt=d3, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0", "dma dst=d1, src=d0",
            ])
        XCTAssertEqual(
            out,
            [
                "dma dst=d3, src=d4", "dma dst=d1, src=d0", "signal after=dma, unit=c0.t0, sem=s0",
                "wait queue=vector, unit=c0.t0, sem=s0, count=1",
                "quant dst=d1, src=d1, fmt=fp16, amax=1.0, scale=0", "signal after=vector, unit=c0.t0, sem=s4",
                "wait queue=matrix, unit=c0.t0, sem=s4, count=1",
                "mma out=d2, act=d1, wgt=d3, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0",
                "signal after=matrix, unit=c0.t0, sem=s2", "wait queue=dma, unit=c0.t0, sem=s2, count=1",
                "dma dst=d1, src=d0",
            ])
    }

    func testTilesWritingOtherWordsOfABlockNeedNothingAndTheirReaderWaitsForBoth() throws {
        // Columns 0-19 and 20-39 of a [2, 40] matrix, 80-byte runs sharing 64-byte blocks
        // but no word: the two tiles' stores run unordered. The copy of the whole matrix (on
        // the cluster's engines) waits for both, the later first.
        let out = try synchronized(
            [
                "sram c0.t0 f32 @0x0 [2,20] [20,1]", "dram f32 @0x0 [2,20] [40,1]", "sram c0.t1 f32 @0x0 [2,20] [20,1]",
                "dram f32 @0x50 [2,20] [40,1]", "dram f32 @0x0 [2,40] [40,1]", "dram f32 @0x400 [2,40] [40,1]",
            ],
            [
                "fill dst=d0, value=1.0", "dma dst=d1, src=d0", "fill dst=d2, value=2.0", "dma dst=d3, src=d2",
                "dma dst=d5, src=d4",
            ])
        XCTAssertEqual(
            out,
            [
                "fill dst=d0, value=1.0", "dma dst=d1, src=d0", "signal after=dma, unit=c0.t0, sem=s0",
                "fill dst=d2, value=2.0", "dma dst=d3, src=d2", "signal after=dma, unit=c0.t1, sem=s1",
                "wait queue=dma, unit=c0, sem=s1, count=1", "wait queue=dma, unit=c0, sem=s0, count=1",
                "dma dst=d5, src=d4",
            ])
    }

    func testAProgramThatSynchronizesAlreadyIsRefused() throws {
        let program = try Program(assembly: ".code\nsignal after=dma, unit=c0.t0, sem=s0\nhalt\n")
        XCTAssertThrowsError(try Synchronization.synchronize(program, units: units)) {
            XCTAssertEqual("\($0)", "instruction 0 (signal): the program synchronizes its queues already")
        }
    }

    /// With two threads the walk is split by memory instance; the program it gives is the
    /// one-thread walk's, on a program whose queues meet in DRAM, L3, L2 and both tiles'
    /// SRAM through overlapping buffers.
    func testTheSplitWalkGivesTheOneThreadProgram() throws {
        let descriptors = [
            "dram f32 @0x0 [64] [1]", "dram f32 @0x80 [64] [1]", "l3 f32 @0x0 [64] [1]", "l3 f32 @0x80 [64] [1]",
            "l3 f32 @0x400 [64] [1]", "l2 c0 f32 @0x0 [64] [1]", "sram c0.t0 f32 @0x0 [64] [1]",
            "sram c0.t0 f32 @0x100 [64] [1]", "sram c0.t1 f32 @0x0 [64] [1]", "sram c0.t1 f32 @0x40 [64] [1]",
        ]
        var seed: UInt64 = 7
        func next(_ n: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(seed >> 33) % n
        }
        var code: [String] = []
        for _ in 0..<300 {
            if next(4) == 0 {
                let d = 6 + next(4)
                code.append("quant dst=d\(d), src=d\(d), fmt=fp16, amax=1.0, scale=0")
            } else {
                let dst = next(descriptors.count)
                var src = next(descriptors.count)
                if src == dst { src = (src + 1) % descriptors.count }
                code.append("dma dst=d\(dst), src=d\(src)")
            }
        }
        let text =
            ".descriptors\n" + descriptors.enumerated().map { "d\($0): \($1)" }.joined(separator: "\n") + "\n.code\n"
            + code.joined(separator: "\n") + "\nhalt\n"
        let program = try Program(assembly: text)
        let threads = Parallelism.threadCount
        defer { Parallelism.setThreadCount(threads) }
        Parallelism.setThreadCount(1)
        let one = try Synchronization.synchronize(program, units: units)
        Parallelism.setThreadCount(2)
        let two = try Synchronization.synchronize(program, units: units)
        XCTAssertEqual(one.program.assembly(), two.program.assembly())
        XCTAssertEqual(one.starts, two.starts)
        XCTAssertGreaterThan(two.program.instructions.count, program.instructions.count + 100)
        try assertEveryWaitIsNeeded(two.program)
    }
}
