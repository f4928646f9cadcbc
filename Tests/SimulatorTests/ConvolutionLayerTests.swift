// Convolutions lowered through padding, one strided DMA that unfolds the windows, and the
// matrix layer, run by the simulator: the fake-quant interpreter's output bit for bit, for
// a padded strided conv over two images, an unpadded dilated one, a 1x1 conv (which
// multiplies its input without unfolding, its tiles rounding what they read), convolutions
// whose activations travel coded (codes and block scales), with the image kept in L3, and
// with each cluster's band of image rows and columns of weight tiles staged in its L2, and
// with each tile reading its windows in place from a band of the image in its SRAM.
import Backend
import Formats
import IR
import ISA
import Simulator
import TestSupport
import XCTest

final class ConvolutionLayerTests: XCTestCase {
    private let resources = TileResources(
        sramBytes: 16384, arrayRows: 20, arrayColumns: 20,
        rates: [.fp16: 1, .fp8: 2, .nvfp4: 4], clusters: 2, tilesPerCluster: 2)

    private func check(
        batch: Int, c: Int, h: Int, w: Int, m: Int, kernel: Int, stride: Int, dilation: Int, pad: Int,
        format: PrecisionFormat, sparse: Bool, l3Bytes: Int = 0, l2Bytes: Int = 0, codesPointwise: Bool = false,
        bands: Bool? = nil, l2FromTop: Bool = false, roundsIntoBands: Bool? = nil, clusters: Int = 2
    ) throws {
        var resources = resources
        resources.clusters = clusters
        resources.l3Bytes = l3Bytes
        resources.l2Bytes = l2Bytes
        var rng = SeededRandom(seed: 71)
        var b = GraphBuilder()
        b.input("x", .float32, [.known(batch), .known(c), .known(h), .known(w)])
        b.constant(
            "w",
            Tensor(
                (0..<(m * c * kernel * kernel)).map { _ in Float.random(in: -1...1, using: &rng) },
                shape: [m, c, kernel, kernel]))
        b.constant("bias", Tensor((0..<m).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [m]))
        b.node(
            "Conv", ["x", "w", "bias"],
            [
                "pads": .ints([pad, pad, pad, pad]), "strides": .ints([stride, stride]),
                "dilations": .ints([dilation, dilation]),
            ], outputs: ["c"], name: "conv")
        b.node("Relu", ["c"], outputs: ["y"])
        b.output("y")
        let x = Tensor((0..<(batch * c * h * w)).map { _ in Float.random(in: -2...2, using: &rng) }, shape: [batch, c, h, w])
        let (g, want, amax) = try quantizedReference(b.graph, x: x, format: format, sparse: sparse)
        let (oh, ow) = (want.shape[2], want.shape[3])
        let k = c * kernel * kernel
        let section = try WeightSection.build(g, arrayRows: 20, arrayColumns: 20) { resources.rates[$0]! }
        // Weight tiles as the weight section packed them: coded nvfp4 activations take whole
        // blocks of 16 channels at every kernel position per tile.
        let tileK = section.layers[0].tileColumns
        // A unit of whole activation blocks at every kernel position and whole weight blocks.
        let block = min(16, c), window = block * kernel * kernel
        let unit = (1...16).lazy.map { $0 * window }.first { $0 % 16 == 0 }!
        // Tiles of whole units, or of the whole reduction when a unit is too long for a tile
        // but the reduction is not.
        let depth = resources.tileColumns(format, sparse: sparse)
        let codedBlocks = c >= 2 && c % block == 0 && (unit <= 2 * depth || k <= 2 * depth)
        let coded = format != .fp16 && !(kernel == 1 && pad == 0 && !codesPointwise) && (format == .fp8 || codedBlocks)
        XCTAssertEqual(
            tileK, coded && format == .nvfp4 ? (unit <= 2 * depth ? max(1, depth / unit) * unit : k) : depth)
        let layout = try WeightLayout(
            format: format, sparse: sparse, rows: m, columns: k, tileRows: 20, tileColumns: tileK)
        var shape = MatrixShape(
            m: oh * ow, k: k, n: m, weightFormat: format, sparse: sparse, activationFormat: format, reductionTile: tileK,
            codedActivations: coded)
        shape.activationBlock = block
        // Windows gathered from the image go to the clusters in runs, as the lowering deals them.
        shape.windowed = !(kernel == 1 && stride == 1 && pad == 0) || coded
        // With `bands` (as the lowering plans a coded convolution whose kernel is larger than
        // 1x1), the plan prefers row tiles that are rectangles of the output.
        if bands != nil {
            shape.bands = MatrixShape.Bands(
                outWidth: ow, kernel: (kernel, kernel), strides: (stride, stride), dilations: (dilation, dilation))
        }
        let plan = try MatrixTiling.plan(shape, on: resources)
        var matrix = MatrixLayer(
            m: 0, k: 0, n: 0, input: 0, inputRowStride: 0, output: 0, outputStrides: (0, 0), weights: layout,
            weightOffset: section.layers[0].offset, bias: 0, activationFormat: format, activationAmax: amax,
            fusedActivation: "Relu")
        matrix.l2FromTop = l2FromTop
        let (inBytes, outBytes) = (4 * x.count, 4 * want.count)
        var conv = ConvolutionLayer(
            batch: batch, channels: c, height: h, width: w, outChannels: m, outHeight: oh, outWidth: ow,
            kernel: (kernel, kernel), strides: (stride, stride), dilations: (dilation, dilation),
            pads: (pad, pad, pad, pad), input: 0, output: UInt64(inBytes), matrix: matrix,
            scratch: UInt64(inBytes + outBytes))
        conv.setCodesPointwise(codesPointwise)
        var builder = ProgramBuilder()
        try ConvolutionLowering.lower(conv, plan: plan, resources: resources, into: &builder)
        try builder.emit("halt", [:])
        // A 1x1 conv without padding reads its input as it is; fp8 and nvfp4 (of whole blocks)
        // activations are rounded into an image of codes and one of block scales (nvfp4),
        // which the tiles gather as they are; other padded ones round it straight into the
        // padded image; any other into a [pixels, C] buffer first.
        XCTAssertEqual(conv.coded, coded)
        let pixels = (h + 2 * pad) * (w + 2 * pad)
        let padded = (4 * c * pixels + 63) / 64 * 64
        // Rows of codes start their first unpadded pixel on a 4-byte word. A strided 1x1
        // conv rounds only the pixels it reads: an image of the output's extents.
        let (ih, iw) = codesPointwise && stride > 1 ? (oh, ow) : (h + 2 * pad, w + 2 * pad)
        XCTAssertEqual(conv.inputStep == (stride, stride), codesPointwise && stride > 1 || stride == 1)
        let codeRow = ((4 - pad % 4) % 4 + iw + 3) / 4 * 4
        let codedBytes =
            (c * ih * codeRow + 63) / 64 * 64 + (format == .nvfp4 ? (4 * (c / block) * ih * iw + 63) / 64 * 64 : 0)
        XCTAssertEqual(
            conv.scratchBytes,
            kernel == 1 && pad == 0 && !coded ? 0 : coded ? codedBytes : pad > 0 ? padded : (4 * c * h * w + 63) / 64 * 64)
        let codedProducts = builder.program.instructions.filter {
            $0.spec.mnemonic == "mma" && builder.program.descriptors[Int($0["act"])].element == .u8
        }
        XCTAssertEqual(codedProducts.count > 0, coded)
        // Each row tile's accumulators start a 64-byte block (rows of 7 or 14 output positions
        // by 20 channels are 560 or 1,120 bytes): the cycle model orders the accesses to a
        // block as if they overlapped.
        for i in builder.program.instructions where i.spec.mnemonic == "mma" {
            let out = builder.program.descriptors[Int(i["out"])]
            XCTAssertEqual(out.address % 64, 0, out.text)
        }
        // Products that read their windows in place from a band of the image: their codes a
        // view of rank 5, [rows, width, channels, kh, kw].
        let fromBands = codedProducts.filter { builder.program.descriptors[Int($0["act"])].dims.count == 5 }
        if let bands {
            XCTAssertEqual(fromBands.count, bands ? codedProducts.count : 0, "\(format) sparse \(sparse): products reading bands")
        }
        if coded { assertNoTwoTilesWriteOneWord(builder.program) }
        // Coded, when every cluster's band fits its L2, the rounding writes its codes straight
        // into the bands (tile SRAM to L2), and makes no image in L3 or DRAM.
        let intoBands = builder.program.instructions.contains {
            $0.spec.mnemonic == "dma" && builder.program.descriptors[Int($0["dst"])].space == .l2
                && builder.program.descriptors[Int($0["src"])].space == .sram
        }
        if let roundsIntoBands { XCTAssertEqual(intoBands, roundsIntoBands, "rounding into the clusters' bands") }

        XCTAssertTrue(!intoBands || coded && l2Bytes > 0)
        XCTAssertEqual(
            builder.program.descriptors.contains { $0.space == .l3 }, l3Bytes > 0 && conv.scratchBytes > 0 && !intoBands)
        if intoBands {
            let scratch = UInt64(inBytes + outBytes)
            XCTAssertFalse(builder.program.descriptors.contains { $0.space == .dram && $0.address >= scratch })
        }
        XCTAssertEqual(builder.program.descriptors.contains { $0.space == .l2 }, l2Bytes > 0)
        // What a layer stages in L2 lies from address 0 up, or from the top down; its weights
        // are staged before its band (which waits for the input's rounding).
        let staging = builder.program.instructions.filter { $0.spec.mnemonic == "dma" }.map {
            builder.program.descriptors[Int($0["dst"])]
        }.filter { $0.space == .l2 }
        if !staging.isEmpty {
            // Where a layer stages less than half of the L2, all of it in one half.
            let staged = staging.reduce(0) { $0 + ($1.count * $1.element.addressBytes + 63) / 64 * 64 }
            XCTAssertTrue(
                staged > l2Bytes / 2 || staging.allSatisfy { (Int($0.address) >= l2Bytes / 2) == l2FromTop },
                "\(staging.map(\.text))")
            if let band = staging.firstIndex(where: { $0.element != .packed }), staging.contains(where: { $0.element == .packed })
            {
                XCTAssertTrue(staging[..<band].contains { $0.element == .packed })
            }
        }
        let bias = g.constants[g.nodes[0].inputs[2]]!.floats()
        var sim = Machine(
            shape: MachineShape(
                dramBytes: inBytes + outBytes + conv.scratchBytes, l3Bytes: 1 << 16, l2Bytes: 1 << 14,
                sramBytes: resources.sramBytes, clusters: clusters, tilesPerCluster: 2),
            weights: section.bytes, constants: littleEndianBytes(bias))
        try sim.writeDRAM(littleEndianBytes(x.floats()), at: 0)
        try sim.run(builder.program)
        XCTAssertEqual(try sim.readDRAM(inBytes, count: outBytes), littleEndianBytes(want.floats()), "\(format) sparse \(sparse)")
    }

    /// The rounding's stores into the image of codes and of scales (or the clusters' bands of
    /// it): no 4-byte word written
    /// from two tiles (synchronization orders words, so two such stores would wait on each
    /// other).
    private func assertNoTwoTilesWriteOneWord(
        _ program: Program, file: StaticString = #filePath, line: UInt = #line
    ) {
        var writer: [UInt64: Int] = [:]
        for instruction in program.instructions where instruction.spec.mnemonic == "dma" {
            let (dst, src) = (program.descriptors[Int(instruction["dst"])], program.descriptors[Int(instruction["src"])])
            guard src.space == .sram, dst.space == .dram || dst.space == .l3 || dst.space == .l2 else { continue }
            let tile = src.cluster * 1000 + src.tile
            // A cluster's L2 words apart from every other memory's.
            let memory = dst.space == .l2 ? UInt64(1 + dst.cluster) << 48 : 0
            var index = [Int](repeating: 0, count: dst.dims.count)
            for _ in 0..<dst.count {
                let offset = zip(index, dst.strides).reduce(0) { $0 + $1.0 * $1.1 }
                let word = memory + (dst.address + UInt64(offset * dst.element.addressBytes)) / 4
                if let other = writer[word], other != tile {
                    return XCTFail("word \(word) written from tiles \(other) and \(tile)", file: file, line: line)
                }
                writer[word] = tile
                for axis in index.indices.reversed() {
                    index[axis] += 1
                    if index[axis] < dst.dims[axis] { break }
                    index[axis] = 0
                }
            }
        }
    }

    func testPaddedStridedConvOverTwoImages() throws {
        for format in [PrecisionFormat.fp8, .nvfp4] {
            try check(
                batch: 2, c: 8, h: 7, w: 7, m: 24, kernel: 3, stride: 2, dilation: 1, pad: 1, format: format,
                sparse: format == .nvfp4)
        }
    }

    func testCodedActivationsOfWholeBlocks() throws {
        // 32 channels are two nvfp4 blocks (8 channels, as testPaddedStridedConvOverTwoImages
        // has them, one short block): codes and block scales gathered at every kernel
        // position (tiles of 144 = 16 x 9 positions), dense and 2:4, from DRAM, L3 and L2;
        // a first layer's 3 channels, whose 7x7 windows would need tiles of 2,352 positions
        // to hold whole blocks of both kinds, in one tile of all 147 (no block split), coded
        // too: blocks of 3 channels, a code and a third of a scale per element.
        for sparse in [false, true] {
            try check(
                batch: 2, c: 32, h: 6, w: 5, m: 24, kernel: 3, stride: 1, dilation: 1, pad: 1, format: .nvfp4, sparse: sparse)
        }
        try check(
            batch: 1, c: 16, h: 7, w: 7, m: 20, kernel: 3, stride: 2, dilation: 1, pad: 1, format: .nvfp4, sparse: true,
            l3Bytes: 1 << 16, l2Bytes: 1 << 14)
        try check(batch: 1, c: 16, h: 9, w: 9, m: 6, kernel: 3, stride: 1, dilation: 2, pad: 0, format: .fp8, sparse: true)
        try check(batch: 1, c: 3, h: 12, w: 11, m: 8, kernel: 7, stride: 2, dilation: 1, pad: 3, format: .nvfp4, sparse: false)
    }

    func testWindowsReadInPlaceFromBandsOfTheImage() throws {
        // Row tiles of whole output rows or parts of one, each activation tile a band of the
        // coded image (its reduction tile's channels, the rows and columns its windows
        // cover) read in place as [rows, width, channels, kh, kw]: every coded product here,
        // padded, strided and dilated, from DRAM and from the cluster's band in L2.
        try check(
            batch: 1, c: 32, h: 14, w: 14, m: 24, kernel: 3, stride: 1, dilation: 1, pad: 1, format: .nvfp4, sparse: true,
            bands: true)
        try check(
            batch: 2, c: 16, h: 13, w: 13, m: 20, kernel: 3, stride: 2, dilation: 1, pad: 1, format: .nvfp4, sparse: false,
            l3Bytes: 1 << 16, l2Bytes: 1 << 14, bands: true)
        try check(
            batch: 1, c: 16, h: 11, w: 11, m: 8, kernel: 3, stride: 1, dilation: 2, pad: 0, format: .nvfp4, sparse: true,
            bands: true)
        // fp8's reduction tiles (40 positions) are no whole windows of 9: gathered.
        try check(
            batch: 1, c: 16, h: 9, w: 9, m: 6, kernel: 3, stride: 1, dilation: 2, pad: 0, format: .fp8, sparse: true,
            bands: false)
    }

    func testUnpaddedDilatedConv() throws {
        try check(batch: 1, c: 4, h: 9, w: 9, m: 6, kernel: 3, stride: 1, dilation: 2, pad: 0, format: .fp16, sparse: true)
    }

    func testTheImageKeptInL3() throws {
        // The rounded and padded image in L3 (64 KiB here) instead of DRAM: the same bits.
        try check(
            batch: 2, c: 8, h: 7, w: 7, m: 24, kernel: 3, stride: 2, dilation: 1, pad: 1, format: .nvfp4, sparse: true,
            l3Bytes: 1 << 16)
        try check(
            batch: 1, c: 32, h: 5, w: 6, m: 24, kernel: 1, stride: 1, dilation: 1, pad: 0, format: .fp8, sparse: false,
            l3Bytes: 1 << 16)
    }

    func testBandsAndWeightsStagedInL2() throws {
        // 16 KiB of L2 per cluster holds each cluster's weights and its band of rows, which the
        // rounding writes there.
        try check(
            batch: 2, c: 8, h: 7, w: 7, m: 24, kernel: 3, stride: 2, dilation: 1, pad: 1, format: .nvfp4, sparse: true,
            l3Bytes: 1 << 16, l2Bytes: 1 << 14, roundsIntoBands: true)
        // Two blocks of channels over 9 x 6 pixels, each cluster's band 7 of the 11 padded rows:
        // in 6 KiB the bands fit only as the image's rows are, 8 bytes of codes apart, and
        // are staged from the image in L3; in 8 KiB they fit as the rounding writes them, a
        // whole number of words apart (12 bytes), and it writes them there.
        for (l2, intoBands) in [(6144, false), (8192, true)] {
            try check(
                batch: 1, c: 32, h: 9, w: 6, m: 24, kernel: 3, stride: 1, dilation: 1, pad: 1, format: .nvfp4, sparse: true,
                l3Bytes: 1 << 16, l2Bytes: l2, roundsIntoBands: intoBands)
        }
        // Weights that outweigh the image: the four clusters share out the output's columns
        // and each one's band is the whole image, which is rounded once into L3 and copied
        // into every L2 (ConvolutionLowering.bandsRowsPerImageRow).
        try check(
            batch: 1, c: 16, h: 3, w: 3, m: 160, kernel: 3, stride: 1, dilation: 1, pad: 1, format: .nvfp4, sparse: true,
            l3Bytes: 1 << 16, l2Bytes: 1 << 15, roundsIntoBands: false, clusters: 4)
        try check(
            batch: 1, c: 4, h: 9, w: 9, m: 6, kernel: 3, stride: 1, dilation: 2, pad: 0, format: .fp16, sparse: true,
            l2Bytes: 1 << 14)
        // The same from the top of the L2 down, as every other matrix layer lays it out.
        try check(
            batch: 2, c: 8, h: 7, w: 7, m: 24, kernel: 3, stride: 2, dilation: 1, pad: 1, format: .nvfp4, sparse: true,
            l3Bytes: 1 << 16, l2Bytes: 1 << 14, l2FromTop: true)
        // The weights alone: a 1x1 conv gathers no windows.
        try check(
            batch: 1, c: 32, h: 5, w: 6, m: 24, kernel: 1, stride: 1, dilation: 1, pad: 0, format: .fp8, sparse: false,
            l2Bytes: 1024)
    }

    func testPointwiseConvRoundingItsInputOnceIntoCodes() throws {
        // A 1x1 convolution whose tiles would read its input many times rounds it once into an
        // image of codes and block scales, which they read as a 3x3 one's windows; stride 1 and
        // 2, from DRAM, L3 and L2.
        try check(
            batch: 2, c: 32, h: 5, w: 6, m: 24, kernel: 1, stride: 1, dilation: 1, pad: 0, format: .nvfp4, sparse: true,
            codesPointwise: true)
        try check(
            batch: 1, c: 16, h: 7, w: 7, m: 44, kernel: 1, stride: 2, dilation: 1, pad: 0, format: .nvfp4, sparse: false,
            l3Bytes: 1 << 16, l2Bytes: 1 << 14, codesPointwise: true)
        // 8 pixels of 256 channels per step, within a row of 13 (8, then 5): steps that ran on
        // into the next row would share its first word of codes with the next step.
        try check(
            batch: 1, c: 256, h: 3, w: 13, m: 20, kernel: 1, stride: 1, dilation: 1, pad: 0, format: .nvfp4, sparse: true,
            codesPointwise: true)
        // Fewer than 4 pixels of 1,024 channels fit half a tile's SRAM (8 KiB here): each
        // step rounds 4 pixels of a row (or its last 3) and a quarter of the channels (about
        // 1,024 values), so that no two steps write one word of codes; strided too.
        for stride in [1, 2] {
            try check(
                batch: 1, c: 1024, h: 3, w: 7, m: 20, kernel: 1, stride: stride, dilation: 1, pad: 0, format: .nvfp4,
                sparse: stride == 1, l3Bytes: 1 << 16, codesPointwise: true)
        }
    }

    func testOnlyAPointwiseConvWhoseTilesReadItsInputManyTimesRoundsItIntoCodes() throws {
        let npu = TileResources(
            sramBytes: 32768, arrayRows: 20, arrayColumns: 20, rates: [.fp16: 1, .fp8: 2, .nvfp4: 4], clusters: 4,
            tilesPerCluster: 16)
        func codes(_ c: Int, _ side: Int, _ m: Int, _ format: PrecisionFormat, kernel: Int = 1) throws -> Bool {
            try decide(c, side, m, format, kernel: kernel).codes
        }
        func decide(_ c: Int, _ side: Int, _ m: Int, _ format: PrecisionFormat, kernel: Int = 1) throws -> (
            codes: Bool, groups: Int
        ) {
            let layout = try WeightLayout(
                format: format, sparse: false, rows: m, columns: c * kernel * kernel, tileRows: 20,
                tileColumns: npu.tileColumns(format, sparse: false))
            let matrix = MatrixLayer(
                m: 0, k: 0, n: 0, input: 0, inputRowStride: 0, output: 0, outputStrides: (0, 0), weights: layout,
                weightOffset: 0, bias: nil, activationFormat: format, activationAmax: 1)
            let conv = ConvolutionLayer(
                batch: 1, channels: c, height: side, width: side, outChannels: m, outHeight: side, outWidth: side,
                kernel: (kernel, kernel), strides: (1, 1), dilations: (1, 1), pads: (0, 0, 0, 0), input: 0, output: 0,
                matrix: matrix, scratch: 0)
            let plan = try MatrixTiling.plan(
                MatrixShape(
                    m: side * side, k: c * kernel * kernel, n: m, weightFormat: format, sparse: false, activationFormat: format),
                on: npu)
            return (ConvolutionLowering.codesPointwise(conv, directPlan: plan), (plan.nTiles + plan.groupN - 1) / plan.groupN)
        }
        // 26 columns of output tiles, read in groups of a few: the input would be read and
        // rounded at least four times.
        XCTAssertTrue(try codes(1024, 14, 512, .nvfp4))
        // Four columns of output tiles, one group: the input is read once.
        XCTAssertFalse(try codes(64, 56, 64, .nvfp4))
        // fp8 activations, channels that are not whole nvfp4 blocks, and a 3x3 kernel.
        XCTAssertFalse(try codes(1024, 14, 512, .fp8))
        XCTAssertFalse(try codes(40, 14, 512, .nvfp4))
        XCTAssertFalse(try codes(64, 14, 512, .nvfp4, kernel: 3))
        // Two or three groups: rounded into codes for an input of 1,024 channels or fewer, not
        // for one of 2,048, whose rounding steps are long.
        var seen: Set<[Int]> = []
        for c in [256, 512, 1024, 2048] {
            for m in stride(from: 40, through: 400, by: 20) {
                let (coded, groups) = try decide(c, 14, m, .nvfp4)
                XCTAssertEqual(coded, groups >= 4 || groups >= 2 && c <= 1024, "\(c) channels, \(m) outputs: \(groups) groups")
                if (2...3).contains(groups) { seen.insert([c <= 1024 ? 1 : 0, coded ? 1 : 0]) }
            }
        }
        XCTAssertEqual(seen, [[1, 1], [0, 0]])
    }

    func testTheLoweringRoundsAWidePointwiseConvsInputOnce() throws {
        // Through the whole lowering: 256 output channels are 13 columns of output tiles,
        // read in four or more groups on these small tiles, so the 1x1 convolution rounds its
        // input once into codes; 20 are one column, and its tiles round what they read.
        for (m, codes) in [(256, true), (20, false)] {
            let (g, x, want, program) = try loweredPointwise(channels: 32, height: 6, width: 6, outChannels: m, seed: 29)
            let codedProducts = program.instructions.filter {
                $0.spec.mnemonic == "mma" && program.descriptors[Int($0["act"])].element == .u8
            }
            XCTAssertEqual(codedProducts.isEmpty, !codes, "\(m) output channels")
            let got = try simulated(g, ["x": x], resources: withCaches)
            XCTAssertEqual(got["y"]?.map(\.bitPattern), want.floats().map(\.bitPattern), "\(m) output channels")
        }
    }

    func testEachTileLoadsItsNextRoundingStepsWhileItRoundsOne() throws {
        // 1,024 channels of 3x7 pixels round in 30 steps of 4 pixels (or 3) by 208 channels
        // (whole blocks; three buffers of a step's values, codes and scales fill 16 KiB of
        // SRAM) on 4 tiles: eight or seven steps each, in three SRAM buffers in turn, each
        // step's load two of the tile's steps ahead of its rounding; the result is the
        // interpreter's.
        let (g, x, want, program) = try loweredPointwise(channels: 1024, height: 3, width: 7, outChannels: 256, seed: 31)
        // Per tile, in program order: the SRAM addresses its float32 input is loaded to, and
        // how many loads precede each of its roundings.
        var loads: [[UInt64]] = Array(repeating: [], count: 4), loadsBefore: [[Int]] = Array(repeating: [], count: 4)
        for i in program.instructions {
            if i.spec.mnemonic == "dma" {
                let (dst, src) = (program.descriptors[Int(i["dst"])], program.descriptors[Int(i["src"])])
                // A step's pixels of its channels: [pixels, channels] of the [C, H·W] input.
                if dst.space == .sram, src.dims.count == 2, src.strides == [1, 21] {
                    loads[dst.cluster * 2 + dst.tile].append(dst.address)
                }
            } else if i.spec.mnemonic == "quant" {
                let dst = program.descriptors[Int(i["dst"])]
                loadsBefore[dst.cluster * 2 + dst.tile].append(loads[dst.cluster * 2 + dst.tile].count)
            }
        }
        for (tile, steps) in [8, 8, 7, 7].enumerated() {
            XCTAssertEqual(loads[tile].count, steps, "tile \(tile)")
            XCTAssertEqual(Set(loads[tile]).count, 3, "tile \(tile): \(loads[tile])")
            XCTAssertEqual(loads[tile], (0..<steps).map { loads[tile][$0 % 3] }, "tile \(tile)")
            XCTAssertEqual(loadsBefore[tile], (0..<steps).map { min(steps, $0 + 3) }, "tile \(tile)")
        }
        let got = try simulated(g, ["x": x], resources: withCaches)
        XCTAssertEqual(got["y"]?.map(\.bitPattern), want.floats().map(\.bitPattern))
    }

    /// The tiles with an L3 and an L2, for the whole lowering.
    private var withCaches: TileResources {
        var r = resources
        (r.l3Bytes, r.l2Bytes) = (1 << 16, 1 << 14)
        return r
    }

    /// A seeded 1x1 convolution of `channels` x `height` x `width` to `outChannels`, its
    /// input, its nvfp4 fake-quant output and its whole program on `withCaches`.
    private func loweredPointwise(channels c: Int, height h: Int, width w: Int, outChannels m: Int, seed: UInt64)
        throws -> (graph: Graph, x: Tensor, want: Tensor, program: Program)
    {
        var rng = SeededRandom(seed: seed)
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(c), .known(h), .known(w)])
        b.constant("w", Tensor((0..<(m * c)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [m, c, 1, 1]))
        b.node("Conv", ["x", "w"], [:], outputs: ["y"], name: "conv")
        b.output("y")
        let x = Tensor((0..<(c * h * w)).map { _ in Float.random(in: -2...2, using: &rng) }, shape: [1, c, h, w])
        let (g, want, _) = try quantizedReference(b.graph, x: x, format: .nvfp4, sparse: false)
        let section = try WeightSection.build(g, arrayRows: 20, arrayColumns: 20) { withCaches.rates[$0]! }
        return (g, x, want, try Lowering.lower(g, layers: section.layers, resources: withCaches).program)
    }

    func testPointwiseConvOverTwoImages() throws {
        for format in [PrecisionFormat.fp16, .nvfp4] {
            try check(
                batch: 2, c: 32, h: 5, w: 6, m: 24, kernel: 1, stride: 1, dilation: 1, pad: 0, format: format,
                sparse: format == .nvfp4)
        }
    }
}
