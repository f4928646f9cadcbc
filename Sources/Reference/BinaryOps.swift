// Binary and variadic elementwise ops with numpy broadcasting: arithmetic, comparisons,
// logic, PRelu, Where. float32 runs a fast path; other dtypes go through Double / Int64.
import Formats
import Foundation
import IR

enum BinaryOp {
    static let allNames = [
        "Add", "Sub", "Mul", "Div", "Pow", "PRelu", "Equal", "Greater", "Less",
        "GreaterOrEqual", "LessOrEqual", "And", "Or", "Mod",
    ]
    static let comparisons: Set<String> = ["Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"]
}

func binary(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let a = try operand(node, inputs, 0), b = try operand(node, inputs, 1)
    return try binary(node.op, a, b, node)
}

func binary(_ op: String, _ a: Tensor, _ b: Tensor, _ node: Node) throws -> Tensor {
    guard let shape = broadcastShape([a.shape, b.shape]) else {
        throw IRError("shapes \(a.shape) and \(b.shape) do not broadcast", at: node)
    }
    if op == "And" || op == "Or" {
        let isAnd = op == "And"
        return try combine(a, b, shape: shape, outType: .bool, node) { x, y in
            isAnd ? (x != 0 && y != 0 ? 1 : 0) : (x != 0 || y != 0 ? 1 : 0)
        } integer: { x, y in
            isAnd ? (x != 0 && y != 0 ? 1 : 0) : (x != 0 || y != 0 ? 1 : 0)
        }
    }
    if BinaryOp.comparisons.contains(op) {
        let f: (Double, Double) -> Bool
        switch op {
        case "Equal": f = { $0 == $1 }
        case "Greater": f = { $0 > $1 }
        case "Less": f = { $0 < $1 }
        case "GreaterOrEqual": f = { $0 >= $1 }
        default: f = { $0 <= $1 }
        }
        // Integers compare exactly, as the vector unit compares them (through Double, two
        // int64 beyond 2^53 could compare equal); uint64 has values past Int64's range.
        let exact = VectorArithmetic.integerComparisons[vectorName(comparison: op)]!
        let wide = a.dtype == .uint64 || b.dtype == .uint64
        return try combine(a, b, shape: shape, outType: .bool, node) {
            f($0, $1) ? 1 : 0
        } integer: {
            (wide ? f(Double($0), Double($1)) : exact($0, $1)) ? 1 : 0
        }
    }
    // Mod: the vector unit's remainders; a float's only with fmod = 1 (ONNX defines no other).
    let signOfDividend = node.int("fmod", default: 0) == 1
    if op == "Mod" && a.dtype.isFloatingPoint && !signOfDividend {
        throw IRError("Mod of \(a.dtype.name) needs fmod = 1", at: node)
    }
    if a.dtype == .float32 && (b.dtype == .float32 || op == "Pow") {
        let bf = b.cast(to: .float32)
        switch op {
        case "Add": return float32Binary(a, bf, shape, AddFunction.self)
        case "Sub": return float32Binary(a, bf, shape, SubFunction.self)
        case "Mul": return float32Binary(a, bf, shape, MulFunction.self)
        case "Div": return float32Binary(a, bf, shape, DivFunction.self)
        case "Pow": return float32Binary(a, bf, shape, PowFunction.self)
        case "PRelu": return float32Binary(a, bf, shape, PReluFunction.self)
        case "Mod": return float32Binary(a, bf, shape, RemainderFunction.self)
        default: break
        }
    }
    guard a.dtype == b.dtype || op == "Pow" else {
        throw IRError("operand types \(a.dtype.name) and \(b.dtype.name) differ", at: node)
    }
    let fd: (Double, Double) -> Double
    let fi: (Int64, Int64) -> Int64
    switch op {
    // Integers as the vector unit computes them (VectorArithmetic.integerBinary): wrapping,
    // and division truncated toward zero with a zero divisor giving 0.
    case "Add": fd = { $0 + $1 }; fi = VectorArithmetic.integerBinary["add"]!
    case "Sub": fd = { $0 - $1 }; fi = VectorArithmetic.integerBinary["sub"]!
    case "Mul": fd = { $0 * $1 }; fi = VectorArithmetic.integerBinary["mul"]!
    case "Div": fd = { $0 / $1 }; fi = VectorArithmetic.integerBinary["div"]!
    case "Pow": fd = { pow($0, $1) }; fi = { Int64(pow(Double($0), Double($1))) }
    case "PRelu": fd = { $0 < 0 ? $0 * $1 : $0 }; fi = { $0 < 0 ? $0 &* $1 : $0 }
    case "Mod": fd = { fmod($0, $1) }; fi = VectorArithmetic.integerBinary[signOfDividend ? "fmod" : "mod"]!
    default: throw IRError("\(op) is not supported on \(a.dtype.name)", at: node)
    }
    return try combine(a, b, shape: shape, outType: a.dtype, node, float: fd, integer: fi)
}

/// The vector unit's name of comparison `op` (Equal -> equal, LessOrEqual -> less_equal).
func vectorName(comparison op: String) -> String {
    ["Equal": "equal", "Greater": "greater", "Less": "less", "GreaterOrEqual": "greater_equal", "LessOrEqual": "less_equal"][
        op]!
}

/// A float32 binary function, passed as a type so that each loop is specialized and
/// inlined (a closure captured by a parallel loop body would be called per element).
protocol FloatBinaryFunction {
    static func apply(_ x: Float, _ y: Float) -> Float
}
enum AddFunction: FloatBinaryFunction { @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { x + y } }
enum SubFunction: FloatBinaryFunction { @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { x - y } }
enum MulFunction: FloatBinaryFunction { @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { x * y } }
enum DivFunction: FloatBinaryFunction { @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { x / y } }
enum PowFunction: FloatBinaryFunction {
    @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { VectorArithmetic.power(x, y) }
}
enum RemainderFunction: FloatBinaryFunction {
    @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { VectorArithmetic.remainder(x, y) }
}
enum PReluFunction: FloatBinaryFunction {
    @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { VectorArithmetic.prelu(x, y) }
}
enum MaxFunction: FloatBinaryFunction {
    @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { VectorArithmetic.maximum(x, y) }
}
enum MinFunction: FloatBinaryFunction {
    @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { VectorArithmetic.minimum(x, y) }
}

/// The float32 fast path: same shapes, a scalar operand, or rows with a broadcast side.
func float32Binary<F: FloatBinaryFunction>(_ a: Tensor, _ b: Tensor, _ shape: [Int], _: F.Type) -> Tensor {
    let out = Tensor(zeros: .float32, shape: shape)
    let pa = a.f32, pb = b.f32, po = out.f32
    let n = out.count
    if a.shape == b.shape {
        parallelChunks(n) { r in for i in r { po[i] = F.apply(pa[i], pb[i]) } }
        return out
    }
    if b.count == 1 {
        let y = pb[0]
        parallelChunks(n) { r in for i in r { po[i] = F.apply(pa[i], y) } }
        return out
    }
    let walk = BroadcastWalk(output: shape, operands: [a.shape, b.shape])
    let len = walk.rowLength
    let sa = walk.strides[0].last!, sb = walk.strides[1].last!
    parallelChunks(walk.rowCount, cost: len) { rows in
        var offsets = [0, 0]
        for row in rows {
            walk.offsets(row: row, into: &offsets)
            let o = po + row * len, x = pa + offsets[0], y = pb + offsets[1]
            if sa == 1 && sb == 1 {
                for i in 0..<len { o[i] = F.apply(x[i], y[i]) }
            } else if sb == 0 {
                let yv = y[0]
                for i in 0..<len { o[i] = F.apply(x[i * sa], yv) }
            } else if sa == 0 {
                let xv = x[0]
                for i in 0..<len { o[i] = F.apply(xv, y[i * sb]) }
            } else {
                for i in 0..<len { o[i] = F.apply(x[i * sa], y[i * sb]) }
            }
        }
    }
    return out
}

/// The general path: element by element through Double (floats) or Int64 (integers).
func combine(
    _ a: Tensor, _ b: Tensor, shape: [Int], outType: DType, _ node: Node,
    float: (Double, Double) -> Double, integer: (Int64, Int64) -> Int64
) throws -> Tensor {
    let walk = BroadcastWalk(output: shape, operands: [a.shape, b.shape])
    let useFloat = a.dtype.isFloatingPoint || b.dtype.isFloatingPoint
    let len = walk.rowLength
    let sa = walk.strides[0].last!, sb = walk.strides[1].last!
    var result = [Double](repeating: 0, count: shape.reduce(1, *))
    var ints = [Int64](repeating: 0, count: useFloat ? 0 : result.count)
    var offsets = [0, 0]
    for row in 0..<walk.rowCount {
        walk.offsets(row: row, into: &offsets)
        for i in 0..<len {
            let ia = offsets[0] + i * sa, ib = offsets[1] + i * sb
            if useFloat {
                result[row * len + i] = float(a.double(at: ia), b.double(at: ib))
            } else {
                ints[row * len + i] = integer(a.int64(at: ia), b.int64(at: ib))
            }
        }
    }
    if useFloat {
        return outType == .float64 ? Tensor(result, shape: shape) : Tensor(result, shape: shape).cast(to: outType)
    }
    return Tensor(ints, shape: shape).cast(to: outType)
}

/// Sum, Max, Min, Mean over any number of broadcasting operands.
func variadic(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let operands = inputs.compactMap { $0 }
    guard var acc = operands.first else { throw IRError("needs at least one input", at: node) }
    let op = ["Sum": "Add", "Mean": "Add", "Max": "Max", "Min": "Min"][node.op]!
    for t in operands.dropFirst() {
        if op == "Add" {
            acc = try binary("Add", acc, t, node)
        } else {
            let isMax = op == "Max"
            guard let shape = broadcastShape([acc.shape, t.shape]) else {
                throw IRError("shapes \(acc.shape) and \(t.shape) do not broadcast", at: node)
            }
            if acc.dtype == .float32 && t.dtype == .float32 {
                acc = isMax ? float32Binary(acc, t, shape, MaxFunction.self) : float32Binary(acc, t, shape, MinFunction.self)
            } else {
                acc = try combine(
                    acc, t, shape: shape, outType: acc.dtype, node,
                    float: { isMax ? Swift.max($0, $1) : Swift.min($0, $1) },
                    integer: VectorArithmetic.integerBinary[isMax ? "max" : "min"]!)
            }
        }
    }
    if node.op == "Mean" {
        // The sum times the float32 reciprocal of the count, as onnxruntime computes it.
        acc = try binary("Mul", acc, Tensor(scalar: 1 / Float(operands.count)).cast(to: acc.dtype), node)
    }
    if operands.count == 1 { acc = operands[0] }
    return acc
}

/// Where(condition, x, y).
func whereOp(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let c = try operand(node, inputs, 0), x = try operand(node, inputs, 1), y = try operand(node, inputs, 2)
    guard let shape = broadcastShape([c.shape, x.shape, y.shape]) else {
        throw IRError("shapes \(c.shape), \(x.shape) and \(y.shape) do not broadcast", at: node)
    }
    guard x.dtype == y.dtype else { throw IRError("Where branches have types \(x.dtype.name) and \(y.dtype.name)", at: node) }
    let walk = BroadcastWalk(output: shape, operands: [c.shape, x.shape, y.shape])
    let out = Tensor(zeros: x.dtype, shape: shape)
    let size = x.dtype.byteSize
    let len = walk.rowLength
    let s = walk.strides.map { $0.last! }
    var offsets = [0, 0, 0]
    let cb = c.storage.base.assumingMemoryBound(to: UInt8.self)
    for row in 0..<walk.rowCount {
        walk.offsets(row: row, into: &offsets)
        for i in 0..<len {
            let pick = cb[offsets[0] + i * s[0]] != 0
            let src = pick ? x.storage.base + (offsets[1] + i * s[1]) * size : y.storage.base + (offsets[2] + i * s[2]) * size
            (out.storage.base + (row * len + i) * size).copyMemory(from: src, byteCount: size)
        }
    }
    return out
}
