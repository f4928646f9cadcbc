// The matrix unit's NaN. Which NaN a float32 sum ends in depends on the order of the two
// operands of each addition, not only on the order of the additions: x86 returns the first
// of two NaN operands, makes a negative NaN of infinity minus infinity, and a compiler may
// swap an addition's operands. So the matrix unit, and the interpreter's layers that follow
// its arithmetic, give every NaN of a product as one quiet NaN (schemas/formats.md).
public enum MatrixArithmetic {
    /// The NaN of every product that is NaN: positive, quiet, payload 0 (0x7FC00000).
    public static let canonicalNaN = Float(bitPattern: 0x7FC0_0000)

    /// Replaces every NaN among `values` by `canonicalNaN`.
    @inlinable
    public static func canonicalizeNaNs(_ values: UnsafeMutableBufferPointer<Float>) {
        for i in values.indices where values[i].isNaN { values[i] = canonicalNaN }
    }
}
