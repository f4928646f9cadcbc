// `quant fmt=fp16` into float32 on hand-written programs: every element is its source value
// rounded to half precision as it was before the instruction, whether the destination is
// the source itself, a region of its own, the source shifted by one float (read whole
// before any is written), or written from a transposed view.
import Formats
import ISA
import SimulatorKernels
import TestSupport
import XCTest

@testable import Simulator

final class HalfRoundingTests: XCTestCase {
    /// 64 values: ties between halves, half subnormals, values past the largest half
    /// (infinity), zeros of both signs, infinities, a NaN and a spread of others.
    private let x: [Float] = (0..<64).map { (i: Int) -> Float in
        switch i % 8 {
        case 0: return 1 + Float(i) / 2048 + 1 / 4096  // a tie at half's spacing near 1
        case 1: return Float(i) * 1e-6  // half subnormals
        case 2: return 65520 + Float(i)  // rounds to infinity
        case 3: return i % 16 == 3 ? -0.0 : 0
        case 4: return i == 4 ? .infinity : i == 12 ? -.infinity : i == 20 ? .nan : Float(i) * -3.3
        default: return Float((i * 37) % 101 - 50) / Float(1 + i % 7)
        }
    }

    private func run(_ code: String, descriptors: String, count: Int = 64) throws -> [Float] {
        var sim = Machine(
            shape: MachineShape(
                dramBytes: 0x400, l3Bytes: 1 << 12, l2Bytes: 1 << 12, sramBytes: 1 << 13, clusters: 1, tilesPerCluster: 1),
            weights: [], constants: [])
        try sim.writeDRAM(littleEndianBytes(x), at: 0)
        let text = """
            .descriptors
            d0: dram f32 @0x0 [64] [1]
            d1: sram c0.t0 f32 @0x0 [64] [1]
            d2: dram f32 @0x100 [64] [1]
            \(descriptors)
            .code
            dma dst=d1, src=d0
            \(code)
            halt
            """
        try sim.run(try Program(assembly: text))
        return Float32Bytes.decode(try sim.readDRAM(0x100, count: 4 * count))
    }

    private func assertRounded(_ got: [Float], _ source: [Float], _ what: String, line: UInt = #line) {
        let want = source.map(Float16Codec.round)
        XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), what, line: line)
        XCTAssertTrue(want.contains(.infinity) && want.contains { $0.isNaN } && want.contains { $0 != $0.rounded() })
    }

    func testEachElementIsItsSourceRoundedToHalf() throws {
        // In place, then out.
        assertRounded(try run("quant dst=d1, src=d1, fmt=fp16, amax=0, scale=0\ndma dst=d2, src=d1", descriptors: ""), x, "in place")
        // To a region of its own.
        assertRounded(
            try run(
                "quant dst=d3, src=d1, fmt=fp16, amax=0, scale=0\ndma dst=d2, src=d3", descriptors: "d3: sram c0.t0 f32 @0x400 [64] [1]"),
            x, "apart")
        // Onto the source shifted by one float, either way: element i of the result is
        // source element i rounded, though writing it in order would overwrite source
        // element i + 1 (or i - 1) first.
        for (to, from) in [(4, 0), (0, 4)] {
            let shifted = try run(
                "quant dst=d3, src=d4, fmt=fp16, amax=0, scale=0\ndma dst=d5, src=d3",
                descriptors: """
                    d3: sram c0.t0 f32 @0x\(to) [63] [1]
                    d4: sram c0.t0 f32 @0x\(from) [63] [1]
                    d5: dram f32 @0x100 [63] [1]
                    """, count: 63)
            assertRounded(shifted, Array(x[(from / 4)..<(from / 4 + 63)]), "shifted to \(to) from \(from)")
        }
        // From a transposed view [8, 8] into a row-major region: the transpose, rounded.
        let transposed = try run(
            "quant dst=d3, src=d4, fmt=fp16, amax=0, scale=0\ndma dst=d2, src=d5",
            descriptors: """
                d3: sram c0.t0 f32 @0x400 [8,8] [8,1]
                d4: sram c0.t0 f32 @0x0 [8,8] [1,8]
                d5: sram c0.t0 f32 @0x400 [64] [1]
                """)
        assertRounded(transposed, (0..<64).map { x[($0 % 8) * 8 + $0 / 8] }, "transposed")
    }

    func testBlocksRoundedWithVectorsAreEachValueRounded() {
        // Blocks of eight that all round in place (normal halves and zeros, both signs),
        // blocks with one value that does not (subnormal halves, overflow, infinities,
        // NaNs), every 4093rd float32 pattern, and a tail shorter than a block; into a
        // buffer of its own and in place, as Float16Codec.round rounds each value.
        var rng = SeededRandom(seed: 5)
        var values: [Float] = []
        for _ in 0..<512 { values += (0..<8).map { _ in Float.random(in: -60000...60000, using: &rng) } }
        values += [0, -0.0, 0x1p-14, -65504, 1, 65519.996, 2047.9999, 1.0009765]
        for odd: Float in [0x1p-15, 1e-30, 65520, .infinity, -.infinity, .nan, Float(bitPattern: 0x7F80_0001), 0x1p-149] {
            var block = (0..<8).map { _ in Float.random(in: -100...100, using: &rng) }
            block[Int.random(in: 0..<8, using: &rng)] = odd
            values += block
        }
        values += stride(from: UInt32(0), to: UInt32.max, by: 4093).map { Float(bitPattern: $0) } + [3, 0x1p-20, 7]
        let want = values.map { Float16Codec.round($0).bitPattern }
        var apart = [Float](repeating: 0, count: values.count), inPlace = values
        values.withUnsafeBufferPointer { x in
            apart.withUnsafeMutableBufferPointer { Machine.roundToHalf(x, into: $0.baseAddress!) }
        }
        inPlace.withUnsafeMutableBufferPointer { Machine.roundToHalf(UnsafeBufferPointer($0), into: $0.baseAddress!) }
        for (what, got) in [("apart", apart), ("in place", inPlace)] {
            let wrong = got.indices.filter { got[$0].bitPattern != want[$0] }
            XCTAssertEqual(wrong.count, 0, "\(what): \(wrong.prefix(4).map { "\(values[$0]) -> \(got[$0])" })")
        }
        #if arch(x86_64)
            // Every x86-64 machine npucc is built and tested on has AVX2: the blocks must
            // have gone through the vectors, or the test checked the scalar rounding alone.
            var out = [Float](repeating: 0, count: 8)
            XCTAssertEqual(npucc_round_half_blocks([1, 2, 3, 4, 5, 6, 7, 8], &out, 8), 8)
            XCTAssertEqual(npucc_round_half_blocks([1, 2, 3, 4, 5, 6, 7, .nan], &out, 8), 0)
        #endif
    }
}
