import Formats
import XCTest

// A product's input rounded once into codes: the pass's steps cover the input once, in whole
// nvfp4 blocks, each within half a tile's SRAM and shared out over the tiles; the pass is
// taken where the tiles would each round and read much of the input, not for small
// products, nor when the target leaves its costs unknown.
@testable import Backend

final class CodedRowsTests: XCTestCase {
    private var npu: TileResources {
        var npu = TileResources(
            sramBytes: 32 * 1024, arrayRows: 20, arrayColumns: 20,
            rates: [.fp16: 1, .fp8: 2, .nvfp4: 4], clusters: 4, tilesPerCluster: 16)
        (npu.l2BytesPerCycle, npu.l3BytesPerCycle, npu.dramBytesPerCycle) = (1024, 2048, 1000)
        (npu.l3Latency, npu.dramLatency, npu.vectorLanes) = (48, 200, 32)
        return npu
    }

    func testTheStepsCoverTheInputOnceInWholeBlocksWithinHalfATile() {
        for (m, k, format) in [
            (128, 768, PrecisionFormat.nvfp4), (128, 3072, .nvfp4), (1, 64, .fp8), (7, 20_000, .fp8), (512, 16_384, .nvfp4),
        ] {
            let image = CodedRows(space: .l3, codes: 0, m: m, k: k, format: format)
            let steps = image.steps(npu)
            var covered = [Int](repeating: 0, count: m * k)
            for step in steps {
                XCTAssertLessThanOrEqual(
                    image.stagingBytes(rows: step.rows.count, columns: step.columns.count), npu.sramBytes / 2)
                if format == .nvfp4 {
                    XCTAssertEqual(step.columns.lowerBound % 16, 0)
                    XCTAssertEqual(step.columns.count % 16, 0)
                }
                for r in step.rows { for c in step.columns { covered[r * k + c] += 1 } }
            }
            XCTAssertEqual(Set(covered), [1], "\(m)x\(k) \(format)")
            // An even share of the rows per tile, but no step of fewer than `stepValues` values
            // unless the input has fewer.
            XCTAssertLessThanOrEqual(steps.count, max(npu.tileCount, m * k / CodedRows.stepValues + k), "\(m)x\(k)")
        }
        // A BERT-base-sized feed-forward input: 2 rows a tile, one step each.
        XCTAssertEqual(CodedRows(space: .l3, codes: 0, m: 128, k: 768, format: .nvfp4).steps(npu).count, 64)
    }

    func testTheImageKeepsACodeAValueAndNVFP4AScaleABlock() {
        XCTAssertEqual(CodedRows.bytes(m: 128, k: 768, format: .nvfp4), 128 * 768 + 4 * 128 * 48)
        XCTAssertEqual(CodedRows.bytes(m: 3, k: 5, format: .fp8), 64)
        XCTAssertEqual(CodedRows(space: .l3, codes: 128, m: 3, k: 32, format: .nvfp4).scales, 128 + 128)
        XCTAssertTrue(CodedRows.codable(.fp8, k: 5))
        XCTAssertFalse(CodedRows.codable(.nvfp4, k: 200))
        XCTAssertFalse(CodedRows.codable(.fp16, k: 256))
    }

    func testThePassIsTakenWhereTheTilesWouldEachRoundMuchOfTheInput() throws {
        func pays(
            _ m: Int, _ k: Int, _ n: Int, _ format: PrecisionFormat, sparse: Bool = false, dram: Bool = false,
            on resources: TileResources? = nil
        ) throws -> Bool {
            let resources = resources ?? npu
            let shape = MatrixShape(m: m, k: k, n: n, weightFormat: format, sparse: sparse, activationFormat: format)
            return CodedRows.pays(
                try MatrixTiling.plan(shape, on: resources), m: m, k: k, format: format, inputFromDRAM: dram, resources)
        }
        // BERT-base-sized products over 128 tokens: the attention's and the feed-forward's.
        XCTAssertTrue(try pays(128, 768, 768, .nvfp4, sparse: true))
        XCTAssertTrue(try pays(128, 768, 3072, .nvfp4, sparse: true))
        XCTAssertTrue(try pays(128, 3072, 768, .fp8))
        // The transformer sample's: 16 tokens of 64 and 256 values.
        XCTAssertFalse(try pays(16, 64, 64, .nvfp4))
        XCTAssertFalse(try pays(16, 256, 64, .nvfp4, sparse: true))
        // One row (a classifier, a decoder's step): nothing is read twice.
        XCTAssertFalse(try pays(1, 2048, 1000, .nvfp4, dram: true))
        // Unknown costs: never.
        var unknown = npu
        unknown.vectorLanes = 0
        XCTAssertFalse(try pays(128, 768, 3072, .nvfp4, sparse: true, on: unknown))
    }
}
