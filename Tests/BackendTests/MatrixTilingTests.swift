// Matrix tiling: every ResNet-50 layer at every format fits a tile's SRAM double-buffered,
// every output tile is computed exactly once, the work is spread evenly over the 64 tiles,
// columns are grouped to read activations fewer times without idling tiles, a convolution's
// windows go to each cluster in one run, consecutive layers start on different tiles,
// tiles that read their windows from bands of the image take rectangles of the output, and
// where the L2's bandwidth limits the loads, fewer tiles read each activation for more columns,
// and where DRAM's does, each weight for more rows.
import Backend
import Formats
import XCTest

final class MatrixTilingTests: XCTestCase {
    private let npu = TileResources(
        sramBytes: 32 * 1024, arrayRows: 20, arrayColumns: 20,
        rates: [.fp16: 1, .fp8: 2, .nvfp4: 4], clusters: 4, tilesPerCluster: 16)

    /// `npu` with npu-seed's L2 (512 KiB) and the bandwidths of its L2, DRAM and global buffer.
    private var seed: TileResources {
        var resources = npu
        resources.l2Bytes = 512 * 1024
        (resources.l2BytesPerCycle, resources.dramBytesPerCycle, resources.l3BytesPerCycle) = (1024, 1000, 2048)
        return resources
    }

    /// `plan` fits a tile's SRAM and computes every output tile exactly once.
    private func assertFitsAndCoversEachOutputTileOnce(
        _ plan: TilingPlan, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertLessThanOrEqual(plan.sramBytes, npu.sramBytes, file: file, line: line)
        let items = plan.work.flatMap { $0 }
        XCTAssertEqual(items.count, plan.nTiles * plan.chunks, file: file, line: line)
        XCTAssertEqual(Set(items).count, items.count, file: file, line: line)
    }

    /// Activation rows a plan for `m` rows reads: each unit's chunk once per group of columns.
    private func rowsRead(_ plan: TilingPlan, m: Int) -> Int {
        plan.work.reduce(0) { sum, items in
            sum
                + Set(items.map { [$0.chunk, $0.nTile / plan.groupN] }).reduce(0) { rows, unit in
                    rows + min(plan.chunkM, m - unit[0] * plan.chunkM)
                }
        }
    }

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
                    for windowed in [false, true] {
                        var shape = MatrixShape(m: m, k: k, n: n, weightFormat: format, sparse: sparse, activationFormat: format)
                        shape.windowed = windowed
                        let plan = try MatrixTiling.plan(shape, on: npu)
                        let label = "\(m)x\(k)x\(n) \(format) sparse \(sparse) windowed \(windowed)"
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
                        // Units of work (one chunk, one group of columns) per tile differ by one at most.
                        let counts = plan.work.map { Set($0.map { [$0.chunk, $0.nTile / plan.groupN] }).count }
                        XCTAssertLessThanOrEqual(counts.max()! - counts.min()!, 1, label)
                        XCTAssertGreaterThanOrEqual(plan.chunkM * plan.chunks, m, label)
                    }
                }
            }
        }
    }

    /// The units of `plan` in the order they are dealt: a group of columns' chunks one
    /// after another, each unit its group's columns over one chunk.
    private func units(_ plan: TilingPlan) -> [[TilingPlan.WorkItem]] {
        stride(from: 0, to: plan.nTiles, by: plan.groupN).flatMap { first in
            (0..<plan.chunks).map { chunk in
                (first..<min(plan.nTiles, first + plan.groupN)).map { TilingPlan.WorkItem(nTile: $0, chunk: chunk) }
            }
        }
    }

    func testWindowsGoToEachClusterInOneRunAndOtherRowsInTurn() throws {
        // Stage-1 and stage-3 3x3 convolutions (3136 x 576 x 64, 196 x 2304 x 256) and a 7x7
        // stem (12544 x 147 x 64).
        for (m, k, n) in [(3136, 576, 64), (12544, 147, 64), (196, 2304, 256)] {
            var shape = MatrixShape(m: m, k: k, n: n, weightFormat: .nvfp4, sparse: true, activationFormat: .nvfp4)
            let label = "\(m)x\(k)x\(n)"
            // Rows that are not windows: unit u on tile u modulo 64, cluster-major.
            let inTurn = try MatrixTiling.plan(shape, on: npu)
            var expected = [[TilingPlan.WorkItem]](repeating: [], count: npu.tileCount)
            for (u, unit) in units(inTurn).enumerated() { expected[u % npu.tileCount] += unit }
            XCTAssertEqual(inTurn.work, expected, label)
            // Windows: each cluster one run of consecutive units, as many as the next to one,
            // the run's i-th unit on the cluster's tile i modulo 16.
            shape.windowed = true
            let windowed = try MatrixTiling.plan(shape, on: npu)
            var tileOf: [Int: Int] = [:]
            for (tile, items) in windowed.work.enumerated() {
                for item in items { tileOf[item.nTile / windowed.groupN * windowed.chunks + item.chunk] = tile }
            }
            let count = units(windowed).count
            XCTAssertEqual(tileOf.count, count, label)
            var next = 0
            for cluster in 0..<npu.clusters {
                let run = tileOf.keys.filter { tileOf[$0]! / 16 == cluster }.sorted()
                XCTAssertLessThanOrEqual(abs(run.count * npu.clusters - count), npu.clusters, label)
                XCTAssertEqual(run, Array(next..<(next + run.count)), "\(label) cluster \(cluster)")
                for (i, u) in run.enumerated() { XCTAssertEqual(tileOf[u], cluster * 16 + i % 16, label) }
                next += run.count
            }
            XCTAssertEqual(next, count, label)
        }
    }

    func testACodedConvolutionWhoseImageOutweighsItsWeightsDealsEachClusterRows() throws {
        // Coded nvfp4 with 2:4 (codes and block scales, 1.25 bytes a value): a 3x3 conv over
        // 64 channels (3136 x 576 x 64: a 0.25 MB image against 12 KB of weights) and a 1x1
        // over 512 (784 x 512 x 256: 0.49 MB against 0.05 MB) deal each cluster a run of
        // chunks over every column, its band a part of the image; a 3x3 conv over 256
        // channels (196 x 2304 x 256: 0.06 MB against 0.19 MB) deals each cluster a run of
        // columns over every chunk, as before.
        for (m, k, n, taps, rowsFirst) in [(3136, 576, 64, 3, true), (784, 512, 256, 1, true), (196, 2304, 256, 3, false)] {
            var shape = MatrixShape(
                m: m, k: k, n: n, weightFormat: .nvfp4, sparse: true, activationFormat: .nvfp4,
                reductionTile: taps == 3 ? 144 : nil, codedActivations: true)
            shape.windowed = true
            if taps == 3 {
                shape.bands = MatrixShape.Bands(outWidth: 56, kernel: (3, 3), strides: (1, 1), dilations: (1, 1))
            }
            let plan = try MatrixTiling.plan(shape, on: npu)
            let label = "\(m)x\(k)x\(n)"
            var chunks = [Set<Int>](repeating: [], count: npu.clusters), columns = chunks
            for (tile, items) in plan.work.enumerated() {
                for item in items {
                    chunks[tile / npu.tilesPerCluster].insert(item.chunk)
                    columns[tile / npu.tilesPerCluster].insert(item.nTile)
                }
            }
            let (split, whole) = rowsFirst ? (chunks, columns) : (columns, chunks)
            let (splitCount, wholeCount) = rowsFirst ? (plan.chunks, plan.nTiles) : (plan.nTiles, plan.chunks)
            for cluster in 0..<npu.clusters {
                // Every one of the whole axis; a run of the split one, after the last cluster's.
                XCTAssertEqual(whole[cluster].count, wholeCount, "\(label) cluster \(cluster)")
                let run = split[cluster].sorted()
                XCTAssertEqual(run, Array(run.first!...run.last!), "\(label) cluster \(cluster)")
                if cluster > 0 { XCTAssertLessThanOrEqual(split[cluster - 1].max()!, run.first!, label) }
            }
            XCTAssertEqual(split.reduce(Set<Int>()) { $0.union($1) }.count, splitCount, label)
        }
    }

    func testACodedConvolutionWhoseWeightsFitHalfAnL2DealsEachClusterRows() throws {
        // With 512 KB of L2 per cluster, the 3x3 conv over 256 channels (0.19 MB of weights)
        // deals each cluster a run of chunks over every column, as one whose image outweighs
        // its weights does: the weights are staged ahead of the layer, the image is not. The
        // one over 512 channels (196 x 4608 x 512: 0.7 MB of weights) still deals columns.
        var resources = npu
        resources.l2Bytes = 512 * 1024
        for (m, k, n, rowsFirst) in [(196, 2304, 256, true), (49, 4608, 512, false)] {
            var shape = MatrixShape(
                m: m, k: k, n: n, weightFormat: .nvfp4, sparse: true, activationFormat: .nvfp4,
                reductionTile: 144, codedActivations: true)
            shape.windowed = true
            shape.bands = MatrixShape.Bands(outWidth: m == 196 ? 14 : 7, kernel: (3, 3), strides: (1, 1), dilations: (1, 1))
            let plan = try MatrixTiling.plan(shape, on: resources)
            var columns = [Set<Int>](repeating: [], count: npu.clusters)
            for (tile, items) in plan.work.enumerated() {
                for item in items { columns[tile / npu.tilesPerCluster].insert(item.nTile) }
            }
            let everyColumn = columns.filter { !$0.isEmpty }.allSatisfy { $0.count == plan.nTiles }
            XCTAssertEqual(everyColumn, rowsFirst, "\(m)x\(k)x\(n)")
        }
    }

    func testWhenLoadsOutrunProductsFewerTilesEachReadActivationsOnceForMoreColumns() throws {
        // 49 x 2048 x 512 at nvfp4 with 2:4, coded (a stage-5 1x1 convolution): with every
        // tile at work, each reads its rows' 2,048 activations for one or two columns, and
        // the tiles of a cluster together read 0.9 MB through its L2 (1,024 bytes a cycle) for
        // products of about 260 cycles each. Knowing the L2's bandwidth, the plan computes
        // more columns per activation tile on fewer tiles: fewer activation bytes in all.
        var shape = MatrixShape(
            m: 49, k: 2048, n: 512, weightFormat: .nvfp4, sparse: true, activationFormat: .nvfp4,
            codedActivations: true)
        shape.windowed = true
        var resources = npu
        let blind = try MatrixTiling.plan(shape, on: resources)
        resources.l2BytesPerCycle = 1024
        let plan = try MatrixTiling.plan(shape, on: resources)
        XCTAssertLessThan(rowsRead(plan, m: shape.m), rowsRead(blind, m: shape.m))
        XCTAssertLessThan(plan.work.filter { !$0.isEmpty }.count, blind.work.filter { !$0.isEmpty }.count)
        assertFitsAndCoversEachOutputTileOnce(plan)
        // A product of one row (the classifier) is latency-bound: the same plan either way.
        let row = MatrixShape(m: 1, k: 2048, n: 1000, weightFormat: .nvfp4, sparse: true, activationFormat: .nvfp4)
        XCTAssertEqual(try MatrixTiling.plan(row, on: resources), try MatrixTiling.plan(row, on: npu))
    }

    func testWhereDRAMOutrunsProductsAPlanReadsItsWeightsForMoreRows() throws {
        // 49 x 4608 x 512 at dense fp16, float32 windows (a stage-5 3x3 convolution): 4.7 MB
        // of weights. With every tile at work, chunks of 16 rows read each column's weights
        // four times, and no cluster's L2 holds the eight columns its tiles read: 18.9 MB
        // from DRAM at 1,000 bytes a cycle against about 7,400 cycles of products per tile.
        // Knowing DRAM's and the global buffer's bandwidths, the plan takes chunks of more
        // rows on fewer tiles, keeping the columns computed together.
        var shape = MatrixShape(m: 49, k: 4608, n: 512, weightFormat: .fp16, sparse: false, activationFormat: .fp16)
        shape.windowed = true
        var resources = npu
        resources.l2Bytes = 512 * 1024
        resources.l2BytesPerCycle = 1024
        let blind = try MatrixTiling.plan(shape, on: resources)
        (resources.dramBytesPerCycle, resources.l3BytesPerCycle) = (1000, 2048)
        let plan = try MatrixTiling.plan(shape, on: resources)
        XCTAssertEqual(blind.chunks, 4)
        XCTAssertLessThanOrEqual(plan.chunks, 2)
        XCTAssertGreaterThanOrEqual(plan.groupN, blind.groupN)
        XCTAssertLessThan(plan.weightTileLoads, blind.weightTileLoads)
        assertFitsAndCoversEachOutputTileOnce(plan)
        // A layer whose weights each cluster's L2 holds reads them once whatever the chunks:
        // DRAM does not change its plan.
        var small = MatrixShape(m: 49, k: 2048, n: 512, weightFormat: .fp16, sparse: false, activationFormat: .fp16)
        small.windowed = false
        var known = resources
        (known.dramBytesPerCycle, known.l3BytesPerCycle) = (0, 0)
        XCTAssertEqual(try MatrixTiling.plan(small, on: resources), try MatrixTiling.plan(small, on: known))
    }

    func testWhereWeightsFromDRAMKeepProductsWaitingAPlanTakesFewerColumnsWithDeeperBuffers() throws {
        // 128 x 768 x 3072 at dense fp16 (a BERT-base feed-forward product): 4.7 MB of
        // weights, more than the clusters' L2s hold, each weight tile loaded from DRAM 200
        // cycles ahead of its products. Reading the fewest bytes, six columns share each
        // activation tile, and the SRAM left holds two weight tiles per column: a reduction
        // tile's 192 cycles of products then wait for loads that take longer. Knowing DRAM's
        // latency, the plan computes fewer columns together, each with more buffers, though
        // it reads more bytes.
        let shape = MatrixShape(m: 128, k: 768, n: 3072, weightFormat: .fp16, sparse: false, activationFormat: .fp16)
        var resources = seed
        let blind = try MatrixTiling.plan(shape, on: resources)
        resources.dramLatency = 200
        let plan = try MatrixTiling.plan(shape, on: resources)
        func weightBuffers(_ plan: TilingPlan) -> Int {
            MatrixTiling.buffers(
                plan.layout, rowTiles: (plan.chunkM + plan.tileM - 1) / plan.tileM, groupN: plan.groupN,
                deepest: MatrixTiling.weightBuffers(format: .fp16, sparse: false), sramBytes: npu.sramBytes
            ).weights
        }
        XCTAssertEqual(weightBuffers(blind), 2)
        XCTAssertLessThan(plan.groupN, blind.groupN)
        XCTAssertGreaterThan(weightBuffers(plan), 2)
        // Each reduction tile's products cover the loads the buffers keep in flight.
        let rows = min(plan.chunkM, shape.m)
        XCTAssertGreaterThanOrEqual(
            (weightBuffers(plan) - 1) * rows * plan.groupN, resources.dramLatency + resources.drain)
        assertFitsAndCoversEachOutputTileOnce(plan)
        // Weights the clusters' L2s hold never wait on DRAM: the latency changes nothing.
        let small = MatrixShape(m: 128, k: 768, n: 768, weightFormat: .fp16, sparse: false, activationFormat: .fp16)
        var blindToLatency = resources
        blindToLatency.dramLatency = 0
        XCTAssertEqual(try MatrixTiling.plan(small, on: resources), try MatrixTiling.plan(small, on: blindToLatency))
    }

    func testACodedProductsActivationBytesArePricedAtTheGlobalBuffersBandwidth() throws {
        // 128 x 768 x 768 at nvfp4 with 2:4, its input rounded once into an image of codes in
        // the global buffer (a BERT-base attention projection): every tile reads its rows'
        // codes from there, not through its cluster's L2, which carries the weights alone.
        // The global buffer's bandwidth prices the activation bytes: at npu-seed's, the plan
        // reads them fewer times than where it is eight times as fast.
        let shape = MatrixShape(
            m: 128, k: 768, n: 768, weightFormat: .nvfp4, sparse: true, activationFormat: .nvfp4,
            codedActivations: true)
        let resources = seed
        let plan = try MatrixTiling.plan(shape, on: resources)
        var fast = resources
        fast.l3BytesPerCycle = 8 * 2048
        let roomy = try MatrixTiling.plan(shape, on: fast)
        XCTAssertLessThan(rowsRead(plan, m: shape.m), rowsRead(roomy, m: shape.m))
        XCTAssertGreaterThan(plan.groupN, roomy.groupN)
        for p in [plan, roomy] {
            assertFitsAndCoversEachOutputTileOnce(p)
        }
        // A convolution's coded windows come through the clusters' L2s (its bands): the
        // global buffer's bandwidth does not change its plan.
        var windowed = shape
        windowed.windowed = true
        XCTAssertEqual(try MatrixTiling.plan(windowed, on: resources), try MatrixTiling.plan(windowed, on: fast))
    }

    func testACodedProductTakesItsActivationReadsOffTheGlobalBufferForWeightReadsThroughTheL2() throws {
        // 128 x 3072 x 768 at nvfp4 with 2:4, coded, its residual added in the epilogue (a
        // BERT-base feed-forward product back to the model's width): 0.5 MB of codes, which
        // each group of columns reads from the global buffer, and 1.3 MB of weights, which
        // each chunk of rows reads through its cluster's L2. The two are different resources:
        // knowing the global buffer's bandwidth, the plan reads the codes fewer times and the
        // weights more, though it moves more bytes in all.
        var shape = MatrixShape(
            m: 128, k: 3072, n: 768, weightFormat: .nvfp4, sparse: true, activationFormat: .nvfp4,
            codedActivations: true)
        shape.residual = true
        var resources = seed
        resources.l3BytesPerCycle = 0
        let blind = try MatrixTiling.plan(shape, on: resources)
        let plan = try MatrixTiling.plan(shape, on: seed)
        XCTAssertLessThan(rowsRead(plan, m: shape.m), rowsRead(blind, m: shape.m))
        XCTAssertGreaterThan(plan.weightTileLoads, blind.weightTileLoads)
        assertFitsAndCoversEachOutputTileOnce(plan)
    }

    func testAnEpilogueAsLongAsItsProductsTakesASecondSetOfColumnRegions() throws {
        // 128 x 768 x 3072 at nvfp4 with 2:4, coded (a BERT-base feed-forward product), its
        // epilogue a bias and a GELU: 12 vector cycles per 32 elements, 7.5 an output row of a
        // column tile, against 5 cycles of products (five reduction tiles of 160).
        var resources = npu
        (resources.vectorLanes, resources.transcendentalCycles) = (32, 4)
        var shape = MatrixShape(
            m: 128, k: 768, n: 3072, weightFormat: .nvfp4, sparse: true, activationFormat: .nvfp4,
            codedActivations: true)
        shape.tail = true
        shape.epilogueCycles = 12
        XCTAssertTrue(MatrixTiling.overlapsEpilogue(shape, on: resources))
        let plan = try MatrixTiling.plan(shape, on: resources)
        XCTAssertEqual(plan.layout.columnSets, 2)
        assertFitsAndCoversEachOutputTileOnce(plan)
        // Unknown epilogues and vector units, a reduction of 3,072 (20 reduction tiles), and
        // tiles that round their float32 input on the vector unit keep one set.
        var unknown = shape
        unknown.epilogueCycles = 0
        var long = shape
        long.k = 3072
        var rounded = MatrixShape(m: 128, k: 768, n: 3072, weightFormat: .fp16, sparse: false, activationFormat: .fp16)
        rounded.tail = true
        rounded.epilogueCycles = 12
        for other in [unknown, long, rounded] {
            XCTAssertFalse(MatrixTiling.overlapsEpilogue(other, on: resources))
            XCTAssertEqual(try MatrixTiling.plan(other, on: resources).layout.columnSets, 1)
        }
        XCTAssertFalse(MatrixTiling.overlapsEpilogue(shape, on: npu))
        // A tile whose SRAM holds one set of a row's regions but not two keeps one.
        var doubled = shape
        doubled.columnSets = 2
        let one = MatrixTiling.footprint(tileM: 1, chunkM: 1, tileK: 160, tileN: 20, shape: shape)
        XCTAssertGreaterThan(MatrixTiling.footprint(tileM: 1, chunkM: 1, tileK: 160, tileN: 20, shape: doubled), one)
        var small = resources
        small.sramBytes = one
        XCTAssertEqual(try MatrixTiling.plan(shape, on: small).layout.columnSets, 1)
    }

    func testConsecutiveLayersStartOnDifferentTilesOfDifferentClusters() {
        var resources = npu
        var firsts: Set<[Int]> = []
        for first in 0..<npu.tileCount {
            resources.firstTile = first
            // Every unit of a round lands on its own tile, and cluster-major runs of 16 share one.
            let places = (0..<npu.tileCount).map { resources.place($0) }
            XCTAssertEqual(Set(places.map { [$0.cluster, $0.tile] }).count, npu.tileCount)
            for run in 0..<npu.clusters {
                XCTAssertEqual(Set(places[(run * 16)..<(run * 16 + 16)].map(\.cluster)).count, 1)
            }
            let (cluster, tile) = resources.place(0)
            XCTAssertEqual(cluster, first % npu.clusters)
            XCTAssertEqual(tile, first % 16)
            firsts.insert([cluster, tile])
        }
        // Sixteen layers in a row start on sixteen different tiles.
        XCTAssertEqual(firsts.count, 16)
    }

    func testAChunkHoldsAsManyRowsAsTheSRAMAllows() throws {
        // 3136 x 576 x 64 at nvfp4: four columns of output tiles computed together (each
        // activation tile read once, not four times), on row tiles small enough for four
        // columns' weights and accumulators, in chunks as large as that leaves room for.
        let shape = MatrixShape(m: 3136, k: 576, n: 64, weightFormat: .nvfp4, sparse: false, activationFormat: .nvfp4)
        let plan = try MatrixTiling.plan(shape, on: npu)
        XCTAssertEqual(plan.groupN, 4)
        // At least half the largest row tile one chunk of which fits with four columns.
        let largest = (1...32).last {
            MatrixTiling.footprint(
                tileM: $0, chunkM: $0, tileK: plan.tileK, tileN: plan.tileN, shape: shape, groupN: 4) <= npu.sramBytes
        }!
        XCTAssertGreaterThanOrEqual(2 * plan.tileM, largest)
        let bigger = MatrixTiling.footprint(
            tileM: plan.tileM, chunkM: plan.chunkM + plan.tileM, tileK: plan.tileK,
            tileN: plan.tileN, shape: shape, groupN: plan.groupN)
        XCTAssertGreaterThan(bigger, npu.sramBytes)
        XCTAssertGreaterThanOrEqual(plan.chunks, npu.tileCount)
    }

    func testTheBusiestTileIsEvenedOutWithoutReadingMore() throws {
        // 196 x 1024 x 256 at nvfp4 with 2:4 (a stage-4 1x1 convolution): the plan that reads
        // the fewest bytes while keeping every tile at work deals 17 chunks of 12 rows in
        // groups of four columns, and its busiest tile computes 60 rows of output tiles, half
        // as many again as the average (39.8). Of the plans reading no more bytes, the one
        // with the least on its busiest tile (10-row chunks, five columns) has 50.
        let shape = MatrixShape(m: 196, k: 1024, n: 256, weightFormat: .nvfp4, sparse: true, activationFormat: .nvfp4)
        let plan = try MatrixTiling.plan(shape, on: npu)
        let rows = plan.work.map { $0.reduce(0) { $0 + min(plan.chunkM, shape.m - $1.chunk * plan.chunkM) } }
        let average = Double(shape.m * plan.nTiles) / Double(npu.tileCount)
        XCTAssertEqual(rows.reduce(0, +), shape.m * plan.nTiles)
        XCTAssertEqual(average, 39.8125)
        XCTAssertLessThanOrEqual(rows.max()!, 50, "\(plan.tileM) x \(plan.chunkM), \(plan.groupN) columns")
        XCTAssertLessThanOrEqual(plan.sramBytes, npu.sramBytes)
    }

    func testChunksShrinkSoThatEveryTileWorks() throws {
        // 13 columns of output tiles: as large as the SRAM allows, 196 rows would be one chunk
        // and leave 51 tiles idle; smaller chunks keep at least 52 at work.
        let shape = MatrixShape(m: 196, k: 2304, n: 256, weightFormat: .fp16, sparse: false, activationFormat: .fp16)
        let plan = try MatrixTiling.plan(shape, on: npu)
        XCTAssertLessThan(plan.chunkM, 196)
        XCTAssertGreaterThanOrEqual(plan.work.filter { !$0.isEmpty }.count, 52)
        // One column of output tiles and 64 rows: one row tile per chunk, two chunks.
        let narrow = try MatrixTiling.plan(
            MatrixShape(m: 64, k: 64, n: 10, weightFormat: .fp8, sparse: false, activationFormat: .fp8), on: npu)
        XCTAssertEqual(narrow.chunkM, narrow.tileM)
        XCTAssertEqual(narrow.chunks, 2)
    }

    func testRowTilesAreRectanglesOfTheOutputWhenTilesReadBands() throws {
        // ResNet-50's 3x3 convolutions with coded nvfp4 activations (reduction tiles of 144 =
        // 16 channels x 9 positions): with bands, every row tile is part of one output row or
        // whole rows, so that each reads its windows from one band of the image. (Output width,
        // stride, M, K, N.)
        let convolutions = [
            (56, 1, 3136, 576, 64), (28, 2, 784, 1152, 128), (28, 1, 784, 1152, 128), (14, 2, 196, 2304, 256),
            (14, 1, 196, 2304, 256), (7, 2, 49, 4608, 512), (7, 1, 49, 4608, 512),
        ]
        for (width, stride, m, k, n) in convolutions {
            for sparse in [false, true] {
                var shape = MatrixShape(
                    m: m, k: k, n: n, weightFormat: .nvfp4, sparse: sparse, activationFormat: .nvfp4, reductionTile: 144,
                    codedActivations: true)
                shape.windowed = true
                let gathered = try MatrixTiling.plan(shape, on: npu)
                shape.bands = MatrixShape.Bands(outWidth: width, kernel: (3, 3), strides: (stride, stride), dilations: (1, 1))
                let plan = try MatrixTiling.plan(shape, on: npu)
                let label = "\(m)x\(k)x\(n) sparse \(sparse): \(plan.tileM) rows of \(width)"
                XCTAssertTrue(width % plan.tileM == 0 || plan.tileM % width == 0, label)
                XCTAssertTrue(plan.chunkM % plan.tileM == 0 || plan.chunkM == m, label)
                XCTAssertLessThanOrEqual(plan.sramBytes, npu.sramBytes, label)
                XCTAssertEqual(Set(plan.work.flatMap { $0 }).count, plan.chunks * plan.nTiles, label)
                // A 14-wide output's windows were gathered 20 rows at a time.
                if width == 14 { XCTAssertFalse(width % gathered.tileM == 0 || gathered.tileM % width == 0, label) }
            }
        }
        // fp8's reduction tiles (40 positions) hold no whole windows: no bands, the same plan.
        var fp8 = MatrixShape(m: 196, k: 2304, n: 256, weightFormat: .fp8, sparse: false, activationFormat: .fp8)
        (fp8.codedActivations, fp8.windowed) = (true, true)
        let plain = try MatrixTiling.plan(fp8, on: npu)
        fp8.bands = MatrixShape.Bands(outWidth: 14, kernel: (3, 3), strides: (1, 1), dilations: (1, 1))
        XCTAssertEqual(try MatrixTiling.plan(fp8, on: npu), plain)
    }

    func testEachRowTilesAccumulatorsTakeWholeBlocks() {
        // Row tiles of 14 rows by 20 columns of float32 (1,120 bytes) take 18 blocks of 64
        // bytes each: a chunk of 42 rows 3,456 bytes per column, and its residual (read
        // only) the 3,392 bytes of the chunk's rows.
        var shape = MatrixShape(m: 196, k: 160, n: 40, weightFormat: .nvfp4, sparse: true, activationFormat: .nvfp4)
        shape.residual = true
        let layout = MatrixTiling.layout(tileM: 14, chunkM: 42, tileK: 160, tileN: 20, shape: shape)
        XCTAssertEqual(layout.accumulatorRowTile, 1152)
        XCTAssertEqual(layout.residual, 3392)
        XCTAssertEqual(layout.column, 2 * layout.scales + 3 * 1152 + 3392)
        XCTAssertEqual(layout.activationBuffers, 4)
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
