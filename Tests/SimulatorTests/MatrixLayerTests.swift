// A quantized Gemm + bias + Relu lowered with the tiling plan and run by the simulator gives
// the fake-quant interpreter's output bit for bit, at every format, dense and 2:4, with row
// chunks, partial tiles and several reduction steps; and a program that reads what it never
// wrote, or outside a memory, is refused naming the instruction.
import Backend
import Formats
import IR
import ISA
import Passes
import Reference
import Simulator
import TestSupport
import XCTest

final class MatrixLayerTests: XCTestCase {
    private let (m, k, n) = (70, 200, 45)
    private let resources = TileResources(
        sramBytes: 8192, arrayRows: 20, arrayColumns: 20,
        rates: [.fp16: 1, .fp8: 2, .nvfp4: 4], clusters: 2, tilesPerCluster: 2)

    /// The quantized graph, the input, and the interpreter's output (`m` rows, or `rows`).
    private func reference(_ format: PrecisionFormat, sparse: Bool, rows: Int? = nil) throws -> (Graph, Tensor, Tensor, Float) {
        let m = rows ?? m
        var rng = SeededRandom(seed: 61)
        var b = GraphBuilder()
        b.input("x", .float32, [.known(m), .known(k)])
        b.constant("w", Tensor((0..<(n * k)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [n, k]))
        b.constant("bias", Tensor((0..<n).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [n]))
        b.node("Gemm", ["x", "w", "bias"], ["transB": .int(1)], outputs: ["g"], name: "fc")
        b.node("Relu", ["g"], outputs: ["y"])
        b.output("y")
        let x = Tensor((0..<(m * k)).map { _ in Float.random(in: -3...3, using: &rng) }, shape: [m, k])
        let (g, y, amax) = try quantizedReference(b.graph, x: x, format: format, sparse: sparse)
        return (g, x, y, amax)
    }

    /// The layer lowered with its plan on `on` (the tests' resources unless given), `rows`
    /// rows (`m` unless given); the plan is checked by `check` when given, else required to
    /// have several chunks and reduction tiles.
    private func lowered(
        _ g: Graph, _ format: PrecisionFormat, sparse: Bool, amax: Float, rows: Int? = nil, on: TileResources? = nil,
        staging: Range<Int> = 0..<0, check: ((TilingPlan) throws -> Void)? = nil
    ) throws -> (Program, [UInt8], [UInt8]) {
        let (m, resources) = (rows ?? m, on ?? resources)
        let section = try WeightSection.build(g, arrayRows: 20, arrayColumns: 20) { resources.rates[$0]! }
        let layout = try WeightLayout(
            format: format, sparse: sparse, rows: n, columns: k, tileRows: 20,
            tileColumns: resources.tileColumns(format, sparse: sparse))
        let plan = try MatrixTiling.plan(
            MatrixShape(
                m: m, k: k, n: n, weightFormat: format, sparse: sparse,
                activationFormat: format), on: resources)
        if let check {
            try check(plan)
        } else {
            XCTAssertGreaterThan(plan.chunks, 1)
            XCTAssertGreaterThan(plan.kTiles, 1)
        }
        var layer = MatrixLayer(
            m: m, k: k, n: n, input: 0, inputRowStride: k, output: UInt64(4 * m * k), outputStrides: (n, 1),
            weights: layout, weightOffset: section.layers[0].offset, bias: 0, activationFormat: format,
            activationAmax: amax, fusedActivation: "Relu")
        layer.weightStaging = staging
        var builder = ProgramBuilder()
        try MatrixLowering.lower(layer, plan: plan, resources: resources, into: &builder)
        try builder.emit("halt", [:])
        let bias = g.constants[g.nodes[0].inputs[2]]!.floats()
        // Through the bundle's binary form, as a runtime would read it.
        let program = try Program(
            descriptors: builder.program.encodedDescriptors(), instructions: builder.program.encodedInstructions())
        return (program, section.bytes, littleEndianBytes(bias))
    }

    private func machine(_ weights: [UInt8], _ constants: [UInt8], rows: Int? = nil, on: TileResources? = nil) -> Machine {
        let (m, resources) = (rows ?? m, on ?? resources)
        return Machine(
            shape: MachineShape(
                dramBytes: 4 * (m * k + m * n), l3Bytes: 1 << 16, l2Bytes: 1 << 14, sramBytes: resources.sramBytes,
                clusters: resources.clusters, tilesPerCluster: resources.tilesPerCluster),
            weights: weights, constants: constants)
    }

    func testSimulatedLayerEqualsTheInterpreterBitForBit() throws {
        for format in [PrecisionFormat.fp16, .fp8, .nvfp4] {
            for sparse in [false, true] {
                let (g, x, want, amax) = try reference(format, sparse: sparse)
                let (program, weights, constants) = try lowered(g, format, sparse: sparse, amax: amax)
                var sim = machine(weights, constants)
                try sim.writeDRAM(littleEndianBytes(x.floats()), at: 0)
                try sim.run(program)
                let got = try sim.readDRAM(4 * m * k, count: 4 * m * n)
                XCTAssertEqual(got, littleEndianBytes(want.floats()), "\(format) sparse \(sparse)")
            }
        }
    }

    func testWeightsScalesAndBiasStagedInL2() throws {
        // Each cluster's columns of weight tiles, then the layer's weight scales (fp8: one
        // per output channel; nvfp4: the tensor scale) and its bias, copied into its L2:
        // the tiles read all three there and nothing from the bundle's sections, and the
        // result is the interpreter's bit for bit. In too small a staging area the columns
        // alone fit, and the tiles read the scales and the bias from the sections.
        for format in [PrecisionFormat.fp8, .nvfp4] {
            let (g, x, want, amax) = try reference(format, sparse: false)
            // Staging areas that hold the columns and not the scale table after them (fp8:
            // two columns of 20 rows and one of 5, by 200 positions, are 9,088 bytes).
            for (staging, tables) in [(0..<16384, true), (0..<(format == .fp8 ? 9216 : 5184), false)] {
                let (program, weights, constants) = try lowered(g, format, sparse: false, amax: amax, staging: staging)
                var (fromL2, fromSections, weightTiles) = (Set<Bool>(), 0, [MemorySpace]())
                for i in program.instructions where i.spec.mnemonic == "dma" {
                    let dst: TensorDescriptor = program.descriptors[Int(i["dst"])]
                    let src: TensorDescriptor = program.descriptors[Int(i["src"])]
                    if dst.space == .sram && dst.element == .packed { weightTiles.append(src.space) }
                    guard dst.space == .sram, dst.element == .f32 else { continue }
                    if src.space == .l2 { fromL2.insert(dst.count == 1) }
                    if src.space == .weights || src.space == .constants { fromSections += 1 }
                }
                // nvfp4 reads its one tensor scale and the bias; fp8 a scale and a bias per channel.
                let expected: Set<Bool> = format == .nvfp4 ? [true, false] : [false]
                XCTAssertEqual(fromL2, tables ? expected : [], "\(format), staging \(staging)")
                XCTAssertEqual(fromSections == 0, tables, "\(format), staging \(staging)")
                // Every weight tile comes from the staged columns, in either case.
                XCTAssertEqual(Set(weightTiles), [.l2], "\(format), staging \(staging)")
                var sim = machine(weights, constants)
                try sim.writeDRAM(littleEndianBytes(x.floats()), at: 0)
                try sim.run(program)
                XCTAssertEqual(
                    try sim.readDRAM(4 * m * k, count: 4 * m * n), littleEndianBytes(want.floats()), "\(format)")
            }
        }
    }

    func testThePlansSRAMIsTheLoweringsAndHoldsItsBuffers() throws {
        // Chunks grown until the SRAM is full: the lowering lays out the bytes the plan counted
        // (none reserved and left unused, past the regions' 64-byte alignment), and every tile
        // loads its activation tiles into the plan's buffers in turn (two, or one more than a
        // chunk's row tiles: a load overlapping the products of the last), never falling back
        // to one.
        for format in [PrecisionFormat.fp16, .fp8, .nvfp4] {
            for rows in [400, 1000] {
                let shape = MatrixShape(m: rows, k: k, n: n, weightFormat: format, sparse: false, activationFormat: format)
                let plan = try MatrixTiling.plan(shape, on: resources)
                let layout = try WeightLayout(
                    format: format, sparse: false, rows: n, columns: k, tileRows: 20,
                    tileColumns: resources.tileColumns(format, sparse: false))
                let layer = MatrixLayer(
                    m: rows, k: k, n: n, input: 0, inputRowStride: k, output: UInt64(4 * rows * k), outputStrides: (n, 1),
                    weights: layout, weightOffset: 0, bias: 0, activationFormat: format, activationAmax: 1)
                var builder = ProgramBuilder()
                try MatrixLowering.lower(layer, plan: plan, resources: resources, into: &builder)
                let used = builder.program.descriptors.filter { $0.space == .sram }.map { d in
                    Int(d.address) + zip(d.dims, d.strides).reduce(1) { $0 + ($1.0 - 1) * $1.1 } * d.element.addressBytes
                }.max()!
                XCTAssertLessThanOrEqual(used, plan.sramBytes, "\(format), \(rows) rows")
                XCTAssertLessThan(plan.sramBytes - used, 64 * (1 + 3 * plan.groupN), "\(format), \(rows) rows")
                var buffers: [Int: Set<UInt64>] = [:]
                for i in builder.program.instructions where i.spec.mnemonic == "mma" {
                    let act = builder.program.descriptors[Int(i["act"])]
                    buffers[act.cluster * resources.tilesPerCluster + act.tile, default: []].insert(act.address)
                }
                XCTAssertEqual(buffers.count, resources.tileCount)
                let rowTiles = (plan.chunkM + plan.tileM - 1) / plan.tileM
                XCTAssertEqual(plan.layout.activationBuffers, max(2, rowTiles + 1))
                for (tile, addresses) in buffers {
                    XCTAssertEqual(addresses.count, plan.layout.activationBuffers, "\(format), \(rows) rows, tile \(tile)")
                }
            }
        }
    }

    func testRowTilesOfAChunkTakeBuffersOfTheirOwnAtEachReductionTile() throws {
        // A chunk of two row tiles loads the next reduction tile's first activation tile into
        // a buffer the row tiles of this one do not read, so that the load overlaps their
        // products: a buffer is loaded again only after loads into more buffers than the
        // chunk has row tiles; with room in SRAM past the plan's bytes, twice as many as its
        // row tiles and at dense fp8 at least six. The result is the interpreter's, bit for bit.
        let roomy = TileResources(
            sramBytes: 65536, arrayRows: 20, arrayColumns: 20, rates: [.fp16: 1, .fp8: 2, .nvfp4: 4], clusters: 1,
            tilesPerCluster: 1)
        let rows = 40
        var rowTiles = 0
        let (g, x, want, amax) = try reference(.fp8, sparse: false, rows: rows)
        let (program, weights, constants) = try lowered(g, .fp8, sparse: false, amax: amax, rows: rows, on: roomy) { plan in
            rowTiles = (plan.chunkM + plan.tileM - 1) / plan.tileM
            XCTAssertEqual(rowTiles, 2, "\(plan)")
            XCTAssertGreaterThan(plan.kTiles, 1)
            // The plan counts three activation buffers; there is room for a fourth.
            XCTAssertEqual(plan.layout.activationBuffers, 3)
            XCTAssertLessThanOrEqual(plan.sramBytes + plan.layout.activationTile, roomy.sramBytes)
        }
        // The activation buffers in the order they are loaded: an mma reading another buffer
        // than the one before reads a new load (the columns of a group read the same one).
        var loads: [UInt64] = []
        for i in program.instructions where i.spec.mnemonic == "mma" {
            let act = program.descriptors[Int(i["act"])].address
            if loads.last != act { loads.append(act) }
        }
        XCTAssertGreaterThan(loads.count, 6)
        XCTAssertEqual(Set(loads).count, max(6, 2 * rowTiles))
        for (k, address) in loads.enumerated() {
            if let again = loads[(k + 1)...].firstIndex(of: address) {
                XCTAssertGreaterThan(again - k, rowTiles, "load \(k) at \(address) is reloaded at load \(again)")
            }
        }
        var sim = machine(weights, constants, rows: rows, on: roomy)
        try sim.writeDRAM(littleEndianBytes(x.floats()), at: 0)
        try sim.run(program)
        XCTAssertEqual(try sim.readDRAM(4 * rows * k, count: 4 * rows * n), littleEndianBytes(want.floats()))
    }

    func testLoadsRunReductionTilesAheadWhereTheSRAMHasRoom() throws {
        // 16 rows (one row tile) over 200 reduction positions: at dense fp16 ten reduction
        // tiles of 20, with 2:4 five of 40. With room past the plan's bytes, each column takes
        // six weight buffers (dense fp16, the shortest tiles to multiply) or four (2:4) and the
        // row tile as many activation buffers in turn, so that a load need not wait for the
        // products two reduction tiles back; on the tests' 8 KiB tiles there is room for four
        // of the weights' (tiles of 800 bytes) and two of the activations' (1,280). All give
        // the interpreter's result bit for bit.
        let roomy = TileResources(
            sramBytes: 65536, arrayRows: 20, arrayColumns: 20, rates: [.fp16: 1, .fp8: 2, .nvfp4: 4], clusters: 1,
            tilesPerCluster: 1)
        let rows = 16
        for (sparse, on, activationBuffers, weightBuffers) in [
            (false, roomy, 6, 6), (false, resources, 2, 4), (true, roomy, 4, 4),
        ] {
            let (g, x, want, amax) = try reference(.fp16, sparse: sparse, rows: rows)
            let (program, weights, constants) = try lowered(g, .fp16, sparse: sparse, amax: amax, rows: rows, on: on) {
                plan in
                XCTAssertEqual(plan.kTiles, sparse ? 5 : 10)
                XCTAssertEqual((plan.chunkM + plan.tileM - 1) / plan.tileM, 1)
            }
            var (acts, wgts): ([Int: Set<UInt64>], [Int: Set<UInt64>]) = ([:], [:])
            for i in program.instructions where i.spec.mnemonic == "mma" {
                let out = program.descriptors[Int(i["out"])].address
                acts[Int(out), default: []].insert(program.descriptors[Int(i["act"])].address)
                wgts[Int(out), default: []].insert(program.descriptors[Int(i["wgt"])].address)
            }
            XCTAssertFalse(acts.isEmpty)
            for (out, addresses) in acts {
                XCTAssertEqual(addresses.count, activationBuffers, "activations of \(out), sparse \(sparse)")
            }
            for (out, addresses) in wgts { XCTAssertEqual(addresses.count, weightBuffers, "weights of \(out), sparse \(sparse)") }
            var sim = machine(weights, constants, rows: rows, on: on)
            try sim.writeDRAM(littleEndianBytes(x.floats()), at: 0)
            try sim.run(program)
            XCTAssertEqual(try sim.readDRAM(4 * rows * k, count: 4 * rows * n), littleEndianBytes(want.floats()))
        }
    }

    func testTwoOutputTilesTakeTurnsInReverseEveryOtherReductionTile() throws {
        // A group of two output tiles whose products pass through the array faster than its
        // pipeline drains (here all: passes of at most 20 cycles on a 20 x 20 array, whose
        // drain is 39) takes them A, B at one reduction tile and B, A at the next: each
        // tile's products then follow one another across the turn, so no product accumulates
        // onto the tile two products back with the other's between (A, B, A), which would
        // wait for the first to complete. The sums' order per tile is unchanged: the result
        // is the interpreter's bit for bit.
        var turns = 0
        for (format, rows) in [(PrecisionFormat.fp16, 40), (.fp8, 40), (.nvfp4, 30), (.fp16, 100)] {
            let (g, x, want, amax) = try reference(format, sparse: false, rows: rows)
            let (program, weights, constants) = try lowered(g, format, sparse: false, amax: amax, rows: rows) { _ in }
            var recent: [Int: [(out: UInt64, accumulate: Bool)]] = [:]
            for i in program.instructions where i.spec.mnemonic == "mma" {
                let out = program.descriptors[Int(i["out"])]
                let tile = out.cluster * resources.tilesPerCluster + out.tile
                let mma = (out: out.address, accumulate: i["accumulate"] == 1)
                let last = recent[tile, default: []].suffix(2)
                if mma.accumulate, last.count == 2 {
                    XCTAssertFalse(
                        last.first!.out == mma.out && last.last!.out != mma.out,
                        "\(format), \(rows) rows: \(out.text) accumulated two products after its last")
                    if last.last!.out == mma.out && last.first!.out != mma.out { turns += 1 }
                }
                recent[tile, default: []].append(mma)
            }
            var sim = machine(weights, constants, rows: rows)
            try sim.writeDRAM(littleEndianBytes(x.floats()), at: 0)
            try sim.run(program)
            XCTAssertEqual(
                try sim.readDRAM(4 * rows * k, count: 4 * rows * n), littleEndianBytes(want.floats()), "\(format), \(rows)")
        }
        XCTAssertGreaterThan(turns, 0, "no group of two output tiles")
    }

    func testTheNextChunksFirstLoadsComeBeforeThisChunksStores() throws {
        // Each tile loads the first activation and weight tiles of its next group of rows
        // and columns before it stores this group's outputs: the stores (and the waits
        // before them, which hold the tile's DMA queue) do not delay those loads. In program
        // order, no load of the input lies between a tile's store and its next product.
        let (g, _, _, amax) = try reference(.fp8, sparse: false)
        let (program, _, _) = try lowered(g, .fp8, sparse: false, amax: amax)
        var storedSinceProduct: [Int: Bool] = [:]
        var (stores, prefetched) = (0, 0)
        func place(_ d: TensorDescriptor) -> Int { d.cluster * resources.tilesPerCluster + d.tile }
        for i in program.instructions {
            switch i.spec.mnemonic {
            case "mma":
                storedSinceProduct[place(program.descriptors[Int(i["out"])])] = false
            case "dma":
                let (dst, src) = (program.descriptors[Int(i["dst"])], program.descriptors[Int(i["src"])])
                if dst.space == .dram && dst.address >= UInt64(4 * m * k) {
                    storedSinceProduct[place(src)] = true
                    stores += 1
                } else if src.space == .dram && src.address < UInt64(4 * m * k) {
                    XCTAssertNotEqual(storedSinceProduct[place(dst)], true, "\(dst.text) loaded after a store")
                    if storedSinceProduct[place(dst)] == nil { continue }
                    prefetched += 1
                }
            default: break
            }
        }
        XCTAssertGreaterThan(stores, 0)
        XCTAssertGreaterThan(prefetched, 0)
    }

    func testReadsOfUnwrittenOrMissingMemoryNameTheInstruction() throws {
        let (g, _, _, amax) = try reference(.fp8, sparse: false)
        let (program, weights, constants) = try lowered(g, .fp8, sparse: false, amax: amax)
        var sim = machine(weights, constants)  // the input never placed in DRAM
        // The first read of the input (after the first tile's scales, biases and weight tiles).
        let first = try XCTUnwrap(
            program.instructions.firstIndex { $0.spec.mnemonic == "dma" && program.descriptors[Int($0["src"])].space == .dram })
        XCTAssertThrowsError(try sim.run(program)) {
            XCTAssertTrue("\($0)".hasPrefix("instruction \(first) (dma): reads dram byte 0, never written"), "\($0)")
        }
        var edited = program
        let far = try TensorDescriptor(.dram, .f32, address: 1 << 30, dims: [4])
        edited.descriptors.append(far)
        edited.instructions.insert(try Instruction("dma", ["dst": UInt64(edited.descriptors.count - 1), "src": 0]), at: 0)
        var other = machine(weights, constants)
        XCTAssertThrowsError(try other.run(edited)) { XCTAssertTrue("\($0)".hasPrefix("instruction 0 (dma): "), "\($0)") }
    }
}
