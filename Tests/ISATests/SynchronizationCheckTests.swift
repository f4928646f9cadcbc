// The checker of a program's synchronization on hand-written programs (one cluster of two
// tiles): orders through another queue are accepted, a wait proves nothing when two queues
// signal its semaphore or fewer signals than its count precede it, and operands outside
// their memory are refused by name.
import ISA
import XCTest

final class SynchronizationCheckTests: XCTestCase {
    private let units = Units(clusters: 1, tilesPerCluster: 2)

    /// Tile 0 stores to DRAM bytes 0..<64, then the lines of `code`, then tile 1 loads them.
    private func check(_ code: [String], limits: [MemorySpace: Int] = [:]) throws -> SynchronizationSummary {
        let text = """
            .descriptors
            d0: sram c0.t0 f32 @0x0 [16] [1]
            d1: dram f32 @0x0 [16] [1]
            d2: dram f32 @0x100 [16] [1]
            d3: sram c0.t1 f32 @0x0 [16] [1]
            .code
            fill dst=d0, value=1.0
            dma dst=d1, src=d0

            """ + code.joined(separator: "\n") + "\ndma dst=d3, src=d1\nhalt\n"
        return try Program(assembly: text).checkSynchronization(units: units, limits: limits)
    }

    func testAnOrderThroughAnotherQueueIsAccepted() throws {
        // Tile 1 waits for the cluster's copy, which waited for tile 0's store.
        let summary = try check([
            "signal after=dma, unit=c0.t0, sem=s0", "wait queue=dma, unit=c0, sem=s0, count=1", "dma dst=d2, src=d1",
            "signal after=dma, unit=c0, sem=s6", "wait queue=dma, unit=c0.t1, sem=s6, count=1",
        ])
        XCTAssertEqual(summary, SynchronizationSummary(dependences: 2, signals: 2, waits: 2))
    }

    func testAWaitProvesNothingWhenTwoQueuesSignalItsSemaphoreAndDeadlocksWhenTooFewSignalsPrecedeIt() throws {
        XCTAssertThrowsError(
            try check([
                "signal after=dma, unit=c0.t0, sem=s9", "signal after=vector, unit=c0.t1, sem=s9",
                "wait queue=dma, unit=c0.t1, sem=s9, count=1",
            ])
        ) {
            XCTAssertEqual(
                "\($0)",
                "instruction 5 (dma): on dma c0.t1, it reads dram byte 0, which instruction 1 (dma on dma c0.t0) writes, "
                    + "and no signal and wait order the two")
        }
        // The simulator stops there too: in program order the semaphore never reaches 2.
        XCTAssertThrowsError(
            try check([
                "signal after=dma, unit=c0.t0, sem=s0", "wait queue=dma, unit=c0.t0, sem=s0, count=1",
                "wait queue=dma, unit=c0.t1, sem=s0, count=2",
            ])
        ) {
            XCTAssertEqual(
                "\($0)", "instruction 4 (wait): waits for s0 to reach 2, but in program order it is 1: the program deadlocks")
        }
        // Without a wait on tile 1's DMA queue, the signal alone orders nothing.
        XCTAssertThrowsError(
            try check(["signal after=dma, unit=c0.t0, sem=s0", "wait queue=vector, unit=c0.t1, sem=s0, count=1"]))
    }

    func testOperandsOutsideTheirMemoryAndMissingQueuesAreRefused() throws {
        XCTAssertThrowsError(try check([], limits: [.sram: 32])) {
            XCTAssertEqual(
                "\($0)", "instruction 0 (fill): d0 (sram c0.t0 f32 @0x0 [16] [1]) reaches bytes 0..<64 of sram, which has 32")
        }
        XCTAssertThrowsError(try check(["wait queue=vector, unit=c0, sem=s0, count=0"])) {
            XCTAssertEqual("\($0)", "instruction 2 (wait): c0 has no vector queue: a cluster's own engines are DMA engines")
        }
    }
}
