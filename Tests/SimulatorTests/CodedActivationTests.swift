// Coded activations on hand-written programs: a `quant` into codes and their scales, then
// an `mma` on them, gives the bits of the `mma` on the float32 rounded values; the scales
// are an operand of both for the cycle model's hazards and for the synchronization check;
// codes may be read through a view of higher rank; and a coded operand without proper
// scales, or of a shape that is no [M, K], is refused by name.
import Formats
import ISA
import Simulator
import Target
import XCTest

final class CodedActivationTests: XCTestCase {
    private let (m, k, n) = (8, 48, 4)

    /// x [m, k] in DRAM at 0, W [k, n] (fp16 values) at 0x800; rounded as f32 into SRAM 0x0,
    /// and as codes at 0x1000 with scales at 0x1400 ([m, k / 16] written through a
    /// [m, k / 16, 16] view that repeats each block's scale); both multiplied by W (SRAM
    /// 0x2000), out to DRAM 0x1000 and 0x1100.
    private func program(_ format: String, scalesView: String? = nil) -> String {
        let blocks = k / 16
        return """
            .descriptors
            d0: dram f32 @0x0 [\(m),\(k)] [\(k),1]
            d1: sram c0.t0 f32 @0x0 [\(m),\(k)] [\(k),1]
            d2: sram c0.t0 f32 @0x3000 [\(m),\(k)] [\(k),1]
            d3: sram c0.t0 u8 @0x1000 [\(m),\(k)] [\(k),1]
            d4: \(scalesView ?? "sram c0.t0 f32 @0x1400 [\(m),\(blocks),16] [\(blocks),1,0]")
            d5: dram f32 @0x800 [\(k),\(n)] [\(n),1]
            d6: sram c0.t0 f32 @0x2000 [\(k),\(n)] [\(n),1]
            d7: sram c0.t0 f32 @0x2400 [\(m),\(n)] [\(n),1]
            d8: sram c0.t0 f32 @0x2600 [\(m),\(n)] [\(n),1]
            d9: dram f32 @0x1000 [\(m),\(n)] [\(n),1]
            d10: dram f32 @0x1100 [\(m),\(n)] [\(n),1]
            .code
            dma dst=d1, src=d0
            dma dst=d2, src=d0
            dma dst=d6, src=d5
            quant dst=d1, src=d1, fmt=\(format), amax=6.5, scale=0
            quant dst=d3, src=d2, fmt=\(format), amax=6.5, scale=0
            mma out=d7, act=d1, wgt=d6, scl=d0, wfmt=fp16, afmt=\(format), sparse=0, accumulate=0
            mma out=d8, act=d3, wgt=d6, scl=d0, wfmt=fp16, afmt=\(format), sparse=0, accumulate=0
            dma dst=d9, src=d7
            dma dst=d10, src=d8
            halt
            """
    }

    private func run(_ text: String) throws -> (float: [Float], coded: [Float]) {
        var sim = Machine(
            shape: MachineShape(
                dramBytes: 0x1200, l3Bytes: 1 << 12, l2Bytes: 1 << 12, sramBytes: 1 << 15, clusters: 1, tilesPerCluster: 2),
            weights: [], constants: [])
        // Activations with zero blocks, ties and a wide range; weights on the fp16 grid.
        let x: [Float] = (0..<(m * k)).map { (i: Int) -> Float in
            let numerator = Float((i * 37) % 101 - 50), denominator = Float(1 + i % 9)
            return (i / 16) % 5 == 3 ? 0 : numerator / denominator
        }
        let w: [Float] = (0..<(k * n)).map { (i: Int) -> Float in Float((i * 13) % 17 - 8) / 8 }
        try sim.writeDRAM(littleEndianBytes(x), at: 0)
        try sim.writeDRAM(littleEndianBytes(w), at: 0x800)
        try sim.run(try Program(assembly: text))
        let bytes = 4 * m * n
        return (
            Float32Bytes.decode(try sim.readDRAM(0x1000, count: bytes)),
            Float32Bytes.decode(try sim.readDRAM(0x1100, count: bytes))
        )
    }

    func testAProductOfCodesEqualsTheProductOfTheirValues() throws {
        for format in ["fp8", "nvfp4"] {
            let (float, coded) = try run(program(format))
            XCTAssertEqual(coded.map(\.bitPattern), float.map(\.bitPattern), format)
            XCTAssertTrue(float.contains { $0 != 0 }, format)
        }
    }

    func testCodesReadThroughAViewOfHigherRank() throws {
        // The same codes as [2, 4, 3, 16]: rows 2 x 4 = M, columns 3 x 16 = K, in row-major
        // order the [M, K] matrix's elements: the same product (and the same cycles: the cycle model takes K = 48).
        let view = program("nvfp4").replacingOccurrences(
            of: "mma out=d8, act=d3", with: "mma out=d8, act=d11"
        )
        .replacingOccurrences(
            of: "d10: dram f32 @0x1100 [\(m),\(n)] [\(n),1]",
            with: """
                d10: dram f32 @0x1100 [\(m),\(n)] [\(n),1]
                d11: sram c0.t0 u8 @0x1000 [2,4,3,16] [192,48,16,1]
                d12: sram c0.t0 f32 @0x1400 [2,4,3,16] [12,3,1,0]
                """)
        let (float, coded) = try run(view)
        XCTAssertEqual(coded.map(\.bitPattern), float.map(\.bitPattern))
        let schedule = try CycleModel(target: try TargetDescription.default).schedule(try Program(assembly: view))
        let costs = try CycleModel(target: try TargetDescription.default).schedule(try Program(assembly: program("nvfp4")))
        XCTAssertEqual(schedule.start, costs.start)
        XCTAssertEqual(schedule.end, costs.end)
        // Leading dimensions that never make M rows are refused by name.
        let ragged = view.replacingOccurrences(of: "[2,4,3,16] [192,48,16,1]", with: "[3,2,64] [128,64,1]")
            .replacingOccurrences(of: "[2,4,3,16] [12,3,1,0]", with: "[3,2,64] [8,4,0]")
        XCTAssertThrowsError(try run(ragged)) {
            XCTAssertTrue("\($0)".hasPrefix("instruction 6 (mma): mma needs out f32 [M, N]"), "\($0)")
        }
    }

    func testCodedOperandsWithoutTheirScalesAreRefused() throws {
        // The scales' descriptor must follow the codes'.
        let last = program("nvfp4").replacingOccurrences(of: "d3: sram c0.t0 u8", with: "d3: sram c0.t0 f32")
            .replacingOccurrences(of: "d10: dram f32", with: "d10: sram c0.t0 u8")
            .replacingOccurrences(of: "dma dst=d10, src=d8", with: "quant dst=d10, src=d8, fmt=nvfp4, amax=1.0, scale=0")
        XCTAssertThrowsError(try Program(assembly: last)) {
            XCTAssertTrue("\($0)".contains("coded d10 takes its scales from d11, the table has 11 descriptors"), "\($0)")
        }
        // Scales of another count, or of another type, name the instruction.
        for view in ["sram c0.t0 f32 @0x1400 [\(m),3] [3,1]", "sram c0.t0 u8 @0x1400 [\(m),\(k)] [\(k),1]"] {
            XCTAssertThrowsError(try run(program("nvfp4", scalesView: view))) {
                XCTAssertTrue("\($0)".hasPrefix("instruction 4 (quant): the scales of coded d3"), "\($0)")
            }
        }
        // Codes of a format that has none.
        XCTAssertThrowsError(try run(program("fp16"))) {
            XCTAssertTrue("\($0)".hasPrefix("instruction 4 (quant): quant writes codes of fp8 or nvfp4"), "\($0)")
        }
    }

    func testAByteThatIsNotAnE2M1CodeIsRefused() throws {
        // fp8 codes read as nvfp4: bytes past 15.
        let text = program("fp8").replacingOccurrences(
            of: "mma out=d8, act=d3, wgt=d6, scl=d0, wfmt=fp16, afmt=fp8",
            with: "mma out=d8, act=d3, wgt=d6, scl=d0, wfmt=fp16, afmt=nvfp4")
        XCTAssertThrowsError(try run(text)) {
            XCTAssertTrue("\($0)".hasPrefix("instruction 6 (mma): act element"), "\($0)")
            XCTAssertTrue("\($0)".hasSuffix("which is not an E2M1 code"), "\($0)")
        }
    }

    func testTheScalesAreAnOperandForHazardsAndSynchronization() throws {
        // A DMA rewriting the scales between the quant and the mma: the mma reads them after it.
        let text = program("nvfp4").replacingOccurrences(
            of: "\nmma out=d8", with: "\nfill dst=d4, value=0.5\nmma out=d8")
        let schedule = try CycleModel(target: try TargetDescription.default).schedule(try Program(assembly: text))
        let fill = 6, coded = 7
        XCTAssertGreaterThanOrEqual(schedule.start[coded], schedule.end[fill])
        // The synchronization's walk sees the fill write after the quant's write of the
        // scales, and the mma read after the fill (their only common bytes are the scales').
        let p = try Program(assembly: text)
        var walk = DependenceWalk(units: Units(clusters: 1, tilesPerCluster: 2), program: p)
        var found: [Int: [(Int, Dependence.Kind)]] = [:]
        for index in 0...coded {
            found[index] = try walk.step(index, in: p)?.dependences.map { ($0.index, $0.kind) }
        }
        XCTAssertTrue(found[fill]!.contains { $0 == (4, .writeAfterWrite) }, "\(found[fill]!)")
        XCTAssertTrue(found[coded]!.contains { $0 == (fill, .readAfterWrite) }, "\(found[coded]!)")
    }
}
