// The weight section of a bundle: every quantized layer's weights packed (schemas/weights.md),
// each blob 64-byte aligned, in graph order (layers with the same weights sharing one), with
// the table that says where each one is.
import Formats
import IR
import Reference

/// Where one layer's packed weights are and how to read them back.
public struct PackedLayer: Sendable, Equatable, Codable {
    /// The node's name (or its output's when it has none), its op and its output value.
    public var name: String
    public var op: String
    public var output: String
    /// The weight as the model stores it (ONNX layout, after BatchNormalization folding).
    public var weightShape: [Int]
    /// True when that layout is [K, N] (Gemm without transB, MatMul): the packed [N, K]
    /// matrix is its transpose.
    public var transposed: Bool
    public var rows: Int
    public var columns: Int
    public var format: String
    public var sparse: Bool
    public var tileRows: Int
    public var tileColumns: Int
    /// Byte offset in the weight section and packed size.
    public var offset: Int
    public var size: Int
    /// Stored bits per weight (scales, metadata and alignment included) and the format's minimum.
    public var bitsPerWeight: Double
    public var minimumBitsPerWeight: Double

    /// The metadata's spelling.
    enum CodingKeys: String, CodingKey {
        case name, op, output, transposed, rows, columns, format, sparse, offset, size
        case weightShape = "weight_shape", tileRows = "tile_rows", tileColumns = "tile_columns"
        case bitsPerWeight = "bits_per_weight", minimumBitsPerWeight = "minimum_bits_per_weight"
    }
}

public enum WeightSection {
    /// Where each layer's packed weights go and how they are laid out: the table `pack`
    /// fills, known before any weight is packed (lowering needs only this).
    public struct Plan: Sendable {
        public var layers: [PackedLayer]
        /// Per layer, its node's index in the graph and its layout.
        var layouts: [(node: Int, layout: WeightLayout)]
        /// The section's size: every blob, each padded to 64 bytes.
        public var byteCount: Int
    }

    /// Plans every Conv, ConvTranspose, Gemm and MatMul with a constant weight
    /// (`LayerWeight.matrix()`). Each must carry the quantize pass's format (fp16, fp8 or
    /// nvfp4); `arrayRows` x `arrayColumns` is the MAC array and `rate` gives each format's
    /// MACs per cell and cycle (fp16 1, fp8 2, nvfp4 4). Layers that read the same weight
    /// constant in the same format, layout and scales (an unrolled recurrence's steps) share
    /// one blob: the later ones get the first one's offset.
    public static func plan(
        _ graph: Graph, arrayRows: Int, arrayColumns: Int,
        rate: (PrecisionFormat) -> Int
    ) throws -> Plan {
        var plan = Plan(layers: [], layouts: [], byteCount: 0)
        var blobs: [String: (offset: Int, bytesPerWeight: Double)] = [:]
        for (index, node) in graph.nodes.enumerated() {
            guard let weight = LayerWeight(node, graph) else { continue }
            let label = node.name.isEmpty ? (node.outputs.first ?? "") : node.name
            guard let name = node.string(QuantizationAttributes.weightFormat), let format = PrecisionFormat(rawValue: name),
                format != .fp32
            else {
                throw IRError("the layer has no NPU precision (fp16, fp8 or nvfp4): quantize it first", at: node)
            }
            let sparse = node.string(PruningAttributes.sparsity) == "2:4"
            let layout: WeightLayout
            do {
                layout = try WeightLayout(
                    format: format, sparse: sparse, rows: weight.rows, columns: weight.columns,
                    tileRows: tileRows(groups: weight.groups, rows: weight.rows, arrayColumns: arrayColumns),
                    tileColumns: ConvolutionLowering.reductionTile(
                        node, weight, depth: arrayRows * rate(format) * (sparse ? 2 : 1)))
            } catch let e as PackingError {
                throw IRError("weights: \(e)", at: node)
            }
            let size = layout.byteCount, weights = Double(weight.rows * weight.columns)
            let blob = [
                weight.name, format.rawValue, "\(sparse)", "\(layout.tileRows)x\(layout.tileColumns)x\(size)",
                "\(node.floats(QuantizationAttributes.weightScale) ?? [])",
            ].joined(separator: "|")
            let offset = blobs[blob]?.offset ?? plan.byteCount
            if blobs[blob] == nil {
                plan.byteCount += (size + 63) / 64 * 64
                blobs[blob] = (offset, Double(plan.byteCount - offset))
            }
            plan.layers.append(
                PackedLayer(
                    name: label, op: node.op, output: node.outputs.first ?? "", weightShape: weight.tensor.shape,
                    transposed: weight.transposed, rows: weight.rows, columns: weight.columns, format: format.rawValue,
                    sparse: sparse, tileRows: layout.tileRows, tileColumns: layout.tileColumns, offset: offset,
                    size: size, bitsPerWeight: (blobs[blob]!.bytesPerWeight * 8e4 / weights).rounded() / 1e4,
                    minimumBitsPerWeight: format.bitsPerWeight(sparse: sparse)))
            plan.layouts.append((index, layout))
        }
        return plan
    }

    /// The section's bytes for `plan` (made from `graph`): each layer's weights packed with
    /// the scales the quantize pass recorded, the layers in parallel. The first layer in
    /// graph order that does not pack is the error.
    public static func pack(_ graph: Graph, _ plan: Plan) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: plan.byteCount)
        // A blob layers share is packed once, for the first of them.
        var seen = Set<Int>()
        let first = plan.layers.indices.filter { seen.insert(plan.layers[$0].offset).inserted }
        let blobs = try parallelResults(first.count) { j -> [UInt8] in
            let (index, layout) = plan.layouts[first[j]]
            let node = graph.nodes[index]
            guard let weight = LayerWeight(node, graph) else { throw IRError("the layer's weight is gone", at: node) }
            do {
                return try WeightPacking.pack(
                    weight.matrix(), scales: node.floats(QuantizationAttributes.weightScale) ?? [], layout: layout)
            } catch let e as PackingError {
                throw IRError("weights: \(e)", at: node)
            }
        }
        for (k, blob) in zip(first, blobs) {
            bytes.replaceSubrange(plan.layers[k].offset..<(plan.layers[k].offset + blob.count), with: blob)
        }
        return bytes
    }

    /// `plan`, then `pack`.
    public static func build(
        _ graph: Graph, arrayRows: Int, arrayColumns: Int,
        rate: (PrecisionFormat) -> Int
    ) throws -> (bytes: [UInt8], layers: [PackedLayer]) {
        let plan = try plan(graph, arrayRows: arrayRows, arrayColumns: arrayColumns, rate: rate)
        return (try pack(graph, plan), plan.layers)
    }

    /// Output channels per weight tile: the MAC array's columns, or for a grouped
    /// convolution the largest divisor of a group's channels that fits them, so that no
    /// tile straddles two groups.
    static func tileRows(groups: Int, rows: Int, arrayColumns: Int) -> Int {
        guard groups > 1, rows % groups == 0 else { return arrayColumns }
        let perGroup = rows / groups
        return (1...min(perGroup, arrayColumns)).last { perGroup % $0 == 0 }!
    }
}
