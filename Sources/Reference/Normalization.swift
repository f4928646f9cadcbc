// BatchNormalization (inference, and training mode's own statistics), InstanceNormalization,
// LayerNormalization (the vector unit's row kernel, Formats/VectorArithmetic.swift) and LRN.
import Formats
import Foundation
import IR

/// BatchNormalization. In training mode (training_mode = 1: the weight standardization of
/// NF-ResNets' and BiT's convolutions, which `F.batch_norm(w, training=True)` exports) x is
/// normalized by its own statistics per channel (the mean, and the variance over the count,
/// each in Double and rounded to float32), the rest as in inference; outputs 2 and 3 are the
/// running mean and variance, input · momentum + the batch's · (1 - momentum) in float32.
func batchNormalization(_ node: Node, _ inputs: [Tensor?]) throws -> [Tensor] {
    let x = try operand(node, inputs, 0)
    try requireFloat32(node, x)
    let params = try (1...4).map { try operand(node, inputs, $0).cast(to: .float32) }
    guard x.rank >= 2 else { throw IRError("input must have rank >= 2", at: node) }
    let c = x.shape[1]
    guard params.allSatisfy({ $0.count == c }) else {
        throw IRError("scale, bias, mean and variance must have \(c) values, have \(params.map(\.count))", at: node)
    }
    let epsilon = node.float("epsilon", default: 1e-5)
    var (mean, variance) = (params[2].floats(), params[3].floats())
    let training = node.int("training_mode", default: 0) != 0
    if training {
        (mean, variance) = channelMoments(x)
    } else if node.outputs.count > 1 && node.outputs[1...].contains(where: { !$0.isEmpty }) {
        throw IRError("running mean and variance outputs exist in training mode only (training_mode = 1)", at: node)
    }
    let (scale, shift) = VectorArithmetic.batchNormAffine(
        gamma: params[0].floats(), beta: params[1].floats(), mean: mean, variance: variance, epsilon: epsilon)
    let y = affinePerChannel(x, scale: scale, shift: shift)
    guard training else { return [y] }
    let momentum = node.float("momentum", default: 0.9)
    func running(_ old: [Float], _ batch: [Float]) -> Tensor {
        Tensor(zip(old, batch).map { $0 * momentum + $1 * (1 - momentum) }, shape: [c])
    }
    return [y, running(params[2].floats(), mean), running(params[3].floats(), variance)]
}

/// Per channel of an [N, C, ...] tensor, the mean and the variance over the count: the
/// vector unit's running sums (`VectorArithmetic.accumulate`) in Double over every image's
/// plane in turn, rounded to float32 once.
private func channelMoments(_ x: Tensor) -> (mean: [Float], variance: [Float]) {
    let (n, c) = (x.shape[0], x.shape[1]), size = x.count / max(n * c, 1), xp = x.f32
    var mean = [Float](repeating: 0, count: c), variance = [Float](repeating: 0, count: c)
    for channel in 0..<c {
        let planes = (0..<n).map { xp + ($0 * c + channel) * size }
        let m = planes.reduce(0.0) { VectorArithmetic.accumulate(.sum, $1, count: size, from: $0) } / Double(n * size)
        let squares = planes.reduce(0.0) {
            VectorArithmetic.accumulate(.squaredDeviation, $1, count: size, from: $0, center: m)
        }
        (mean[channel], variance[channel]) = (Float(m), Float(squares / Double(n * size)))
    }
    return (mean, variance)
}

/// y = x * scale[c] + shift[c] over an [N, C, ...] tensor.
func affinePerChannel(_ x: Tensor, scale: [Float], shift: [Float]) -> Tensor {
    let c = x.shape[1], planes = x.shape[0] * c, size = x.count / max(planes, 1)
    let xp = x.f32
    return makeFloat(x.shape) { op in
        scale.withUnsafeBufferPointer { sc in
            shift.withUnsafeBufferPointer { sh in
                parallelChunks(planes, cost: size) { range in
                    for p in range {
                        let s = sc[p % c], b = sh[p % c]
                        let src = xp + p * size, dst = op + p * size
                        for i in 0..<size { dst[i] = src[i] * s + b }
                    }
                }
            }
        }
    }
}

func instanceNormalization(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    try requireFloat32(node, x)
    let scale = try operand(node, inputs, 1).cast(to: .float32), bias = try operand(node, inputs, 2).cast(to: .float32)
    guard x.rank >= 3, scale.count == x.shape[1], bias.count == x.shape[1] else {
        throw IRError("scale and bias must have one value per channel of \(x.shape)", at: node)
    }
    let epsilon = node.float("epsilon", default: 1e-5)
    let c = x.shape[1], planes = x.shape[0] * c, size = x.count / planes
    let xp = x.f32, sp = scale.f32, bp = bias.f32
    return makeFloat(x.shape) { op in
        parallelChunks(planes, cost: size) { range in
            // The vector unit's arithmetic (`vopp instance_norm`), one plane at a time.
            for p in range {
                VectorArithmetic.instanceNorm(
                    xp + p * size, op + p * size, count: size, scale: sp[p % c], bias: bp[p % c], epsilon: epsilon)
            }
        }
    }
}

func layerNormalization(_ node: Node, _ inputs: [Tensor?]) throws -> [Tensor] {
    let x = try operand(node, inputs, 0)
    try requireFloat32(node, x)
    let axis = try normalizedAxis(node.int("axis", default: -1), rank: x.rank, node)
    let epsilon = node.float("epsilon", default: 1e-5)
    let rows = x.shape[..<axis].reduce(1, *), size = x.shape[axis...].reduce(1, *)
    let normShape = Array(x.shape[axis...])
    let scale = try expandTo(try operand(node, inputs, 1).cast(to: .float32), normShape, node)
    let bias = try optionalOperand(inputs, 2).map { try expandTo($0.cast(to: .float32), normShape, node) }
    let statShape = Array(x.shape[..<axis]) + Array(repeating: 1, count: x.rank - axis)
    let meanOut = Tensor(zeros: .float32, shape: statShape), invOut = Tensor(zeros: .float32, shape: statShape)
    let xp = x.f32, sp = scale.f32, bp = bias?.f32, mp = meanOut.f32, ip = invOut.f32
    let y = makeFloat(x.shape) { op in
        parallelChunks(rows, cost: size) { range in
            for r in range {
                (mp[r], ip[r]) = VectorArithmetic.layerNorm(
                    xp + r * size, op + r * size, count: size, scale: sp, bias: bp.map { UnsafePointer($0) }, epsilon: epsilon)
            }
        }
    }
    return Array([y, meanOut, invOut].prefix(node.outputs.count))
}

func lrn(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    try requireFloat32(node, x)
    guard let size = node.int("size") else { throw IRError("size is required", at: node) }
    let alpha = node.float("alpha", default: 1e-4), beta = node.float("beta", default: 0.75),
        bias = node.float("bias", default: 1)
    let n = x.shape[0], c = x.shape[1], plane = x.count / max(n * c, 1)
    let xp = x.f32
    // The vector unit's arithmetic (`vopp lrn`), one image at a time.
    return makeFloat(x.shape) { op in
        for img in 0..<n {
            VectorArithmetic.lrn(
                xp + img * c * plane, op + img * c * plane, channels: c, positions: plane, stride: plane, size: size,
                alpha: alpha, beta: beta, bias: bias)
        }
    }
}
