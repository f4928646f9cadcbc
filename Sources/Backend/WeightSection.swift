// The weight section of a bundle: every quantized layer's weights packed (schemas/weights.md),
// each blob 64-byte aligned, in graph order, with the table that says where each one is.
import Formats
import IR
import Passes

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
    /// Packs every Conv, ConvTranspose, Gemm and MatMul with a constant weight (`LayerWeight.matrix()`). Each must carry the quantize
    /// pass's format (fp16, fp8 or nvfp4); `arrayRows` x `arrayColumns` is the MAC array and
    /// `rate` gives each format's MACs per cell and cycle (fp16 1, fp8 2, nvfp4 4).
    public static func build(
        _ graph: Graph, arrayRows: Int, arrayColumns: Int,
        rate: (PrecisionFormat) -> Int
    ) throws -> (bytes: [UInt8], layers: [PackedLayer]) {
        var bytes: [UInt8] = []
        var layers: [PackedLayer] = []
        for node in graph.nodes {
            guard let weight = LayerWeight(node, graph) else { continue }
            let label = node.name.isEmpty ? (node.outputs.first ?? "") : node.name
            guard let name = node.string(QuantizationAttributes.weightFormat), let format = PrecisionFormat(rawValue: name),
                format != .fp32
            else {
                throw IRError("the layer has no NPU precision (fp16, fp8 or nvfp4): quantize it first", at: node)
            }
            let sparse = node.string("npucc.sparsity") == "2:4"
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
            let scales = node.floats(QuantizationAttributes.weightScale) ?? []
            let packed: [UInt8]
            do {
                packed = try WeightPacking.pack(weight.matrix(), scales: scales, layout: layout)
            } catch let e as PackingError {
                throw IRError("weights: \(e)", at: node)
            }
            let offset = bytes.count
            bytes += packed
            bytes += [UInt8](repeating: 0, count: (64 - bytes.count % 64) % 64)
            let weights = Double(weight.rows * weight.columns)
            layers.append(
                PackedLayer(
                    name: label, op: node.op, output: node.outputs.first ?? "", weightShape: weight.tensor.shape,
                    transposed: weight.transposed, rows: weight.rows, columns: weight.columns, format: format.rawValue,
                    sparse: sparse, tileRows: layout.tileRows, tileColumns: layout.tileColumns, offset: offset,
                    size: packed.count, bitsPerWeight: (Double(bytes.count - offset) * 8e4 / weights).rounded() / 1e4,
                    minimumBitsPerWeight: LayerCandidate(format, sparse: sparse).bitsPerWeight))
        }
        return (bytes, layers)
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
