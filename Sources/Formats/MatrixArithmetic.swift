// The matrix unit's NaN. Which NaN a float32 sum ends in depends on the order of the two
// operands of each addition, not only on the order of the additions: x86 returns the first
// of two NaN operands, makes a negative NaN of infinity minus infinity, and a compiler may
// swap an addition's operands. So the matrix unit, and the interpreter's layers that follow
// its arithmetic, give every NaN of a product as one quiet NaN (schemas/formats.md).
public enum MatrixArithmetic {
    /// The NaN of every product that is NaN: positive, quiet, payload 0 (0x7FC00000).
    public static let canonicalNaN = Float(bitPattern: 0x7FC0_0000)

    /// Replaces every NaN among `values` by `canonicalNaN`. Every value is stored back, a
    /// select rather than a branch, so that the loop runs in vectors.
    @inlinable
    public static func canonicalizeNaNs(_ values: UnsafeMutableBufferPointer<Float>) {
        guard let p = values.baseAddress else { return }
        for i in 0..<values.count {
            let v = p[i]
            p[i] = v.isNaN ? canonicalNaN : v
        }
    }
}
