// CumSum and CumProd: the running sum or product along one axis, with the vector unit's order
// of operations (VectorArithmetic.scan): float32 and float64 step by step in their own type,
// int32 and int64 wrapping around as two's complement does.
import Formats
import IR

func cumulative(_ node: Node, _ inputs: [Tensor?], product: Bool) throws -> Tensor {
    let x = try operand(node, inputs, 0), axisTensor = try operand(node, inputs, 1)
    guard axisTensor.count == 1, axisTensor.dtype == .int64 || axisTensor.dtype == .int32 else {
        throw IRError("the axis must be one int32 or int64 value, not \(axisTensor.dtype.name)\(axisTensor.shape)", at: node)
    }
    guard x.rank > 0 else { throw IRError("the input must have an axis to run along", at: node) }
    let axis = try normalizedAxis(Int(axisTensor.int64(at: 0)), rank: x.rank, node)
    let exclusive = node.int("exclusive", default: 0) != 0, reverse = node.int("reverse", default: 0) != 0
    let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
    let out = Tensor(zeros: x.dtype, shape: x.shape)
    func run<T: Numeric>(_: T.Type, _ combine: (T, T) -> T) {
        let src = UnsafePointer(x.storage.base.assumingMemoryBound(to: T.self))
        let dst = out.storage.base.assumingMemoryBound(to: T.self)
        for o in 0..<outer {
            for i in 0..<inner {
                let at = o * n * inner + i
                VectorArithmetic.scan(
                    src + at, dst + at, count: n, stride: inner, exclusive: exclusive, reverse: reverse,
                    identity: product ? 1 : 0, combine: combine)
            }
        }
    }
    switch x.dtype {
    case .float32: product ? run(Float.self, *) : run(Float.self, +)
    case .float64: product ? run(Double.self, *) : run(Double.self, +)
    case .int32: product ? run(Int32.self, &*) : run(Int32.self, &+)
    case .int64: product ? run(Int64.self, &*) : run(Int64.self, &+)
    default: throw IRError("\(node.op) of \(x.dtype.name) is not supported (float32, float64, int32, int64)", at: node)
    }
    return out
}
