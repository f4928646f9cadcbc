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

/// max |x| of a buffer that must be finite: one pass over the bit patterns (for finite
/// floats the order of |x| is the order of their bits without the sign). Throws naming
/// the first NaN or infinity.
func finiteMaxMagnitude(_ x: UnsafeBufferPointer<Float>) throws -> Float {
    guard let base = x.baseAddress else { return 0 }
    let bits = UnsafeBufferPointer(start: UnsafeRawPointer(base).assumingMemoryBound(to: UInt32.self), count: x.count)
    var m: UInt32 = 0
    for b in bits { m = max(m, b & 0x7FFF_FFFF) }
    if m >= 0x7F80_0000, let i = x.firstIndex(where: { !$0.isFinite }) {
        throw FormatError.nonFinite(index: i, value: x[i])
    }
    return Float(bitPattern: m)
}
