// Matrix tiling: every ResNet-50 layer at every format fits a tile's SRAM double-buffered,
// every output tile is computed exactly once, the work is spread evenly over the 64 tiles.
import Backend
import Formats
import XCTest

final class MatrixTilingTests: XCTestCase {
    private let npu = TileResources(
        sramBytes: 32 * 1024, arrayRows: 20, arrayColumns: 20,
        rates: [.fp16: 1, .fp8: 2, .nvfp4: 4], clusters: 4, tilesPerCluster: 16)

    /// (M, K, N) of ResNet-50's convolutions at batch 1 (M = output positions) and its fc.
    private let layers = [
        (12544, 147, 64), (3136, 64, 64), (3136, 576, 64), (3136, 64, 256), (3136, 256, 64),
        (3136, 256, 128), (784, 1152, 128), (784, 128, 512), (784, 256, 512), (784, 512, 128),
        (784, 512, 256), (196, 2304, 256), (196, 256, 1024), (196, 512, 1024), (196, 1024, 256),
        (196, 1024, 512), (49, 4608, 512), (49, 512, 2048), (49, 1024, 2048), (49, 2048, 512),
        (1, 2048, 1000),
    ]

    func testEveryLayerFitsAndIsCoveredOnceEvenly() throws {
        for (m, k, n) in layers {
            for format in [PrecisionFormat.fp16, .fp8, .nvfp4] {
                for sparse in [false, true] where !sparse || k % 4 == 0 {
                    let shape = MatrixShape(m: m, k: k, n: n, weightFormat: format, sparse: sparse, activationFormat: format)
                    let plan = try MatrixTiling.plan(shape, on: npu)
                    let label = "\(m)x\(k)x\(n) \(format) sparse \(sparse)"
                    XCTAssertLessThanOrEqual(plan.sramBytes, npu.sramBytes, label)
                    XCTAssertTrue(plan.chunkM % plan.tileM == 0 || plan.chunkM == m, label)
                    XCTAssertEqual(plan.tileK, min(k, npu.tileColumns(format, sparse: sparse)), label)
                    let items = plan.work.flatMap { $0 }
                    XCTAssertEqual(items.count, Set(items).count, label)
                    XCTAssertEqual(
                        Set(items),
                        Set(
                            (0..<plan.chunks).flatMap { c in
                                (0..<plan.nTiles).map {
                                    TilingPlan.WorkItem(nTile: $0, chunk: c)
                                }
                            }), label)
                    let counts = plan.work.map(\.count)
                    XCTAssertLessThanOrEqual(counts.max()! - counts.min()!, 1, label)
                    XCTAssertGreaterThanOrEqual(plan.chunkM * plan.chunks, m, label)
                }
            }
        }
    }

    func testAChunkHoldsAsManyRowsAsTheSRAMAllows() throws {
        let shape = MatrixShape(m: 3136, k: 576, n: 64, weightFormat: .nvfp4, sparse: false, activationFormat: .nvfp4)
        let plan = try MatrixTiling.plan(shape, on: npu)
        let bigger = MatrixTiling.footprint(
            tileM: plan.tileM, chunkM: plan.chunkM + plan.tileM, tileK: plan.tileK,
            tileN: plan.tileN, shape: shape)
        XCTAssertGreaterThan(bigger, npu.sramBytes)
        XCTAssertGreaterThan(plan.chunkM, plan.tileM)
    }

    func testATileTooSmallForOneRowIsAnError() {
        var tiny = npu
        tiny.sramBytes = 512
        let shape = MatrixShape(m: 10, k: 576, n: 64, weightFormat: .fp16, sparse: false, activationFormat: .fp16)
        XCTAssertThrowsError(try MatrixTiling.plan(shape, on: tiny)) {
            XCTAssertTrue("\($0)".contains("bytes of SRAM, the tile has 512"))
        }
    }
}
