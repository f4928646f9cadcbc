// Programs run on two threads (tile c0.t0's queues on one, c0.t1's on the other) give what
// program order gives: the same bytes, and the same first error by instruction.
import ISA
import XCTest

@testable import Simulator

final class TwoThreadRunTests: XCTestCase {
    private let descriptors = """
        .descriptors
        d0: dram f32 @0x0 [4] [1]
        d1: sram c0.t1 f32 @0x0 [4] [1]
        d2: dram f32 @0x40 [4] [1]
        d3: sram c0.t0 f32 @0x0 [4] [1]
        d4: dram f32 @0x80 [4] [1]
        d5: dram f32 @0xf8 [4] [1]
        .code

        """

    /// The machine after running `code` on `threads` threads from DRAM holding x at 0, or
    /// the error.
    private func run(_ code: String, threads: Int) throws -> Machine {
        var machine = Machine(
            shape: MachineShape(dramBytes: 256, l3Bytes: 64, l2Bytes: 64, sramBytes: 64, clusters: 1, tilesPerCluster: 2),
            weights: [], constants: [])
        try machine.writeDRAM(littleEndianBytes([-1, 2, -3, 4]), at: 0)
        try machine.run(try Program(assembly: descriptors + code), threads: threads)
        return machine
    }

    /// The error running `code` gives, the same on one thread and on two.
    private func error(_ code: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        var messages: [String] = []
        for threads in [1, 2, 2, 2] {
            XCTAssertThrowsError(try run(code, threads: threads), file: file, line: line) { messages.append("\($0)") }
        }
        XCTAssertEqual(Set(messages).count, 1, "\(messages)", file: file, line: line)
        return messages.first ?? ""
    }

    func testAWaitOnTheOtherThreadsSignalOrdersTheirBytes() throws {
        // c0.t1 computes relu(x) into DRAM at 0x40; c0.t0 waits for it, adds 1, writes 0x80.
        func handOff(_ after: String, _ queue: String, _ unit: String, _ sem: Int, to waiting: String? = nil) -> String {
            "signal after=\(after), unit=\(unit), sem=s\(sem)\nwait queue=\(queue), unit=\(waiting ?? unit), sem=s\(sem), count=1\n"
        }
        let code =
            "dma dst=d1, src=d0\n" + handOff("dma", "vector", "c0.t1", 4) + "vop op=relu, dst=d1, a=d1, b=d0, imm=0.0\n"
            + handOff("vector", "dma", "c0.t1", 5) + "dma dst=d2, src=d1\n" + handOff("dma", "dma", "c0.t1", 6, to: "c0.t0")
            + "dma dst=d3, src=d2\n" + handOff("dma", "vector", "c0.t0", 7) + "vop op=add_scalar, dst=d3, a=d3, b=d0, imm=1.0\n"
            + handOff("vector", "dma", "c0.t0", 8) + "dma dst=d4, src=d3\nhalt\ndma dst=d4, src=d0\n"
        let want = littleEndianBytes([1, 3, 1, 5])
        XCTAssertEqual(try run(code, threads: 1).readDRAM(0x80, count: 16), want)
        for _ in 0..<50 { XCTAssertEqual(try run(code, threads: 2).readDRAM(0x80, count: 16), want) }
    }

    func testTheFirstFailingInstructionInProgramOrderIsNamed() {
        // Instruction 2 runs on c0.t1's thread, 3 on c0.t0's: whichever comes first is named.
        let unwritten = "dma dst=d1, src=d2\n", outside = "dma dst=d3, src=d5\n"
        let start = "dma dst=d3, src=d0\ndma dst=d1, src=d0\n"
        XCTAssertEqual(error(start + unwritten + outside), "instruction 2 (dma): reads dram byte 64, never written")
        XCTAssertEqual(
            error(start + outside + unwritten),
            "instruction 2 (dma): dram f32 @0xf8 [4] [1] reaches bytes 248..<264 of dram, which has 256")
        // A failure on c0.t0's thread while c0.t1's waits for a signal after it.
        XCTAssertEqual(
            error(
                "signal after=dma, unit=c0.t0, sem=s1\n" + outside + "signal after=dma, unit=c0.t0, sem=s1\n"
                    + "wait queue=dma, unit=c0.t1, sem=s1, count=2\n" + unwritten),
            "instruction 1 (dma): dram f32 @0xf8 [4] [1] reaches bytes 248..<264 of dram, which has 256")
    }

    func testAWaitProgramOrderCannotSatisfyIsADeadlockUnlessSomethingFailsFirst() {
        let deadlock = "signal after=dma, unit=c0.t1, sem=s1\nwait queue=dma, unit=c0.t0, sem=s1, count=2\n"
        XCTAssertEqual(
            error(deadlock + "dma dst=d1, src=d0\n"),
            "instruction 1 (wait): waits for s1 to reach 2, but in program order it is 1: the program deadlocks")
        XCTAssertEqual(error("dma dst=d1, src=d2\n" + deadlock), "instruction 0 (dma): reads dram byte 64, never written")
    }
}
