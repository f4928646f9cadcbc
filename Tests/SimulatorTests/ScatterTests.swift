// `scatter` on the simulator as schemas/isa.md defines it: rows written where i64 or i32
// indices point, in increasing order (the later of two rows sent to one place staying), or
// combined with the rows there (sums, products, maxima and minima of f32, i32 and i64, as
// the interpreter's ScatterND combines them), the table in DRAM or L3 at any strides, its
// other rows left as they were; and its refusals: an index outside [0, R) (nothing written),
// a table outside DRAM and L3, unwritten rows or indices, rows to combine that were never
// written, shapes that do not match.
import Formats
import ISA
import XCTest

@testable import Simulator

final class ScatterTests: XCTestCase {
    /// The rows: 4 rows of 3 floats, row r holding 10r + 1, 10r + 2, 10r + 3.
    private let rows: [Float] = (0..<12).map { (i: Int) -> Float in Float(10 * (i / 3) + i % 3 + 1) }

    private func machine() -> Machine {
        Machine(
            shape: MachineShape(dramBytes: 512, l3Bytes: 256, l2Bytes: 64, sramBytes: 256, clusters: 1, tilesPerCluster: 1),
            weights: [], constants: [])
    }

    private func int64Bytes(_ v: [Int64]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } }
    private func int32Bytes(_ v: [Int32]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } }

    /// Runs `scatter dst=d0, src=d1, idx=d2, reduction` (then halt) on `m`.
    private func scatter(_ m: inout Machine, dst: String, src: String, idx: String, reduction: String = "none") throws {
        try m.run(
            try Program(
                assembly:
                    ".descriptors\nd0: \(dst)\nd1: \(src)\nd2: \(idx)\n.code\nscatter dst=d0, src=d1, idx=d2, reduction=\(reduction)\nhalt\n"
            ))
    }

    func testRowsGoWhereTheirIndicesPointTheLaterOfTwoStaying() throws {
        var m = machine()
        // A table of 5 rows of 3 at 0x100, all -1; rows 0 to 3 sent to 4, 1, 4, 0.
        try m.writeDRAM(littleEndianBytes([Float](repeating: -1, count: 15)), at: 0x100)
        try m.writeDRAM(littleEndianBytes(rows), at: 0x40)
        try m.writeDRAM(int64Bytes([4, 1, 4, 0]), at: 0)
        try scatter(&m, dst: "dram f32 @0x100 [5,3] [3,1]", src: "dram f32 @0x40 [4,3] [3,1]", idx: "dram i64 @0x0 [2,2] [2,1]")
        XCTAssertEqual(
            Float32Bytes.decode(try m.readDRAM(0x100, count: 60)), [31, 32, 33, 11, 12, 13, -1, -1, -1, -1, -1, -1, 21, 22, 23])
    }

    func testTheISAsReductionsAreTheInterpretersInItsOrder() {
        XCTAssertEqual(InstructionSet.scatterReductions, ScatterReduction.allCases.map(\.rawValue))
    }

    func testAReductionCombinesEachRowWithTheOneThereInOrder() throws {
        // Rows 0 to 3 sent to 1, 0, 1, 1 of a table of two rows: row 1 combined three times.
        let table: [Float] = [2, -3, .nan, 4, 0.5, -0]
        let sent: [Float] = [1, 2, 3, -1, .nan, 7, 10, 0.25, -8, 3, -0.0, 6]
        let order: [Int64] = [1, 0, 1, 1]
        for reduction in ScatterReduction.allCases {
            var m = machine()
            try m.writeDRAM(littleEndianBytes(table), at: 0x100)
            try m.writeDRAM(littleEndianBytes(sent), at: 0x40)
            try m.writeDRAM(int64Bytes(order), at: 0)
            try scatter(
                &m, dst: "dram f32 @0x100 [2,3] [3,1]", src: "dram f32 @0x40 [4,3] [3,1]", idx: "dram i64 @0x0 [4] [1]",
                reduction: reduction.rawValue)
            var expected = table
            for (i, r) in order.enumerated() {
                for e in 0..<3 { expected[Int(r) * 3 + e] = reduction.combined(expected[Int(r) * 3 + e], sent[i * 3 + e]) }
            }
            let got = Float32Bytes.decode(try m.readDRAM(0x100, count: 24))
            XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "\(reduction)")
        }
        // max and min replace a NaN already there and keep a NaN sent, as onnxruntime does;
        // of +0 and -0, the one sent.
        XCTAssertEqual(ScatterReduction.max.combined(Float.nan, 1), 1)
        XCTAssertTrue(ScatterReduction.min.combined(1, Float.nan).isNaN)
        XCTAssertEqual(ScatterReduction.max.combined(0, -0.0).sign, .minus)
        XCTAssertEqual(ScatterReduction.min.combined(-0.0, 0).sign, .plus)
    }

    func testIntegerReductionsWrapAroundInTheElementsWidth() throws {
        for (element, width) in [("i32", 4), ("i64", 8)] {
            let big: Int64 = element == "i32" ? Int64(Int32.max) : Int64.max
            var m = machine()
            let bytes = { (v: [Int64]) -> [UInt8] in
                width == 4 ? self.int32Bytes(v.map { Int32(truncatingIfNeeded: $0) }) : self.int64Bytes(v)
            }
            try m.writeDRAM(bytes([big, 5]), at: 0x100)
            try m.writeDRAM(bytes([1, -7, 3, 9]), at: 0x40)
            try m.writeDRAM(int64Bytes([0, 0]), at: 0)
            try scatter(
                &m, dst: "dram \(element) @0x100 [1,2] [2,1]", src: "dram \(element) @0x40 [2,2] [2,1]",
                idx: "dram i64 @0x0 [2] [1]", reduction: "add")
            XCTAssertEqual(try m.readDRAM(0x100, count: 2 * width), bytes([big &+ 1 &+ 3, 5 - 7 + 9]), element)
        }
    }

    func testInt32IndicesAndAStridedTableInL3() throws {
        var m = machine()
        // The table stored transposed in L3 ([3, 4], column r is row r), written through
        // strides [1, 4], then copied out whole.
        try m.writeDRAM(littleEndianBytes([Float](repeating: 0, count: 12)), at: 0x80)
        try m.writeDRAM(littleEndianBytes(Array(rows[..<6])), at: 0x40)
        try m.writeDRAM(int32Bytes([3, 1]), at: 0)
        try m.run(
            try Program(
                assembly: """
                    .descriptors
                    d0: l3 f32 @0x0 [12] [1]
                    d1: dram f32 @0x80 [12] [1]
                    d2: l3 f32 @0x0 [4,3] [1,4]
                    d3: dram f32 @0x40 [2,3] [3,1]
                    d4: dram i32 @0x0 [2] [1]
                    .code
                    dma dst=d0, src=d1
                    scatter dst=d2, src=d3, idx=d4, reduction=none
                    dma dst=d1, src=d0
                    halt
                    """))
        XCTAssertEqual(Float32Bytes.decode(try m.readDRAM(0x80, count: 48)), [0, 11, 0, 1, 0, 12, 0, 2, 0, 13, 0, 3])
    }

    func testAnIndexOutsideTheTableNamesTheInstructionAndTheValueAndWritesNothing() throws {
        for (index, shown) in [(Int64(5), "index 5 (idx element 1)"), (-1, "index -1 (idx element 1)")] {
            var m = machine()
            try m.writeDRAM(littleEndianBytes([Float](repeating: -1, count: 15)), at: 0x100)
            try m.writeDRAM(littleEndianBytes(rows), at: 0x40)
            try m.writeDRAM(int64Bytes([2, index]), at: 0)
            XCTAssertThrowsError(
                try scatter(
                    &m, dst: "dram f32 @0x100 [5,3] [3,1]", src: "dram f32 @0x40 [2,3] [3,1]", idx: "dram i64 @0x0 [2] [1]")
            ) {
                XCTAssertEqual("\($0)", "instruction 0 (scatter): \(shown) is out of range for the table's 5 rows")
            }
            // Row 2, whose index was fine, was not written either.
            XCTAssertEqual(Float32Bytes.decode(try m.readDRAM(0x118, count: 12)), [-1, -1, -1])
        }
    }

    func testRefusals() throws {
        func refused(
            _ dst: String, _ src: String, _ idx: String, _ message: String, reduction: String = "none", line: UInt = #line
        ) throws {
            var m = machine()
            try m.writeDRAM(int64Bytes([0, 1]) + littleEndianBytes(Array(rows[..<6])), at: 0)
            XCTAssertThrowsError(try scatter(&m, dst: dst, src: src, idx: idx, reduction: reduction), line: line) {
                XCTAssertEqual("\($0)", "instruction 0 (scatter): " + message, line: line)
            }
        }
        let dst = "dram f32 @0x100 [5,3] [3,1]", src = "dram f32 @0x10 [2,3] [3,1]", idx = "dram i64 @0x0 [2] [1]"
        try refused("sram c0.t0 f32 @0x0 [5,3] [3,1]", src, idx, "the table is in sram; scatter writes it in dram or l3")
        try refused("constants f32 @0x0 [5,3] [3,1]", src, idx, "the table is in constants; scatter writes it in dram or l3")
        try refused(dst, src, "dram f32 @0x0 [2] [1]", "idx holds i32 or i64 row numbers, not f32")
        try refused(dst, src, "dram i64 @0x20 [2] [1]", "reads dram byte 40, never written")
        try refused(dst, "dram f32 @0x18 [2,3] [3,1]", idx, "reads dram byte 40, never written")
        try refused(
            dst, "dram f32 @0x10 [2,2] [2,1]", idx,
            "scatter needs dst [R, D] and src [N, D] of one element type, N being idx's 2 elements: dst f32 [5, 3], src f32 [2, 2]"
        )
        try refused(
            "dram f32 @0x1f0 [5,3] [3,1]", src, idx, "dram f32 @0x1f0 [5,3] [3,1] reaches bytes 496..<556 of dram, which has 512")
        // Combined rows must have been written (the table here never was), and be numbers.
        try refused(dst, src, idx, "reads dram byte 256, never written", reduction: "add")
        try refused(
            "dram u8 @0x100 [5,3] [3,1]", "dram u8 @0x10 [2,3] [3,1]", idx,
            "scatter combines f32, i32 or i64 rows (reduction max), not u8", reduction: "max")
    }
}
