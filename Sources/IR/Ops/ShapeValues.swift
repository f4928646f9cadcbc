// Symbolic shape values: what the small int64 tensors of exporter shape chains hold when
// the shapes they come from are symbolic (Shape -> Gather -> Unsqueeze -> Concat), so a
// Reshape fed by such a chain still gets dims like [batch, 512].

public enum ShapeValues {
    /// The elements of a constant integer tensor of rank 0 or 1, as dims.
    public static func of(_ t: Tensor) -> [Dim]? {
        guard t.dtype.isInteger, t.rank <= 1, t.count <= 64 else { return nil }
        return t.int64s().map { .known(Int($0)) }
    }

    /// The symbolic elements of `node`'s first output, from its inputs' elements (`values`,
    /// nil where unknown) and types. nil when the op does not carry shapes or too little
    /// is known.
    public static func propagate(_ node: Node, values: [[Dim]?], types: [TensorType?]) -> [Dim]? {
        func value(_ i: Int) -> [Dim]? { i < values.count ? values[i] : nil }
        func ints(_ i: Int) -> [Int]? {
            guard let v = value(i) else { return nil }
            let known = v.compactMap(\.value)
            return known.count == v.count ? known : nil
        }
        switch node.op {
        case "Shape":
            guard let dims = types.first??.shape?.dims else { return nil }
            func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + dims.count : v, 0), dims.count) }
            let start = clamp(node.int("start", default: 0)), end = clamp(node.int("end", default: dims.count))
            return start < end ? Array(dims[start..<end]) : []
        case "Gather":
            guard node.int("axis", default: 0) == 0, let data = value(0), let indices = ints(1) else { return nil }
            var out: [Dim] = []
            for i in indices {
                let j = i < 0 ? i + data.count : i
                guard j >= 0 && j < data.count else { return nil }
                out.append(data[j])
            }
            return out
        case "Unsqueeze", "Squeeze", "Identity", "Cast":
            // Extents survive a cast to 32-bit integers as to 64-bit ones (exporters of
            // TensorFlow models cast shapes to int32).
            if node.op == "Cast", node.int("to") != Int(DType.int64.rawValue), node.int("to") != Int(DType.int32.rawValue) {
                return nil
            }
            return value(0)
        case "Concat":
            guard node.int("axis", default: 0) == 0 || node.int("axis") == -1 else { return nil }
            var out: [Dim] = []
            for i in node.inputs.indices {
                guard let v = value(i) else { return nil }
                out += v
            }
            return out
        case "Slice":
            guard let data = value(0), let starts = ints(1), let ends = ints(2), starts.count == 1, ends.count == 1 else {
                return nil
            }
            if let axes = ints(3), axes != [0] && axes != [-1] { return nil }
            if let steps = ints(4), steps != [1] { return nil }
            let n = data.count
            let b = min(max(starts[0] < 0 ? starts[0] + n : starts[0], 0), n)
            let e = min(max(ends[0] < 0 ? ends[0] + n : ends[0], 0), n)
            return b < e ? Array(data[b..<e]) : []
        case "Reshape":
            // A shape vector reshaped to a vector ([-1], [n]), or one element to a scalar,
            // keeps its elements.
            guard let data = value(0), let target = ints(1),
                target.count == 1 ? target[0] == -1 || target[0] == data.count : target.isEmpty && data.count == 1
            else { return nil }
            return data
        case "Mul", "Add", "Sub", "Div":
            // Arithmetic on extents (a flattened extent, a head's width): element by element,
            // a one-element operand broadcast; a result of a symbolic extent is unknown unless
            // the other operand leaves it as it is.
            guard types.count == 2, types.allSatisfy({ $0?.dtype.isInteger ?? false }), let a = value(0),
                let b = value(1), a.count == b.count || a.count == 1 || b.count == 1
            else { return nil }
            let n = max(a.count, b.count)
            return (0..<n).map { i in
                arithmetic(node.op, a[a.count == 1 ? 0 : i], b[b.count == 1 ? 0 : i])
            }
        default:
            return nil
        }
    }

    /// `op` of two extents: computed when both are known (Div truncating, as integer division
    /// does; unknown when it overflows); the symbolic one when the other leaves it unchanged
    /// (× 1, + 0, − 0, ÷ 1); else unknown.
    private static func arithmetic(_ op: String, _ x: Dim, _ y: Dim) -> Dim {
        if let p = x.value, let q = y.value {
            // Sentinels such as INT64_MAX (a Slice's open end) may overflow: unknown then.
            let (r, overflow): (Int, Bool)
            switch op {
            case "Mul": (r, overflow) = p.multipliedReportingOverflow(by: q)
            case "Add": (r, overflow) = p.addingReportingOverflow(q)
            case "Sub": (r, overflow) = p.subtractingReportingOverflow(q)
            default:
                guard q != 0 else { return .unknown }
                (r, overflow) = p.dividedReportingOverflow(by: q)
            }
            return overflow ? .unknown : .known(r)
        }
        switch (op, x.value, y.value) {
        case ("Mul", 1?, _), ("Add", 0?, _): return y
        case ("Mul", _, 1?), ("Add", _, 0?), ("Sub", _, 0?), ("Div", _, 1?): return x
        default: return .unknown
        }
    }
}

extension ShapeInference {
    /// `node`'s output types by its shape rule, following exporter shape chains: its inputs'
    /// symbolic elements come from `constants` (small integer tensors) or from `values`,
    /// which gains its own first output's (`ShapeValues.propagate`). A walk in node order
    /// (infer-shapes, fold-constants, import) calls it for each node in turn.
    public static func infer(
        _ node: Node, inputTypes: [TensorType?], constants: [String: Tensor], tracking values: inout [String: [Dim]]
    ) throws -> [TensorType?] {
        let constantInputs = node.inputs.map { $0.isEmpty ? nil : constants[$0] }
        let elements = node.inputs.map { name -> [Dim]? in
            if let c = constants[name] { return ShapeValues.of(c) }
            return values[name]
        }
        if let first = node.outputs.first, !first.isEmpty,
            let value = ShapeValues.propagate(node, values: elements, types: inputTypes)
        {
            values[first] = value
        }
        return try infer(node, inputTypes: inputTypes, constantInputs: constantInputs, shapeValues: elements)
    }
}
