// Shape rules: the output types of a node from its input types and, where an operand
// carries a shape (Reshape, Slice, Expand, ...), from that operand's constant value.
// Symbolic dimensions flow through; contradictions are errors naming the node.

public enum ShapeInference {
    /// Output types of `node` (nil where nothing is known). `constants[i]` is input i's value
    /// when it is a constant.
    /// `shapeValues[i]`, when given, is the symbolic content of input i (see ShapeValues):
    /// a Reshape whose shape comes from a symbolic shape chain uses it.
    public static func infer(_ node: Node, inputTypes: [TensorType?], constantInputs: [Tensor?],
                             shapeValues: [[Dim]?] = []) throws -> [TensorType?] {
        let rule = ShapeRule(node: node, types: inputTypes, constants: constantInputs, shapeValues: shapeValues)
        return try rule.outputs()
    }
}

/// The shape rules of one node, with its input types, constant inputs and shape values.
struct ShapeRule {
    let node: Node
    let types: [TensorType?]
    let constants: [Tensor?]
    let shapeValues: [[Dim]?]

    func type(_ i: Int) -> TensorType? { i < types.count ? types[i] : nil }
    func dims(_ i: Int) -> [Dim]? { type(i)?.shape?.dims }
    func constant(_ i: Int) -> Tensor? { i < constants.count ? constants[i] : nil }
    func ints(_ i: Int) -> [Int]? { constant(i).map { $0.int64s().map(Int.init) } }
    var dtype: DType? { type(0)?.dtype }

    func same(_ dtype: DType?, _ dims: [Dim]?) -> [TensorType?] {
        guard let dtype else { return [nil] }
        return [TensorType(dtype, dims.map(Shape.init))]
    }

    func axis(_ a: Int, _ rank: Int) throws -> Int {
        let r = a < 0 ? a + rank : a
        guard r >= 0 && r < max(rank, 1) else { throw IRError("axis \(a) is out of range for rank \(rank)", at: node) }
        return r
    }

    func outputs() throws -> [TensorType?] {
        switch node.op {
        case "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Softplus", "Softsign",
             "Erf", "Gelu", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Floor", "Ceil", "Sign", "Not",
             "Identity", "Softmax", "LogSoftmax", "LRN", "Clip", "BatchNormalization", "InstanceNormalization":
            return same(dtype, dims(0))
        case "Dropout":
            return same(dtype, dims(0)) + (node.outputs.count > 1 ? [TensorType(.bool, dims(0).map(Shape.init))] : [])
        case "LayerNormalization":
            var stats: [Dim]?
            if let d = dims(0) {
                let a = try axis(node.int("axis", default: -1), d.count)
                stats = Array(d[..<a]) + Array(repeating: .known(1), count: d.count - a)
            }
            return Array((same(dtype, dims(0)) + [TensorType(.float32, stats.map(Shape.init)), TensorType(.float32, stats.map(Shape.init))]).prefix(node.outputs.count))
        case "Add", "Sub", "Mul", "Div", "Pow", "PRelu", "Sum", "Max", "Min", "Mean":
            return same(dtype, try broadcast((0..<node.inputs.count).map(dims)))
        case "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or":
            return [TensorType(.bool, try broadcast([dims(0), dims(1)]).map(Shape.init))]
        case "Where":
            return same(type(1)?.dtype, try broadcast([dims(0), dims(1), dims(2)]))
        case "Cast":
            guard let code = node.int("to"), let t = DType(rawValue: Int32(code)) else {
                throw IRError("Cast target type is missing or not supported", at: node)
            }
            return [TensorType(t, dims(0).map(Shape.init))]
        case "Conv", "MaxPool", "AveragePool": return try window()
        case "ConvTranspose": return try convTranspose()
        case "GlobalAveragePool", "GlobalMaxPool":
            return same(dtype, dims(0).map { Array($0.prefix(2)) + Array(repeating: .known(1), count: max(0, $0.count - 2)) })
        case "MatMul": return try matMul()
        case "Gemm":
            guard let a = dims(0), let b = dims(1), a.count == 2, b.count == 2 else { return same(dtype, nil) }
            let m = node.int("transA", default: 0) != 0 ? a[1] : a[0]
            let n = node.int("transB", default: 0) != 0 ? b[0] : b[1]
            return same(dtype, [m, n])
        case "Flatten":
            guard let d = dims(0) else { return same(dtype, nil) }
            var a = node.int("axis", default: 1)
            if a < 0 { a += d.count }
            return same(dtype, [product(Array(d[..<a])), product(Array(d[a...]))])
        case "Reshape": return same(dtype, try reshape())
        case "Transpose":
            guard let d = dims(0) else { return same(dtype, nil) }
            let perm = node.ints("perm") ?? Array((0..<d.count).reversed())
            guard perm.count == d.count, Set(perm) == Set(0..<d.count) else {
                throw IRError("perm \(perm) is not a permutation of \(d.count) axes", at: node)
            }
            return same(dtype, perm.map { d[$0] })
        case "Squeeze":
            guard let d = dims(0) else { return same(dtype, nil) }
            if let axes = ints(1) {
                let set = Set(try axes.map { try axis($0, d.count) })
                return same(dtype, d.enumerated().filter { !set.contains($0.offset) }.map(\.element))
            }
            if node.inputs.count > 1 && !node.inputs[1].isEmpty { return same(dtype, nil) }
            guard d.allSatisfy({ $0.value != nil }) else { return same(dtype, nil) }
            return same(dtype, d.filter { $0.value != 1 })
        case "Unsqueeze":
            guard let d = dims(0), let axes = ints(1) else { return same(dtype, nil) }
            let rank = d.count + axes.count
            let set = Set(try axes.map { try axis($0, rank) })
            var it = d.makeIterator()
            return same(dtype, (0..<rank).map { set.contains($0) ? .known(1) : it.next()! })
        case "Concat": return try concat()
        case "Split": return try split()
        case "Slice": return same(dtype, try slice())
        case "Gather":
            guard let d = dims(0), let idx = dims(1) else { return same(dtype, nil) }
            let a = try axis(node.int("axis", default: 0), d.count)
            return same(dtype, Array(d[..<a]) + idx + Array(d[(a + 1)...]))
        case "Expand":
            guard let target = ints(1) else { return same(dtype, nil) }
            return same(dtype, try broadcast([dims(0), target.map { .known($0) }]))
        case "Tile":
            guard let d = dims(0), let r = ints(1), r.count == d.count else { return same(dtype, nil) }
            return same(dtype, zip(d, r).map { dim, k in k == 1 ? dim : (dim.value.map { .known($0 * k) } ?? .unknown) })
        case "Pad":
            guard let d = dims(0), let p = ints(1) else { return same(dtype, dims(0).map { $0.map { _ in .unknown } }) }
            let axes = try ints(3).map { try $0.map { try axis($0, d.count) } } ?? Array(0..<d.count)
            guard p.count == 2 * axes.count else { throw IRError("pads has \(p.count) values for \(axes.count) axes", at: node) }
            var out = d
            for (k, a) in axes.enumerated() {
                out[a] = p[k] == 0 && p[k + axes.count] == 0 ? d[a] : (d[a].value.map { .known($0 + p[k] + p[k + axes.count]) } ?? .unknown)
            }
            return same(dtype, out)
        case "Resize": return same(dtype, resize())
        case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd": return same(dtype, try reduce())
        case "ArgMax", "ArgMin":
            guard let d = dims(0) else { return [TensorType(.int64, nil)] }
            let a = try axis(node.int("axis", default: 0), d.count)
            var out = d
            if node.int("keepdims", default: 1) != 0 { out[a] = .known(1) } else { out.remove(at: a) }
            return [TensorType(.int64, Shape(out))]
        case "Shape":
            guard let d = dims(0) else { return [TensorType(.int64, Shape([.unknown]))] }
            func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + d.count : v, 0), d.count) }
            let n = max(0, clamp(node.int("end", default: d.count)) - clamp(node.int("start", default: 0)))
            return [TensorType(.int64, [n])]
        case "Size": return [TensorType(.int64, [])]
        case "Range":
            return [TensorType(dtype ?? .float32, Shape([.unknown]))]
        case "ConstantOfShape":
            let valueType = node.tensor("value")?.dtype ?? .float32
            guard let s = ints(0) else { return [TensorType(valueType, dims(0).flatMap { $0.first?.value }.map { Shape(Array(repeating: Dim.unknown, count: $0)) })] }
            return [TensorType(valueType, s)]
        default:
            throw IRError("no shape rule for \(node.op)", at: node)
        }
    }
}
