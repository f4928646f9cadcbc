// EyeLike, imported as the constant it is once its input's extents are known: ones on the
// k-th diagonal of a matrix of the input's shape.
import IR

extension ImportContext {
    /// Emits EyeLike `node` (a rank-2 input whose extents import knows; `k`, default 0;
    /// `dtype`, default the input's) as a constant named by its output.
    mutating func emitEyeLike(_ node: Node) throws {
        guard node.inputs.count == 1, let x = node.input(0), node.outputs.count == 1, let out = node.outputs.first,
            !out.isEmpty
        else { throw IRError("takes one input and gives one output", at: node) }
        guard let type = knownType(of: x), let dims = type.shape?.dims, dims.count == 2,
            let rows = dims[0].value, let columns = dims[1].value
        else {
            throw IRError(
                "needs a rank-2 input whose extents are known (fix symbolic dimensions with --input-shape)", at: node)
        }
        var dtype = type.dtype
        if let code = node.int("dtype") {
            guard let given = DType(rawValue: Int32(code)) else { throw IRError("dtype \(code) is not supported", at: node) }
            dtype = given
        }
        let k = node.int("k", default: 0)
        var values = [Float](repeating: 0, count: rows * columns)
        for r in 0..<rows where (0..<columns).contains(r + k) { values[r * columns + r + k] = 1 }
        defineConstant(out, Tensor(values, shape: [rows, columns]).cast(to: dtype))
    }
}
