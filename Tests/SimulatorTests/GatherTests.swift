// `gather` on the simulator as schemas/isa.md defines it: rows of a table picked by i64 or
// i32 indices (negative ones counting from the end), the table in any global memory at any
// strides; and its refusals: an index out of range (nothing written), a table outside the
// global memories, unwritten indices or rows, shapes that do not match.
import Formats
import ISA
import XCTest

@testable import Simulator

final class GatherTests: XCTestCase {
    /// The table: 5 rows of 3 floats, row r holding 10r, 10r + 1, 10r + 2.
    private let table: [Float] = (0..<15).map { (i: Int) -> Float in Float(10 * (i / 3) + i % 3) }

    private func machine(constants: [UInt8] = []) -> Machine {
        Machine(
            shape: MachineShape(dramBytes: 512, l3Bytes: 256, l2Bytes: 64, sramBytes: 256, clusters: 1, tilesPerCluster: 1),
            weights: [], constants: constants)
    }

    private func int64Bytes(_ v: [Int64]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } }
    private func int32Bytes(_ v: [Int32]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } }

    /// Runs `gather dst=d0, src=d1, idx=d2` (then halt) on `m`.
    private func gather(_ m: inout Machine, dst: String, src: String, idx: String) throws {
        try m.run(
            try Program(
                assembly: ".descriptors\nd0: \(dst)\nd1: \(src)\nd2: \(idx)\n.code\ngather dst=d0, src=d1, idx=d2\nhalt\n"))
    }

    func testRowsArePickedInIndexOrderNegativeOnesFromTheEnd() throws {
        var m = machine(constants: littleEndianBytes(table))
        // idx [2, 2] = [[4, -1], [0, -5]]: rows 4, 4, 0, 0.
        try m.writeDRAM(int64Bytes([4, -1, 0, -5]), at: 0)
        try gather(&m, dst: "dram f32 @0x40 [4,3] [3,1]", src: "constants f32 @0x0 [5,3] [3,1]", idx: "dram i64 @0x0 [2,2] [2,1]")
        let rows = Float32Bytes.decode(try m.readDRAM(0x40, count: 48))
        XCTAssertEqual(rows, [40, 41, 42, 40, 41, 42, 0, 1, 2, 0, 1, 2])
    }

    func testInt32IndicesAndAStridedTableInL3() throws {
        var m = machine()
        // The table stored transposed ([3, 5], column r is row r) and read with strides [1, 5].
        let transposed: [Float] = (0..<15).map { (i: Int) -> Float in table[(i % 5) * 3 + i / 5] }
        try m.writeDRAM(littleEndianBytes(transposed), at: 0x80)
        try m.writeDRAM(int32Bytes([3, -4, 2]), at: 0)
        try m.run(
            try Program(
                assembly: """
                    .descriptors
                    d0: l3 f32 @0x0 [15] [1]
                    d1: dram f32 @0x80 [15] [1]
                    d2: dram f32 @0x100 [3,3] [3,1]
                    d3: l3 f32 @0x0 [5,3] [1,5]
                    d4: dram i32 @0x0 [3] [1]
                    .code
                    dma dst=d0, src=d1
                    gather dst=d2, src=d3, idx=d4
                    halt
                    """))
        XCTAssertEqual(Float32Bytes.decode(try m.readDRAM(0x100, count: 36)), [30, 31, 32, 10, 11, 12, 20, 21, 22])
    }

    func testAnIndexOutOfRangeNamesTheInstructionAndTheValueAndWritesNothing() throws {
        for (index, shown) in [(Int64(5), "index 5 (idx element 1)"), (-6, "index -6 (idx element 1)")] {
            var m = machine(constants: littleEndianBytes(table))
            try m.writeDRAM(int64Bytes([1, index, 2]), at: 0)
            XCTAssertThrowsError(
                try gather(
                    &m, dst: "dram f32 @0x40 [3,3] [3,1]", src: "constants f32 @0x0 [5,3] [3,1]", idx: "dram i64 @0x0 [3] [1]")
            ) {
                XCTAssertEqual("\($0)", "instruction 0 (gather): \(shown) is out of range for the table's 5 rows")
            }
            // Row 0 of dst, whose index was fine, was not written either.
            XCTAssertThrowsError(try m.readDRAM(0x40, count: 12))
        }
    }

    func testRefusals() throws {
        func refused(
            _ dst: String, _ src: String, _ idx: String, _ message: String, written: [UInt8] = [], line: UInt = #line
        ) throws {
            var m = machine(constants: littleEndianBytes(table))
            try m.writeDRAM(int64Bytes([0, 1]) + written, at: 0)
            XCTAssertThrowsError(try gather(&m, dst: dst, src: src, idx: idx), line: line) {
                XCTAssertEqual("\($0)", "instruction 0 (gather): " + message, line: line)
            }
        }
        let dst = "dram f32 @0x40 [2,3] [3,1]", src = "constants f32 @0x0 [5,3] [3,1]", idx = "dram i64 @0x0 [2] [1]"
        try refused(
            dst, "sram c0.t0 f32 @0x0 [5,3] [3,1]", idx,
            "the table is in sram; gather reads it from dram, weights, constants or l3")
        try refused(
            dst, src, "dram f32 @0x0 [2] [1]", "idx holds i32 or i64 row numbers, not f32")
        try refused(dst, src, "dram i64 @0x8 [2] [1]", "reads dram byte 16, never written")
        try refused(
            "dram f32 @0x40 [2,4] [4,1]", src, idx,
            "gather needs src [R, D] and dst [N, D] of one element type, N being idx's 2 elements: src f32 [5, 3], dst f32 [2, 4]"
        )
        try refused(
            dst, "constants f32 @0x0 [6,3] [3,1]", idx,
            "constants f32 @0x0 [6,3] [3,1] reaches bytes 0..<72 of constants, which has 60")
        // A table in DRAM: row 0 written, row 1 not.
        try refused(
            dst, "dram f32 @0x80 [2,3] [3,1]", idx, "reads dram byte 140, never written",
            written: [UInt8](repeating: 0, count: 112 + 12))
    }
}
