// Lowering a convolution (two spatial axes, any number of groups) to the matrix layer: per
// image, the input is rounded onto the activation format's grid along its channels (blocks
// of 16 channels at each pixel for nvfp4, as the fake-quant interpreter rounds a conv's
// input), staged through a tile's SRAM as [pixels, channels], and written into the
// zero-padded image when the conv pads (or, when a pad is negative, as the convolution a
// ConvTranspose equals may have, into a [pixels, C] buffer first, then the padded image);
// then multiplied by the matrix layer as the [positions, C·kh·kw] matrix of its windows
// (walked in the weight's [channel, ky, kx] order), each activation tile gathered from the
// image by strided DMAs (ConvolutionWindows; the convolution a ConvTranspose equals finds
// the rounded image spread out in the padded buffer, `inputSpacing` apart, zeros between).
// A 1x1 convolution without padding (of one group) reads its input where it is, and its
// tiles round what they read: K is channels, so its blocks are the interpreter's. Output
// rows are positions, written into the image's [channels, positions] plane. A grouped
// convolution rounds the whole image once, then multiplies each group: group g's input
// channels against weight rows (output channels) g·M/G..<(g + 1)·M/G, the groups planned on
// a few tiles each (`groupTiles`) and dealt side by side over the chip, each staging in its
// own slot of its cluster's L2 (`GroupSpread`). A coded convolution
// whose every cluster's band of image rows fits its L2 (beside its weights) makes no image
// at all: each rounding step writes its codes and scales into the bands that hold its rows,
// whose padding is zeroed there first, and the tiles gather their windows from the bands.
import Formats
import IR
import ISA
import Reference

public struct ConvolutionLayer: Sendable {
    /// One image's input [C, H, W] and output [M, OH, OW] are `imageStride` floats apart.
    public var batch: Int
    public var channels: Int, height: Int, width: Int
    public var outChannels: Int, outHeight: Int, outWidth: Int
    public var kernel: (Int, Int)
    public var strides: (Int, Int)
    public var dilations: (Int, Int)
    /// Pads: top, left, bottom, right (negative only for the convolution a ConvTranspose
    /// equals, cropping its spread input).
    public var pads: (Int, Int, Int, Int)
    public var input: UInt64
    public var output: UInt64
    /// Where the input and the output images live (DRAM, or L3 when the memory plan kept them there).
    public var inputSpace = MemorySpace.dram
    public var outputSpace = MemorySpace.dram
    /// The matrix part: weights, bias, formats, fused activation (its m, k, n, input and
    /// output are set per image).
    public var matrix: MatrixLayer
    /// DRAM scratch for the rounded and the padded image (when L3 cannot hold them), and its size.
    public var scratch: UInt64
    /// Where in L3 the memory plan keeps them while the convolution runs, if it does; else
    /// L3's free bytes from address 0 when they fit there.
    public var l3Scratch: UInt64?
    /// Channel groups: each group's C/G input channels make its M/G output channels. When
    /// `matrix.diagonal` model groups multiply side by side (`mmag`), the groups here are the
    /// wider ones they make, each that many model groups' channels.
    public var groups: Int
    /// Steps between neighbouring input pixels in the padded buffer: 1 for a convolution; a
    /// ConvTranspose's strides for the convolution it equals, its input spread out with
    /// zeros between neighbours (`pads` then being its zero borders).
    public var inputSpacing: (Int, Int)
    /// Steps between the input pixels that make the image the layer rounds and convolves:
    /// (1, 1), or for a strided 1x1 convolution that rounds its input into an image of codes
    /// (`setCodesPointwise`) its strides, the image then the pixels it reads.
    public private(set) var inputStep = (1, 1)
    /// The input's own row pitch and plane, in elements (the image's, unless `inputStep`
    /// subsamples it).
    public private(set) var inputWidth: Int, inputPlane: Int

    public init(
        batch: Int, channels: Int, height: Int, width: Int, outChannels: Int, outHeight: Int, outWidth: Int,
        kernel: (Int, Int), strides: (Int, Int), dilations: (Int, Int), pads: (Int, Int, Int, Int),
        input: UInt64, output: UInt64, matrix: MatrixLayer, scratch: UInt64, groups: Int = 1,
        inputSpacing: (Int, Int) = (1, 1)
    ) {
        self.groups = groups
        self.inputSpacing = inputSpacing
        self.batch = batch
        (self.channels, self.height, self.width) = (channels, height, width)
        (self.outChannels, self.outHeight, self.outWidth) = (outChannels, outHeight, outWidth)
        self.kernel = kernel
        self.strides = strides
        self.dilations = dilations
        self.pads = pads
        self.input = input
        self.output = output
        self.matrix = matrix
        self.scratch = scratch
        (inputWidth, inputPlane) = (width, height * width)
    }

    /// Sets `codesPointwise` (once). A strided 1x1 convolution that rounds its input into an image
    /// of codes then rounds only the pixels it reads: it becomes the stride-1 convolution
    /// over its input subsampled by its strides (`inputStep`), an image of the output's
    /// extents.
    public mutating func setCodesPointwise(_ codes: Bool) {
        precondition(inputStep == (1, 1), "a convolution whose input is subsampled already")
        codesPointwise = codes
        guard codes, pointwiseCodable, strides != (1, 1) else { return }
        inputStep = strides
        (height, width, strides) = (outHeight, outWidth, (1, 1))
    }

    var paddedHeight: Int { (height - 1) * inputSpacing.0 + 1 + pads.0 + pads.2 }
    var paddedWidth: Int { (width - 1) * inputSpacing.1 + 1 + pads.1 + pads.3 }
    var padded: Bool { pads != (0, 0, 0, 0) || inputSpacing != (1, 1) }
    /// A 1x1 convolution of stride 1 without padding multiplies its input (read as the
    /// [pixels, C] matrix) or the rounded [pixels, C] matrix as it is; any other gathers
    /// its windows tile by tile.
    public var pointwise: Bool { kernel == (1, 1) && strides == (1, 1) && !padded && !coded }
    /// A 1x1 convolution without padding of one group reads its input where it is and its
    /// tiles round what they read: along K, which is channels, as the interpreter rounds.
    var direct: Bool { kernel == (1, 1) && !padded && groups == 1 && matrix.diagonal == 1 && !(codesPointwise && codable) }
    /// A 1x1 convolution without padding rounds its input once into an image of codes (when
    /// its activations can travel coded) instead of on every tile that reads it: chosen
    /// when the tiles would read the input many times (`ConvolutionLowering.codesPointwise`).
    public private(set) var codesPointwise = false
    /// A 1x1 convolution without padding, of one group, whose nvfp4 activations can travel
    /// coded: one that may round its input into an image of codes.
    var pointwiseCodable: Bool {
        kernel == (1, 1) && !padded && groups == 1 && matrix.diagonal == 1 && matrix.activationFormat == .nvfp4 && codable
    }
    /// A padded convolution whose pads are not negative rounds its input straight into the
    /// padded image; one with a crop (the convolution a ConvTranspose equals) rounds it
    /// into its own buffer first.
    var roundsIntoPadding: Bool { padded && pads.0 >= 0 && pads.1 >= 0 && pads.2 >= 0 && pads.3 >= 0 }
    /// The input travels coded: rounded once into an image of codes, a byte each, [C, Hp, Wp]
    /// (padding code 0), and for nvfp4 an image of its blocks' scales, [blocks, Hp, Wp]
    /// (padding scale 0), whose windows the matrix layer gathers and multiplies as they
    /// are. For fp8 and nvfp4 activations of a convolution of one group that is not direct,
    /// when (nvfp4) its channels are whole blocks (`ConvolutionLowering.codesBlocks`) and its
    /// weight tiles hold whole blocks at every kernel position
    /// (`ConvolutionLowering.reductionTile`).
    /// Groups side by side (`mmag`) travel coded too, each product's channels inside one
    /// nvfp4 block: they share its scale, which their windows read with stride 0.
    public var coded: Bool { !direct && codable }
    var codable: Bool {
        if matrix.diagonal > 1 { return codable(sideBySide: channels / groups) }
        guard roundsToCodes, groups == 1 else { return false }
        guard matrix.activationFormat == .nvfp4 else { return true }
        let unit = blockChannels * kernel.0 * kernel.1, tile = matrix.weights.tileColumns
        return ConvolutionLowering.codesBlocks(channels: channels)
            && (tile % unit == 0 || tile >= channels * kernel.0 * kernel.1)
    }
    /// Whether groups multiplied side by side, `productChannels` input channels a product,
    /// may read their windows coded: fp8, or nvfp4 whose blocks hold a product's channels whole.
    func codable(sideBySide productChannels: Int) -> Bool {
        roundsToCodes
            && (matrix.activationFormat == .fp8
                || ConvolutionLowering.codesBlocks(channels: channels) && blockChannels % productChannels == 0)
    }
    /// Activations with codes (fp8, nvfp4), in an image the rounding writes pixel by pixel
    /// (no spread input, no crop).
    private var roundsToCodes: Bool {
        ActivationCodes.codes(matrix.activationFormat) && inputSpacing == (1, 1) && pads.0 >= 0 && pads.1 >= 0
            && pads.2 >= 0 && pads.3 >= 0
    }
    /// A coded convolution whose kernel is larger than 1x1 reads its windows from bands of
    /// its image when its tiles allow (`MatrixShape.bands`); nil for any other.
    var bands: MatrixShape.Bands? {
        guard coded && kernel != (1, 1) else { return nil }
        return MatrixShape.Bands(outWidth: outWidth, kernel: kernel, strides: strides, dilations: dilations)
    }
    /// Channels of an nvfp4 block at a pixel: 16, or all of fewer.
    var blockChannels: Int { min(16, channels) }
    /// Blocks per pixel whose scales the coded image keeps (nvfp4; none for fp8).
    var scaleChannels: Int { matrix.activationFormat == .nvfp4 ? channels / blockChannels : 0 }
    /// Channels one scale of a group's coded windows serves: the block's, or with groups
    /// side by side all of the product's (inside one block).
    var windowBlock: Int { matrix.diagonal > 1 ? channels / groups : blockChannels }
    /// Planes of block scales one group's band of the coded image holds (nvfp4; none for fp8).
    var groupScaleChannels: Int { scaleChannels == 0 ? 0 : max(1, channels / groups / blockChannels) }
    /// Bytes of one image rounded, as [pixels, channels] (when it needs that buffer).
    var roundedBytes: Int { coded || direct || roundsIntoPadding ? 0 : (4 * channels * height * width + 63) / 64 * 64 }
    /// Where a code of the coded image is: row pitch and shift in bytes, so that each row's
    /// first unpadded pixel starts a 4-byte word (the word is what orders the queues'
    /// accesses: rows rounded on different tiles then share none).
    var codeRowPitch: Int { (codeShift + paddedWidth + 3) / 4 * 4 }
    var codeShift: Int { (4 - pads.1 % 4) % 4 }
    /// Bytes of the codes of the coded image, [C, Hp, codeRowPitch].
    var codeBytes: Int { (channels * paddedHeight * codeRowPitch + 63) / 64 * 64 }
    /// Bytes of the padded image (when the conv pads): [C, Hp, Wp]; coded, its codes and
    /// its block scales.
    var paddedBytes: Int {
        if coded { return codeBytes + (4 * scaleChannels * paddedHeight * paddedWidth + 63) / 64 * 64 }
        return padded ? (4 * channels * paddedHeight * paddedWidth + 63) / 64 * 64 : 0
    }
    /// The input rows (or columns) of `count` that land inside a padded axis of `extent`,
    /// `spacing` apart after `pad` zeros; a negative pad crops the first ones.
    func kept(_ count: Int, spacing: Int, pad: Int, extent: Int) -> Range<Int> {
        let first = pad < 0 ? (-pad + spacing - 1) / spacing : 0
        let end = extent - 1 - pad < 0 ? 0 : min(count, (extent - 1 - pad) / spacing + 1)
        return first..<max(first, end)
    }

    /// Bytes of scratch the lowering uses: the rounded image, then the padded image.
    public var scratchBytes: Int { roundedBytes + paddedBytes }

    /// Where the rounded image starts in `space`'s scratch (the padded image follows it).
    func scratchStart(in space: MemorySpace) -> UInt64 { space == .l3 ? l3Scratch ?? 0 : scratch }
}

/// One step of rounding a convolution's input, staged on one tile: `pixels` of the image's
/// row-major H·W, and of them `channels`.
struct RoundingStep: Equatable {
    var pixels: Range<Int>
    var channels: Range<Int>
}

public enum ConvolutionLowering {
    /// The rounding writes its codes straight into the clusters' bands only when the bands
    /// together hold at most this many times the image's rows. When the clusters share out
    /// the output's columns, each holds the whole image, and the direct stores would be one
    /// per cluster: on the ResNet-50-sized model those layers gained 1,069 cycles in all
    /// (0.9%) for 78,400 more instructions and a quarter more time to synchronize them, so
    /// the image is rounded once into L3 there and each cluster copies it.
    static let bandsRowsPerImageRow = 2
    /// Reduction positions per weight tile of `node` on a MAC array `depth` positions deep:
    /// `depth`, or for a convolution whose nvfp4 activations travel coded (one group, not a
    /// 1x1 convolution without padding, its channels whole blocks: `codesBlocks`) `depth`
    /// rounded down to whole units, a unit holding whole blocks at every kernel position and
    /// whole weight blocks of 16 (at least one unit, and none past twice `depth`), so that
    /// each activation tile holds whole blocks; when a unit is longer than that but the
    /// whole reduction is not (a 7x7 stem over 3 channels: 147), the whole reduction.
    static func reductionTile(_ node: Node, _ weight: LayerWeight, depth: Int) -> Int {
        let taps = weight.kernelSize, channels = weight.columns / taps, window = min(16, channels) * taps
        // The weights' own nvfp4 blocks of 16 stay whole too.
        var unit = window
        while unit % 16 != 0 { unit += window }
        let padded = (node.ints("pads") ?? []).contains(where: { $0 != 0 })
        guard node.op == "Conv", weight.groups == 1, node.string(QuantizationAttributes.activationFormat) == "nvfp4",
            codesBlocks(channels: channels), taps > 1 || padded
        else { return depth }
        if unit <= 2 * depth { return max(1, depth / unit) * unit }
        return weight.columns <= 2 * depth ? weight.columns : depth
    }

    /// Groups of output columns whose tiles each read a direct 1x1 convolution's input, from
    /// which on it is rounded once into an image of codes instead: every group re-reads its
    /// float32 rows and re-rounds them on its tiles, where the image costs one pass and a
    /// code and a scale per element read.
    static let codedPointwiseGroups = 4
    /// An input of at most this many channels is rounded into codes from two groups on. With
    /// more channels a rounding step (4 pixels of every channel at least) takes long enough
    /// that the pass, which comes before any product, may cost more than two or three groups'
    /// re-reads. At 1,024 channels the pass still pays: the ResNet-50-sized model's 1x1
    /// convolutions over 1,024 channels of 14x14 read their float32 input three times
    /// without it, and nvfp4+2:4 took 1,360 cycles more in all with a limit of 512.
    static let codedPointwiseChannels = 1024

    /// Whether `c`, a 1x1 convolution without padding whose nvfp4 activations can travel
    /// coded, should round its input once into an image of codes: when `plan`, its tiling
    /// reading the input directly, has at least `codedPointwiseGroups` groups of columns,
    /// or two when the input has at most `codedPointwiseChannels` channels.
    /// (fp8 activations are not: a tile rounds them against one tensor scale, with no block
    /// maxima to find, and the image of codes measured slower.)
    public static func codesPointwise(_ c: ConvolutionLayer, directPlan plan: TilingPlan) -> Bool {
        let groups = (plan.nTiles + plan.groupN - 1) / plan.groupN
        return c.pointwiseCodable
            && (groups >= codedPointwiseGroups || groups >= 2 && c.channels <= codedPointwiseChannels)
    }

    /// True when nvfp4 activations of `channels` channels can travel coded: whole blocks,
    /// of 16 or of all the channels, of at least 2 (a code and its share of the block's
    /// float32 scale then cost at most 3 bytes an element, less than the float32 value; an
    /// image's 3 channels 2.33).
    static func codesBlocks(channels: Int) -> Bool {
        channels >= 2 && channels % min(16, channels) == 0
    }

    /// Per cluster, the output positions its tiles compute under `plan` (the rows of the
    /// chunks in their work), for clusters with work.
    static func clusterPositions(_ plan: TilingPlan, m: Int, _ resources: TileResources) -> [(Int, Range<Int>)] {
        var spans: [Int: Range<Int>] = [:]
        for (tileIndex, items) in plan.work.enumerated() {
            let cluster = resources.place(tileIndex).cluster
            for item in items {
                let rows = (item.chunk * plan.chunkM)..<min(m, (item.chunk + 1) * plan.chunkM)
                let span = spans[cluster] ?? rows
                spans[cluster] = min(span.lowerBound, rows.lowerBound)..<max(span.upperBound, rows.upperBound)
            }
        }
        return spans.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Float32 values a step that rounds a convolution's input moves at least (4 KiB, which
    /// moves in about a memory's latency); a step cut from a row by channels moves about
    /// this many, so that the tiles take the row's channels side by side.
    static let roundingStepValues = 1024

    /// The steps that round `c`'s input on `resources`' tiles, in order: `rowsPerStep`
    /// pixels of every channel each (at most `capacity` values: half a tile's SRAM of
    /// float32, or into nvfp4 codes what `roundingBuffers` buffers of staged values, codes
    /// and scales hold in it; but no more than an even share of the image per tile, so that
    /// the tiles round it at once, nor less than `roundingStepValues`). Coded, no two steps
    /// write one 4-byte word of the image of codes (the word is what orders the queues'
    /// accesses, so steps sharing one would wait on each other): a step is whole image rows,
    /// or a multiple of 4 pixels from a multiple of 4 (within one row, unless rows are a
    /// multiple of 4 pixels wide); and when a row's pixels' values do not fit `capacity`, or
    /// the row is cut, 4 or more pixels of a share of the channels, whole nvfp4 blocks each,
    /// about `roundingStepValues` values in all.
    static func roundingSteps(_ c: ConvolutionLayer, _ resources: TileResources) -> [RoundingStep] {
        let (pixels, width, every) = (c.height * c.width, c.width, 0..<c.channels)
        // Into nvfp4 codes a step stages 4 + 1 + 4 / blockChannels bytes a value (its float32,
        // its code and its share of a block's scale), three parts each 64-byte aligned
        // (`stagingBytes`).
        let capacity =
            c.coded && c.scaleChannels > 0
            ? (resources.sramBytes / roundingBuffers - 3 * 64) * c.blockChannels / (5 * c.blockChannels + 4)
            : resources.sramBytes / 2 / 4
        let rowsPerStep = min(
            max(1, capacity / c.channels),
            max(4, roundingStepValues / c.channels, (pixels + resources.tileCount - 1) / resources.tileCount))
        func flat(_ size: Int) -> [RoundingStep] {
            stride(from: 0, to: pixels, by: size).map { RoundingStep(pixels: $0..<min(pixels, $0 + size), channels: every) }
        }
        guard c.coded else { return flat(rowsPerStep) }
        if rowsPerStep >= width { return flat(rowsPerStep / width * width) }
        let run = max(4, rowsPerStep / 4 * 4)
        // Rows of a multiple of 4 pixels start words: steps may then run on past a row's end.
        if width % 4 == 0 && run * c.channels <= capacity { return flat(run) }
        // Channels per step: whole blocks (nvfp4), about `roundingStepValues` values' worth
        // (1,024 channels of 4 pixels in steps of 4 pixels of 256), spread evenly.
        let unit = c.scaleChannels > 0 ? c.blockChannels : 1
        let fitting = max(unit, min(capacity, roundingStepValues) / run / unit * unit)
        let shares = (c.channels + fitting - 1) / fitting
        let share = (c.channels / shares + unit - 1) / unit * unit
        var steps: [RoundingStep] = []
        for y in 0..<c.height {
            for x0 in stride(from: 0, to: width, by: run) {
                let row = (y * width + x0)..<(y * width + min(width, x0 + run))
                for c0 in stride(from: 0, to: c.channels, by: share) {
                    steps.append(RoundingStep(pixels: row, channels: c0..<min(c.channels, c0 + share)))
                }
            }
        }
        return steps
    }

    /// SRAM buffers a tile's steps of rounding into nvfp4 codes take in turn (at most; as
    /// many as fit): each step's load is emitted one of the tile's steps ahead per buffer
    /// beyond the first (two with three), so that it need not wait for the last step's
    /// stores, and the image streams from L3 while the tiles round. On the ResNet-50-sized
    /// model nvfp4+2:4 took 1,344 cycles less in all (two buffers: 1,024), its 14x14 1x1
    /// convolutions over 1,024 channels about 200 each.
    /// fp8's coded steps keep one buffer: they round in half the time, and ran ahead they
    /// took 438 cycles more in all. nvfp4 steps are cut so that the three fit: a step of half
    /// the SRAM's float32 left room for no second buffer, and a tile read its share of a
    /// 28x28 image of 512 channels from L3, then rounded it, then read the next; cut, its
    /// roundings overlap the reads (ResNet-50-sized nvfp4+2:4 97,549 cycles, now 96,141).
    static let roundingBuffers = 3

    /// SRAM bytes one rounding step stages: its float32 values, and when coded its codes and
    /// their scales (nvfp4: a float32 per block of each pixel; fp8: one), each 64-byte aligned.
    static func stagingBytes(_ step: RoundingStep, coded: Bool, blocks: Bool, blockChannels: Int) -> Int {
        func aligned(_ x: Int) -> Int { (x + 63) / 64 * 64 }
        let values = step.pixels.count * step.channels.count
        guard coded else { return aligned(4 * values) }
        return aligned(4 * values) + aligned(values)
            + aligned(blocks ? 4 * step.pixels.count * (step.channels.count / blockChannels) : 4)
    }

    /// A band of image rows staged in (or written into) a cluster's L2: its rows of the
    /// padded image, the bytes of its codes (or values) and of its scales, each 64-byte
    /// aligned, and the row pitch of its codes.
    struct L2Band {
        var cluster: Int
        var rows: Range<Int>
        var codes: Int
        var scales: Int
        var codePitch: Int
    }

    /// What one group of a convolution multiplies, before anything is emitted: its matrix
    /// layer, the windows it gathers (nil for a pointwise one) and the bands of its image
    /// each cluster keeps in its L2, their rows `codePitch` elements apart (the image's
    /// columns when nil: the copy `ConvolutionWindows.stage` makes).
    static func group(
        _ c: ConvolutionLayer, _ group: Int, image: Int, plan: TilingPlan, resources: TileResources,
        source: (space: MemorySpace, address: UInt64, pitches: (Int, Int, Int)), scratch: MemorySpace,
        codePitch: Int? = nil
    ) -> (layer: MatrixLayer, windows: ConvolutionWindows?, scaleWindows: ConvolutionWindows?, bands: [L2Band]) {
        let (groupChannels, groupOutChannels) = (c.channels / c.groups, c.outChannels / c.groups)
        let positions = c.outHeight * c.outWidth, k = groupChannels * c.kernel.0 * c.kernel.1
        let (hp, wp) = (c.paddedHeight, c.paddedWidth)
        let rounded = c.scratchStart(in: scratch), paddedAt = rounded + UInt64(c.roundedBytes)
        let scalesAt = paddedAt + UInt64(c.codeBytes), blocks = c.groupScaleChannels
        let x = c.input + UInt64(4 * image * c.channels * c.inputPlane)
        var layer = c.matrix
        (layer.m, layer.k, layer.n) = (positions, k, groupOutChannels)
        layer.firstRow = group * groupOutChannels
        (layer.input, layer.inputSpace, layer.inputRowStride) =
            (rounded + UInt64(4 * group * groupChannels), scratch, c.channels)
        (layer.output, layer.outputSpace) = (c.output + UInt64(4 * image * c.outChannels * positions), c.outputSpace)
        layer.residual = c.matrix.residual.map { $0 + UInt64(4 * image * c.outChannels * positions) }
        layer.outputStrides = (1, positions)
        layer.quantizeInput = c.direct
        if c.direct && c.pointwise {
            (layer.input, layer.inputSpace, layer.inputRowStride, layer.inputColumnStride) =
                (x, c.inputSpace, 1, c.height * c.width)
        }
        guard !c.pointwise else {
            layer.weightStaging = 0..<resources.l2Bytes
            return (layer, nil, nil, [])
        }
        var windows = ConvolutionWindows(
            space: source.space, address: source.address + UInt64(4 * group * groupChannels * source.pitches.2),
            pitches: source.pitches, outWidth: c.outWidth, kernel: c.kernel, strides: c.strides,
            dilations: c.dilations)
        var scaleWindows: ConvolutionWindows?
        layer.blockChannels = c.windowBlock
        if c.coded {
            // The codes' and the scales' images share the padded image's pitches; a group
            // starts at its first channel's plane of codes and its first block's of scales.
            let codePlane = hp * c.codeRowPitch, firstChannel = group * groupChannels
            (windows.element, windows.address) = (.u8, paddedAt + UInt64(c.codeShift + firstChannel * codePlane))
            windows.pitches = (c.codeRowPitch, 1, codePlane)
            if blocks > 0 {
                scaleWindows = windows
                (scaleWindows!.element, scaleWindows!.address) = (
                    .f32, scalesAt + UInt64(4 * (firstChannel / c.blockChannels) * hp * wp)
                )
                scaleWindows!.pitches = (wp, 1, hp * wp)
            }
        }
        // Each cluster's band of rows in its L2 when it fits there (one group's channels).
        let columns = c.padded ? wp : c.width
        // A cluster's weights come first (they spare DRAM's latency on every reduction
        // step); its band only when both fit.
        var weightBytes: [Int: Int] = [:]
        for (cluster, columns) in MatrixLowering.clusterColumns(plan, firstTile: layer.firstTile, resources)
        where layer.preloaded == nil {
            weightBytes[cluster] = columns.reduce(0) { $0 + MatrixLowering.stagedBytes(layer.weights, column: $1) }
        }
        var bands: [L2Band] = []
        for (cluster, positions) in clusterPositions(plan, m: positions, resources) {
            let rows = windows.inputRows(positions)
            let pitch = codePitch ?? columns
            let bytes = windows.element.addressBytes * groupChannels * rows.count * pitch
            // Block scales only beside codes: an uncoded image holds its rounded values.
            let scaleBytes = scaleWindows == nil ? 0 : 4 * blocks * rows.count * columns
            let (codes, scales) = ((bytes + 63) / 64 * 64, (scaleBytes + 63) / 64 * 64)
            guard codes + scales + (weightBytes[cluster] ?? 0) <= resources.l2Bytes else { continue }
            bands.append(L2Band(cluster: cluster, rows: rows, codes: codes, scales: scales, codePitch: pitch))
        }
        layer.weightStaging = (bands.map { $0.codes + $0.scales }.max() ?? 0)..<resources.l2Bytes
        return (layer, windows, scaleWindows, bands)
    }

    /// How many consecutive groups of `c` one product multiplies side by side (`mmag`): as
    /// many as fit the array, each group's output channels a tile of their own (its M/G at
    /// most the array's columns) and its reduction one tile (C/G·kh·kw at most its depth),
    /// G of them at most the array's columns and depth, and their image at most half the L2
    /// (their band fits beside the others'), a divisor of the groups; 1 when fewer than two
    /// fit. At nvfp4 the most whose channels one block holds come first (their windows then
    /// travel coded). A depthwise 3x3 convolution over 56x56 takes 8 channels a product at
    /// nvfp4 (72 of the 80 positions of npu-seed's arrays), 4 at fp8 and 2 at fp16; a 5x5 one
    /// 2 at nvfp4, where 3 would fit the array: on the MobileNetV2-shaped model with 5x5
    /// depthwise convolutions, 68,798 cycles against 115,518 at nvfp4 + 2:4.
    static func diagonalGroups(_ c: ConvolutionLayer, _ p: PackedLayer, _ resources: TileResources) -> Int {
        guard c.groups > 1, !c.coded else { return 1 }
        let (rows, reduction) = (p.rows / c.groups, p.columns)
        guard p.tileRows == rows, reduction <= p.tileColumns else { return 1 }
        // The groups' image (their band in L2, when a cluster takes every row) in half the L2.
        let plane = 4 * (c.channels / c.groups) * (c.padded ? c.paddedHeight * c.paddedWidth : c.height * c.width)
        let most = min(
            resources.arrayColumns / rows, p.tileColumns / reduction, c.groups, max(1, resources.l2Bytes / 2 / max(1, plane)))
        guard most >= 2 else { return 1 }
        let fitting = (2...most).filter { c.groups % $0 == 0 }
        // nvfp4 windows travel coded only when a product's channels lie in one block: the
        // most groups that do, before more that would gather float32 windows.
        let groupChannels = c.channels / c.groups
        return fitting.last { c.codable(sideBySide: $0 * groupChannels) } ?? fitting.last ?? 1
    }

    /// Makes `c`'s consecutive groups multiply side by side (`mmag`) as the fewer, wider
    /// groups they make, when `diagonalGroups` finds two or more fit: its groups divided,
    /// its weights seen as tiles of that many groups' rows (the packing unchanged). Returns
    /// the packed layer as the plan sees it then: a tile of their rows by their reductions.
    static func multiplySideBySide(
        _ c: inout ConvolutionLayer, _ p: PackedLayer, _ resources: TileResources
    ) throws -> PackedLayer {
        let side = diagonalGroups(c, p, resources)
        guard side > 1 else { return p }
        c.groups /= side
        c.matrix.diagonal = side
        c.matrix.weights = try WeightLayout(
            format: c.matrix.weights.format, sparse: p.sparse, rows: p.rows, columns: p.columns,
            tileRows: side * p.tileRows, tileColumns: p.tileColumns)
        var planned = p
        (planned.columns, planned.tileColumns, planned.tileRows) = (side * p.columns, side * p.columns, side * p.tileRows)
        return planned
    }

    /// The tiles one group of `c` is planned on (all of `resources`' for one group): T of
    /// them, a divisor of a cluster's tiles or a whole number of clusters dividing theirs,
    /// the T that finishes the groups soonest when `GroupSpread` runs them side by side
    /// (⌈G·T / tiles⌉ groups in turn on each tile), each group's rows shared out over its T
    /// tiles: a turn streams its ⌈M / T⌉ rows past the array once per weight tile and pays
    /// a fixed cost besides (the array's fill, a load's and a store's latency). A depthwise
    /// convolution of 144 channels over 56x56 positions takes 4 tiles a group, where every
    /// tile for each group in turn would pay that cost 144 times.
    static func groupTiles(_ c: ConvolutionLayer, _ p: PackedLayer, _ resources: TileResources) -> TileResources {
        guard c.groups > 1 else { return resources }
        let (count, perCluster) = (resources.tileCount, resources.tilesPerCluster)
        let m = c.outHeight * c.outWidth
        let weightTiles = ((p.rows / c.groups + p.tileRows - 1) / p.tileRows) * ((p.columns + p.tileColumns - 1) / p.tileColumns)
        let fixed = resources.drain + 2 * resources.l3Latency
        let shares =
            (1...perCluster).filter { perCluster % $0 == 0 }.map { (clusters: 1, tiles: $0) }
            + (2...max(2, resources.clusters)).filter { resources.clusters % $0 == 0 }.map { (clusters: $0, tiles: perCluster) }
        func cycles(_ t: Int) -> Int { (c.groups * t + count - 1) / count * ((m + t - 1) / t * weightTiles + fixed) }
        guard let best = shares.min(by: { cycles($0.clusters * $0.tiles) < cycles($1.clusters * $1.tiles) }) else {
            return resources
        }
        var share = resources
        (share.clusters, share.tilesPerCluster) = best
        return share
    }

    /// How a grouped convolution's groups share the chip. A group multiplies on the tiles its
    /// plan deals work to; the groups after it deal theirs from the first of `shifts` whose
    /// tiles none of the others' share, group g from shift g mod their count, so that
    /// groups run side by side over every tile and a depthwise convolution's groups (one
    /// output channel each) do not all queue on one tile. Each group stages its band of the
    /// image (and, unless the layer's weights and bias are `shared`, its weights and its rows
    /// of the scale and bias tables) in a slot of `slotBytes` of its cluster's L2, group g in
    /// slot g mod `slots` (twice the shifts when they fit: a group's staging need not wait
    /// for the last group on its tiles to finish reading theirs); groups in one slot on one
    /// cluster run in turn.
    struct GroupSpread {
        var shifts: [Int]
        var slots: Int
        var slotBytes: Int
        /// Where the whole layer's packed weights (with their scales) and its bias lie in every
        /// cluster's L2, after the slots, when they are copied there once (a quarter of the L2
        /// holds them): each group then reads its rows there, where staging its own from DRAM
        /// made every group wait out DRAM's latency. Offsets in a layout from address 0.
        var shared: (blob: Int, bias: Int?)?

        /// `layer(resources)` is a group's matrix layer as `group` lays it out on `resources`.
        init(
            _ c: ConvolutionLayer, plan: TilingPlan, resources: TileResources,
            layer: (TileResources) -> MatrixLayer
        ) {
            let count = resources.tileCount
            let used = plan.work.indices.filter { !plan.work[$0].isEmpty }.map { $0 % count }
            var taken = Set<Int>()
            shifts = []
            for shift in 0..<count where shifts.count < c.groups {
                let units = used.map { ($0 + shift) % count }
                guard taken.isDisjoint(with: units) else { continue }
                taken.formUnion(units)
                shifts.append(shift)
            }
            func aligned(_ x: Int) -> Int { (x + 63) / 64 * 64 }
            let first = layer(resources)
            let (blobBytes, biasBytes) = (
                aligned(first.weights.byteCount), first.bias != nil ? aligned(4 * first.weights.rows) : 0
            )
            // Per slot, the band and (unless shared) the group's weights and rows of the tables.
            let shifts = shifts
            func slotting(sharing: Bool) -> (slots: Int, slotBytes: Int) {
                var bytes = 0
                for shift in shifts {
                    var shifted = resources
                    shifted.firstUnit = shift
                    let l = layer(shifted)
                    bytes = max(
                        bytes, sharing ? l.weightStaging.lowerBound : MatrixLowering.stagingFootprint(l, plan: plan, shifted))
                }
                let slotBytes = aligned(bytes)
                let free = resources.l2Bytes - (sharing ? blobBytes + biasBytes : 0)
                return (min(c.groups, 2 * shifts.count, slotBytes > 0 ? free / slotBytes : c.groups), slotBytes)
            }
            let sharing = first.preloaded == nil && blobBytes + biasBytes <= resources.l2Bytes / 4
            var (slotCount, bytes) = slotting(sharing: sharing)
            if sharing && slotCount > 0 {
                shared = (slotCount * bytes, first.bias != nil ? slotCount * bytes + blobBytes : nil)
            } else {
                (slotCount, bytes) = slotting(sharing: false)
            }
            (slots, slotBytes) = (slotCount, bytes)
            // A slot that does not fit the L2: the whole L2 for each group, in turn.
            if slots == 0 { (slots, slotBytes) = (1, resources.l2Bytes) }
        }

        func resources(_ resources: TileResources, group: Int) -> TileResources {
            var r = resources
            r.firstUnit = shifts[group % shifts.count]
            return r
        }

        func place(_ layer: inout MatrixLayer, group: Int) {
            layer.l2Base = group % slots * slotBytes
            let start = min(layer.weightStaging.lowerBound, slotBytes)
            layer.weightStaging = start..<slotBytes
        }

        /// The L2 addresses of the shared copy of `layer`'s blob and bias.
        private func sharedAddresses(_ layer: MatrixLayer, l2Bytes: Int) -> (blob: UInt64, bias: UInt64?)? {
            guard let shared else { return nil }
            var base = layer
            base.l2Base = 0
            let blobBytes = (layer.weights.byteCount + 63) / 64 * 64
            return (
                base.l2Address(shared.blob, size: blobBytes, l2Bytes: l2Bytes),
                shared.bias.map { base.l2Address($0, size: (4 * layer.weights.rows + 63) / 64 * 64, l2Bytes: l2Bytes) }
            )
        }

        /// Copies `layer`'s whole blob and bias into every cluster's L2, when they are shared.
        func stageShared(_ layer: MatrixLayer, resources: TileResources, into b: inout ProgramBuilder) throws {
            guard let (blobAt, biasAt) = sharedAddresses(layer, l2Bytes: resources.l2Bytes) else { return }
            let w = layer.weights
            for cluster in 0..<resources.clusters {
                let blob = try TensorDescriptor(.l2, .packed, cluster: cluster, address: blobAt, dims: [w.byteCount])
                let src = try TensorDescriptor(.weights, .packed, address: UInt64(layer.weightOffset), dims: [w.byteCount])
                try b.emit("dma", ["dst": b.descriptor(blob), "src": b.descriptor(src)])
                if let biasAt, let bias = layer.bias {
                    let dst = try TensorDescriptor(.l2, .f32, cluster: cluster, address: biasAt, dims: [w.rows])
                    let src = try TensorDescriptor(.constants, .f32, address: UInt64(bias), dims: [w.rows])
                    try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
                }
            }
        }

        /// Where a group's `layer` reads its weights and its rows of the tables in the shared
        /// copy, as `MatrixLowering.stageWeights` would have staged them; nil when not shared.
        func staged(_ layer: MatrixLayer, plan: TilingPlan, resources: TileResources) -> StagedWeights? {
            guard let (blobAt, biasAt) = sharedAddresses(layer, l2Bytes: resources.l2Bytes) else { return nil }
            let w = layer.weights
            var staged = StagedWeights()
            for (cluster, columns) in MatrixLowering.clusterColumns(plan, firstTile: layer.firstTile, resources) {
                staged.columns[cluster] = Dictionary(
                    uniqueKeysWithValues: columns.map { ($0, blobAt + UInt64(w.tileOffset(nTile: $0, kTile: 0))) })
                if w.format != .fp16 {
                    staged.scales[cluster] = blobAt + UInt64(w.scaleOffset + (w.format == .fp8 ? 4 * layer.firstRow : 0))
                }
                if let biasAt { staged.bias[cluster] = biasAt + UInt64(4 * layer.firstRow) }
            }
            return staged
        }
    }

    /// Zeroes the padding of each of `bands` (coded, in its cluster's L2 at its place in
    /// `layer`'s layout): the codes as float32 words (the codes' rows are whole words) and
    /// the block scales. Code 0 with scale 0 is zero.
    static func fillPadding(
        _ c: ConvolutionLayer, _ bands: [L2Band], layer: MatrixLayer, resources: TileResources,
        into b: inout ProgramBuilder
    ) throws {
        for band in bands {
            try fillBorders(
                c, rows: band.rows, space: .l2, cluster: band.cluster,
                codes: layer.l2Address(0, size: band.codes, l2Bytes: resources.l2Bytes), codePitch: band.codePitch,
                scales: layer.l2Address(band.codes, size: band.scales, l2Bytes: resources.l2Bytes), into: &b)
        }
    }

    /// Zeroes the padding of image rows `rows` of `c`'s padded image (all of them, or a
    /// band's) in `space`, and nothing of its interior, which the rounding writes whole:
    /// coded, its codes from `codes` (rows `codePitch` bytes apart, filled as float32 words:
    /// they are whole words) and its block scales from `scales`; else its float32 values
    /// from `codes`. Code 0 with scale 0 is zero.
    static func fillBorders(
        _ c: ConvolutionLayer, rows: Range<Int>, space: MemorySpace, cluster: Int, codes: UInt64, codePitch: Int,
        scales: UInt64, into b: inout ProgramBuilder
    ) throws {
        let (top, left, _, right) = c.pads
        let interior = top..<(top + c.height)
        let (wp, blocks) = (c.paddedWidth, c.scaleChannels)
        // Per part (codes as words, scales or values as elements): where it starts, its
        // planes, its row pitch, and the run of a row left of the image and the run right of it.
        let parts: [(at: UInt64, planes: Int, pitch: Int, leftRun: Int, rightFrom: Int, rightRun: Int)]
        if c.coded {
            let interiorStart = (c.codeShift + left) / 4, interiorEnd = (c.codeShift + left + c.width) / 4
            parts =
                [
                    (
                        codes, c.channels, codePitch / 4, left > 0 ? interiorStart : 0, interiorEnd,
                        right > 0 ? (c.codeShift + wp + 3) / 4 - interiorEnd : 0
                    )
                ] + (blocks > 0 ? [(scales, blocks, wp, left, left + c.width, right)] : [])
        } else {
            parts = [(codes, c.channels, wp, left, left + c.width, right)]
        }
        for part in parts {
            let plane = rows.count * part.pitch
            func fill(rows r: Range<Int>, from column: Int, count: Int) throws {
                guard !r.isEmpty, count > 0 else { return }
                let d = try TensorDescriptor(
                    space, .f32, cluster: cluster,
                    address: part.at + UInt64(4 * ((r.lowerBound - rows.lowerBound) * part.pitch + column)),
                    dims: [part.planes, r.count, count], strides: [plane, part.pitch, 1])
                try b.emit("fill", ["dst": b.descriptor(d), "value": UInt64(Float(0).bitPattern)])
            }
            let inside = max(rows.lowerBound, interior.lowerBound)..<min(rows.upperBound, interior.upperBound)
            if inside.isEmpty {
                try fill(rows: rows, from: 0, count: part.pitch)
                continue
            }
            try fill(rows: rows.lowerBound..<inside.lowerBound, from: 0, count: part.pitch)
            try fill(rows: inside.upperBound..<rows.upperBound, from: 0, count: part.pitch)
            try fill(rows: inside, from: 0, count: part.leftRun)
            try fill(rows: inside, from: part.rightFrom, count: part.rightRun)
        }
    }

    public static func lower(
        _ c: ConvolutionLayer, plan: TilingPlan, resources: TileResources,
        into b: inout ProgramBuilder
    ) throws {
        precondition(c.groups > 0 && c.channels % c.groups == 0 && c.outChannels % c.groups == 0)
        let (groupChannels, channels) = (c.channels / c.groups, c.channels)
        let (hp, wp) = (c.paddedHeight, c.paddedWidth)
        let pixels = c.height * c.width
        // The rounded and padded image in L3 when they fit (read there by every gather), else in
        // DRAM's scratch.
        let scratch: MemorySpace = c.l3Scratch != nil || c.roundedBytes + c.paddedBytes <= resources.l3Bytes ? .l3 : .dram
        let rounded = c.scratchStart(in: scratch), paddedAt = rounded + UInt64(c.roundedBytes)
        let steps = roundingSteps(c, resources)
        // Coded: the codes at paddedAt, their block scales after them.
        let (coded, blocks) = (c.coded, c.scaleChannels)
        let scalesAt = paddedAt + UInt64(c.codeBytes)
        // What the windows of image `x` read, as [C, H, W]: the padded image (also coded), the
        // input itself, or the rounded [pixels, C] buffer as it is.
        func source(_ x: UInt64) -> (space: MemorySpace, address: UInt64, pitches: (Int, Int, Int)) {
            if c.padded || coded { return (scratch, paddedAt, (wp, 1, hp * wp)) }
            if c.direct { return (c.inputSpace, x, (c.width, 1, pixels)) }
            return (scratch, rounded, (c.width * channels, channels, 1))
        }
        // Coded, when every cluster's band of the image fits its L2 (rows a whole number of
        // words apart, as in the image) and the bands are parts of the image
        // (`bandsRowsPerImageRow`): the rounding writes its codes straight into the bands
        // that hold their rows, and no image is made in L3 or DRAM to stage them from.
        let firstImage =
            coded
            ? group(
                c, 0, image: 0, plan: plan, resources: resources, source: source(c.input), scratch: scratch,
                codePitch: c.codeRowPitch) : nil
        let inBands =
            firstImage.map { first in
                let rows = first.bands.reduce(0) { $0 + $1.rows.count }
                return c.groups == 1 && !first.bands.isEmpty
                    && first.bands.count == clusterPositions(plan, m: first.layer.m, resources).count
                    && rows <= bandsRowsPerImageRow * c.paddedHeight
            } ?? false
        let spread =
            c.groups > 1
            ? GroupSpread(c, plan: plan, resources: resources) { resources in
                group(c, 0, image: 0, plan: plan, resources: resources, source: source(c.input), scratch: scratch).layer
            } : nil
        for image in 0..<c.batch {
            let x = c.input + UInt64(4 * image * channels * c.inputPlane)
            var prepared: (layer: MatrixLayer, windows: ConvolutionWindows?, scaleWindows: ConvolutionWindows?, bands: [L2Band])?
            var staged: StagedWeights?
            if inBands {
                // The weights first, then the bands' padding, then the rounding into them.
                let p =
                    firstImage.flatMap { image == 0 ? $0 : nil }
                    ?? group(
                        c, 0, image: image, plan: plan, resources: resources, source: source(x), scratch: scratch,
                        codePitch: c.codeRowPitch)
                staged = try MatrixLowering.stageWeights(p.layer, plan: plan, resources, into: &b)
                if c.padded { try fillPadding(c, p.bands, layer: p.layer, resources: resources, into: &b) }
                prepared = p
            } else if coded && c.padded || c.roundsIntoPadding && c.inputSpacing == (1, 1) {
                // The padding alone: the rounding writes every pixel of the interior.
                try fillBorders(
                    c, rows: 0..<hp, space: scratch, cluster: 0, codes: paddedAt, codePitch: c.codeRowPitch, scales: scalesAt,
                    into: &b)
            } else if c.roundsIntoPadding && !coded {
                // Spread out (the convolution a ConvTranspose equals): zeros between the pixels too.
                let whole = try TensorDescriptor(scratch, .f32, address: paddedAt, dims: [channels * hp * wp])
                try b.emit("fill", ["dst": b.descriptor(whole), "value": UInt64(Float(0).bitPattern)])
            }
            // Round along channels: [C, H·W] -> SRAM [rows, C] -> quant -> the [pixels, C]
            // buffer, or the padded image's interior.
            let rounding = c.direct ? [] : steps
            let stepBytes =
                rounding.map { stagingBytes($0, coded: coded, blocks: blocks > 0, blockChannels: c.blockChannels) }.max() ?? 0
            let buffers = blocks > 0 ? max(1, min(roundingBuffers, resources.sramBytes / max(1, stepBytes))) : 1
            // Each step on the next tile, a tile's steps in turn in its buffers: the staged
            // values of step `index`, at the start of its buffer.
            func buffer(_ index: Int) throws -> (cluster: Int, tile: Int, base: Int, staged: UInt64) {
                let step = rounding[index], (cluster, tileIndex) = resources.place(index)
                let base = index / resources.tileCount % buffers * stepBytes
                let tile = try TensorDescriptor(
                    .sram, .f32, cluster: cluster, tile: tileIndex, address: UInt64(base),
                    dims: [step.pixels.count, step.channels.count])
                return (cluster, tileIndex, base, b.descriptor(tile))
            }
            func load(_ index: Int) throws {
                let step = rounding[index], (cluster, tileIndex, base, staged) = try buffer(index)
                let (p0, rows) = (step.pixels.lowerBound, step.pixels.count)
                let (c0, sliced) = (step.channels.lowerBound, step.channels.count)
                if c.inputStep == (1, 1) {
                    try b.emit(
                        "dma",
                        [
                            "dst": staged,
                            "src": b.descriptor(
                                try TensorDescriptor(
                                    c.inputSpace, .f32, address: x + UInt64(4 * (p0 + c0 * pixels)), dims: [rows, sliced],
                                    strides: [1, pixels])),
                        ])
                    return
                }
                // The pixels a strided 1x1 convolution reads, a DMA per row of the image.
                var p = p0
                while p < p0 + rows {
                    let (y, x0) = (p / c.width, p % c.width), count = min(c.width - x0, p0 + rows - p)
                    let at = y * c.inputStep.0 * c.inputWidth + x0 * c.inputStep.1
                    let src = try TensorDescriptor(
                        c.inputSpace, .f32, address: x + UInt64(4 * (at + c0 * c.inputPlane)), dims: [count, sliced],
                        strides: [c.inputStep.1, c.inputPlane])
                    let dst = try TensorDescriptor(
                        .sram, .f32, cluster: cluster, tile: tileIndex, address: UInt64(base + 4 * (p - p0) * sliced),
                        dims: [count, sliced])
                    try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
                    p += count
                }
            }
            // The loads run the tiles' other buffers ahead of the steps that round.
            let ahead = (buffers - 1) * resources.tileCount
            for index in 0..<min(ahead, rounding.count) { try load(index) }
            for (index, step) in rounding.enumerated() {
                if index + ahead < rounding.count { try load(index + ahead) }
                let (p0, rows) = (step.pixels.lowerBound, step.pixels.count)
                let (c0, sliced) = (step.channels.lowerBound, step.channels.count)
                let (cluster, tileIndex, base, staged) = try buffer(index)
                // The staged rows' destinations in SRAM and in the image: the rounded values, or
                // the codes and (nvfp4) their blocks' scales.
                var parts: [(element: ElementType, at: Int, channels: Int, image: UInt64, rowPitch: Int)] = [
                    (.f32, base, channels, paddedAt, wp)
                ]
                if coded {
                    let codesAt = base + (4 * rows * sliced + 63) / 64 * 64
                    let blockScalesAt = codesAt + (rows * sliced + 63) / 64 * 64
                    let (stepBlocks, firstBlock) = blocks > 0 ? (sliced / c.blockChannels, c0 / c.blockChannels) : (0, 0)
                    let codes = try TensorDescriptor(
                        .sram, .u8, cluster: cluster, tile: tileIndex, address: UInt64(codesAt), dims: [rows, sliced])
                    let scales =
                        blocks > 0
                        ? try TensorDescriptor(
                            .sram, .f32, cluster: cluster, tile: tileIndex, address: UInt64(blockScalesAt),
                            dims: [rows, stepBlocks, c.blockChannels], strides: [stepBlocks, 1, 0])
                        : try TensorDescriptor(
                            .sram, .f32, cluster: cluster, tile: tileIndex, address: UInt64(blockScalesAt),
                            dims: [rows, sliced], strides: [0, 0])
                    try MatrixLowering.emitRounding(
                        c.matrix, dst: b.codedDescriptor(codes: codes, scales: scales), src: staged, into: &b)
                    let codePlane = hp * c.codeRowPitch, scalePlane = 4 * hp * wp
                    parts =
                        [(.u8, codesAt, sliced, paddedAt + UInt64(c.codeShift + c0 * codePlane), c.codeRowPitch)]
                        + (blocks > 0
                            ? [(.f32, blockScalesAt, stepBlocks, scalesAt + UInt64(firstBlock * scalePlane), wp)] : [])
                } else if c.matrix.activationFormat != .fp32 {
                    try MatrixLowering.emitRounding(c.matrix, dst: staged, src: staged, into: &b)
                }
                if c.roundsIntoPadding || coded {
                    // Whole image rows at once, and the partial rows at either end.
                    var p = p0
                    while p < p0 + rows {
                        let (y, x0) = (p / c.width, p % c.width)
                        let wholeRows = x0 == 0 ? (p0 + rows - p) / c.width : 0
                        let (count, width) = wholeRows > 0 ? (wholeRows, c.width) : (1, min(c.width - x0, p0 + rows - p))
                        for (index, part) in parts.enumerated() {
                            let size = part.element.addressBytes, pitch = part.rowPitch
                            func src(_ rows: Range<Int>) throws -> UInt64 {
                                b.descriptor(
                                    try TensorDescriptor(
                                        .sram, part.element, cluster: cluster, tile: tileIndex,
                                        address: UInt64(
                                            part.at + size * (p - p0 + (rows.lowerBound - y) * width) * part.channels),
                                        dims: [part.channels, rows.count, width],
                                        strides: [1, c.width * part.channels, part.channels]))
                            }
                            guard let bands = prepared?.bands, let layer = prepared?.layer else {
                                let at = (c.pads.0 + y * c.inputSpacing.0) * pitch + c.pads.1 + x0 * c.inputSpacing.1
                                let dst = try TensorDescriptor(
                                    scratch, part.element, address: part.image + UInt64(size * at),
                                    dims: [part.channels, count, width],
                                    strides: [hp * pitch, c.inputSpacing.0 * pitch, c.inputSpacing.1])
                                try b.emit("dma", ["dst": b.descriptor(dst), "src": src(y..<(y + count))])
                                continue
                            }
                            // Into every band that holds some of these rows, at its own place.
                            for band in bands {
                                let first = max(band.rows.lowerBound, c.pads.0 + y) - c.pads.0
                                let end = min(band.rows.upperBound, c.pads.0 + y + count) - c.pads.0
                                guard first < end else { continue }
                                let plane = band.rows.count * pitch
                                let base =
                                    index == 0
                                    ? layer.l2Address(0, size: band.codes, l2Bytes: resources.l2Bytes)
                                        + UInt64(c.codeShift + c0 * plane)
                                    : layer.l2Address(band.codes, size: band.scales, l2Bytes: resources.l2Bytes)
                                        + UInt64(4 * (c0 / c.blockChannels) * plane)
                                let at = (c.pads.0 + first - band.rows.lowerBound) * pitch + c.pads.1 + x0
                                let dst = try TensorDescriptor(
                                    .l2, part.element, cluster: band.cluster, address: base + UInt64(size * at),
                                    dims: [part.channels, end - first, width], strides: [plane, pitch, 1])
                                try b.emit("dma", ["dst": b.descriptor(dst), "src": src(first..<end)])
                            }
                        }
                        p += count * width
                    }
                } else {
                    try b.emit(
                        "dma",
                        [
                            "dst": b.descriptor(
                                try TensorDescriptor(
                                    scratch, .f32, address: rounded + UInt64(4 * p0 * channels),
                                    dims: [rows, channels])), "src": staged,
                        ])
                }
            }
            if !(c.roundsIntoPadding || coded) && !c.direct && c.padded {
                // [pixels, C] into the padded buffer's interior (a crop).
                let whole = try TensorDescriptor(scratch, .f32, address: paddedAt, dims: [channels * hp * wp])
                try b.emit("fill", ["dst": b.descriptor(whole), "value": UInt64(Float(0).bitPattern)])
                // The input rows and columns that land inside the buffer (a negative pad crops).
                let rows = c.kept(c.height, spacing: c.inputSpacing.0, pad: c.pads.0, extent: hp)
                let columns = c.kept(c.width, spacing: c.inputSpacing.1, pad: c.pads.1, extent: wp)
                if !rows.isEmpty && !columns.isEmpty {
                    let asPlanes = try TensorDescriptor(
                        scratch, .f32, address: rounded + UInt64(4 * (rows.lowerBound * c.width + columns.lowerBound) * channels),
                        dims: [channels, rows.count, columns.count], strides: [1, c.width * channels, channels])
                    let (top, left) = (
                        rows.lowerBound * c.inputSpacing.0 + c.pads.0, columns.lowerBound * c.inputSpacing.1 + c.pads.1
                    )
                    let interior = try TensorDescriptor(
                        scratch, .f32, address: paddedAt + UInt64(4 * (top * wp + left)),
                        dims: [channels, rows.count, columns.count],
                        strides: [hp * wp, c.inputSpacing.0 * wp, c.inputSpacing.1])
                    try b.emit("dma", ["dst": b.descriptor(interior), "src": b.descriptor(asPlanes)])
                }
            }
            // After the first image's rounding (which may take a cluster's DMA engines), the
            // shared copy of the weights and bias, when there is one.
            if image == 0, let spread, spread.shared != nil {
                let first = group(c, 0, image: 0, plan: plan, resources: resources, source: source(x), scratch: scratch)
                try spread.stageShared(first.layer, resources: resources, into: &b)
            }
            // A group's last epilogue on each tile waits for the next group's first loads there.
            var carry = spread.map { _ in EpilogueCarry() }
            for group in 0..<c.groups {
                let resources = spread?.resources(resources, group: group) ?? resources
                var (layer, windows, scaleWindows, bands) =
                    prepared
                    ?? Self.group(
                        c, group, image: image, plan: plan, resources: resources, source: source(x), scratch: scratch)
                spread?.place(&layer, group: group)
                if prepared == nil, let shared = spread?.staged(layer, plan: plan, resources: resources) {
                    staged = shared
                }
                if prepared == nil, windows != nil {
                    // The weights first: they wait for nothing of this layer, the bands for its
                    // input's rounding, and a cluster's queue keeps their order.
                    if spread?.shared == nil {
                        staged = try MatrixLowering.stageWeights(layer, plan: plan, resources, into: &b)
                    }
                    let columns = c.padded ? wp : c.width
                    for band in bands {
                        try windows!.stage(
                            rows: band.rows, channels: groupChannels, columns: columns, cluster: band.cluster,
                            at: layer.l2Address(0, size: band.codes, l2Bytes: resources.l2Bytes), into: &b)
                        if band.scales > 0 {
                            try scaleWindows?.stage(
                                rows: band.rows, channels: c.groupScaleChannels, columns: columns, cluster: band.cluster,
                                at: layer.l2Address(band.codes, size: band.scales, l2Bytes: resources.l2Bytes), into: &b)
                        }
                    }
                } else if prepared != nil {
                    // The bands the rounding wrote, rows a code pitch apart.
                    for band in bands {
                        let rows = band.rows.count
                        windows!.adopt(
                            cluster: band.cluster,
                            at: layer.l2Address(0, size: band.codes, l2Bytes: resources.l2Bytes) + UInt64(c.codeShift),
                            firstRow: band.rows.lowerBound, pitches: (band.codePitch, 1, rows * band.codePitch))
                        scaleWindows?.adopt(
                            cluster: band.cluster,
                            at: layer.l2Address(band.codes, size: band.scales, l2Bytes: resources.l2Bytes),
                            firstRow: band.rows.lowerBound, pitches: (wp, 1, rows * wp))
                    }
                }
                (layer.windows, layer.scaleWindows) = (windows, scaleWindows)
                try MatrixLowering.lower(layer, plan: plan, resources: resources, staged: staged, carry: &carry, into: &b)
            }
            try carry?.flush(into: &b)
        }
    }
}
