// Elementwise ops: activations and math on one tensor, arithmetic and comparisons with
// numpy broadcasting, Where, Clip, Cast, CastLike, Identity and Dropout. Outputs keep the
// shape of the (broadcast) inputs.

let elementwiseOps: [OpSchema] =
    unaryOps + broadcastingOps + [
        OpSchema("Clip", since: 13, inputs: 1...3) { r in
            try r.requireSameType([0, 1, 2])
            return r.like0(r.dims(0))
        },
        OpSchema("Cast", since: 21, inputs: 1...1, attributes: [.int("saturate", 1), .required(.int, "to")]) { r in
            guard let code = r.int("to") else { throw r.fail("Cast requires attribute \"to\"") }
            guard let target = DType(rawValue: Int32(truncatingIfNeeded: code)) else {
                throw r.fail("Cast to ONNX element type \(code) is not supported")
            }
            if target.isPackedFourBit { throw r.fail("Cast to \(target.onnxName) is not supported") }
            return [TensorType(target, r.dims(0).map(Shape.init))]
        },
        OpSchema("BitCast", since: 26, inputs: 1...1, attributes: [.required(.int, "to")]) { r in
            guard let code = r.int("to"), let target = DType(rawValue: Int32(truncatingIfNeeded: code)) else {
                throw r.fail("BitCast to ONNX element type \(r.int("to") ?? -1) is not supported")
            }
            if let from = r.type(0)?.dtype {
                guard from.byteSize == target.byteSize, !from.isPackedFourBit, !target.isPackedFourBit else {
                    throw r.fail("BitCast of \(from.name) to \(target.name): the widths must be equal whole bytes")
                }
            }
            return [TensorType(target, r.dims(0).map(Shape.init))]
        },
        // The resolve-cast-like pass turns it into the Cast it is once the second input's
        // type is known.
        OpSchema("CastLike", since: 21, inputs: 2...2, attributes: [.int("saturate", 1)]) { r in
            [TensorType(r.type(1)?.dtype ?? .float32, r.dims(0).map(Shape.init))]
        },
        OpSchema("Where", since: 16, inputs: 3...3) { r in
            if let c = r.type(0)?.dtype, c != .bool { throw r.fail("condition is \(c.name), not bool") }
            try r.requireSameType([1, 2])
            return [r.result(r.type(1)?.dtype ?? r.type(2)?.dtype, try r.broadcast([r.dims(0), r.dims(1), r.dims(2)]))]
        },
        OpSchema("Identity", since: 21, inputs: 1...1) { r in r.like0(r.dims(0)) },
        OpSchema("Dropout", since: 13, inputs: 1...3, outputs: 1...2, attributes: [.int("seed")]) { r in
            // Inference: the data passes through; the mask (second output) is all true.
            r.like0(r.dims(0)) + [TensorType(.bool, r.dims(0).map(Shape.init))]
        },
    ]

/// One input, one output of the same type and shape.
private let unaryOps: [OpSchema] = [
    ("Relu", 14, []), ("LeakyRelu", 16, [.float("alpha", 0.01)]), ("Sigmoid", 13, []),
    ("HardSigmoid", 6, [.float("alpha", 0.2), .float("beta", 0.5)]), ("HardSwish", 14, []), ("Tanh", 13, []),
    ("Elu", 6, [.float("alpha", 1)]),
    ("Selu", 6, [.float("alpha", 1.67326319217681884765625), .float("gamma", 1.05070102214813232421875)]),
    ("Softplus", 1, []), ("Softsign", 1, []), ("Erf", 13, []), ("Gelu", 20, [.string("approximate", "none")]),
    ("Exp", 13, []), ("Log", 13, []), ("Sqrt", 13, []), ("Reciprocal", 13, []), ("Neg", 13, []), ("Abs", 13, []),
    ("Floor", 13, []), ("Ceil", 13, []), ("Round", 11, []), ("Sign", 13, []), ("Not", 1, []),
    ("Sin", 7, []), ("Cos", 7, []), ("Tan", 7, []), ("Asin", 7, []), ("Acos", 7, []), ("Atan", 7, []),
    ("Sinh", 9, []), ("Cosh", 9, []), ("Asinh", 9, []), ("Acosh", 9, []), ("Atanh", 9, []), ("BitwiseNot", 18, []),
].map { (name: String, since: Int, attributes: [AttributeSchema]) in
    OpSchema(name, since: since, inputs: 1...1, attributes: attributes) { r in r.like0(r.dims(0)) }
}

/// Numpy-broadcasting ops: arithmetic keeps the operands' type, comparisons give bool.
private let broadcastingOps: [OpSchema] = {
    func arithmetic(_ name: String, _ since: Int, inputs: ClosedRange<Int> = 2...2, sameType: Bool = true) -> OpSchema {
        OpSchema(name, since: since, inputs: inputs) { r in
            let all = Array(r.node.inputs.indices)
            if sameType { try r.requireSameType(all) }
            return [r.result(r.dtype, try r.broadcast(all.map(r.dims)))]
        }
    }
    func comparison(_ name: String, _ since: Int) -> OpSchema {
        OpSchema(name, since: since, inputs: 2...2) { r in
            try r.requireSameType([0, 1])
            return [TensorType(.bool, try r.broadcast([r.dims(0), r.dims(1)]).map(Shape.init))]
        }
    }
    let prelu = OpSchema("PRelu", since: 16, inputs: 2...2) { r in
        // The slope broadcasts to X (unidirectionally): the output is X's shape.
        try r.requireSameType([0, 1])
        if let x = r.dims(0), let slope = r.dims(1) {
            guard slope.count <= x.count else {
                throw r.fail("slope \(Shape(slope)) has a higher rank than the input \(Shape(x))")
            }
            _ = try r.broadcast([x, slope])
        }
        return r.like0(r.dims(0))
    }
    // The remainder: with fmod = 0 (integers only) it takes the divisor's sign, with 1 the dividend's.
    let mod = OpSchema("Mod", since: 13, inputs: 2...2, attributes: [.int("fmod", 0)]) { r in
        try r.requireSameType([0, 1])
        return [r.result(r.dtype, try r.broadcast([r.dims(0), r.dims(1)]))]
    }
    let bitShift = OpSchema("BitShift", since: 11, inputs: 2...2, attributes: [.required(.string, "direction")]) { r in
        try r.requireSameType([0, 1])
        return [r.result(r.dtype, try r.broadcast([r.dims(0), r.dims(1)]))]
    }
    return [
        arithmetic("Add", 14), arithmetic("Sub", 14), arithmetic("Mul", 14), arithmetic("Div", 14),
        arithmetic("Pow", 15, sameType: false), prelu, mod,
        arithmetic("Sum", 13, inputs: atLeast(1)), arithmetic("Max", 13, inputs: atLeast(1)),
        arithmetic("Min", 13, inputs: atLeast(1)), arithmetic("Mean", 13, inputs: atLeast(1)),
        comparison("Equal", 19), comparison("Greater", 13), comparison("Less", 13),
        comparison("GreaterOrEqual", 16), comparison("LessOrEqual", 16), comparison("And", 7), comparison("Or", 7),
        arithmetic("BitwiseAnd", 18), arithmetic("BitwiseOr", 18), arithmetic("BitwiseXor", 18), bitShift,
    ]
}()
