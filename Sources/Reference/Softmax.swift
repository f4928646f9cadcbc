// Softmax and LogSoftmax along one axis (the opset 13 definition), row by row with the
// vector unit's kernel (Formats/VectorArithmetic.swift).
import Formats
import IR

func softmax(_ node: Node, _ inputs: [Tensor?], log: Bool) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    try requireFloat32(node, x)
    if x.rank == 0 { return makeFloat([]) { $0[0] = log ? 0 : 1 } }
    let axis = try normalizedAxis(node.int("axis", default: -1), rank: x.rank, node)
    let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
    let xp = x.f32
    return makeFloat(x.shape) { op in
        parallelChunks(outer * inner, cost: n * 4) { range in
            for row in range {
                let base = (row / inner) * n * inner + row % inner
                VectorArithmetic.softmax(xp + base, op + base, count: n, stride: inner, log: log)
            }
        }
    }
}
