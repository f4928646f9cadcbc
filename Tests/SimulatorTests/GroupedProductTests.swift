// `mmag` on a hand-written program: G groups side by side give, element for element, the
// bits of the G `mma`s of their groups (from +0 or accumulating, fp8 weights with each
// group's own scales), and coded activations read through a view the bits of their values;
// shapes G does not divide are refused by instruction.
import Formats
import ISA
import Simulator
import XCTest

final class GroupedProductTests: XCTestCase {
    /// Two groups of 2 output channels by 3 positions, fp8 weights row r (scale s_r) =
    /// [1, -2, 0.5] x (r + 1) x s_r, packed as the layer's two tiles, then its 4 scales.
    private func weights() throws -> [UInt8] {
        let layout = try WeightLayout(format: .fp8, sparse: false, rows: 4, columns: 3, tileRows: 2, tileColumns: 3)
        let scales: [Float] = [0.5, 1, 2, 0.25]
        let row: [Float] = [1, -2, 0.5]
        var values: [Float] = []
        for r in 0..<4 { values += row.map { $0 * Float(r + 1) * scales[r] } }
        return try WeightPacking.pack(values, scales: scales, layout: layout)
    }

    /// act [2, 6] (fp16 values unless given) from DRAM 0 and out [2, 4] from DRAM 0x40 into
    /// tile SRAM, the weights' 12 bytes and 4 scales beside them, and `codes` (12 bytes) and
    /// `scales` (2 floats) from DRAM 0xa0 and 0xb0 into SRAM 0x100 and 0x110 when given (`d17`
    /// to `d20` describe them); then `code`; out back to DRAM 0x80.
    private func run(
        _ code: String, act: [Float] = [1.5, -0.25, 3, 0.125, -7, 2.5, -1, 0.75, 0, 4, -0.5, 1.25],
        codes: (bytes: [UInt8], scales: [Float])? = nil, views: String = ""
    ) throws -> [Float] {
        var sim = Machine(
            shape: MachineShape(dramBytes: 0x100, l3Bytes: 256, l2Bytes: 256, sramBytes: 1024, clusters: 1, tilesPerCluster: 1),
            weights: try weights(), constants: [])
        try sim.writeDRAM(littleEndianBytes(act), at: 0)
        var staging = ""
        if let codes {
            try sim.writeDRAM(codes.bytes, at: 0xa0)
            try sim.writeDRAM(littleEndianBytes(codes.scales), at: 0xb0)
            staging = "dma dst=d18, src=d17\ndma dst=d20, src=d19"
        }
        try sim.writeDRAM(littleEndianBytes([Float](repeating: 0.375, count: 8)), at: 0x40)
        try sim.run(
            try Program(
                assembly: """
                    .descriptors
                    d0: dram f32 @0x0 [2,6] [6,1]
                    d1: sram c0.t0 f32 @0x0 [2,6] [6,1]
                    d2: dram f32 @0x40 [2,4] [4,1]
                    d3: sram c0.t0 f32 @0x40 [2,4] [4,1]
                    d4: weights packed @0x0 [12] [1]
                    d5: sram c0.t0 packed @0x80 [12] [1]
                    d6: weights f32 @0xc [4] [1]
                    d7: sram c0.t0 f32 @0xc0 [4] [1]
                    d8: dram f32 @0x80 [2,4] [4,1]
                    d9: sram c0.t0 f32 @0x0 [2,3] [6,1]
                    d10: sram c0.t0 f32 @0xc [2,3] [6,1]
                    d11: sram c0.t0 packed @0x80 [6] [1]
                    d12: sram c0.t0 packed @0x86 [6] [1]
                    d13: sram c0.t0 f32 @0xc0 [2] [1]
                    d14: sram c0.t0 f32 @0xc8 [2] [1]
                    d15: sram c0.t0 f32 @0x40 [2,2] [4,1]
                    d16: sram c0.t0 f32 @0x48 [2,2] [4,1]
                    d17: dram u8 @0xa0 [12] [1]
                    d18: sram c0.t0 u8 @0x100 [12] [1]
                    d19: dram f32 @0xb0 [2] [1]
                    d20: sram c0.t0 f32 @0x110 [2] [1]
                    \(views)
                    .code
                    dma dst=d1, src=d0
                    dma dst=d3, src=d2
                    dma dst=d5, src=d4
                    dma dst=d7, src=d6
                    \(staging)
                    \(code)
                    dma dst=d8, src=d3
                    halt
                    """))
        return Float32Bytes.decode(try sim.readDRAM(0x80, count: 32))
    }

    func testGroupsSideBySideGiveTheirOwnProductsBits() throws {
        for accumulate in [0, 1] {
            let side = try run(
                "mmag out=d3, act=d1, wgt=d5, scl=d7, wfmt=fp8, afmt=fp16, sparse=0, accumulate=\(accumulate), groups=2")
            let apart = try run(
                """
                mma out=d15, act=d9, wgt=d11, scl=d13, wfmt=fp8, afmt=fp16, sparse=0, accumulate=\(accumulate)
                mma out=d16, act=d10, wgt=d12, scl=d14, wfmt=fp8, afmt=fp16, sparse=0, accumulate=\(accumulate)
                """)
            XCTAssertEqual(side.map(\.bitPattern), apart.map(\.bitPattern), "accumulate \(accumulate)")
            // Group 1's first channel (row 2, scale 2) on act row 0's columns 3 to 5: its own
            // weights and columns, not group 0's.
            let w1: [Float] = [6, -12, 3]
            let x: [Float] = [0.125, -7, 2.5]
            var expected: Float = accumulate == 1 ? 0.375 : 0
            for p in 0..<3 { expected += x[p] * w1[p] }
            XCTAssertEqual(side[2], expected, "accumulate \(accumulate)")
        }
    }

    /// Coded fp8 activations as a [2, 2, 3] view of codes (rows, groups, positions), each
    /// group's scale one word read with stride 0 along its positions, as a depthwise
    /// convolution's channels share their block's scale: the same bits as the float32
    /// activations holding value(code) times scale.
    func testCodedActivationsGiveTheBitsOfTheirValues() throws {
        // E4M3 codes: 1.5, -1, 2 | 0.5, 3, 0.25 || 1, 1, -1 | 2, 1.5, 0.5; scales 0.5 and 4.
        let bytes: [UInt8] = [0x3C, 0xB8, 0x40, 0x30, 0x44, 0x28, 0x38, 0x38, 0xB8, 0x40, 0x3C, 0x30]
        let values: [Float] = [0.75, -0.5, 1, 2, 12, 1, 0.5, 0.5, -0.5, 8, 6, 2]
        let views = """
            d21: sram c0.t0 u8 @0x100 [2,2,3] [6,3,1]
            d22: sram c0.t0 f32 @0x110 [2,2,3] [0,1,0]
            """
        for accumulate in [0, 1] {
            let coded = try run(
                "mmag out=d3, act=d21, wgt=d5, scl=d7, wfmt=fp8, afmt=fp8, sparse=0, accumulate=\(accumulate), groups=2",
                codes: (bytes, [0.5, 4]), views: views)
            let plain = try run(
                "mmag out=d3, act=d1, wgt=d5, scl=d7, wfmt=fp8, afmt=fp8, sparse=0, accumulate=\(accumulate), groups=2",
                act: values)
            XCTAssertEqual(coded.map(\.bitPattern), plain.map(\.bitPattern), "accumulate \(accumulate)")
            // Row 1's group 1, first channel (weights [6, -12, 3]): 8·6 - 6·12 + 2·3.
            XCTAssertEqual(coded[6], (accumulate == 1 ? 0.375 : 0) + 48 - 72 + 6, "accumulate \(accumulate)")
        }
        // A view whose leading dimensions never make M rows is refused by instruction.
        XCTAssertThrowsError(
            try run(
                "mmag out=d3, act=d21, wgt=d5, scl=d7, wfmt=fp8, afmt=fp8, sparse=0, accumulate=0, groups=2",
                codes: (bytes, [0.5, 4]),
                views: "d21: sram c0.t0 u8 @0x100 [3,4] [4,1]\nd22: sram c0.t0 f32 @0x110 [3,4] [0,0]")
        ) { error in
            XCTAssertTrue("\(error)".contains("mmag"), "\(error)")
        }
    }

    func testGroupsThatDoNotDivideTheChannelsAreRefused() throws {
        XCTAssertThrowsError(
            try run("mmag out=d3, act=d1, wgt=d5, scl=d7, wfmt=fp8, afmt=fp16, sparse=0, accumulate=0, groups=3")
        ) { error in
            XCTAssertTrue("\(error)".contains("mmag"), "\(error)")
        }
        XCTAssertThrowsError(
            try run("mmag out=d3, act=d1, wgt=d5, scl=d7, wfmt=fp8, afmt=fp16, sparse=0, accumulate=0, groups=1")
        ) { error in
            XCTAssertTrue("\(error)".contains("mmag"), "\(error)")
        }
    }
}
