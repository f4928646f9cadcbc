// Lowering a quantized graph to one NPU program: activations placed by the memory plan,
// matrix layers (Conv, ConvTranspose as the convolution it equals, Gemm, MatMul) through the tiling plan, products of two activations,
// element-wise ops, normalization, softmax and pooling on the vector unit, copies and look-ups
// (Gather of computed indices) on the DMA engines, views as nothing at all. A node the
// backend cannot lower fails the compile by name: there is no host fallback.
import Formats
import IR
import ISA
import Reference

/// A lowered model: the program, the constant section it reads, and where its inputs and
/// outputs live in DRAM.
public struct LoweredModel: Sendable {
    public struct Placement: Sendable, Equatable, Codable {
        public var name: String
        public var offset: Int
        public var bytes: Int
    }

    public var program: Program
    public var constants: [UInt8]
    public var dramBytes: Int
    public var inputs: [Placement]
    public var outputs: [Placement]
    /// Each lowered node's instructions, in program order.
    public var layers: [LoweredLayer] = []
}

public enum Lowering {
    /// Lowers `graph`, whose Conv, ConvTranspose, Gemm and MatMul weights are packed as `layers` describe.
    public static func lower(_ graph: Graph, layers: [PackedLayer], resources: TileResources) throws -> LoweredModel {
        func shape(_ value: String) -> [Int] { graph.type(of: value)?.shape?.dims.compactMap(\.value) ?? [] }
        for node in graph.nodes { try checkElementTypes(node, graph) }
        // An input that only Casts read (an image model's uint8 pixels) is refused as the
        // input it is before they lower, not as the Cast's operand. Any other input or output
        // of a type bundles lack is refused last, after the error of a node that reads or
        // computes it, which says more.
        for v in graph.inputs where graph.nodes.allSatisfy({ $0.op == "Cast" || !$0.inputs.contains(v.name) }) {
            try checkBundleType(v, input: true)
        }
        let packed = Dictionary(uniqueKeysWithValues: layers.map { ($0.output, $0) })
        // Nodes lowered as part of an earlier one: what a matrix layer's epilogue takes over,
        // and a Relu that alone reads an element-wise op's result (it runs in that op's blocks).
        let fused = epilogues(graph, packed)
        let absorbed = Set(fused.values.flatMap(\.absorbed))
        var producer: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() { for o in node.outputs { producer[o] = i } }
        // QuantizeLinear / DequantizeLinear pairs: lowered at the QuantizeLinear.
        let pairs = quantizePairs(graph)
        let pairedDequantize = Set(pairs.values)
        let reluAfter = reluAfterElementwise(graph).filter { !absorbed.contains(producer[$0.key]!) }
        let fusedRelus = Set(reluAfter.values)
        // Their results are written by the node that lowers them, and what they leave
        // between is never stored.
        var writtenAt: [String: Int] = [:], unstored: Set<String> = []
        for (i, e) in fused {
            writtenAt[e.result] = i
            unstored.formUnion([graph.nodes[i].outputs[0]] + e.absorbed.dropLast().map { graph.nodes[$0].outputs[0] })
        }
        for (q, dq) in pairs {
            writtenAt[graph.nodes[dq].outputs[0]] = q
            unstored.insert(graph.nodes[q].outputs[0])
        }
        for (value, relu) in reluAfter {
            writtenAt[relu] = producer[value]!
            unstored.insert(value)
        }
        // A scalar scale that only a Softmax reads is lowered with it (`rowScales`).
        let taken = absorbed.union(pairs.keys).union(pairedDequantize)
            .union(reluAfter.keys.map { producer[$0]! }).union(reluAfter.values.map { producer[$0]! })
        let scales = rowScales(graph, excluded: taken, resources)
        let scaling = Set(scales.values.map(\.node))
        // A Transpose that only products of two activations read is read in place by them.
        let transposed = transposedViews(graph, excluded: taken)
        let views = Dictionary(uniqueKeysWithValues: transposed.map { (graph.nodes[$0.key].outputs[0], $0.value) })
        // Runs of element-wise nodes lowered as one pass at their last node; what they
        // read is live until there, and what they leave between is never stored.
        let chains = elementwiseChains(graph, excluded: taken.union(scaling))
        var chainAt: [Int: ElementwiseChain] = [:], chained: Set<Int> = [], readAt: [Int: Int] = [:]
        for chain in chains {
            chainAt[chain.nodes.last!] = chain
            for i in chain.nodes.dropLast() {
                chained.insert(i)
                readAt[i] = chain.nodes.last!
                unstored.insert(graph.nodes[i].outputs[0])
            }
        }
        for (rowOp, scale) in scales {
            readAt[scale.node] = rowOp
            unstored.insert(graph.nodes[scale.node].outputs[0])
        }
        for (t, view) in transposed {
            readAt[t] = view.lastReader
            unstored.insert(graph.nodes[t].outputs[0])
        }
        // L3 keeps the largest scratch of a matrix layer (a convolution's rounded or padded
        // image, a product's image of codes) that fits it, and activations take the rest.
        // When some then go to DRAM, each layer's scratch is instead given L3 only around its
        // own node, if that spills fewer bytes.
        // The weights preloaded at L2's top (`preloadWeights`), and the L2 the layers see below them.
        var belowPreloads = resources
        let (preloaded, copies) = try preloadWeights(layers, &belowPreloads)
        let matrixScratch = try matrixScratch(graph, packed, resources, sideBySide: belowPreloads, shape)
        let reserved = matrixScratch.values.map(\.bytes).filter { $0 <= resources.l3Bytes }.max() ?? 0
        // Nodes lowered with another one, which emit nothing of their own.
        func loweredElsewhere(_ i: Int) -> Bool {
            absorbed.contains(i) || pairedDequantize.contains(i) || chained.contains(i) || scaling.contains(i)
                || transposed[i] != nil
                || graph.nodes[i].op == "Relu" && fusedRelus.contains(graph.nodes[i].outputs.first ?? "")
        }
        let lowered = graph.nodes.indices.filter { !loweredElsewhere($0) }
        // A layer's scratch is live around it; an image of codes, until after its last reader.
        var scratchOf: [Int: (bytes: Int, live: ClosedRange<Int>)] = [:]
        var owners: [String: Int] = [:]
        for (k, i) in lowered.enumerated() {
            guard let output = graph.nodes[i].outputs.first, let c = matrixScratch[output] else { continue }
            let after = lowered[min(k + 1, lowered.count - 1)]
            if let owner = c.imageOf.flatMap({ owners[$0] }), let live = scratchOf[owner]?.live {
                scratchOf[owner]?.live = live.lowerBound...max(live.upperBound, after)
            } else if c.bytes > 0 {
                scratchOf[i] = (c.bytes, lowered[max(k - 1, 0)]...after)
                owners[output] = i
            }
        }
        var memory = try MemoryPlan.plan(
            graph, onChipBytes: resources.l3Bytes - reserved, l3Bytes: resources.l3Bytes, writtenAt: writtenAt,
            unstored: unstored, readAt: readAt)
        if memory.spilled > 0 && !scratchOf.isEmpty {
            let scoped = try MemoryPlan.plan(
                graph, onChipBytes: resources.l3Bytes, l3Bytes: resources.l3Bytes, writtenAt: writtenAt,
                unstored: unstored, readAt: readAt, scratch: scratchOf)
            if scoped.spilled < memory.spilled { memory = scoped }
        }
        guard memory.size <= resources.dramBytes else {
            throw IRError(
                "the model's activations need \(memory.size) bytes of DRAM; the target has \(resources.dramBytes) "
                    + "(a smaller --input-shape fits)")
        }
        // What the activations and the scratch ranges leave of L3, from address 0: the
        // scratch of a convolution that had none placed, when it fits there.
        var resources = resources
        resources.l3Bytes = memory.onChipBase
        var constants = ConstantSection()
        var tables = GatherTables()
        var b = ProgramBuilder()
        // Weights that fit a quarter of L2 all told are copied into every cluster's L2, at its
        // top: the first matrix layer's when it starts, the others' right after it (the
        // nodes before it, and its own small loads, claim DRAM's bandwidth ahead of them).
        // Each layer then reads its weight tiles from L2 instead of staging them from DRAM
        // when it starts. The rest of L2 is left to the layers.
        resources.l2Bytes = belowPreloads.l2Bytes
        var preloads = copies
        func emitPreloads(of output: String? = nil) throws {
            for (blob, dst, src) in preloads where output == nil || blob == output {
                try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
            }
            preloads.removeAll { output == nil || $0.blob == output }
        }
        // DRAM scratch goes after the activations.
        let scratch = UInt64((memory.size + 63) / 64 * 64)
        var scratchBytes = 0
        func address(_ value: String, _ node: Node) throws -> Place {
            guard let place = memory.place(of: value) else {
                throw IRError(
                    "\"\(value)\" is not an activation the memory plan placed (a constant operand is not lowered yet)", at: node)
            }
            return place
        }

        var layers: [LoweredLayer] = []
        // Matrix layers lay out the L2 they stage from the bottom and from the top in turn.
        var matrixLayers = 0
        // The images of codes products made of their inputs, by product.
        var images: [String: CodedRows] = [:]
        for (index, node) in graph.nodes.enumerated() {
            if loweredElsewhere(index) { continue }
            let first = b.program.instructions.count
            defer {
                let count = b.program.instructions.count - first
                if count > 0 {
                    // The next lowered node deals its work from the tile after this one's first.
                    resources.firstTile = (resources.firstTile + 1) % resources.tileCount
                    let p = node.outputs.first.flatMap { packed[$0] }
                    layers.append(
                        LoweredLayer(
                            node, graph, packed: p, memory: memory, epilogue: fused[index],
                            reads: chainAt[index]?.inputs, first: first, count: count))
                }
            }
            switch node.op {
            case _ where MemoryPlan.views.contains(node.op):
                continue
            case _ where chainAt[index] != nil:
                try lowerElementwiseChain(chainAt[index]!, graph, memory, resources, &constants, &b)
            case "QuantizeLinear" where pairs[index] != nil:
                try lowerQuantizePair(node, graph.nodes[pairs[index]!], graph, memory, resources, &b)
            case "MatMul" where node.attributes[QuantizationAttributes.activationFormatB] != nil:
                try lowerActivationProduct(node, graph, memory, resources, &tables, &b, views: views)
            case "Conv", "ConvTranspose", "Gemm", "MatMul":
                guard let output = node.outputs.first, let p = packed[output] else {
                    throw IRError(missingWeights(node, graph), at: node)
                }
                try emitPreloads(of: p.output)
                var matrix = try matrixLayer(node, p, graph, &constants)
                if matrix.fusedActivation == "Clip" {
                    matrix.clampRecord = constants.clampRecord(
                        matrix.activationParameters[0], matrix.activationParameters[1])
                }
                matrix.preloaded = preloaded[p.output]
                matrix.l2FromTop = matrixLayers % 2 == 1
                matrixLayers += 1
                let epilogue = fused[index]
                if let e = epilogue {
                    if let bias = e.bias { matrix.bias = constants.append(bias) }
                    matrix.tail = e.tail.map {
                        TailStep(op: $0.op, imm: $0.imm, record: $0.record.map { constants.record($0) }, a: $0.a, b: $0.b)
                    }
                    if let r = e.residual {
                        let at = try address(r, node)
                        (matrix.residual, matrix.residualSpace, matrix.reluAfterResidual) = (at.address, at.space, e.relu)
                        matrix.clampAfterResidual = e.clip.map { constants.clampRecord($0[0], $0[1]) }
                    }
                }
                let x = try address(node.inputs[0], node), y = try address(epilogue?.result ?? output, node)
                let xShape = shape(node.inputs[0]), yShape = shape(output)
                if node.op == "Conv" || node.op == "ConvTranspose" {
                    var conv = try ConvolutionLayer(
                        node, p, input: x.address, xShape, output: y.address, yShape, matrix: matrix, scratch: scratch)
                    conv.setCodesPointwise(matrixScratch[output]?.codes ?? false)
                    conv.l3Scratch = memory.scratchAt[index]
                    (conv.inputSpace, conv.outputSpace) = (x.space, y.space)
                    let planned = try ConvolutionLowering.multiplySideBySide(&conv, p, resources)
                    scratchBytes = max(scratchBytes, conv.scratchBytes)
                    // Scratch placed among the activations holds what the plan reserved for it.
                    precondition(
                        conv.l3Scratch == nil || conv.scratchBytes <= matrixScratch[output]?.bytes ?? 0,
                        "\(output)'s scratch outgrows the \(matrixScratch[output]?.bytes ?? 0) bytes the memory plan keeps for it"
                    )
                    // A group's tiles are as wide as the packed weights' tiles (WeightSection.tileRows).
                    // A grouped convolution's group is planned on its share of the tiles.
                    let plan = try tiling(
                        yShape.dropFirst(2).reduce(1, *), planned, matrix,
                        ConvolutionLowering.groupTiles(conv, planned, resources), node, n: p.rows / conv.groups,
                        coded: conv.coded, block: conv.windowBlock, windowed: !conv.pointwise, bands: conv.bands)
                    try ConvolutionLowering.lower(conv, plan: plan, resources: resources, into: &b)
                } else {
                    var layer = matrix
                    layer.m = xShape.dropLast().reduce(1, *)
                    (layer.k, layer.n) = (p.columns, p.rows)
                    (layer.input, layer.inputSpace, layer.inputRowStride) = (x.address, x.space, p.columns)
                    (layer.output, layer.outputSpace, layer.outputStrides) = (y.address, y.space, (p.rows, 1))
                    layer.weightStaging = 0..<resources.l2Bytes
                    if let s = matrixScratch[output], s.codes {
                        if let owner = s.imageOf {
                            // The image an earlier product made of the same input.
                            layer.codedRows = images[owner]
                        } else {
                            // The input rounded into an image of codes first, in L3 where it has room.
                            let at = memory.scratchAt[index]
                            let space: MemorySpace = at != nil || s.bytes <= resources.l3Bytes ? .l3 : .dram
                            if space == .dram { scratchBytes = max(scratchBytes, s.bytes) }
                            let image = CodedRows(
                                space: space, codes: space == .l3 ? at ?? 0 : scratch, m: layer.m, k: layer.k,
                                format: layer.activationFormat)
                            try image.round(layer, resources, into: &b)
                            (layer.codedRows, images[output]) = (image, image)
                        }
                        precondition(layer.codedRows != nil, "a product reads an image of codes made before it")
                    }
                    let plan = try tiling(layer.m, p, matrix, resources, node, coded: layer.codedInput)
                    try MatrixLowering.lower(layer, plan: plan, resources: resources, into: &b)
                }
                try emitPreloads()
            case _ where isElementwise(node.op) || castsOnTheVectorUnit(node, graph):
                try lowerElementwise(
                    node, graph, memory, resources, &constants, &b, relu: node.outputs.first.flatMap { reluAfter[$0] })
            case "InstanceNormalization":
                try lowerInstanceNorm(node, graph, memory, resources, &constants, &b)
            case "LRN":
                try lowerLocalResponseNorm(node, graph, memory, resources, &constants, &b)
            case _ where rowOps[node.op] != nil:
                try lowerRows(node, graph, memory, resources, &constants, &b, scale: scales[index])
            case _ where reductionOps[node.op] != nil:
                try lowerReduction(node, graph, memory, resources, &constants, &b)
            case "CumSum", "CumProd":
                try lowerCumulative(node, graph, memory, resources, &constants, &b)
            case "TopK":
                try lowerTopK(node, graph, memory, resources, &constants, &b)
            case "Resize":
                scratchBytes = max(
                    scratchBytes, try lowerResize(node, graph, memory, scratch: scratch, resources, &constants, &b))
            case _ where gathersComputedIndices(node, graph):
                try lowerGather(node, graph, memory, resources, &tables, &b)
            case _ where copyOps.contains(node.op):
                scratchBytes = max(scratchBytes, try lowerCopy(node, graph, memory, scratch: scratch, &constants, &b))
            case "Slice":
                try lowerSlice(node, graph, try address(node.inputs[0], node), try address(node.outputs[0], node), &b)
            case "ScatterND"
            where graph.constants[node.inputs[1]] == nil || node.string("reduction", default: "none") != "none":
                try lowerIndexedScatter(node, graph, memory, resources, &constants, &b)
            case "Transpose", "Concat", "ScatterND":
                try lowerDataMovement(node, graph, memory, &constants, &b)
            case "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool":
                let indices = node.outputs.count > 1 && !node.outputs[1].isEmpty ? node.outputs[1] : nil
                try lowerPool(
                    node, try address(node.inputs[0], node), try address(node.outputs[0], node),
                    shape(node.inputs[0]), shape(node.outputs[0]), indices: try indices.map { try address($0, node) },
                    resources, &constants, &b)
            case "MaxUnpool":
                try lowerMaxUnpool(node, graph, memory, resources, &constants, &b)
            case "MaxRoiPool":
                throw IRError(
                    "cannot lower MaxRoiPool: how many pixels each bin takes depends on its region, which only the running "
                        + "model knows; RoiAlign with a fixed sampling_ratio compiles", at: node)
            case "RoiAlign":
                // A fixed sampling_ratio is imported as look-ups and arithmetic (RegionAlign.swift).
                throw IRError(
                    "cannot lower RoiAlign with sampling_ratio 0: how many samples a bin takes depends on its region's "
                        + "size, which only the running model knows; export it with a fixed sampling_ratio (torchvision's is 2)",
                    at: node)
            default:
                throw IRError("cannot lower \(node.op): the NPU backend has no lowering for it yet", at: node)
            }
        }
        // Instructions before the first layer's (none in a compiled program) count as its own.
        if let head = layers.first, head.first > 0 {
            (layers[0].first, layers[0].count) = (0, head.first + head.count)
        }
        // A graph output the passes folded to a constant: copied from the constant section
        // into DRAM after the scratch.
        var dramEnd = Int(scratch) + scratchBytes
        var constantOutputs: [String: Int] = [:]
        for v in graph.outputs where memory.place(of: v.name) == nil {
            guard let t = graph.constants[v.name], let element = t.dtype.vectorElement, t.dtype != .bool else { continue }
            dramEnd = (dramEnd + 63) / 64 * 64
            if t.count > 0 {  // an empty one is only its place
                let at = constants.append(t, as: element), dims = [t.count]
                try b.emit(
                    "dma",
                    [
                        "dst": b.descriptor(try TensorDescriptor(.dram, element, address: UInt64(dramEnd), dims: dims)),
                        "src": b.descriptor(try TensorDescriptor(.constants, element, address: UInt64(at), dims: dims)),
                    ])
            }
            constantOutputs[v.name] = dramEnd
            dramEnd += t.count * element.addressBytes
        }
        try b.emit("halt", [:])
        tables.place(after: &constants, &b)
        // The queues run concurrently: a signal and a wait for every dependence between them.
        let synchronized = try Synchronization.synchronize(
            b.program, units: Units(clusters: resources.clusters, tilesPerCluster: resources.tilesPerCluster))
        let starts = synchronized.starts
        layers = layers.map { l in
            var l = l
            (l.first, l.count) = (starts[l.first], starts[l.first + l.count] - starts[l.first])
            return l
        }
        // Inputs and outputs are float32, int64 or int32 (indices, an ArgMax's result).
        func placement(_ v: ValueInfo, input: Bool) throws -> LoweredModel.Placement {
            try checkBundleType(v, input: input)
            let bytes = shape(v.name).reduce(v.type.dtype.byteSize, *)
            if !input, let at = constantOutputs[v.name] { return LoweredModel.Placement(name: v.name, offset: at, bytes: bytes) }
            guard let place = memory.place(of: v.name), place.space == .dram else {
                throw IRError("graph value \"\(v.name)\" has no place in DRAM")
            }
            return LoweredModel.Placement(name: v.name, offset: Int(place.address), bytes: bytes)
        }
        return LoweredModel(
            program: synchronized.program, constants: constants.bytes, dramBytes: dramEnd,
            inputs: try graph.inputs.map { try placement($0, input: true) },
            outputs: try graph.outputs.map { try placement($0, input: false) }, layers: layers)
    }

    /// Refuses a graph input or output of a type bundles do not carry, by name.
    static func checkBundleType(_ v: ValueInfo, input: Bool) throws {
        guard ![DType.float32, .int64, .int32].contains(v.type.dtype) else { return }
        throw IRError(
            "graph \(input ? "input" : "output") \"\(v.name)\" is \(v.type.dtype.name): bundles "
                + (input ? "take" : "give") + " float32, int64 and int32 tensors only"
                + (input && v.type.dtype.isInteger && v.type.dtype.byteSize <= 2
                    ? "; declare it float32 in the model, which holds each of its values exactly" : ""))
    }

    /// The weight blobs preloaded into every cluster's L2 (all of `layers`' when they fit a
    /// quarter of it, 64-byte aligned, from the top down in layer order): per layer output,
    /// its blob's L2 address, and the copies (the blob's layer output, destination, source),
    /// one per blob and cluster, the first layers' first. Lowers `resources.l2Bytes` to what
    /// is left below them.
    static func preloadWeights(
        _ layers: [PackedLayer], _ resources: inout TileResources
    ) throws -> (addresses: [String: UInt64], copies: [(blob: String, dst: TensorDescriptor, src: TensorDescriptor)]) {
        let total = layers.reduce(0) { $0 + ($1.size + 63) / 64 * 64 }
        guard !layers.isEmpty, total <= resources.l2Bytes / 4 else { return ([:], []) }
        var at = resources.l2Bytes, addresses: [String: UInt64] = [:]
        var copies: [(blob: String, dst: TensorDescriptor, src: TensorDescriptor)] = []
        for layer in layers {
            at -= (layer.size + 63) / 64 * 64
            addresses[layer.output] = UInt64(at)
            let src = try TensorDescriptor(.weights, .packed, address: UInt64(layer.offset), dims: [layer.size])
            for cluster in 0..<resources.clusters {
                copies.append(
                    (
                        layer.output,
                        try TensorDescriptor(.l2, .packed, cluster: cluster, address: UInt64(at), dims: [layer.size]), src
                    ))
            }
        }
        resources.l2Bytes = at
        return (addresses, copies)
    }

    /// A matrix layer's scratch: its bytes, whether it rounds its input into codes first, and
    /// for a product that reads the image of codes an earlier one made of the same input,
    /// rounded alike, that product's output (and no bytes of its own).
    struct MatrixScratch {
        var bytes: Int
        var codes: Bool
        var imageOf: String? = nil
    }

    /// Per matrix layer with scratch (by output): a convolution's rounded and padded images,
    /// and whether, a 1x1 one, it rounds its input into an image of codes
    /// (`ConvolutionLowering.codesPointwise`); a MatMul's or Gemm's image of codes, when it
    /// has one (`CodedRows.pays`), or the image an earlier product made of the same input
    /// with the same format and scale (a transformer's projections of one normalized input),
    /// when nothing between them writes scratch. Decided here, once, for the memory plan and
    /// the lowering alike, on tilings that read the float32 input directly.
    private static func matrixScratch(
        _ graph: Graph, _ packed: [String: PackedLayer], _ resources: TileResources, sideBySide: TileResources,
        _ shape: (String) -> [Int]
    ) throws -> [String: MatrixScratch] {
        struct Rounding: Hashable {
            var input: String
            var format: PrecisionFormat
            var amax: UInt32
            var scale: UInt32?
        }
        var unused = ConstantSection()
        var layers: [String: MatrixScratch] = [:]
        // The image of codes still in scratch, by the rounding that made it.
        var image: (rounding: Rounding, owner: String)?
        for node in graph.nodes {
            if node.op == "Resize" || copyOps.contains(node.op) { image = nil }
            guard ["Conv", "ConvTranspose", "MatMul", "Gemm"].contains(node.op), let output = node.outputs.first,
                let p = packed[output]
            else { continue }
            let matrix = try matrixLayer(node, p, graph, &unused)
            guard node.op == "Conv" || node.op == "ConvTranspose" else {
                let m = shape(node.inputs[0]).dropLast().reduce(1, *), format = matrix.activationFormat
                guard CodedRows.codable(format, k: p.columns) else { continue }
                let rounding = Rounding(
                    input: node.inputs[0], format: format, amax: matrix.activationAmax.bitPattern,
                    scale: matrix.activationScale?.bitPattern)
                if let image, image.rounding == rounding {
                    layers[output] = MatrixScratch(bytes: 0, codes: true, imageOf: image.owner)
                } else if CodedRows.pays(
                    try tiling(m, p, matrix, resources, node), m: m, k: p.columns, format: format,
                    inputFromDRAM: graph.inputs.contains { $0.name == node.inputs[0] }, resources)
                {
                    layers[output] = MatrixScratch(bytes: CodedRows.bytes(m: m, k: p.columns, format: format), codes: true)
                    image = (rounding, output)
                }
                continue
            }
            var conv = try ConvolutionLayer(
                node, p, input: 0, shape(node.inputs[0]), output: 0, shape(output), matrix: matrix, scratch: 0)
            if conv.pointwiseCodable {
                let direct = try tiling(
                    conv.outHeight * conv.outWidth, p, matrix, resources, node, n: p.rows, block: conv.blockChannels)
                conv.setCodesPointwise(ConvolutionLowering.codesPointwise(conv, directPlan: direct))
            }
            // Groups side by side may round their input into codes: the scratch the lowering
            // uses, decided as it decides it, on the L2 the preloaded weights leave.
            _ = try ConvolutionLowering.multiplySideBySide(&conv, p, sideBySide)
            layers[output] = MatrixScratch(bytes: conv.scratchBytes, codes: conv.codesPointwise)
            if conv.scratchBytes > 0 { image = nil }
        }
        return layers
    }

    /// Refuses activations of a floating-point type other than float32 (a model exported in
    /// half or double precision): the NPU holds activations as float32, bool, int32 or int64.
    static func checkElementTypes(_ node: Node, _ graph: Graph) throws {
        for v in node.inputs + node.outputs where !v.isEmpty && graph.constants[v] == nil {
            guard let dtype = graph.type(of: v)?.dtype, [.float16, .bfloat16, .float64].contains(dtype) else { continue }
            throw IRError(
                "cannot lower \(node.op): \"\(v)\" is \(dtype.name), and the NPU's activations are float32 "
                    + "(bool, int32 and int64 aside); export the model in float32", at: node)
        }
    }

    /// Why `node` has no packed weights: what the matrix unit cannot take.
    private static func missingWeights(_ node: Node, _ graph: Graph) -> String {
        let (a, w) = (node.input(0), node.input(1))
        if let w, let t = graph.constants[w] {
            if t.dtype != .float32 { return "cannot lower \(node.op): its weight \"\(w)\" is \(t.dtype.name), not float32" }
            if node.op == "MatMul" && t.rank != 2 {
                return "cannot lower \(node.op): its weight \"\(w)\" has \(t.rank) dimensions, not 2"
            }
        } else if ["MatMul", "Gemm"].contains(node.op), let a, graph.constants[a] != nil {
            return "cannot lower \(node.op) whose constant operand \"\(a)\" is on the left: the matrix unit takes x·W, W constant"
        }
        return "cannot lower \(node.op) without constant weights yet"
            + (node.op == "MatMul" && node.inputs.allSatisfy { graph.constants[$0] == nil }
                ? " (a product of two activations must be quantized first)" : "")
    }

    /// The matrix part of a layer: weights, bias, activation format and fused activation.
    private static func matrixLayer(_ node: Node, _ p: PackedLayer, _ graph: Graph, _ constants: inout ConstantSection) throws
        -> MatrixLayer
    {
        guard let format = PrecisionFormat(rawValue: p.format) else {
            throw IRError("unknown weight format \(p.format)", at: node)
        }
        let layout = try WeightLayout(
            format: format, sparse: p.sparse, rows: p.rows, columns: p.columns, tileRows: p.tileRows,
            tileColumns: p.tileColumns)

        if node.op == "Gemm" {
            guard node.int("transA", default: 0) == 0, node.float("alpha", default: 1) == 1,
                node.input(2) == nil || node.float("beta", default: 1) == 1
            else {
                throw IRError("cannot lower a Gemm with transA, alpha or beta yet", at: node)
            }
        }
        var bias: Int?
        if node.op != "MatMul", let name = node.input(2) {
            // One value per output column ([N] or [1, N]), or one for all (Gemm's C broadcast).
            guard let t = graph.constants[name], t.dtype == .float32,
                t.count == 1 || (t.count == p.rows && t.shape.dropLast().allSatisfy { $0 == 1 })
            else {
                throw IRError(
                    "cannot lower a bias that is not a float32 constant of one value or \(p.rows) (one per column)", at: node)
            }
            bias = constants.append(t.count == 1 ? [Float](repeating: t.floats()[0], count: p.rows) : t.floats())
        }
        let activation = PrecisionFormat(rawValue: node.string(QuantizationAttributes.activationFormat) ?? "fp32") ?? .fp32
        let amax = node.float(QuantizationAttributes.activationAmax)
        // A model's own fp8 activation scale or nvfp4 tensor scale (the import folded the
        // model's rounding into the layer).
        let scale = node.float(QuantizationAttributes.activationScale)
        guard scale == nil || ((activation == .fp8 || activation == .nvfp4) && scale! > 0 && scale!.isFinite) else {
            throw IRError("cannot lower the \(activation.rawValue) activation scale \(scale!)", at: node)
        }
        guard activation == .fp16 || activation == .fp32 || amax != nil else {
            throw IRError("\(activation.rawValue) activations need a calibrated range (compile with --calib)", at: node)
        }
        var parameters: [Float] = []
        let fused = node.string(FusedActivationAttributes.activation)
        if fused == "LeakyRelu" { parameters = [node.float(FusedActivationAttributes.alpha, default: 0.01)] }
        if fused == "Clip" {
            parameters = [
                node.float(FusedActivationAttributes.minimum, default: -.infinity),
                node.float(FusedActivationAttributes.maximum, default: .infinity),
            ]
        }
        var layer = MatrixLayer(
            m: 0, k: 0, n: 0, input: 0, inputRowStride: 0, output: 0, outputStrides: (0, 0), weights: layout,
            weightOffset: p.offset, bias: bias, activationFormat: activation, activationAmax: amax ?? 0,
            fusedActivation: fused, activationParameters: parameters)
        layer.activationScale = scale
        return layer
    }

    /// The tiling of `n` output channels (all of `p`'s, or one group's) over `m` rows. Output
    /// tiles are as wide as the packed weights' tiles: the MAC array's columns, or a grouped
    /// convolution's narrower ones (WeightSection.tileRows). The plan weighs the layer's
    /// epilogue (`MatrixTiling.overlapsEpilogue`).
    private static func tiling(
        _ m: Int, _ p: PackedLayer, _ layer: MatrixLayer, _ resources: TileResources, _ node: Node, n: Int? = nil,
        coded: Bool = false, block: Int = 16, windowed: Bool = false, bands: MatrixShape.Bands? = nil
    ) throws -> TilingPlan {
        var shape = MatrixShape(
            m: m, k: p.columns, n: n ?? p.rows, weightFormat: layer.weights.format, sparse: p.sparse,
            activationFormat: layer.activationFormat, reductionTile: p.tileColumns, codedActivations: coded)
        shape.activationBlock = block
        shape.windowed = windowed
        shape.bands = bands
        shape.tail = !layer.tail.isEmpty
        shape.epilogueCycles = epilogueCycles(layer, resources)
        var tiles = resources
        tiles.arrayColumns = p.tileRows
        do {
            let plan = try MatrixTiling.plan(shape, on: tiles)
            // A residual the epilogue adds is loaded with its chunk's column, into SRAM of its
            // own, while the products run, whenever a plan with that region fits (with smaller
            // chunks or fewer columns at a time than without it, if need be); else after the
            // products, into the activation buffers, where its loads wait on the sums.
            guard layer.residual != nil else { return plan }
            shape.residual = true
            guard let loaded = try? MatrixTiling.plan(shape, on: tiles),
                loaded.layout.bytes(buffers: 2, columns: loaded.groupN) <= tiles.sramBytes
            else { return plan }
            return loaded
        } catch let e as PackingError {
            throw IRError("\(e)", at: node)
        }
    }

    /// The vector cycles a layer's epilogue takes per `vectorLanes` output elements: its
    /// bias, fused activation, residual and what follows it, and its element-wise tail,
    /// each step at the cycle model's cost (`InstructionSet.vectorSteps`; the activations
    /// and the clamp are one element-wise step each, as `relu`).
    static func epilogueCycles(_ layer: MatrixLayer, _ resources: TileResources) -> Int {
        var ops: [String] = []
        if layer.bias != nil { ops.append("add") }
        if layer.fusedActivation != nil { ops.append("relu") }
        if layer.residual != nil { ops.append("add") }
        if layer.residual != nil && (layer.reluAfterResidual || layer.clampAfterResidual != nil) { ops.append("relu") }
        ops += layer.tail.map(\.op)
        return ops.reduce(0) { cycles, op in
            let steps = InstructionSet.vectorSteps(op)
            return cycles + steps.elementwise * resources.elementwiseCycles + steps.transcendental
                * resources.transcendentalCycles
        }
    }

    /// A global pooling whose plane does not fit a tile's SRAM (an EfficientNet's
    /// squeeze-and-excitation over a 112x112 image): each plane on a tile of its own, chunk
    /// after chunk, the running result carried in front of the next chunk. The interpreter
    /// runs one float32 sum from +0 (or maximum from -inf, a NaN winning) over the plane in
    /// order, so the chunks do exactly that: GlobalAveragePool's `vopp cumsum` over [sum so
    /// far, chunk] (its first slot filled with +0), whose last element the next chunk's slot
    /// takes, then `div_scalar` by the plane's size; GlobalMaxPool's `vopp reduce_max` over
    /// the first chunk, then over [maximum so far, chunk].
    private static func lowerLargeGlobalPool(
        _ node: Node, _ x: Place, _ y: Place, planes: Int, size: Int, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let average = node.op == "GlobalAveragePool"
        let chunk = (resources.sramBytes - 64) / 4 - 1
        guard chunk > 0 else { throw IRError("cannot lower \(node.op): a tile's SRAM holds no chunk of its plane", at: node) }
        for plane in 0..<planes {
            let (cluster, tile) = resources.place(plane)
            func sram(_ element: Int, _ count: Int) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(
                        .sram, .f32, cluster: cluster, tile: tile, address: UInt64(4 * element), dims: [1, count]))
            }
            let slot = try sram(0, 1)
            if average { try b.emit("fill", ["dst": slot, "value": UInt64(Float(0).bitPattern)]) }
            var last = slot
            for start in stride(from: 0, to: size, by: chunk) {
                let count = min(chunk, size - start)
                let src = try x.advanced(by: 4 * (plane * size + start)).descriptor(dims: [1, count])
                try b.emit("dma", ["dst": try sram(1, count), "src": b.descriptor(src)])
                // The max's first chunk stands alone (its running value starts at -inf).
                let carried = average || start > 0
                let line = try sram(carried ? 0 : 1, count + (carried ? 1 : 0))
                if average {
                    let record = constants.record([count + 1, 0, 0] + [Int](repeating: 0, count: 13))
                    try b.emit("vopp", ["op": vectorOp("cumsum"), "dst": line, "a": line, "b": 0, "params": UInt64(record)])
                    last = try sram(count, 1)
                    if start + count < size {
                        try b.vop("copy", slot, last)
                    }
                } else {
                    let record = constants.record([count + (carried ? 1 : 0), 0] + [Int](repeating: 0, count: 14))
                    try b.emit("vopp", ["op": vectorOp("reduce_max"), "dst": slot, "a": line, "b": 0, "params": UInt64(record)])
                }
            }
            if average {
                try b.emit(
                    "vop", ["op": vectorOp("div_scalar"), "dst": last, "a": last, "b": 0, "imm": UInt64(Float(size).bitPattern)])
            }
            let dst = try y.advanced(by: 4 * plane).descriptor(dims: [1, 1])
            try b.emit("dma", ["dst": b.descriptor(dst), "src": last])
        }
    }

    /// Pooling per image, as many channels at a time as a tile's SRAM holds in and out (but
    /// no more than spread the channels over every tile), each step on the next tile.
    /// MaxPool's Indices (at `indices`, i64 of the output's shape) come from a `vopp
    /// max_pool_index` over the same rows, told where they lie in the whole input.
    private static func lowerPool(
        _ node: Node, _ x: Place, _ y: Place, _ xShape: [Int], _ yShape: [Int], indices: Place? = nil,
        _ resources: TileResources, _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        if xShape.count == 3, yShape.count == 3 {
            // 1-D pooling is the 2-D one over a single row.
            try lowerPool(
                node.liftedToTwoDimensions(), x, y, liftedShape(xShape), liftedShape(yShape), indices: indices, resources,
                &constants, &b)
            return
        }
        if node.op.hasPrefix("Global"), xShape.count > 4 {
            // A global pool over D, H and W (a video network's last pool) is the global pool
            // of the one row they make, its values in the same order.
            let plane = xShape[2...].reduce(1, *)
            try lowerPool(node, x, y, [xShape[0], xShape[1], 1, plane], [yShape[0], yShape[1], 1, 1], resources, &constants, &b)
            return
        }
        guard xShape.count == 4, yShape.count == 4 else {
            throw IRError(
                "cannot lower \(node.op) over \(xShape.count - 2) spatial axes: windows slide over one or two (global "
                    + "pools over any number)", at: node)
        }
        let (n, c, h, w, oh, ow) = (xShape[0], xShape[1], xShape[2], xShape[3], yShape[2], yShape[3])
        let order = node.int("storage_order", default: 0)
        if indices != nil {
            guard order == 0 || order == 1 else { throw IRError("storage_order \(order) is neither 0 nor 1", at: node) }
            guard n * c * h * w <= Int(Int32.max) else {
                throw IRError(
                    "cannot lower MaxPool's Indices over \(n * c * h * w) input elements: the vector unit counts them in 32 bits",
                    at: node)
            }
        }
        let global = node.op.hasPrefix("Global")
        let kernel = global ? [h, w] : (node.ints("kernel_shape") ?? [1, 1])
        let strides = global ? [1, 1] : (node.ints("strides") ?? [1, 1])
        let pads = global ? [0, 0, 0, 0] : (node.ints("pads") ?? [0, 0, 0, 0])
        let dilations = global ? [1, 1] : (node.ints("dilations") ?? [1, 1])
        guard node.string("auto_pad", default: "NOTSET") == "NOTSET" else { throw IRError("cannot lower auto_pad yet", at: node) }
        let includePad = node.int("count_include_pad", default: 0)
        let op = UInt64(InstructionSet.vectorOps.firstIndex(of: node.op.hasSuffix("MaxPool") ? "max_pool" : "average_pool")!)
        let (sh, pt, pb) = (strides[0], pads[0], pads[2])
        /// The input rows output rows [r0, r1) read.
        func inputRows(_ r0: Int, _ r1: Int) -> Range<Int> {
            max(0, r0 * sh - pt)..<min(h, (r1 - 1) * sh - pt + (kernel[0] - 1) * dilations[0] + 1)
        }
        /// The most input rows `count` output rows read, wherever they start: rows further
        /// from the top pad read more.
        func mostInputRows(_ count: Int) -> Int {
            stride(from: 0, through: oh - count, by: 1).map { inputRows($0, $0 + count).count }.max() ?? 0
        }
        /// The SRAM a step of `channels` channels of `count` output rows takes.
        func bytes(_ channels: Int, _ count: Int) -> Int {
            4 * channels * (mostInputRows(count) * w + count * ow) + 64
                + (indices == nil ? 0 : 8 * channels * count * ow + 64)
        }
        // Whole channels when one fits, as many as fit but no more than spread the images'
        // channels over every tile (in steps of at least a vector pass's fewest values);
        // else one channel, as many output rows as fit.
        var channelsPerStep = 1, rowsPerStep = oh
        if bytes(1, oh) <= resources.sramBytes {
            channelsPerStep = spreadFitting(c, groups: n, values: h * w, resources) { bytes($0, oh) }
        } else {
            rowsPerStep = 0
            while rowsPerStep < oh && bytes(1, rowsPerStep + 1) <= resources.sramBytes { rowsPerStep += 1 }
            if rowsPerStep == 0 && global {
                try lowerLargeGlobalPool(node, x, y, planes: n * c, size: h * w, resources, &constants, &b)
                return
            }
            guard rowsPerStep > 0 else {
                throw IRError(
                    "the \(mostInputRows(1)) x \(w) input values one output row of one channel reads do not fit a tile's SRAM",
                    at: node)
            }
        }
        var step = 0  // each step on the next tile
        for image in 0..<n {
            for c0 in stride(from: 0, to: c, by: channelsPerStep) {
                let cs = min(channelsPerStep, c - c0)
                for r0 in stride(from: 0, to: oh, by: rowsPerStep) {
                    let r1 = min(oh, r0 + rowsPerStep), rows = inputRows(r0, r1)
                    // The chunk's own frame: pads shifted so row 0 is the first row loaded.
                    let padTop = pt - r0 * sh + rows.lowerBound, padBottom = h - rows.upperBound + pb
                    let params = constants.record(
                        kernel + strides + [padTop, pads[1], padBottom, pads[3]] + dilations
                            + [includePad, 0, 0, 0, 0, 0])
                    let (cluster, tile) = resources.place(step)
                    step += 1
                    let inTile = b.descriptor(
                        try TensorDescriptor(
                            .sram, .f32, cluster: cluster, tile: tile, address: 0, dims: [cs, rows.count, w]))
                    let outTile = b.descriptor(
                        try TensorDescriptor(
                            .sram, .f32, cluster: cluster, tile: tile,
                            address: UInt64((4 * cs * rows.count * w + 63) / 64 * 64), dims: [cs, r1 - r0, ow]))
                    try b.emit(
                        "dma",
                        [
                            "dst": inTile,
                            "src": b.descriptor(
                                try x.advanced(by: 4 * (((image * c + c0) * h + rows.lowerBound) * w))
                                    .descriptor(dims: [cs, rows.count, w], strides: [h * w, w, 1])),
                        ])
                    try b.emit("vopp", ["op": op, "dst": outTile, "a": inTile, "b": 0, "params": UInt64(params)])
                    try b.emit(
                        "dma",
                        [
                            "dst": b.descriptor(
                                try y.advanced(by: 4 * (((image * c + c0) * oh + r0) * ow))
                                    .descriptor(dims: [cs, r1 - r0, ow], strides: [oh * ow, ow, 1])), "src": outTile,
                        ])
                    guard let indices else { continue }
                    let at = ((4 * cs * rows.count * w + 63) / 64 * 64 + 4 * cs * (r1 - r0) * ow + 63) / 64 * 64
                    let indexTile = b.descriptor(
                        try TensorDescriptor(
                            .sram, .i64, cluster: cluster, tile: tile, address: UInt64(at), dims: [cs, r1 - r0, ow]))
                    let record = constants.record(
                        kernel + strides + [padTop, pads[1], padBottom, pads[3]] + dilations
                            + [0, (image * c + c0) * h * w, h * w, rows.lowerBound, h, order])
                    try b.emit(
                        "vopp",
                        ["op": vectorOp("max_pool_index"), "dst": indexTile, "a": inTile, "b": 0, "params": UInt64(record)])
                    try b.emit(
                        "dma",
                        [
                            "dst": b.descriptor(
                                try indices.advanced(by: 8 * (((image * c + c0) * oh + r0) * ow))
                                    .descriptor(.i64, dims: [cs, r1 - r0, ow], strides: [oh * ow, ow, 1])),
                            "src": indexTile,
                        ])
                }
            }
        }
    }
}

extension Lowering {
    /// Transpose (one DMA reading the input with permuted strides), Concat (one DMA per
    /// input into its slab of the output) and ScatterND (`lowerScatter`); float32, bool,
    /// int32 and int64 values. A constant input (a Concat's class token before a
    /// transformer's patches) is copied from the constant section.
    static func lowerDataMovement(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, _ constants: inout ConstantSection,
        _ b: inout ProgramBuilder
    ) throws {
        let out = node.outputs[0], element = graph.type(of: out)?.dtype.vectorElement ?? .f32
        func dims(_ v: String) throws -> [Int] {
            guard graph.type(of: v)?.dtype.vectorElement == element, let d = graph.type(of: v)?.shape?.dims.compactMap(\.value),
                d.count == graph.type(of: v)?.shape?.rank, memory.place(of: v) != nil || graph.constants[v] != nil
            else {
                throw IRError(
                    "cannot lower \(node.op) of \"\(v)\": not a static float32, bool, int32 or int64 value", at: node)
            }
            return d
        }
        /// Where `v` is read: its activation buffer, or its elements appended to the constants.
        func source(_ v: String) -> Place {
            if let p = memory.place(of: v) { return p }
            let t = graph.constants[v]!
            return Place(
                .constants,
                UInt64(constants.append(t, as: element)))
        }
        guard memory.place(of: out) != nil else {
            throw IRError("cannot lower \(node.op) into \"\(out)\": it has no place in memory", at: node)
        }
        let outDims = try dims(out), y = memory.place(of: out)!
        if node.op == "Transpose" {
            let inDims = try dims(node.inputs[0])
            let perm = node.ints("perm") ?? Array((0..<inDims.count).reversed())
            let own = TensorDescriptor.rowMajor(inDims)
            let src = try source(node.inputs[0]).descriptor(element, dims: outDims, strides: perm.map { own[$0] })
            try b.emit("dma", ["dst": b.descriptor(try y.descriptor(element, dims: outDims)), "src": b.descriptor(src)])
            return
        }
        if node.op == "ScatterND" {
            guard try dims(node.inputs[0]) == outDims, node.inputs.count == 3 else {
                throw IRError("cannot lower ScatterND: its data and output differ in shape", at: node)
            }
            _ = try dims(node.inputs[2])
            try lowerScatter(node, graph, outDims, to: y, element, source, &b)
            return
        }
        let rank = outDims.count
        var axis = node.int("axis", default: 0)
        if axis < 0 { axis += rank }
        let outStrides = TensorDescriptor.rowMajor(outDims)
        var start = 0
        for input in node.inputs {
            let inDims = try dims(input)
            let dst = try y.advanced(by: (element == .i64 ? 8 : 4) * start * outStrides[axis]).descriptor(
                element, dims: inDims, strides: outStrides)
            let src = try source(input).descriptor(element, dims: inDims)
            try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
            start += inDims[axis]
        }
    }

    /// ScatterND with constant indices, reduction none: the data copied whole, then each
    /// index tuple's slab overwritten by its update row, in order. Tuples whose slabs follow
    /// one another make one run; runs of one length whose starts step evenly make one DMA
    /// (an exporter's `y[..., 0:2] = ...` is one DMA of every pixel's two values).
    private static func lowerScatter(
        _ node: Node, _ graph: Graph, _ dims: [Int], to y: Place, _ element: ElementType, _ source: (String) -> Place,
        _ b: inout ProgramBuilder
    ) throws {
        // A reduction, or indices the model computes, are `lowerIndexedScatter`'s.
        guard let indices = graph.constants[node.inputs[1]], node.string("reduction", default: "none") == "none" else {
            preconditionFailure("a ScatterND with a reduction or computed indices is lowered as a scatter")
        }
        let offsets = try scatterOffsets(node, dataShape: dims, indices: indices)
        let slab = dims[(indices.shape.last ?? 0)...].reduce(1, *), size = element == .i64 ? 8 : 4, total = dims.reduce(1, *)
        let data = try source(node.inputs[0]).descriptor(element, dims: [total])
        try b.emit("dma", ["dst": b.descriptor(try y.descriptor(element, dims: [total])), "src": b.descriptor(data)])
        guard slab > 0 else { return }
        var runs: [(start: Int, row: Int, length: Int)] = []
        for (row, offset) in offsets.enumerated() {
            if let last = runs.last, last.start + last.length == offset, last.row + last.length == row * slab {
                runs[runs.count - 1].length += slab
            } else {
                runs.append((offset, row * slab, slab))
            }
        }
        let updates = source(node.inputs[2])
        var r = 0
        while r < runs.count {
            let first = runs[r], step = r + 1 < runs.count ? runs[r + 1].start - first.start : first.length
            var count = 1
            // Evenly stepping starts that do not overlap, each run's rows after the last's.
            while r + count < runs.count, step >= first.length, runs[r + count].length == first.length,
                runs[r + count].start == first.start + count * step,
                runs[r + count].row == first.row + count * first.length
            {
                count += 1
            }
            let dst = try y.advanced(by: size * first.start).descriptor(
                element, dims: [count, first.length], strides: [count == 1 ? first.length : step, 1])
            let src = try updates.advanced(by: size * first.row).descriptor(element, dims: [count, first.length])
            try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
            r += count
        }
    }

    /// Slice with constant starts, ends, axes and steps: one strided DMA (float32, bool,
    /// int32 and int64 activations).
    static func lowerSlice(_ node: Node, _ graph: Graph, _ x: Place, _ y: Place, _ b: inout ProgramBuilder) throws {
        guard let element = graph.type(of: node.inputs[0])?.dtype.vectorElement else {
            throw IRError("cannot lower a Slice of \(graph.type(of: node.inputs[0])?.dtype.name ?? "an unknown type")", at: node)
        }
        guard let inShape = graph.type(of: node.inputs[0])?.shape?.dims.compactMap(\.value),
            let outShape = graph.type(of: node.outputs[0])?.shape?.dims.compactMap(\.value),
            let starts = node.input(1).flatMap({ graph.constants[$0] })?.int64s(),
            let ends = node.input(2).flatMap({ graph.constants[$0] })?.int64s()
        else {
            throw IRError("cannot lower a Slice whose bounds are not constants", at: node)
        }
        let rank = inShape.count
        let axes =
            node.input(3).flatMap { graph.constants[$0] }?.int64s().map { Int($0 < 0 ? $0 + Int64(rank) : $0) }
            ?? Array(0..<starts.count)
        let steps =
            node.input(4).flatMap { graph.constants[$0] }?.int64s().map(Int.init) ?? Array(repeating: 1, count: starts.count)
        _ = ends
        let own = TensorDescriptor.rowMajor(inShape)
        var offset = 0
        var strides = own
        for (i, axis) in axes.enumerated() {
            let d = inShape[axis], step = steps[i]
            var start = Int(starts[i])
            if start < 0 { start += d }
            start = step > 0 ? min(max(start, 0), d) : min(max(start, 0), d - 1)
            offset += start * own[axis]
            strides[axis] = own[axis] * step
        }
        let src = try x.advanced(by: (element == .i64 ? 8 : 4) * offset).descriptor(element, dims: outShape, strides: strides)
        try b.emit("dma", ["dst": b.descriptor(try y.descriptor(element, dims: outShape)), "src": b.descriptor(src)])
    }
}

/// The constant section: float32 arrays and parameter records, each 64-byte aligned.
struct ConstantSection {
    var bytes: [UInt8] = []

    /// Appends `values`; returns their byte offset.
    mutating func append(_ values: [Float]) -> Int {
        align()
        let at = bytes.count
        bytes += Float32Bytes.encode(values)
        return at
    }

    /// Appends `other`'s bytes; returns the byte offset its first byte lands at.
    mutating func append(_ other: ConstantSection) -> Int {
        align()
        let at = bytes.count
        bytes += other.bytes
        return at
    }

    /// Appends `t`'s elements as `element` holds them: float32 (bool as 1 and +0 masks), or
    /// i32 or i64 integers; returns their byte offset.
    mutating func append(_ t: Tensor, as element: ElementType) -> Int {
        element == .f32 ? append(t.floats()) : append(integers: t.int64s(), element)
    }

    /// Appends `values` as i32 (each wrapped to 32 bits) or i64 elements; returns their byte offset.
    mutating func append(integers values: [Int64], _ element: ElementType) -> Int {
        align()
        let at = bytes.count
        for v in values {
            if element == .i64 {
                bytes += withUnsafeBytes(of: v.littleEndian, Array.init)
            } else {
                bytes += withUnsafeBytes(of: Int32(truncatingIfNeeded: v).littleEndian, Array.init)
            }
        }
        return at
    }

    /// Appends 32-bit words (int32 values or float32 bit patterns); returns their index
    /// (byte offset / 4).
    mutating func words(_ values: [UInt32]) -> Int {
        align()
        let at = bytes.count
        for v in values { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
        return at / 4
    }

    /// The parameter record of `clamp` to [low, high]: their float32 bit patterns.
    mutating func clampRecord(_ low: Float, _ high: Float) -> Int {
        record([low, high].map { Int(Int32(bitPattern: $0.bitPattern)) } + [Int](repeating: 0, count: 14))
    }

    /// Appends a 16-int32 parameter record; returns its index (byte offset / 4).
    mutating func record(_ values: [Int]) -> Int {
        precondition(values.count == 16)
        align()
        let at = bytes.count
        for v in values { bytes += withUnsafeBytes(of: Int32(v).littleEndian, Array.init) }
        return at / 4
    }

    private mutating func align() { bytes += [UInt8](repeating: 0, count: (64 - bytes.count % 64) % 64) }
}
