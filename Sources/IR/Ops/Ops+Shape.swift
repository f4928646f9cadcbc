// Shape ops: those that reinterpret or replicate a tensor's layout (Reshape, Flatten,
// Transpose, Squeeze, Unsqueeze, Expand, Tile) and those that make tensors from shapes
// (Shape, Size, Range, ConstantOfShape).

let shapeOps: [OpSchema] = [
    OpSchema("Reshape", since: 21, inputs: 2...2, attributes: [.int("allowzero", 0)]) { r in try r.reshape() },
    OpSchema("Flatten", since: 21, inputs: 1...1, attributes: [.int("axis", 1)]) { r in
        guard let x = r.dims(0) else { return r.like0([.unknown, .unknown]) }
        let axis = r.int("axis") ?? 1
        let a = axis < 0 ? axis + x.count : axis
        guard a >= 0 && a <= x.count else { throw r.fail("axis \(axis) is out of range for rank \(x.count)") }
        return r.like0([r.product(x[..<a]), r.product(x[a...])])
    },
    OpSchema("Transpose", since: 21, inputs: 1...1, attributes: [.ints("perm")]) { r in
        guard let x = r.dims(0) else { return r.like0(nil) }
        let perm = r.ints("perm") ?? Array(x.indices.reversed())
        guard perm.count == x.count, Set(perm) == Set(x.indices) else {
            throw r.fail("perm \(perm) is not a permutation of the \(x.count) axes of \(Shape(x))")
        }
        return r.like0(perm.map { x[$0] })
    },
    OpSchema("Squeeze", since: 21, inputs: 1...2) { r in try r.squeeze() },
    OpSchema("Unsqueeze", since: 21, inputs: 2...2) { r in
        guard let x = r.dims(0) else { return r.like0(nil) }
        guard let list = r.constantInts(1) else {
            return r.like0(r.length(1).map { Array(repeating: .unknown, count: x.count + $0) })
        }
        let rank = x.count + list.count
        let inserted = Set(try r.axes(list, rank: rank))
        var rest = x.makeIterator()
        return r.like0((0..<rank).map { inserted.contains($0) ? .known(1) : rest.next() ?? .unknown })
    },
    OpSchema("Expand", since: 13, inputs: 2...2) { r in
        // Bidirectional broadcasting of the input against the shape operand.
        guard let target = r.shapeValue(1) ?? r.length(1).map({ Array(repeating: Dim.unknown, count: $0) }) else {
            return r.like0(nil)
        }
        if let bad = target.first(where: { ($0.value ?? 0) < 0 }) { throw r.fail("shape \(Shape(target)) holds \(bad)") }
        return r.like0(try r.broadcast([r.dims(0), target]))
    },
    OpSchema("Tile", since: 13, inputs: 2...2) { r in
        guard let x = r.dims(0) else { return r.like0(nil) }
        guard let repeats = r.constantInts(1) else { return r.like0(x.map { _ in .unknown }) }
        guard repeats.count == x.count, repeats.allSatisfy({ $0 >= 0 }) else {
            throw r.fail("repeats \(repeats) do not give one non-negative count per axis of \(Shape(x))")
        }
        return r.like0(zip(x, repeats).map { d, k in k == 1 ? d : r.product([d, .known(k)]) })
    },
    OpSchema("Shape", since: 21, inputs: 1...1, attributes: [.int("end"), .int("start", 0)]) { r in
        guard let x = r.dims(0) else { return [TensorType(.int64, Shape([.unknown]))] }
        let (start, end) = r.shapeWindow(rank: x.count)
        return [TensorType(.int64, [max(0, end - start)])]
    },
    OpSchema("Size", since: 21, inputs: 1...1) { _ in [TensorType(.int64, [])] },
    OpSchema("Range", since: 11, inputs: 3...3) { r in try r.range() },
    OpSchema("ConstantOfShape", since: 21, inputs: 1...1, attributes: [.tensor("value")]) { r in
        var dtype = DType.float32
        if case .tensor(let value)? = r.node.attributes["value"] {
            guard value.count == 1 else { throw r.fail("value must hold one element, not \(value.count)") }
            dtype = value.dtype
        }
        guard let dims = r.shapeValue(0) ?? r.length(0).map({ Array(repeating: Dim.unknown, count: $0) }) else {
            return [TensorType(dtype, nil)]
        }
        if let bad = dims.first(where: { ($0.value ?? 0) < 0 }) { throw r.fail("shape \(Shape(dims)) holds \(bad)") }
        return [TensorType(dtype, Shape(dims))]
    },
]

extension ShapeRule {
    /// Reshape: 0 copies the input's extent (unless allowzero), one -1 takes what is left.
    /// The shape operand may be symbolic (from a shape chain); -1 is then worked out when
    /// the symbols on both sides cancel.
    func reshape() throws -> [TensorType?] {
        guard let spec = shapeValue(1) else { return like0(length(1).map { Array(repeating: .unknown, count: $0) }) }
        let input = dims(0), allowZero = (int("allowzero") ?? 0) != 0
        var out: [Dim] = []
        var inferred: Int?
        for (i, d) in spec.enumerated() {
            switch d {
            case .known(-1):
                guard inferred == nil else { throw fail("shape \(Shape(spec)) has more than one -1") }
                inferred = i
                out.append(.unknown)
            case .known(let v) where v < -1:
                throw fail("shape \(Shape(spec)) holds \(v)")
            case .known(0) where !allowZero:
                guard let input else { out.append(.unknown); continue }
                guard i < input.count else {
                    throw fail("shape \(Shape(spec)) copies axis \(i) of the input \(Shape(input)), which it does not have")
                }
                out.append(input[i])
            default:
                out.append(d)
            }
        }
        guard let input else { return like0(out) }
        if let i = inferred { out[i] = try remainder(of: input, over: out, skipping: i, spec: spec) }
        if let from = Shape(input).concrete, let to = Shape(out).concrete {
            let (count, target) = (try elementCount(from), try elementCount(to))
            if count != target {
                throw fail("cannot reshape \(Shape(input)) (\(count) elements) to \(Shape(spec)) (\(target) elements)")
            }
        }
        return like0(out)
    }

    /// The extent a -1 stands for: the input's elements divided by the other output
    /// extents, with equal symbols on both sides cancelling.
    private func remainder(of input: [Dim], over out: [Dim], skipping i: Int, spec: [Dim]) throws -> Dim {
        var symbols: [String: Int] = [:]
        var inputProduct = 1, outputProduct = 1
        for d in input {
            switch d {
            case .known(let v):
                let (p, overflow) = inputProduct.multipliedReportingOverflow(by: v)
                if overflow { return .unknown }
                inputProduct = p
            case .symbol(let s): symbols[s, default: 0] += 1
            case .unknown: return .unknown
            }
        }
        for (k, d) in out.enumerated() where k != i {
            switch d {
            case .known(let v):
                let (p, overflow) = outputProduct.multipliedReportingOverflow(by: v)
                if overflow { return .unknown }
                outputProduct = p
            case .symbol(let s):
                guard let n = symbols[s], n > 0 else { return .unknown }
                symbols[s] = n - 1
            case .unknown: return .unknown
            }
        }
        let left = symbols.filter { $0.value > 0 }
        guard outputProduct > 0 else { return .unknown }
        guard inputProduct % outputProduct == 0 else {
            if left.isEmpty {
                throw fail(
                    "cannot reshape \(Shape(input)) (\(inputProduct) elements) to \(Shape(spec)): "
                        + "\(outputProduct) does not divide it")
            }
            return .unknown
        }
        let quotient = inputProduct / outputProduct
        if left.isEmpty { return .known(quotient) }
        if left.count == 1, let (symbol, count) = left.first, count == 1, quotient == 1 { return .symbol(symbol) }
        return .unknown
    }

    /// Squeeze: the listed axes (which must be 1), or every axis known to be 1.
    func squeeze() throws -> [TensorType?] {
        guard let x = dims(0) else { return like0(nil) }
        guard isPresent(1) else {
            // Without axes every extent-1 axis goes, so every extent must be known.
            guard Shape(x).concrete != nil else { return like0(nil) }
            return like0(x.filter { $0 != .known(1) })
        }
        guard let list = constantInts(1) else {
            return like0(length(1).map { Array(repeating: .unknown, count: max(0, x.count - $0)) })
        }
        let removed = Set(try axes(list, rank: x.count))
        for a in removed.sorted() {
            if let v = x[a].value, v != 1 { throw fail("cannot squeeze axis \(a) of \(Shape(x)): its extent is \(v), not 1") }
        }
        return like0(x.indices.filter { !removed.contains($0) }.map { x[$0] })
    }

    /// Shape's start and end attributes clamped to [0, rank].
    func shapeWindow(rank: Int) -> (start: Int, end: Int) {
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
        return (clamp(int("start") ?? 0), clamp(int("end") ?? rank))
    }

    /// Range: max(ceil((limit - start) / delta), 0) elements of start's type. Its operands
    /// are scalars, or (as onnxruntime takes them, and ONNX's function bodies write them)
    /// vectors of one element.
    func range() throws -> [TensorType?] {
        try requireSameType([0, 1, 2])
        let dtype = type(0)?.dtype ?? type(1)?.dtype ?? type(2)?.dtype
        for i in 0...2 {
            if let d = dims(i), !d.isEmpty, !(d.count == 1 && d[0].value == 1) {
                throw fail("input \(i) has shape \(Shape(d)), not a scalar")
            }
        }
        guard let start = constant(0), let limit = constant(1), let delta = constant(2) else {
            // Integer operands that are extents of shapes (`torch.arange(x.size(1))`, a Gather
            // of a Shape): the count when all three are known, and the limit itself when it is
            // symbolic and the range counts it from 0 by 1.
            guard dtype?.isInteger == true, let s = shapeValue(0), let l = shapeValue(1), let d = shapeValue(2),
                s.count == 1, l.count == 1, d.count == 1
            else { return [result(dtype, [.unknown])] }
            if let s = s[0].value, let l = l[0].value, let d = d[0].value {
                return [result(dtype, [.known(try integerCount(Int64(s), Int64(l), Int64(d)))])]
            }
            return [result(dtype, [s[0].value == 0 && d[0].value == 1 ? l[0] : .unknown])]
        }
        let count: Int
        if start.dtype.isInteger {
            count = try integerCount(start.int64(at: 0), limit.int64(at: 0), delta.int64(at: 0))
        } else {
            let (s, l, d) = (start.double(at: 0), limit.double(at: 0), delta.double(at: 0))
            guard d != 0 else { throw fail("delta is 0") }
            count = try extent(roundingDown: max(0, -((s - l) / d).rounded(.down)))
        }
        return [result(dtype, [.known(count)])]
    }

    /// The elements of an integer Range from `s` to `l` by `d`: ceil((l - s) / d), at least 0.
    private func integerCount(_ s: Int64, _ l: Int64, _ d: Int64) throws -> Int {
        guard d != 0 else { throw fail("delta is 0") }
        let (span, overflow) = l.subtractingReportingOverflow(s)
        guard !overflow, !(span == .min && d == -1) else { throw fail("the range from \(s) to \(l) is out of range") }
        // ceil(span / d), where division truncates toward zero.
        return Int(max(0, span / d + (span % d != 0 && (span < 0) == (d < 0) ? 1 : 0)))
    }
}
