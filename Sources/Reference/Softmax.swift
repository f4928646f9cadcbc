// Softmax and LogSoftmax along one axis (the opset 13 definition).
import Foundation
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
                let o = row / inner, i = row % inner
                let base = o * n * inner + i
                var m = -Float.infinity
                for k in 0..<n { m = max(m, xp[base + k * inner]) }
                var sum: Float = 0
                for k in 0..<n {
                    let e = expf(xp[base + k * inner] - m)
                    op[base + k * inner] = e
                    sum += e
                }
                if log {
                    let l = logf(sum)
                    for k in 0..<n { op[base + k * inner] = xp[base + k * inner] - m - l }
                } else {
                    let inv = 1 / sum
                    for k in 0..<n { op[base + k * inner] *= inv }
                }
            }
        }
    }
}
