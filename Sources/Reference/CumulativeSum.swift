// CumSum: the running sum along one axis, with the vector unit's order of additions
// (VectorArithmetic.cumulativeSum): float32 and float64 step by step in their own type,
// int32 and int64 wrapping around as two's complement does.
import Formats
import IR

func cumulativeSum(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0), axisTensor = try operand(node, inputs, 1)
    guard axisTensor.count == 1, axisTensor.dtype == .int64 || axisTensor.dtype == .int32 else {
        throw IRError("the axis must be one int32 or int64 value, not \(axisTensor.dtype.name)\(axisTensor.shape)", at: node)
    }
    guard x.rank > 0 else { throw IRError("the input must have an axis to sum along", at: node) }
    let axis = try normalizedAxis(Int(axisTensor.int64(at: 0)), rank: x.rank, node)
    let exclusive = node.int("exclusive", default: 0) != 0, reverse = node.int("reverse", default: 0) != 0
    let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
    let out = Tensor(zeros: x.dtype, shape: x.shape)
    func run<T>(_: T.Type, zero: T, add: (T, T) -> T) {
        let src = UnsafePointer(x.storage.base.assumingMemoryBound(to: T.self))
        let dst = out.storage.base.assumingMemoryBound(to: T.self)
        for o in 0..<outer {
            for i in 0..<inner {
                let at = o * n * inner + i
                VectorArithmetic.cumulativeSum(
                    src + at, dst + at, count: n, stride: inner, exclusive: exclusive, reverse: reverse, zero: zero,
                    add: add)
            }
        }
    }
    switch x.dtype {
    case .float32: run(Float.self, zero: 0) { $0 + $1 }
    case .float64: run(Double.self, zero: 0) { $0 + $1 }
    case .int32: run(Int32.self, zero: 0) { $0 &+ $1 }
    case .int64: run(Int64.self, zero: 0) { $0 &+ $1 }
    default: throw IRError("CumSum of \(x.dtype.name) is not supported (float32, float64, int32, int64)", at: node)
    }
    return out
}
