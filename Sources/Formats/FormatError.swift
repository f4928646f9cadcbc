// Errors of quantizing and packing: what is wrong and where (element, row, group).

public enum FormatError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A NaN or infinity at flat index `index`: weights must be finite to be quantized.
    case nonFinite(index: Int, value: Float)
    /// A 2:4 mask group that does not keep exactly two of its four elements.
    case notTwoOfFour(row: Int, group: Int, kept: Int)
    /// The reduction length does not fit the layout.
    case badShape(String)

    public var description: String {
        switch self {
        case .nonFinite(let i, let v): return "element \(i) is \(v); only finite values can be quantized"
        case .notTwoOfFour(let r, let g, let k): return "row \(r), group \(g) keeps \(k) of 4 elements; 2:4 sparsity keeps exactly 2"
        case .badShape(let m): return m
        }
    }
}

/// Throws for the first NaN or infinity in `x`.
func requireFinite(_ x: UnsafeBufferPointer<Float>) throws {
    var bad = false
    for v in x where !v.isFinite { bad = true; break }
    guard bad, let i = x.firstIndex(where: { !$0.isFinite }) else { return }
    throw FormatError.nonFinite(index: i, value: x[i])
}
