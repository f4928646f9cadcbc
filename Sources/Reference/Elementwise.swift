// Unary elementwise ops: activations and math functions, computed in float32 (other
// float types go through float32; Neg, Abs and Sign also work on integers, Not on bool).
import Formats
import Foundation
import IR

enum UnaryOp {
    static let allNames = [
        "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu",
        "Softplus", "Softsign", "Erf", "Gelu", "Exp", "Log", "Sqrt", "Reciprocal", "Neg",
        "Abs", "Floor", "Ceil", "Round", "Sign", "Not", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan",
        "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
    ]

    /// The float32 function of `node`: the vector unit's (Formats/VectorArithmetic.swift)
    /// for the ops it offers, whose `vop` name is the op's lowercased name.
    static func function(_ node: Node) throws -> (Float) -> Float {
        if let name = vectorName(node), let f = VectorArithmetic.unary(name) { return f }
        switch node.op {
        case "LeakyRelu":
            let a = node.float("alpha", default: 0.01)
            return { $0 >= 0 ? $0 : a * $0 }
        case "HardSigmoid":
            let a = node.float("alpha", default: 0.2), b = node.float("beta", default: 0.5)
            return { VectorArithmetic.hardSigmoid($0, alpha: a, beta: b) }
        case "Elu":
            let a = node.float("alpha", default: 1)
            return { VectorArithmetic.elu($0, alpha: a) }
        case "Selu":
            let a = node.float("alpha", default: 1.67326319217681884765625)
            let g = node.float("gamma", default: 1.05070102214813232421875)
            return { VectorArithmetic.selu($0, alpha: a, gamma: g) }
        default: throw IRError("\(node.op) has no float kernel", at: node)
        }
    }
}

extension UnaryOp {
    /// The vector unit's name (`vop`) for the function of a unary node, when it has one.
    static func vectorName(_ node: Node) -> String? {
        VectorArithmetic.unaryName(onnx: node.op, approximate: node.string("approximate", default: "none"))
    }
}

func unary(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    if node.op == "Not" {
        guard x.dtype == .bool else { throw IRError("Not needs a bool input, not \(x.dtype.name)", at: node) }
        let out = Tensor(zeros: .bool, shape: x.shape)
        let s = x.storage.base.assumingMemoryBound(to: UInt8.self), d = out.storage.base.assumingMemoryBound(to: UInt8.self)
        for i in 0..<x.count { d[i] = s[i] == 0 ? 1 : 0 }
        return out
    }
    if x.dtype.isInteger {
        // The vector unit's integer functions (VectorArithmetic.integerUnary), wrapping.
        guard ["Neg", "Abs", "Sign", "Relu"].contains(node.op), let f = VectorArithmetic.integerUnary[node.op.lowercased()]
        else { throw IRError("\(node.op) on \(x.dtype.name) is not supported", at: node) }
        return Tensor(x.int64s().map(f), shape: x.shape).cast(to: x.dtype)
    }
    guard x.dtype.isFloatingPoint else { throw IRError("\(node.op) on \(x.dtype.name) is not supported", at: node) }
    let f = try UnaryOp.function(node)
    let input = x.cast(to: .float32)
    let out = Tensor(zeros: .float32, shape: x.shape)
    let s = input.f32, d = out.f32
    if node.op == "Relu" {
        parallelChunks(x.count) { r in for i in r { d[i] = max(s[i], 0) } }
    } else {
        parallelChunks(x.count, cost: 8) { r in for i in r { d[i] = f(s[i]) } }
    }
    return out.cast(to: x.dtype)
}

/// Clip(x, min?, max?).
func clip(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    if x.dtype.isInteger {
        let low = optionalOperand(inputs, 1).map { $0.int64(at: 0) } ?? Int64.min
        let high = optionalOperand(inputs, 2).map { $0.int64(at: 0) } ?? Int64.max
        return Tensor(x.int64s().map { min(max($0, low), high) }, shape: x.shape).cast(to: x.dtype)
    }
    let low = optionalOperand(inputs, 1).map { Float($0.double(at: 0)) } ?? -Float.infinity
    let high = optionalOperand(inputs, 2).map { Float($0.double(at: 0)) } ?? Float.infinity
    let input = x.cast(to: .float32)
    let s = input.f32
    return makeFloat(x.shape) { d in
        parallelChunks(x.count) { r in for i in r { d[i] = min(max(s[i], low), high) } }
    }.cast(to: x.dtype)
}
