// A grouped convolution's groups spread over the tiles: a depthwise convolution whose groups
// each fit one tile runs them side by side on every tile, each group staging its band, its
// weights and its own rows of the bias and scale tables in its own slot of its cluster's
// L2; and the simulator still gives the fake-quant interpreter's bits.
import Backend
import Formats
import IR
import ISA
import Passes
import Reference
import Simulator
import Target
import TestSupport
import XCTest

final class GroupedConvolutionTests: XCTestCase {
    private var resources: TileResources {
        TileResources(
            sramBytes: 16384, arrayRows: 20, arrayColumns: 20, rates: [.fp16: 1, .fp8: 2, .nvfp4: 4], clusters: 2,
            tilesPerCluster: 2, l3Bytes: 1 << 16, l2Bytes: 1 << 14)
    }

    /// x [1, 8, 4, 4] -> depthwise Conv (8 groups, 3x3, pad 1, a bias; `multiplier` output
    /// channels a group) -> Relu -> a 1x1 Conv to 1,024 channels: each group is 16 output
    /// positions of its channels, one tile's work, and the weights are too many to preload
    /// into the L2 (its quarter), so that each layer stages its own. With 11 output channels a
    /// group, more than half the array's 20 columns, no two groups multiply side by side.
    private func depthwise(
        groups: Int = 8, side: Int = 4, wide: Bool = true, multiplier: Int = 1, kernel: Int = 3
    ) -> (Graph, Tensor) {
        var rng = SeededRandom(seed: 29)
        var b = GraphBuilder()
        let (out, taps, pad) = (groups * multiplier, kernel * kernel, kernel / 2)
        b.input("x", .float32, [.known(1), .known(groups), .known(side), .known(side)])
        b.constant(
            "w", Tensor((0..<(out * taps)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [out, 1, kernel, kernel]))
        b.constant("bias", Tensor((0..<out).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [out]))
        b.node(
            "Conv", ["x", "w", "bias"], ["group": .int(groups), "pads": .ints([pad, pad, pad, pad])], outputs: ["c"],
            name: "depthwise")
        b.node("Relu", ["c"], outputs: [wide ? "r" : "y"])
        if wide {
            b.constant(
                "wide",
                Tensor((0..<(1024 * out)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [1024, out, 1, 1]))
            b.node("Conv", ["r", "wide"], outputs: ["y"], name: "pointwise")
        }
        b.output("y")
        let x = Tensor(
            (0..<(groups * side * side)).map { _ in Float.random(in: -2...2, using: &rng) }, shape: [1, groups, side, side])
        return (b.graph, x)
    }

    /// `graph` quantized to `format` (pruned 2:4 by magnitude when `sparse`) with the amax of
    /// every value `x` gives as its calibrated range, and the interpreter's output.
    private func quantized(_ graph: Graph, x: Tensor, format: PrecisionFormat, sparse: Bool) throws -> (Graph, Tensor) {
        var g = graph
        var context = PassContext()
        var amax: [String: Float] = ["x": x.floats().map(\.magnitude).max()!]
        try Pipeline([InferShapes()]).run(&g, context)
        _ = try Interpreter(graph: g).run(["x": x]) { name, t in amax[name] = t.floats().map(\.magnitude).max() }
        context.quantization = QuantizationPlan(format: format, activationAmax: amax)
        context.sparsity = sparse ? SparsityPlan(method: .magnitude) : nil
        try Pipeline([FuseActivation()] + (sparse ? [Prune24()] : []) + [QuantizeLayers()]).run(&g, context)
        return (g, try Interpreter(graph: g).run(["x": x])["y"]!)
    }

    private func lowered(_ g: Graph) throws -> LoweredModel {
        let section = try WeightSection.build(g, arrayRows: 20, arrayColumns: 20) { self.resources.rates[$0]! }
        return try Lowering.lower(g, layers: section.layers, resources: resources)
    }

    /// The DMAs into L2 of `g`'s depthwise layer, lowered on `small`.
    private func l2Stagings(_ g: Graph, on small: TileResources) throws -> [(dst: TensorDescriptor, src: TensorDescriptor)] {
        let section = try WeightSection.build(g, arrayRows: 20, arrayColumns: 20) { small.rates[$0]! }
        let model = try Lowering.lower(g, layers: section.layers, resources: small), program = model.program
        let layer = try XCTUnwrap(model.layers.first { $0.name == "depthwise" })
        return program.instructions[layer.first..<(layer.first + layer.count)].filter { $0.spec.mnemonic == "dma" }.map {
            (dst: program.descriptors[Int($0["dst"])], src: program.descriptors[Int($0["src"])])
        }.filter { $0.dst.space == .l2 }
    }

    func testTheGroupsOfADepthwiseConvolutionRunSideBySideOnEveryTile() throws {
        let (graph, x) = depthwise(multiplier: 11)
        for (format, sparse) in [(PrecisionFormat.fp16, false), (.fp8, false), (.nvfp4, false), (.nvfp4, true)] {
            let (g, want) = try quantized(graph, x: x, format: format, sparse: sparse)
            let model = try lowered(g), program = model.program
            let layer = try XCTUnwrap(model.layers.first { $0.name == "depthwise" })
            let instructions = program.instructions[layer.first..<(layer.first + layer.count)]
            let products = instructions.filter { $0.spec.mnemonic == "mma" }
            XCTAssertEqual(products.count, 8, "one product a group")
            // Eight groups on four tiles: two on each, not eight on one.
            var perTile: [[Int]: Int] = [:]
            for p in products {
                let out = program.descriptors[Int(p["out"])]
                perTile[[out.cluster, out.tile], default: 0] += 1
            }
            XCTAssertEqual(perTile.count, 4, "\(format): \(perTile)")
            XCTAssertEqual(Set(perTile.values), [2], "\(format): \(perTile)")
            // The whole blob (weights and scales) and bias, a quarter of the L2 or less, are
            // copied once into each cluster's L2, not staged group by group.
            let staged = instructions.filter { $0.spec.mnemonic == "dma" }.map {
                (dst: program.descriptors[Int($0["dst"])], src: program.descriptors[Int($0["src"])])
            }.filter { $0.dst.space == .l2 }
            XCTAssertEqual(staged.filter { $0.src.space == .constants }.map(\.src.count), [88, 88])
            XCTAssertEqual(staged.filter { $0.src.space == .weights }.map(\.dst.cluster), [0, 1])
            XCTAssertEqual(Set(staged.filter { $0.src.space == .weights }.map(\.src.element)), [.packed])
            // The groups on a cluster stage their bands in slots of their own (8 fit).
            let bands = staged.filter { $0.src.space != .weights && $0.src.space != .constants }
            XCTAssertEqual(bands.count, 8)
            for cluster in 0..<2 {
                let places = bands.filter { $0.dst.cluster == cluster }.map(\.dst.address)
                XCTAssertEqual(places.count, 4)
                XCTAssertEqual(Set(places).count, 4, "\(format) cluster \(cluster): bands at \(places)")
            }
            let got = try simulated(g, ["x": x], resources: resources)
            XCTAssertEqual(got["y"]?.map(\.bitPattern), want.floats().map(\.bitPattern), "\(format) sparse \(sparse)")
        }
    }

    func testConsecutiveGroupsMultiplySideBySideAsTheArrayHoldsThem() throws {
        // A 3x3 group's 9 positions and one output channel: the 20 x 20 array holds 2 of them
        // side by side at fp16 (18 of 20 rows), 4 at fp8 (36 of 40), 8 at nvfp4 (72 of 80;
        // a 9-position reduction is not pruned 2:4): one `mmag` of G groups where G `mma`s
        // were, its bits theirs.
        // 32 channels, two nvfp4 blocks of 16: each product reads its own channels' codes
        // and its own block's scales.
        let (graph, x) = depthwise(groups: 32)
        for (format, sparse, side) in [(PrecisionFormat.fp16, false, 2), (.fp8, false, 4), (.nvfp4, false, 8), (.nvfp4, true, 8)]
        {
            let (g, want) = try quantized(graph, x: x, format: format, sparse: sparse)
            let model = try lowered(g), program = model.program
            let layer = try XCTUnwrap(model.layers.first { $0.name == "depthwise" })
            let products = program.instructions[layer.first..<(layer.first + layer.count)].filter {
                $0.spec.mnemonic == "mma" || $0.spec.mnemonic == "mmag"
            }
            XCTAssertEqual(products.count, 32 / side, "\(format)")
            XCTAssertTrue(products.allSatisfy { $0.spec.mnemonic == "mmag" && $0["groups"] == UInt64(side) }, "\(format)")
            // fp8 and nvfp4 read their windows coded, in place: codes [rows, width, G, 3, 3] and
            // their scales beside them, the G channels one nvfp4 block's (stride 0 along them)
            // or fp8's tensor scale; fp16 its float32 values.
            for p in products {
                let act = program.descriptors[Int(p["act"])]
                guard format != .fp16 else {
                    XCTAssertEqual(act.element, .f32)
                    continue
                }
                XCTAssertEqual(act.element, .u8, "\(format)")
                XCTAssertEqual(Array(act.dims.suffix(3)), [side, 3, 3], "\(format): \(act.text)")
                let scales = program.descriptors[Int(p["act"]) + 1]
                XCTAssertEqual(scales.element, .f32)
                XCTAssertEqual(scales.count, act.count, "\(format): \(scales.text)")
                if format == .nvfp4 { XCTAssertTrue(scales.strides.contains(0), "\(scales.text)") }
            }
            let got = try simulated(g, ["x": x], resources: resources)
            XCTAssertEqual(got["y"]?.map(\.bitPattern), want.floats().map(\.bitPattern), "\(format) sparse \(sparse)")
        }
    }

    func testOnlyThePaddingOfTheRoundedImageIsZeroed() throws {
        // The 8 x 6 x 6 padded image of a 4x4 input: its 20 border pixels a plane are zeroed,
        // not its interior, which the rounding writes whole. fp16: float32 values, 8 x 20 x 4
        // bytes. fp8: codes, rows of 12 bytes (3 from a shift that starts each interior row
        // on a word), filled as words: the top and bottom rows (3 words each) and a word left
        // and right of each interior row, 8 x (6 + 8) x 4 bytes. nvfp4: those, and the border
        // of its one plane of block scales, 20 x 4 bytes.
        let (graph, x) = depthwise(groups: 8, wide: false)
        for (format, bytes) in [(PrecisionFormat.fp16, 640), (.fp8, 448), (.nvfp4, 528)] {
            let (g, want) = try quantized(graph, x: x, format: format, sparse: false)
            let model = try lowered(g), program = model.program
            let layer = try XCTUnwrap(model.layers.first { $0.name == "depthwise" })
            let fills = program.instructions[layer.first..<(layer.first + layer.count)].filter { $0.spec.mnemonic == "fill" }
                .map { program.descriptors[Int($0["dst"])] }.filter { $0.space != .sram }
            XCTAssertEqual(fills.reduce(0) { $0 + 4 * $1.count }, bytes, "\(format): \(fills.map(\.text))")
            let got = try simulated(g, ["x": x], resources: resources)
            XCTAssertEqual(got["y"]?.map(\.bitPattern), want.floats().map(\.bitPattern), "\(format)")
        }
    }

    func testNVFP4GroupsSideBySideAreAsManyAsOneBlockHolds() throws {
        // 5x5 windows of 25 positions: the array holds 3 channels a product at nvfp4 (75 of
        // 80), but 3 channels do not lie in one block of 16, and their windows would be
        // gathered as float32 values; 2 a product read theirs coded, in place. 24 channels
        // are no whole number of blocks: 8 a product (3x3), their windows float32. The bits
        // are the interpreter's either way.
        for (groups, kernel, side, coded) in [(48, 5, 2, true), (24, 3, 8, false)] {
            let (graph, x) = depthwise(groups: groups, side: 4, wide: false, kernel: kernel)
            let (g, want) = try quantized(graph, x: x, format: .nvfp4, sparse: false)
            let model = try lowered(g), program = model.program
            let products = program.instructions.filter { $0.spec.mnemonic == "mmag" }
            XCTAssertEqual(products.count, groups / side, "\(groups) groups")
            XCTAssertTrue(
                products.allSatisfy {
                    $0["groups"] == UInt64(side) && program.descriptors[Int($0["act"])].element == (coded ? .u8 : .f32)
                }, "\(groups) groups")
            let got = try simulated(g, ["x": x], resources: resources)
            XCTAssertEqual(got["y"]?.map(\.bitPattern), want.floats().map(\.bitPattern), "\(groups) groups")
        }
    }

    func testTablesPastAQuarterOfTheL2AreStagedGroupByGroup() throws {
        // An L2 of 640 bytes: the weights and bias (1,792 bytes) are past its quarter, so each
        // group stages its band, its weights, the tensor scale and its own 11 bias rows in its
        // slot (448 bytes, one a cluster), group after group; the bits are the same.
        var small = resources
        small.l2Bytes = 640
        let (graph, x) = depthwise(groups: 16, multiplier: 11)
        let (g, want) = try quantized(graph, x: x, format: .nvfp4, sparse: false)
        let staged = try l2Stagings(g, on: small)
        XCTAssertEqual(staged.filter { $0.src.space == .constants }.map(\.src.count), Array(repeating: 11, count: 16))
        XCTAssertEqual(
            staged.filter { $0.src.space == .weights && $0.src.element == .f32 }.map(\.src.count),
            Array(repeating: 1, count: 16))
        XCTAssertTrue(staged.allSatisfy { Int($0.dst.address) + $0.dst.count * $0.dst.element.addressBytes <= 640 })
        let got = try simulated(g, ["x": x], resources: small)
        XCTAssertEqual(got["y"]?.map(\.bitPattern), want.floats().map(\.bitPattern))
    }

    func testATilesNextGroupLoadsBeforeTheLastOnesStoresIntoTheOtherAccumulators() throws {
        // Two groups in turn on each tile: the second's first loads and its bias come before
        // the first's stores in program order (a tile's DMA engines run in order, and a
        // queue's signal covers all before it), and its products write the second set of
        // accumulators while the first's stores still read theirs.
        let (graph, x) = depthwise(multiplier: 11)
        for (format, sparse) in [(PrecisionFormat.fp16, false), (.nvfp4, true)] {
            let (g, want) = try quantized(graph, x: x, format: format, sparse: sparse)
            let model = try lowered(g), program = model.program
            let layer = try XCTUnwrap(model.layers.first { $0.name == "depthwise" })
            let instructions = Array(program.instructions[layer.first..<(layer.first + layer.count)])
            for cluster in 0..<2 {
                for tile in 0..<2 {
                    func here(_ d: TensorDescriptor) -> Bool { d.space == .sram && d.cluster == cluster && d.tile == tile }
                    let products = instructions.indices.filter {
                        instructions[$0].spec.mnemonic == "mma" && here(program.descriptors[Int(instructions[$0]["out"])])
                    }
                    let loads = instructions.indices.filter {
                        instructions[$0].spec.mnemonic == "dma" && here(program.descriptors[Int(instructions[$0]["dst"])])
                    }
                    XCTAssertEqual(products.count, 2, "\(format) c\(cluster)t\(tile)")
                    // The groups' stores (the rounding of the image stores from the tiles first).
                    let stores = instructions.indices.filter {
                        $0 > (products.first ?? 0) && instructions[$0].spec.mnemonic == "dma"
                            && here(program.descriptors[Int(instructions[$0]["src"])])
                            && program.descriptors[Int(instructions[$0]["dst"])].space != .sram
                    }
                    XCTAssertEqual(stores.count, 2, "\(format) c\(cluster)t\(tile)")
                    guard products.count == 2, let firstStore = stores.first else { continue }
                    let secondLoads = loads.filter { $0 > products[0] && $0 < products[1] }
                    XCTAssertFalse(secondLoads.isEmpty)
                    XCTAssertTrue(
                        secondLoads.allSatisfy { $0 < firstStore }, "\(format) c\(cluster)t\(tile): \(secondLoads) \(stores)")
                    let outs = products.map { program.descriptors[Int(instructions[$0]["out"])].address }
                    XCTAssertNotEqual(outs[0], outs[1], "\(format) c\(cluster)t\(tile)")
                }
            }
            let got = try simulated(g, ["x": x], resources: resources)
            XCTAssertEqual(got["y"]?.map(\.bitPattern), want.floats().map(\.bitPattern), "\(format) sparse \(sparse)")
        }
    }

    func testADepthwiseConvolutionOver28x28MultipliesEightChannelsAProductOnTwoTiles() throws {
        // The seed NPU's arrays (20 x 20, nvfp4 at 4 positions a row) hold 8 channels' 3x3
        // windows side by side (72 positions): 144 groups make 18 products of 8. Those 18 of
        // 784 positions on 2 tiles each take one turn of 392 rows a tile, paying the array's
        // fill (39 cycles) and a load's and a store's latency in L3 (96) besides: 527 cycles;
        // on 1 tile 919; on 4, two turns of 196 (662).
        var seed = TileResources(
            sramBytes: 32768, arrayRows: 20, arrayColumns: 20, rates: [.fp16: 1, .fp8: 2, .nvfp4: 4], clusters: 4,
            tilesPerCluster: 16, l3Bytes: 8 << 20, l2Bytes: 512 << 10)
        (seed.dramLatency, seed.l3Latency, seed.vectorLanes) = (200, 48, 32)
        (seed.l2BytesPerCycle, seed.l3BytesPerCycle, seed.dramBytesPerCycle) = (1024, 2048, 1000)
        let (graph, x) = depthwise(groups: 144, side: 28, wide: false)
        let (g, _) = try quantized(graph, x: x, format: .nvfp4, sparse: false)
        let section = try WeightSection.build(g, arrayRows: 20, arrayColumns: 20) { seed.rates[$0]! }
        let model = try Lowering.lower(g, layers: section.layers, resources: seed)
        let program = try Program(
            descriptors: model.program.encodedDescriptors(), instructions: model.program.encodedInstructions())
        let products = program.instructions.filter { $0.spec.mnemonic == "mma" || $0.spec.mnemonic == "mmag" }
        XCTAssertFalse(products.isEmpty)
        XCTAssertTrue(products.allSatisfy { $0.spec.mnemonic == "mmag" && $0["groups"] == 8 })
        // The tiles whose stores write each product's 8 channels of the output.
        let output = try XCTUnwrap(model.outputs.first { $0.name == "y" })
        var tiles: [Int: Set<[Int]>] = [:]
        for i in program.instructions where i.spec.mnemonic == "dma" {
            let (dst, src) = (program.descriptors[Int(i["dst"])], program.descriptors[Int(i["src"])])
            guard src.space == .sram, dst.space == .dram,
                (output.offset..<(output.offset + output.bytes)).contains(Int(dst.address))
            else { continue }
            tiles[(Int(dst.address) - output.offset) / 4 / (28 * 28), default: []].insert([src.cluster, src.tile])
        }
        XCTAssertEqual(tiles.count, 18)
        for (channel, on) in tiles {
            XCTAssertEqual(on.count, 2, "channel \(channel) on \(on)")
            XCTAssertEqual(Set(on.map { $0[0] }).count, 1, "channel \(channel) on \(on)")
        }
        XCTAssertEqual(tiles.values.reduce(into: Set<[Int]>()) { $0.formUnion($1) }.count, 36)
        let schedule = try CycleModel(target: try TargetDescription.default).schedule(
            program, constants: model.constants, dramBytes: model.dramBytes, weightBytes: section.bytes.count)
        // The same program took 4,385 cycles with one channel a product (144 products of 784
        // rows over 64 tiles: 1,764 cycles of products alone), and 4,202 with eight whose
        // windows were gathered into the tiles as float32 values (4 MB). Read coded in place
        // from each tile's copy of its band (a byte a code, one block scale a pixel), they
        // take less than half that (1,959).
        XCTAssertTrue(products.allSatisfy { program.descriptors[Int($0["act"])].element == .u8 })
        XCTAssertLessThan(schedule.cycles, 2_101)
    }

    func testGroupsSideBySideAreDecidedOnTheL2ThePreloadedWeightsLeave() throws {
        // The fp8 weights of 8 channels (104 bytes) fit a quarter of an 1,856-byte L2 and are
        // preloaded at its top (128 bytes). The 1,728 bytes left hold no two groups' 8 x 14
        // float32 band in half of them (448 bytes each), so the groups run one at a time and
        // round their image as float32 values, where the whole L2 would have taken two a
        // product, coded; the scratch the memory plan keeps is decided the same way. Two
        // images, and the Relu's output in L3 beside the scratch.
        var small = resources
        small.l2Bytes = 1856
        var rng = SeededRandom(seed: 31)
        var builder = GraphBuilder()
        builder.input("x", .float32, [.known(2), .known(8), .known(6), .known(12)])
        builder.constant("w", Tensor((0..<72).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [8, 1, 3, 3]))
        builder.node("Conv", ["x", "w"], ["group": .int(8), "pads": .ints([1, 1, 1, 1])], outputs: ["c"], name: "depthwise")
        builder.node("Relu", ["c"], outputs: ["r"])
        builder.node("Add", ["r", "r"], outputs: ["y"])
        builder.output("y")
        let x = Tensor((0..<1152).map { _ in Float.random(in: -2...2, using: &rng) }, shape: [2, 8, 6, 12])
        let (g, want) = try quantized(builder.graph, x: x, format: .fp8, sparse: false)
        let section = try WeightSection.build(g, arrayRows: 20, arrayColumns: 20) { small.rates[$0]! }
        let program = try Lowering.lower(g, layers: section.layers, resources: small).program
        XCTAssertTrue(program.instructions.contains { $0.spec.mnemonic == "mma" })
        XCTAssertFalse(program.instructions.contains { $0.spec.mnemonic == "mmag" })
        let got = try simulated(g, ["x": x], resources: small)
        XCTAssertEqual(got["y"]?.map(\.bitPattern), want.floats().map(\.bitPattern))
    }

    func testGroupsWhoseSlotsOutnumberTheL2TakeTheirTurnsInIt() throws {
        // An L2 of 2 KiB holds a group's slot (its 6 x 6 padded band of 144 bytes, its 11
        // rows of weights, the tensor scale and its 11 bias rows, each 64-byte aligned: 448
        // bytes; no block scales, which only a coded image keeps) four times (the weights and
        // bias, 1,792 bytes, are past its quarter and not shared): each cluster's groups
        // share two, ordered by their accesses, and the bits are the same.
        var small = resources
        small.l2Bytes = 2048
        let (graph, x) = depthwise(groups: 16, multiplier: 11)
        let (g, want) = try quantized(graph, x: x, format: .nvfp4, sparse: false)
        let bands = try l2Stagings(g, on: small).filter { $0.src.space == .l3 }
        XCTAssertEqual(bands.count, 16)
        let places = Set(bands.map { [$0.dst.cluster, Int($0.dst.address)] })
        XCTAssertEqual(places.count, 4, "\(bands.map(\.dst.text))")
        XCTAssertTrue(bands.allSatisfy { Int($0.dst.address) + $0.dst.count * 4 <= 2048 })
        let got = try simulated(g, ["x": x], resources: small)
        XCTAssertEqual(got["y"]?.map(\.bitPattern), want.floats().map(\.bitPattern))
    }
}
