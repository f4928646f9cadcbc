// Bitwise ops on integer tensors: BitwiseAnd, BitwiseOr, BitwiseXor and BitwiseNot (opset
// 18) on the two's-complement bits, and BitShift (unsigned from opset 11, signed too from
// 28): a right shift of a signed type is arithmetic, a left shift keeps the type's width,
// and an amount that is negative or at least the type's width gives what the sign alone
// fills in (-1 for a right shift of a negative value, else 0). The vector unit has no
// bitwise ops: these run in the interpreter, and fold where their inputs are constants (a
// packed 4-bit weight unpacked by the graph).
import IR

enum BitwiseOp {
    static let binaryNames = ["BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitShift"]
}

func bitwise(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let a = try operand(node, inputs, 0)
    let signedTypes: [DType] = [.int8, .int16, .int32, .int64], unsignedTypes: [DType] = [.uint8, .uint16, .uint32, .uint64]
    guard (signedTypes + unsignedTypes).contains(a.dtype) else {
        throw IRError("\(node.op) needs 8- to 64-bit integers, not \(a.dtype.name)", at: node)
    }
    if node.op == "BitwiseNot" { return Tensor(a.int64s().map { ~$0 }, shape: a.shape).cast(to: a.dtype) }
    let b = try operand(node, inputs, 1)
    guard a.dtype == b.dtype else {
        throw IRError("operand types \(a.dtype.name) and \(b.dtype.name) differ", at: node)
    }
    guard let shape = broadcastShape([a.shape, b.shape]) else {
        throw IRError("shapes \(a.shape) and \(b.shape) do not broadcast", at: node)
    }
    let f: (Int64, Int64) -> Int64
    switch node.op {
    case "BitwiseAnd": f = { $0 & $1 }
    case "BitwiseOr": f = { $0 | $1 }
    case "BitwiseXor": f = { $0 ^ $1 }
    default:
        let direction = node.string("direction", default: "")
        guard direction == "LEFT" || direction == "RIGHT" else {
            throw IRError("direction \"\(direction)\" is neither LEFT nor RIGHT", at: node)
        }
        let width = Int64(a.dtype.byteSize * 8), signed = signedTypes.contains(a.dtype)
        f =
            direction == "LEFT"
            ? { x, n in (0..<width).contains(n) ? Int64(bitPattern: UInt64(bitPattern: x) << UInt64(n)) : 0 }
            : { x, n in
                // Values read as int64: an unsigned one of 64 bits shifts as unsigned.
                guard (0..<width).contains(n) else { return signed && x < 0 ? -1 : 0 }
                return signed ? x >> n : Int64(bitPattern: UInt64(bitPattern: x) >> UInt64(n))
            }
    }
    return try combine(a, b, shape: shape, outType: a.dtype, node, float: { _, _ in 0 }, integer: f)
}
