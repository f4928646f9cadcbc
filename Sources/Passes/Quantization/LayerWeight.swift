// A quantizable layer's constant weight seen as a matrix [output channels, reduction]:
// Conv [M, C, k...] as is, Gemm's B with or without transB, MatMul's [K, N] transposed.
import IR

public struct LayerWeight: Sendable {
    public let name: String
    public let tensor: Tensor
    /// Output channels and reduction length.
    public let rows: Int
    public let columns: Int
    /// True when the stored tensor is [reduction, output] (Gemm without transB, MatMul).
    public let transposed: Bool

    /// The weight of a Conv, Gemm or 2-D MatMul node, when it is a float32 constant.
    public init?(_ node: Node, _ graph: Graph) {
        guard ["Conv", "Gemm", "MatMul"].contains(node.op), let name = node.input(1),
              let w = graph.constants[name], w.dtype == .float32, w.rank >= 2,
              node.op != "MatMul" || w.rank == 2 else { return nil }
        self.name = name
        tensor = w
        transposed = node.op != "Conv" && !(node.op == "Gemm" && node.int("transB", default: 0) != 0)
        rows = transposed ? w.shape[1] : w.shape[0]
        columns = w.count / rows
    }

    /// The values as a row-major [rows, columns] matrix.
    public func matrix() -> [Float] {
        transposed ? Self.transpose(tensor.floats(), rows: columns, columns: rows) : tensor.floats()
    }

    /// A tensor of the weight's own shape and layout from a [rows, columns] matrix.
    public func tensor(from matrix: [Float]) -> Tensor {
        Tensor(transposed ? Self.transpose(matrix, rows: rows, columns: columns) : matrix, shape: tensor.shape)
    }

    private static func transpose(_ x: [Float], rows: Int, columns: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = x[r * columns + c] } }
        return out
    }
}
