// Shapes of IR values: a rank and, per axis, a known extent or a symbolic name.

/// One axis extent: a known size, a named symbol (`N`, `batch`) or unknown.
public enum Dim: Hashable, Sendable, CustomStringConvertible {
    case known(Int)
    case symbol(String)
    case unknown

    public var value: Int? {
        if case .known(let v) = self { return v }
        return nil
    }

    /// The symbol's name, for a named symbol.
    public var symbolName: String? {
        if case .symbol(let s) = self { return s }
        return nil
    }

    public var description: String {
        switch self {
        case .known(let v): return String(v)
        case .symbol(let s): return s
        case .unknown: return "?"
        }
    }
}

/// A shape whose rank is known. Unknown rank is `TensorType.shape == nil`.
public struct Shape: Hashable, Sendable, CustomStringConvertible {
    public var dims: [Dim]

    public init(_ dims: [Dim]) { self.dims = dims }
    public init(_ sizes: [Int]) { self.dims = sizes.map { .known($0) } }

    public var rank: Int { dims.count }

    /// The extents when every axis is known.
    public var concrete: [Int]? {
        var out: [Int] = []
        out.reserveCapacity(dims.count)
        for d in dims {
            guard let v = d.value else { return nil }
            out.append(v)
        }
        return out
    }

    public var description: String { "[" + dims.map(\.description).joined(separator: ",") + "]" }
}

/// The type of an IR value: element type and (possibly unknown) shape.
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var shape: Shape?

    public init(_ dtype: DType, _ shape: Shape?) {
        self.dtype = dtype
        self.shape = shape
    }

    public init(_ dtype: DType, _ sizes: [Int]) {
        self.dtype = dtype
        self.shape = Shape(sizes)
    }

    /// `f32[N,3,32,32]`, or `f32[*]` when the rank is unknown.
    public var description: String { dtype.name + (shape?.description ?? "[*]") }
}

/// Normalizes a possibly negative axis of `node` against `rank`.
public func normalizedAxis(_ axis: Int, rank: Int, _ node: Node) throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0 && a < max(rank, 1) else { throw IRError("axis \(axis) is out of range for rank \(rank)", at: node) }
    return a
}
