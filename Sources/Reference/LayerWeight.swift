// A quantizable layer's constant weight seen as a matrix [output channels, reduction]:
// Conv [M, C, k...] as is, ConvTranspose's [C, M/G, k...] as the convolution it equals,
// Gemm's B with or without transB, MatMul's [K, N] transposed.
import IR

public struct LayerWeight: Sendable {
    /// How the stored tensor holds the [rows, columns] matrix.
    public enum Layout: Sendable, Equatable {
        /// [rows, columns...] row-major (Conv, Gemm with transB).
        case rows
        /// [columns, rows] (Gemm without transB, MatMul).
        case transposed
        /// ConvTranspose's [C, M/G, k...]: row g·M/G + m, column c·K + k is the stored
        /// [g·C/G + c, m, K − 1 − k], K the kernel's size (`ConvTransposeGeometry`).
        case transposedConvolution(groups: Int)
    }

    public let name: String
    public let tensor: Tensor
    /// Output channels and reduction length.
    public let rows: Int
    public let columns: Int
    public let layout: Layout
    /// Convolution groups (1 for Gemm and MatMul): row block g reads input channels block g.
    public let groups: Int
    /// Reduction elements per input channel: a convolution's kernel size, else 1.
    public let kernelSize: Int

    /// The channels of the layer's input, over all its groups: what a per-channel statistic
    /// of that input (Wanda's norms, bias correction's means) holds.
    public var inputChannels: Int { groups * (columns / kernelSize) }

    /// The input channel (of `inputChannels`) that reduction element `column` of output row
    /// `row` reads: row block g reads input channel block g.
    public func inputChannel(row: Int, column: Int) -> Int {
        (row / (rows / groups)) * (columns / kernelSize) + column / kernelSize
    }

    /// True when the stored tensor is [reduction, output] (Gemm without transB, MatMul).
    public var transposed: Bool { layout == .transposed }

    /// The weight of a Conv, ConvTranspose, Gemm or 2-D MatMul node, when it is a float32
    /// constant.
    public init?(_ node: Node, _ graph: Graph) {
        guard ["Conv", "ConvTranspose", "Gemm", "MatMul"].contains(node.op), let name = node.input(1),
            let w = graph.constants[name], w.dtype == .float32, w.rank >= 2,
            node.op != "MatMul" || w.rank == 2
        else { return nil }
        self.name = name
        tensor = w
        let convolution = node.op == "Conv" || node.op == "ConvTranspose"
        groups = convolution ? node.int("group", default: 1) : 1
        kernelSize = convolution ? w.shape[2...].reduce(1, *) : 1
        switch node.op {
        case "ConvTranspose":
            guard w.rank >= 3, groups > 0, w.shape[0] % groups == 0 else { return nil }
            layout = .transposedConvolution(groups: groups)
            rows = w.shape[1] * groups
        case "Conv",
            "Gemm" where node.int("transB", default: 0) != 0:
            layout = .rows
            rows = w.shape[0]
        default:
            layout = .transposed
            rows = w.shape[1]
        }
        columns = w.count / rows
    }

    /// The values as a row-major [rows, columns] matrix.
    public func matrix() -> [Float] {
        switch layout {
        case .rows: return tensor.floats()
        case .transposed: return Self.transpose(tensor.floats(), rows: columns, columns: rows)
        case .transposedConvolution(let groups):
            return ConvTransposeGeometry.convolutionWeight(tensor.floats(), shape: tensor.shape, groups: groups)
        }
    }

    /// A tensor of the weight's own shape and layout from a [rows, columns] matrix.
    public func tensor(from matrix: [Float]) -> Tensor {
        switch layout {
        case .rows: return Tensor(matrix, shape: tensor.shape)
        case .transposed: return Tensor(Self.transpose(matrix, rows: rows, columns: columns), shape: tensor.shape)
        case .transposedConvolution(let groups):
            return Tensor(
                ConvTransposeGeometry.convolutionWeight(matrix, shape: tensor.shape, groups: groups, inverse: true),
                shape: tensor.shape)
        }
    }

    /// `x` [rows, columns] as [columns, rows], in 32 x 32 blocks (each block's rows and
    /// columns stay in cache).
    static func transpose(_ x: [Float], rows: Int, columns: Int) -> [Float] {
        precondition(x.count == rows * columns, "a transposed matrix keeps its elements")
        guard !x.isEmpty else { return [] }
        return [Float](unsafeUninitializedCapacity: x.count) { out, count in
            x.withUnsafeBufferPointer { x in
                let (x, out) = (x.baseAddress!, out.baseAddress!)
                for r0 in stride(from: 0, to: rows, by: 32) {
                    for c0 in stride(from: 0, to: columns, by: 32) {
                        for r in r0..<min(r0 + 32, rows) {
                            for c in c0..<min(c0 + 32, columns) { out[c &* rows &+ r] = x[r &* columns &+ c] }
                        }
                    }
                }
            }
            count = x.count
        }
    }
}
