// Bitwise ops on integer tensors: BitwiseAnd, BitwiseOr, BitwiseXor and BitwiseNot (opset
// 18) on the two's-complement bits, and BitShift (unsigned from opset 11, signed too from
// 28): a right shift of a signed type is arithmetic, a left shift keeps the type's width,
// and an amount that is negative or at least the type's width gives what the sign alone
// fills in (-1 for a right shift of a negative value, else 0). The arithmetic is the vector
// unit's (VectorArithmetic: `bit_and`, `bit_or`, `bit_xor`, `bit_not`, `shifted`), which
// computes these on int32 and int64 values; they fold where their inputs are constants (a
// packed 4-bit weight unpacked by the graph).
import Formats
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
    if node.op == "BitwiseNot" {
        return Tensor(a.int64s().map(VectorArithmetic.integerUnary["bit_not"]!), shape: a.shape).cast(to: a.dtype)
    }
    let b = try operand(node, inputs, 1)
    guard a.dtype == b.dtype else {
        throw IRError("operand types \(a.dtype.name) and \(b.dtype.name) differ", at: node)
    }
    guard let shape = broadcastShape([a.shape, b.shape]) else {
        throw IRError("shapes \(a.shape) and \(b.shape) do not broadcast", at: node)
    }
    let f: (Int64, Int64) -> Int64
    switch node.op {
    case "BitwiseAnd": f = VectorArithmetic.integerBinary["bit_and"]!
    case "BitwiseOr": f = VectorArithmetic.integerBinary["bit_or"]!
    case "BitwiseXor": f = VectorArithmetic.integerBinary["bit_xor"]!
    default:
        let direction = node.string("direction", default: "")
        guard direction == "LEFT" || direction == "RIGHT" else {
            throw IRError("direction \"\(direction)\" is neither LEFT nor RIGHT", at: node)
        }
        // Values read as int64: an unsigned one of 64 bits shifts as unsigned.
        let width = a.dtype.byteSize * 8, signed = signedTypes.contains(a.dtype)
        f = { x, n in VectorArithmetic.shifted(x, by: n, left: direction == "LEFT", bits: width, signed: signed) }
    }
    return try combine(a, b, shape: shape, outType: a.dtype, node, float: { _, _ in 0 }, integer: f)
}
