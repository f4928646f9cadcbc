// The cycle model on tiny programs, every number computed by hand from npu-seed as
// schemas/cycles.md says: 20x20 arrays (pipeline fill 39), rates 1/2/4, 2:4 doubling;
// SRAM 128 bytes/cycle and 2 cycles, DRAM 1,000 bytes/cycle and 200 cycles; 32 lanes;
// a mode switch 3 + 2 + 10 cycles.
import ISA
import Simulator
import Target
import XCTest

final class CycleModelTests: XCTestCase {

    /// Schedules a program given as assembly.
    private func schedule(_ descriptors: [String], _ code: [String]) throws -> Schedule {
        let text =
            ".descriptors\n" + descriptors.enumerated().map { "d\($0): \($1)" }.joined(separator: "\n") + "\n.code\n"
            + code.joined(separator: "\n") + "\nhalt\n"
        return try CycleModel(target: try TargetDescription.default).schedule(try Program(assembly: text))
    }

    private static let formats = ["fp16": 0, "fp8": 1, "nvfp4": 2]

    /// One mma on tile 0 of cluster 0: out [m, n] at 0x5800, act [m, k] at 0, weights at 0x5000.
    private func mma(m: Int, k: Int, n: Int, wfmt: String, afmt: String? = nil, sparse: Bool = false) throws -> Schedule {
        try schedule(
            [
                "sram c0.t0 f32 @0x5800 [\(m),\(n)] [\(n),1]", "sram c0.t0 f32 @0x0 [\(m),\(k)] [\(k),1]",
                "sram c0.t0 packed @0x5000 [64] [1]",
            ],
            [
                "mma out=d0, act=d1, wgt=d2, scl=d0, wfmt=\(wfmt), afmt=\(afmt ?? wfmt), sparse=\(sparse ? 1 : 0), accumulate=0"
            ])
    }

    func testOneDMAFromDRAMToSRAM() throws {
        // 4,096 bytes at SRAM's 128 bytes/cycle (DRAM's 1,000 is wider): 32 cycles, then
        // DRAM's latency 200.
        let s = try schedule(
            ["sram c0.t0 f32 @0x0 [64,16] [16,1]", "dram f32 @0x0 [64,16] [16,1]"], ["dma dst=d0, src=d1"])
        XCTAssertEqual(s.start[0], 0)
        XCTAssertEqual(s.end[0], 232)
        XCTAssertEqual(s.cycles, 232)
        XCTAssertEqual(s.bytes[0], 4096)
        XCTAssertEqual(s.sourceLevel[0], 3)
        XCTAssertEqual(s.destinationLevel[0], 0)
        // Tile c0.t0's DMA queue (unit 0), its first engine, free again once the bytes moved.
        XCTAssertEqual(s.unit[0], 0)
        XCTAssertEqual(s.engine[0], 0)
        XCTAssertEqual(s.released[0], 32)
        XCTAssertEqual(s.unit[1], -1, "halt runs on no unit")
    }

    func testTwoTransfersOnOneTileTakeItsTwoEngines() throws {
        let s = try schedule(
            ["sram c0.t0 f32 @0x0 [64,16] [16,1]", "dram f32 @0x0 [64,16] [16,1]", "sram c0.t0 f32 @0x1000 [64,16] [16,1]"],
            ["dma dst=d0, src=d1", "dma dst=d2, src=d1"])
        XCTAssertEqual(s.engine[0], 0)
        XCTAssertEqual(s.engine[1], 1)
        XCTAssertEqual(s.start[1], 0)
    }

    func testOneMMAPerFormatAndSparsity() throws {
        // M = 32 rows stream once per weight block; K = 160 takes 160 / (20 x rate x 2:4) blocks.
        for (wfmt, sparse, blocks) in [
            ("fp16", false, 8), ("fp8", false, 4), ("nvfp4", false, 2), ("fp16", true, 4), ("fp8", true, 2),
            ("nvfp4", true, 1),
        ] {
            let s = try mma(m: 32, k: 160, n: 20, wfmt: wfmt, sparse: sparse)
            XCTAssertEqual(s.end[0], 32 * blocks + 39, "\(wfmt) sparse=\(sparse)")
            // The matrix unit (units 64 ..< 128 on 64 tiles) takes the next mma once the rows streamed.
            XCTAssertEqual(s.released[0], 32 * blocks, "\(wfmt) sparse=\(sparse)")
            XCTAssertEqual(s.unit[0], 64)
        }
        // 40 output channels are two column blocks; 21 reduction positions at fp16 two passes.
        XCTAssertEqual(try mma(m: 32, k: 160, n: 40, wfmt: "nvfp4", sparse: true).end[0], 64 + 39)
        XCTAssertEqual(try mma(m: 5, k: 21, n: 3, wfmt: "fp16").end[0], 10 + 39)
        // nvfp4 weights on fp8 activations run at fp8's rate and up-convert (1 cycle).
        XCTAssertEqual(try mma(m: 32, k: 160, n: 20, wfmt: "nvfp4", afmt: "fp8").end[0], 128 + 39 + 1)
    }

    private let twoMMA = [
        "sram c0.t0 f32 @0x6800 [32,20] [20,1]", "sram c0.t0 f32 @0x0 [32,80] [80,1]", "sram c0.t0 packed @0x5000 [64] [1]",
        "sram c0.t0 f32 @0x7400 [32,20] [20,1]", "sram c0.t0 f32 @0x0 [32,20] [20,1]", "sram c0.t0 f32 @0x6000 [1] [1]",
    ]

    func testAModeSwitchCostsTheTargetsCycles() throws {
        // fp16 (K 20) streams 0-32; the nvfp4 mma (K 80) switches 15 cycles, streams 47-79, drains 39.
        let switched = try schedule(
            twoMMA,
            [
                "mma out=d0, act=d4, wgt=d2, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0",
                "mma out=d3, act=d1, wgt=d2, scl=d5, wfmt=nvfp4, afmt=nvfp4, sparse=0, accumulate=0",
            ])
        XCTAssertEqual(switched.end, [71, 118, 118])
        let same = try schedule(
            twoMMA,
            [
                "mma out=d0, act=d4, wgt=d2, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0",
                "mma out=d3, act=d4, wgt=d2, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0",
            ])
        XCTAssertEqual(same.start[1], 32)
        XCTAssertEqual(same.end[1], 103)
    }

    func testAccumulatingOntoThePreviousMMAsOutDoesNotDrain() throws {
        let s = try schedule(
            twoMMA,
            [
                "mma out=d0, act=d4, wgt=d2, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0",
                "mma out=d0, act=d4, wgt=d2, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=1",
                "vop op=relu, dst=d0, a=d0, b=d0, imm=0.0",
            ])
        // The second streams 32-64 and drains by 103; relu (640 elements, 20 vectors) waits for it.
        XCTAssertEqual(s.start, [0, 32, 103, 123])
        XCTAssertEqual(s.end, [71, 103, 123, 123])
    }

    func testTwoTilesRunConcurrently() throws {
        let s = try schedule(
            [
                "sram c0.t0 f32 @0x7000 [32,20] [20,1]", "sram c0.t0 f32 @0x0 [32,20] [20,1]",
                "sram c0.t0 packed @0x5000 [64] [1]", "sram c3.t15 f32 @0x7000 [32,20] [20,1]",
                "sram c3.t15 f32 @0x0 [32,20] [20,1]", "sram c3.t15 packed @0x5000 [64] [1]",
            ],
            [
                "mma out=d0, act=d1, wgt=d2, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0",
                "mma out=d3, act=d4, wgt=d5, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0",
            ])
        XCTAssertEqual(s.start, [0, 0, 71])
        XCTAssertEqual(s.cycles, 71)
    }

    func testGroupsSideBySideTakeTheArrayOnce() throws {
        // schemas/cycles.md: 8 depthwise groups at nvfp4 (M 32, K 9, N 8): 72 positions in
        // one pass, 32 + 39 cycles, where the 8 groups' mma take the array 8 x 32 cycles.
        let side = try schedule(
            ["sram c0.t0 f32 @0x2000 [32,8] [8,1]", "sram c0.t0 f32 @0x0 [32,72] [72,1]", "sram c0.t0 packed @0x2400 [48] [1]"],
            ["mmag out=d0, act=d1, wgt=d2, scl=d0, wfmt=nvfp4, afmt=nvfp4, sparse=0, accumulate=0, groups=8"])
        XCTAssertEqual(side.cycles, 71)
        let apart = try schedule(
            ["sram c0.t0 f32 @0x2000 [32,1] [8,1]", "sram c0.t0 f32 @0x0 [32,9] [72,1]", "sram c0.t0 packed @0x2400 [6] [1]"],
            Array(
                repeating: "mma out=d0, act=d1, wgt=d2, scl=d0, wfmt=nvfp4, afmt=nvfp4, sparse=0, accumulate=0", count: 8))
        XCTAssertGreaterThanOrEqual(apart.cycles, 8 * 32 + 39)
    }

    /// An fp16 mma of K 160 (8 blocks: 256 cycles + 39), then a 1,024-byte DMA from DRAM
    /// into `buffer` (8 cycles + 200).
    private func computeThenLoad(into buffer: String) throws -> Schedule {
        try schedule(
            [
                "sram c0.t0 f32 @0x7000 [32,20] [20,1]", "sram c0.t0 f32 @0x0 [32,160] [160,1]",
                "sram c0.t0 packed @0x5000 [64] [1]", buffer, "dram f32 @0x0 [256] [1]",
            ],
            [
                "mma out=d0, act=d1, wgt=d2, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0",
                "dma dst=d3, src=d4",
            ])
    }

    func testDMAOverlapsComputeOnOtherBuffers() throws {
        let s = try computeThenLoad(into: "sram c0.t0 f32 @0x7a00 [256] [1]")
        XCTAssertEqual(s.start, [0, 0, 295])
        XCTAssertEqual(s.end, [295, 208, 295])
    }

    func testAWriteAfterReadWaitsForTheReader() throws {
        // The DMA overwrites the mma's activations: it starts when the mma completes.
        let s = try computeThenLoad(into: "sram c0.t0 f32 @0x400 [256] [1]")
        XCTAssertEqual(s.start[1], 295)
        XCTAssertEqual(s.end[1], 295 + 208)
        XCTAssertEqual(s.cycles, 503)
    }

    func testWritesAreNotOrderedButAReadWaitsForThem() throws {
        // Two 32-byte loads into one 64-byte block run at once on the tile's two DMA engines
        // (1 cycle + 200 each); relu over both (16 elements, one vector) waits for both.
        let s = try schedule(
            [
                "sram c0.t0 f32 @0x0 [8] [1]", "sram c0.t0 f32 @0x20 [8] [1]", "dram f32 @0x0 [8] [1]",
                "dram f32 @0x100 [8] [1]", "sram c0.t0 f32 @0x0 [16] [1]",
            ],
            ["dma dst=d0, src=d2", "dma dst=d1, src=d3", "vop op=relu, dst=d4, a=d4, b=d4, imm=0.0"])
        XCTAssertEqual(s.start, [0, 0, 201, 202])
        XCTAssertEqual(s.end, [201, 201, 202, 202])
    }

    func testDRAMBandwidthIsShared() throws {
        // 16 tiles each load 12,800 bytes: alone 100 cycles each, but DRAM moves 64,000 bytes
        // per 64-cycle window: five loads fill a window, the sixteenth ends at 192 + 13.
        var descriptors: [String] = [], code: [String] = []
        for t in 0..<16 {
            descriptors += ["sram c0.t\(t) f32 @0x0 [3200] [1]", "dram f32 @0x\(String(t * 12800, radix: 16)) [3200] [1]"]
            code.append("dma dst=d\(2 * t), src=d\(2 * t + 1)")
        }
        let s = try schedule(descriptors, code)
        XCTAssertEqual(s.end[0], 300)
        XCTAssertEqual(s.end[9], 128 + 200)
        XCTAssertEqual(s.end[15], 205 + 200)
        XCTAssertEqual(s.cycles, 405)
    }

    func testAGatherIsADMAOfItsRowsAndIndicesPlusALatencyPerRow() throws {
        // 8 rows of 64 bytes from a DRAM table into SRAM, 8 i64 indices from DRAM: 576 bytes at
        // SRAM's 128 bytes/cycle, 5 cycles; then one DRAM latency per row, 8 x 200, and the
        // transfer's own 200.
        let s = try schedule(
            ["sram c0.t0 f32 @0x0 [8,16] [16,1]", "dram f32 @0x1000 [100,16] [16,1]", "dram i64 @0x0 [8] [1]"],
            ["gather dst=d0, src=d1, idx=d2"])
        XCTAssertEqual(s.end[0], 5 + 8 * 200 + 200)
        XCTAssertEqual(s.bytes[0], 512)
        XCTAssertEqual(s.sourceLevel[0], 3)
        XCTAssertEqual(s.destinationLevel[0], 0)
        // One row into SRAM: 64 + 8 bytes in one cycle, one row's latency, then the transfer's.
        // A tile's two engines take the first two; the third waits for an engine, busy until 201.
        let three = try schedule(
            [
                "sram c0.t0 f32 @0x0 [1,16] [16,1]", "dram f32 @0x1000 [100,16] [16,1]", "dram i64 @0x0 [1] [1]",
                "sram c0.t0 f32 @0x40 [1,16] [16,1]", "sram c0.t0 f32 @0x80 [1,16] [16,1]",
            ],
            ["gather dst=d0, src=d1, idx=d2", "gather dst=d3, src=d1, idx=d2", "gather dst=d4, src=d1, idx=d2"])
        XCTAssertEqual(three.start, [0, 0, 201, 602])
        XCTAssertEqual(three.end, [401, 401, 602, 602])
    }

    func testAScatterIsADMAOfItsRowsAndIndicesPlusACyclePerRow() throws {
        // 8 rows of 64 bytes from SRAM into a DRAM table, 8 i64 indices in SRAM: 576 bytes at
        // SRAM's 128 bytes/cycle, 5 cycles; then one cycle to issue each row, and DRAM's latency.
        let s = try schedule(
            ["dram f32 @0x1000 [100,16] [16,1]", "sram c0.t0 f32 @0x0 [8,16] [16,1]", "sram c0.t0 i64 @0x200 [8] [1]"],
            ["scatter dst=d0, src=d1, idx=d2, reduction=none"])
        XCTAssertEqual(s.end[0], 5 + 8 + 200)
        XCTAssertEqual(s.bytes[0], 512)
        XCTAssertEqual(s.sourceLevel[0], 0)
        XCTAssertEqual(s.destinationLevel[0], 3)
        // Combining, it reads the 512 bytes of rows too (1,088 bytes, 9 cycles) and waits for
        // each row's read: 8 x 200.
        let combining = try schedule(
            ["dram f32 @0x1000 [100,16] [16,1]", "sram c0.t0 f32 @0x0 [8,16] [16,1]", "sram c0.t0 i64 @0x200 [8] [1]"],
            ["scatter dst=d0, src=d1, idx=d2, reduction=add"])
        XCTAssertEqual(combining.end[0], 9 + 8 * 200 + 200)
    }

    func testVectorOpsAndQuantization() throws {
        let s = try schedule(
            ["sram c0.t0 f32 @0x0 [32,20] [20,1]", "sram c0.t1 f32 @0x0 [32,20] [20,1]", "sram c0.t2 f32 @0x0 [32,20] [20,1]"],
            [
                "vop op=relu, dst=d0, a=d0, b=d0, imm=0.0", "vop op=exp, dst=d1, a=d1, b=d0, imm=0.0",
                "quant dst=d2, src=d2, fmt=nvfp4, amax=1.0, scale=0",
            ])
        // 640 elements are 20 vectors: relu 20, exp 4 x 20, nvfp4 two passes and 2 cycles' conversion.
        XCTAssertEqual(s.end, [20, 80, 42, 80])
    }

    func testAnInt64ElementTakesTwoLanes() throws {
        let s = try schedule(
            ["sram c0.t0 i64 @0x0 [32,20] [20,1]", "sram c0.t1 i32 @0x0 [32,20] [20,1]", "sram c0.t2 i64 @0x0 [32,20] [20,1]"],
            [
                "vop op=add, dst=d0, a=d0, b=d0, imm=0.0", "vop op=add, dst=d1, a=d1, b=d1, imm=0.0",
                "vop op=div, dst=d2, a=d2, b=d2, imm=0.0",
            ])
        // 640 i64 elements fill 40 vectors of 32-bit lanes, 640 i32 ones 20; div costs t = 4 a vector.
        XCTAssertEqual(s.end, [40, 20, 160, 160])
    }

    func testAWaitHoldsItsQueueAtItsPlaceUntilTheSignal() throws {
        // Tile 3's 16,384-byte load (128 cycles + 200) does not hold tile 0's signal: that
        // waits for tile 0's DMA queue alone, whose load completes at 232. The wait holds
        // tile 1's matrix queue only; tile 2's mma starts at 0.
        let s = try schedule(
            [
                "sram c0.t0 f32 @0x0 [64,16] [16,1]", "dram f32 @0x0 [64,16] [16,1]", "sram c0.t1 f32 @0x7000 [32,20] [20,1]",
                "sram c0.t1 f32 @0x0 [32,20] [20,1]", "sram c0.t1 packed @0x5000 [64] [1]",
                "sram c0.t3 f32 @0x0 [4096] [1]", "dram f32 @0x10000 [4096] [1]",
                "sram c0.t2 f32 @0x7000 [32,20] [20,1]", "sram c0.t2 f32 @0x0 [32,20] [20,1]",
                "sram c0.t2 packed @0x5000 [64] [1]",
            ],
            [
                "dma dst=d5, src=d6", "dma dst=d0, src=d1", "signal after=dma, unit=c0.t0, sem=s0",
                "wait queue=matrix, unit=c0.t1, sem=s0, count=1",
                "mma out=d2, act=d3, wgt=d4, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0",
                "mma out=d7, act=d8, wgt=d9, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0",
            ])
        XCTAssertEqual(s.end[0], 328)
        XCTAssertEqual(s.start[2], 232)
        XCTAssertEqual(s.start[3], 232)
        XCTAssertEqual(s.start[4], 232)
        XCTAssertEqual(s.end[4], 232 + 71)
        XCTAssertEqual(s.start[5], 0)
        // The N-th earliest signal: s1 is signalled at 328 (tile 3), then at 232 (tile 0);
        // a wait for 1 lets tile 1's matrix queue go at 232, a wait for 2 at 328.
        for (count, at) in [(1, 232), (2, 328)] {
            let two = try schedule(
                [
                    "sram c0.t0 f32 @0x0 [64,16] [16,1]", "dram f32 @0x0 [64,16] [16,1]",
                    "sram c0.t1 f32 @0x7000 [32,20] [20,1]", "sram c0.t1 f32 @0x0 [32,20] [20,1]",
                    "sram c0.t1 packed @0x5000 [64] [1]", "sram c0.t3 f32 @0x0 [4096] [1]", "dram f32 @0x10000 [4096] [1]",
                ],
                [
                    "dma dst=d5, src=d6", "signal after=dma, unit=c0.t3, sem=s1", "dma dst=d0, src=d1",
                    "signal after=dma, unit=c0.t0, sem=s1", "wait queue=matrix, unit=c0.t1, sem=s1, count=\(count)",
                    "mma out=d2, act=d3, wgt=d4, scl=d0, wfmt=fp16, afmt=fp16, sparse=0, accumulate=0",
                ])
            XCTAssertEqual(two.start[5], at, "count \(count)")
        }
    }

    func testACopyBetweenGlobalMemoriesRunsOnClusterZerosEngines() throws {
        // DRAM to DRAM, 4,096 bytes read and written: 5 cycles of DRAM's 1,000 bytes/cycle
        // each way, claimed together (8,192 bytes, 9 cycles), then 200. The signal after
        // c0's DMA queue is then; after tile 0's, which ran nothing, 0.
        let s = try schedule(
            ["dram f32 @0x0 [1024] [1]", "dram f32 @0x1000 [1024] [1]"],
            [
                "dma dst=d1, src=d0", "signal after=dma, unit=c0, sem=s2", "signal after=dma, unit=c0.t0, sem=s3",
            ])
        XCTAssertEqual(s.end[0], 209)
        XCTAssertEqual(s.start[1], 209)
        XCTAssertEqual(s.start[2], 0)
    }

    func testWaitsForMissingSignalsOrQueuesAreRefused() throws {
        XCTAssertThrowsError(try schedule(["dram f32 @0x0 [1] [1]"], ["wait queue=dma, unit=c0.t0, sem=s1, count=1"])) {
            XCTAssertTrue("\($0)".contains("instruction 0 (wait)"), "\($0)")
        }
        XCTAssertThrowsError(try schedule(["dram f32 @0x0 [1] [1]"], ["wait queue=matrix, unit=c1, sem=s1, count=0"])) {
            XCTAssertEqual(
                "\($0)", "instruction 0 (wait): c1 has no matrix queue: a cluster's own engines are DMA engines")
        }
        XCTAssertThrowsError(try schedule(["dram f32 @0x0 [1] [1]"], ["signal after=vector, unit=c4.t0, sem=s1"])) {
            XCTAssertEqual("\($0)", "instruction 0 (signal): c4.t0: the machine has 4 clusters")
        }
        // An operand outside its memory: SRAM is 32 KiB a tile.
        XCTAssertThrowsError(
            try schedule(
                ["sram c0.t0 f32 @0x7f00 [128] [1]", "dram f32 @0x0 [128] [1]"], ["dma dst=d0, src=d1"])
        ) {
            XCTAssertTrue(
                "\($0)".contains(
                    "instruction 0 (dma): d0 (sram c0.t0 f32 @0x7f00 [128] [1]) reaches bytes 32512..<33024 of sram, "
                        + "which has 32768"
                ), "\($0)")
        }
    }
}
