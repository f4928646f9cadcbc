// Shape inference: a node's output types from its input types and, where an operand
// carries a shape (Reshape, Slice, Expand, ...), from that operand's constant value. The
// rules themselves sit next to their schemas in the Ops+<Family>.swift files.

public enum ShapeInference {
    /// Output types of `node`, one per output (nil where nothing is known).
    /// `constantInputs[i]` is input i's value when it is a constant; `shapeValues[i]`, when
    /// given, is the symbolic content of a small int64 input (see `ShapeValues`), so that a
    /// Reshape fed by an exporter's Shape -> Gather -> Concat chain still gets its dims.
    /// Throws an `IRError` naming the node when the inputs contradict the op (channels
    /// that do not match, shapes that do not broadcast, a reshape that changes the element
    /// count, an axis out of range).
    public static func infer(
        _ node: Node, inputTypes: [TensorType?], constantInputs: [Tensor?],
        shapeValues: [[Dim]?] = []
    ) throws -> [TensorType?] {
        guard let schema = OpRegistry.schema(node.op) else {
            throw IRError("no shape rule for \(node.op): it is not in the op table", at: node)
        }
        let rule = ShapeRule(
            node: node, schema: schema, types: inputTypes, constants: constantInputs,
            shapeValues: shapeValues)
        let types = try schema.rule(rule)
        for (k, type) in types.enumerated() {
            guard let type, let dims = type.shape?.dims else { continue }
            if let bad = dims.first(where: { ($0.value ?? 0) < 0 }) {
                throw IRError("output \(k) would have shape \(Shape(dims)), with an extent of \(bad)", at: node)
            }
            guard let bytes = type.dtype.byteCount(of: dims.compactMap(\.value)), bytes <= DType.largestTensorBytes else {
                throw IRError(
                    "output \(k) would have shape \(Shape(dims)): more than 2^40 bytes (the shapes or attributes are "
                        + "out of range)", at: node)
            }
        }
        let count = node.outputs.count
        return types.count >= count ? Array(types.prefix(count)) : types + Array(repeating: nil, count: count - types.count)
    }
}

/// One node being typed: its inputs' types, constant values and symbolic values, with
/// attribute lookups that fall back to the op table's defaults.
struct ShapeRule {
    let node: Node
    let schema: OpSchema
    let types: [TensorType?]
    let constants: [Tensor?]
    let shapeValues: [[Dim]?]

    // MARK: Operands

    /// True when input `i` is listed and not omitted.
    func isPresent(_ i: Int) -> Bool { i < node.inputs.count && !node.inputs[i].isEmpty }
    func type(_ i: Int) -> TensorType? { isPresent(i) && i < types.count ? types[i] : nil }
    func dims(_ i: Int) -> [Dim]? { type(i)?.shape?.dims }
    func constant(_ i: Int) -> Tensor? { isPresent(i) && i < constants.count ? constants[i] : nil }
    /// The elements of constant input `i` as integers (shapes, axes, pads, repeats).
    func constantInts(_ i: Int) -> [Int]? { constant(i).map { $0.int64s().map(Int.init) } }
    /// The elements of a shape-carrying input: its constant value, else its symbolic value.
    func shapeValue(_ i: Int) -> [Dim]? {
        if let c = constant(i) { return ShapeValues.of(c) }
        return isPresent(i) && i < shapeValues.count ? shapeValues[i] : nil
    }
    /// The number of elements of a 1-D input whose length is known (for a shape operand
    /// whose value is not).
    func length(_ i: Int) -> Int? {
        guard let d = dims(i), d.count == 1 else { return nil }
        return d[0].value
    }
    /// The element type of the first input.
    var dtype: DType? { type(0)?.dtype }

    // MARK: Attributes (the node's, else the table's default)

    func int(_ name: String) -> Int? {
        if case .int(let v)? = schema.value(of: name, on: node) { return v }
        return nil
    }
    func float(_ name: String) -> Float? {
        switch schema.value(of: name, on: node) {
        case .float(let v)?: return v
        case .int(let v)?: return Float(v)
        default: return nil
        }
    }
    func ints(_ name: String) -> [Int]? {
        if case .ints(let v)? = schema.value(of: name, on: node) { return v }
        return nil
    }
    func string(_ name: String) -> String? {
        if case .string(let v)? = schema.value(of: name, on: node) { return v }
        return nil
    }

    // MARK: Results and errors

    /// A type with `dtype` (nil when unknown) and `dims` (nil: unknown rank).
    func result(_ dtype: DType?, _ dims: [Dim]?) -> TensorType? {
        dtype.map { TensorType($0, dims.map(Shape.init)) }
    }

    /// One output like input 0 in element type, with `dims`.
    func like0(_ dims: [Dim]?) -> [TensorType?] { [result(dtype, dims)] }

    func fail(_ message: String) -> IRError { IRError(message, at: node) }

    /// `a` made non-negative against `rank`; out of range is an error naming `what`.
    func axis(_ a: Int, rank: Int, _ what: String = "axis") throws -> Int {
        let r = a < 0 ? a + rank : a
        guard r >= 0 && r < max(rank, 1) else { throw fail("\(what) \(a) is out of range for rank \(rank)") }
        return r
    }

    /// Distinct axes, each made non-negative; a repeated axis is an error.
    func axes(_ list: [Int], rank: Int) throws -> [Int] {
        let normalized = try list.map { try axis($0, rank: rank, "axis") }
        guard Set(normalized).count == normalized.count else { throw fail("axes \(list) repeat an axis") }
        return normalized
    }
}

// MARK: Dims arithmetic

extension ShapeRule {
    /// Numpy (multidirectional) broadcasting of `shapes`; nil if any rank is unknown.
    /// Per axis: 1 gives way to anything; a known extent beats a symbol (the symbol must be
    /// that extent or 1); equal symbols stay; different symbols, or anything with an
    /// unknown extent, give unknown. Two different known extents other than 1 are an error.
    func broadcast(_ shapes: [[Dim]?]) throws -> [Dim]? {
        var all: [[Dim]] = []
        for s in shapes {
            guard let s else { return nil }
            all.append(s)
        }
        let rank = all.map(\.count).max() ?? 0
        var out = [Dim](repeating: .known(1), count: rank)
        for s in all {
            for (i, d) in s.enumerated() {
                let o = rank - s.count + i
                switch (out[o], d) {
                case (.known(1), _): out[o] = d
                case (_, .known(1)): break
                case (.known(let a), .known(let b)) where a != b:
                    let list = all.map { Shape($0).description }.joined(separator: " and ")
                    throw fail("shapes \(list) do not broadcast: \(a) and \(b) at axis \(o - rank)")
                case (.known, _): break
                case (_, .known): out[o] = d
                case (.symbol(let a), .symbol(let b)) where a == b: break
                default: out[o] = .unknown
                }
            }
        }
        return out
    }

    /// The product of `dims`: known when all are known (or one is 0), a lone symbol times
    /// known 1s stays that symbol, anything else unknown.
    func product<C: Collection>(_ dims: C) -> Dim where C.Element == Dim {
        var known = 1
        var symbol: Dim?
        var unknown = false
        for d in dims {
            switch d {
            case .known(let v):
                let (p, overflow) = known.multipliedReportingOverflow(by: v)
                if overflow { unknown = true } else { known = p }
            case .symbol:
                if symbol != nil { unknown = true }
                symbol = d
            case .unknown: unknown = true
            }
        }
        if known == 0 { return .known(0) }
        if unknown { return .unknown }
        guard let symbol else { return .known(known) }
        return known == 1 ? symbol : .unknown
    }

    /// The sum of extents and offsets. A malformed model's values can overflow: that is an
    /// error, not a trap.
    func sum(_ terms: [Int]) throws -> Int {
        try terms.reduce(0) { try checked($0.addingReportingOverflow($1)) }
    }

    /// The product of extents, checked like `sum`.
    func elementCount(_ factors: [Int]) throws -> Int {
        try factors.reduce(1) { try checked($0.multipliedReportingOverflow(by: $1)) }
    }

    /// An extent computed in floating point (Resize, Range), rounded down; checked like `sum`.
    func extent(roundingDown value: Double) throws -> Int {
        let v = value.rounded(.down)
        guard v.isFinite, v.magnitude < 0x1p62 else { throw fail("an extent of \(value) is out of range") }
        guard v >= 0 else { throw fail("an extent of \(value) is negative") }
        return Int(v)
    }

    private func checked(_ result: (partialValue: Int, overflow: Bool)) throws -> Int {
        guard !result.overflow else { throw fail("an extent overflows: the shapes or attributes are out of range") }
        return result.partialValue
    }

    /// Checks that two element types agree (same-typed operands of Add, Concat, ...).
    func requireSameType(_ indices: [Int]) throws {
        let known = indices.compactMap { i in type(i).map { (i, $0.dtype) } }
        guard let first = known.first else { return }
        for (i, t) in known.dropFirst() where t != first.1 {
            throw fail("input \(i) is \(t.name) but input \(first.0) is \(first.1.name)")
        }
    }
}
