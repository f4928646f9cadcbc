// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, as evaluation graphs carry them:
// per element the negated (log-)probability of its target class, times the class's weight
// (0 for the ignored index), then as they are, summed, or their sum over the weights'. The
// cross entropy takes the log-softmax over axis 1 first (its second output), with
// LogSoftmax's kernel. Computed in float32, sums in order.
import Formats
import IR

func classLoss(_ node: Node, _ inputs: [Tensor?], softmax: Bool) throws -> [Tensor] {
    let x = try operand(node, inputs, 0).cast(to: .float32), target = try operand(node, inputs, 1)
    let weight = optionalOperand(inputs, 2)?.cast(to: .float32).floats()
    guard x.rank >= 2 else { throw IRError("input has rank \(x.rank): the classes are its axis 1", at: node) }
    let (n, classes) = (x.shape[0], x.shape[1])
    let inner = x.shape.dropFirst(2).reduce(1, *)
    guard target.shape == [n] + Array(x.shape.dropFirst(2)) else {
        throw IRError("target \(target.shape) is not \([n] + Array(x.shape.dropFirst(2))) for input \(x.shape)", at: node)
    }
    guard weight.map({ $0.count == classes }) ?? true else {
        throw IRError("weight has \(weight!.count) values for \(classes) classes", at: node)
    }
    var values = x.floats()
    if softmax {
        // The log-softmax over the classes of each (n, d), as LogSoftmax computes it.
        values.withUnsafeMutableBufferPointer { v in
            for row in 0..<(n * inner) {
                let base = v.baseAddress! + (row / inner) * classes * inner + row % inner
                VectorArithmetic.softmax(base, base, count: classes, stride: inner, log: true)
            }
        }
    }
    let ignored = node.int("ignore_index")
    var losses = [Float](repeating: 0, count: n * inner)
    var weights = [Float](repeating: 0, count: n * inner)
    for (k, label) in target.int64s().enumerated() {
        if label == ignored.map(Int64.init) { continue }
        guard label >= 0 && label < classes else {
            throw IRError("target \(label) at element \(k) is not one of the \(classes) classes", at: node)
        }
        let (b, d) = (k / inner, k % inner)
        weights[k] = weight?[Int(label)] ?? 1
        losses[k] = -values[(b * classes + Int(label)) * inner + d] * weights[k]
    }
    let loss: Tensor
    switch node.string("reduction") ?? "mean" {
    case "none": loss = Tensor(losses, shape: target.shape)
    case "sum": loss = Tensor([losses.reduce(0, +)], shape: [])
    default: loss = Tensor([losses.reduce(0, +) / weights.reduce(0, +)], shape: [])
    }
    return softmax && node.outputs.count > 1 ? [loss, Tensor(values, shape: x.shape)] : [loss]
}
