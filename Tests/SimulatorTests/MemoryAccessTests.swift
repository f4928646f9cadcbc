// How descriptors become runs of bytes, and what the machine does at their edges.
import ISA
import TestSupport
import XCTest

@testable import Simulator

final class MemoryAccessTests: XCTestCase {
    func testRowMajorTensorIsOneRun() {
        let runs = ByteRuns(base: 64, dims: [3, 5], strides: [5, 1], size: 4)
        XCTAssertEqual(Array(runs.starts), [64])
        XCTAssertEqual(runs.length, 60)
        XCTAssertEqual(runs.span, 64..<124)
    }

    func testPaddedRowsAreOneRunEach() {
        // Rows of 5 floats, 8 apart: three runs of 20 bytes.
        let runs = ByteRuns(base: 0, dims: [3, 5], strides: [8, 1], size: 4)
        XCTAssertEqual(Array(runs.starts), [0, 32, 64])
        XCTAssertEqual(runs.length, 20)
    }

    func testUnitDimensionsDoNotSplitRuns() {
        let runs = ByteRuns(base: 0, dims: [1, 2, 1, 3], strides: [99, 3, 7, 1], size: 2)
        XCTAssertEqual(Array(runs.starts), [0])
        XCTAssertEqual(runs.length, 12)
    }

    func testTransposedViewWalksElementByElement() {
        // A [2, 3] tensor read as its transpose [3, 2]: order 0, 3, 1, 4, 2, 5.
        let runs = ByteRuns(base: 0, dims: [3, 2], strides: [1, 3], size: 4)
        XCTAssertEqual(Array(runs.starts), [0, 12, 4, 16, 8, 20])
        XCTAssertEqual(runs.length, 4)
    }

    func testNegativeStrideAndEmptyExtent() {
        let reversed = ByteRuns(base: 12, dims: [4], strides: [-1], size: 4)
        XCTAssertEqual(Array(reversed.starts), [12, 8, 4, 0])
        XCTAssertEqual(reversed.span, 0..<16)
        let empty = ByteRuns(base: 0, dims: [3, 0], strides: [0, 1], size: 4)
        XCTAssertEqual(empty.count, 0)
        XCTAssertNil(empty.span)
    }

    func testRunsAndSpanAreTheElementsWalkedOneByOne() {
        // Random shapes, strides (negative, zero, overlapping) and element sizes: the runs,
        // cut into elements, are every element's first byte in row-major order, and the
        // span is the lowest to one past the highest byte.
        var random = SeededRandom(seed: 24)
        for _ in 0..<2000 {
            let rank = Int.random(in: 1...6, using: &random)
            let dims = (0..<rank).map { _ in Int.random(in: 1...4, using: &random) }
            let strides = (0..<rank).map { _ in Int.random(in: -6...6, using: &random) }
            let size = [1, 2, 4, 8].randomElement(using: &random)!
            var elements: [Int] = []
            var position = [Int](repeating: 0, count: rank)
            for _ in 0..<dims.reduce(1, *) {
                elements.append(1000 + zip(position, strides).map { $0 * $1 * size }.reduce(0, +))
                var axis = rank - 1
                while axis >= 0 {
                    position[axis] += 1
                    if position[axis] < dims[axis] { break }
                    position[axis] = 0
                    axis -= 1
                }
            }
            let runs = ByteRuns(base: 1000, dims: dims, strides: strides, size: size)
            let walked = runs.starts.flatMap { stride(from: $0, to: $0 + runs.length, by: size) }
            XCTAssertEqual(walked, elements, "dims \(dims) strides \(strides) size \(size)")
            // The tight walk the memories use gives the iterator's starts.
            var starts: [Int] = []
            runs.starts.forEachStart { starts.append($0) }
            XCTAssertEqual(starts, Array(runs.starts), "dims \(dims) strides \(strides)")
            XCTAssertEqual(runs.span, elements.min()!..<(elements.max()! + size), "dims \(dims) strides \(strides)")
        }
    }

    func testReadBeforeWriteNamesTheFirstUnwrittenByte() throws {
        var machine = Machine(
            shape: MachineShape(dramBytes: 64, l3Bytes: 64, l2Bytes: 64, sramBytes: 64, clusters: 1, tilesPerCluster: 1),
            weights: [], constants: [])
        try machine.writeDRAM([UInt8](repeating: 1, count: 8), at: 0)
        var program = Program()
        program.descriptors = [
            try TensorDescriptor(.sram, .f32, address: 0, dims: [4]), try TensorDescriptor(.dram, .f32, address: 0, dims: [4]),
        ]
        program.instructions = [try Instruction("dma", ["dst": 0, "src": 1])]
        XCTAssertThrowsError(try machine.run(program)) { e in
            XCTAssertEqual("\(e)", "instruction 0 (dma): reads dram byte 8, never written")
        }
    }

    func testSemaphoresCountSignalsInProgramOrderAndNameTheirQueues() throws {
        var machine = Machine(
            shape: MachineShape(dramBytes: 64, l3Bytes: 64, l2Bytes: 64, sramBytes: 64, clusters: 2, tilesPerCluster: 2),
            weights: [], constants: [])
        func run(_ code: String) throws { try machine.run(try Program(assembly: ".code\n" + code + "halt\n")) }
        // s7 reaches 2; a wait for 2 passes, and a second run starts from 0 again.
        let twice = "signal after=dma, unit=c1.t1, sem=s7\nsignal after=dma, unit=c1.t1, sem=s7\n"
        try run(twice + "wait queue=vector, unit=c0.t1, sem=s7, count=2\n")
        try run(twice + "wait queue=dma, unit=c1, sem=s7, count=2\n")
        XCTAssertThrowsError(
            try run("signal after=dma, unit=c1.t1, sem=s65535\nwait queue=vector, unit=c0.t1, sem=s65535, count=2\n")
        ) {
            XCTAssertEqual(
                "\($0)", "instruction 1 (wait): waits for s65535 to reach 2, but in program order it is 1: the program deadlocks")
        }
        XCTAssertThrowsError(try run("signal after=matrix, unit=c0, sem=s1\n")) {
            XCTAssertEqual("\($0)", "instruction 0 (signal): c0 has no matrix queue: a cluster's own engines are DMA engines")
        }
        XCTAssertThrowsError(try run("wait queue=dma, unit=c0.t2, sem=s1, count=0\n")) {
            XCTAssertEqual("\($0)", "instruction 0 (wait): c0.t2: a cluster has 2 tiles")
        }
    }
}
