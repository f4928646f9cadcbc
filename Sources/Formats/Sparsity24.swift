// 2:4 structured sparsity along the reduction axis: of every 4 consecutive weights of a
// row, 2 are kept. Stored as the kept values [rows, K/2] plus 4 bits of metadata per
// group: two 2-bit indices (NVIDIA's layout; schemas/formats.md has the bit table).

/// A [rows, columns] matrix in 2:4 form. `columns` is a multiple of 4.
public struct Sparse24Matrix<Element: Sendable & Equatable>: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    /// rows * columns / 2 kept values, in column order within each row.
    public var values: [Element]
    /// Per row ceil(columns / 8) bytes; group g of a row sits in byte g / 2, low nibble for
    /// even g. Nibble = first kept index | second kept index << 2, first < second.
    public var metadata: [UInt8]

    public var metadataBytesPerRow: Int { (columns / 4 + 1) / 2 }
}

public enum Sparsity24 {
    /// The 2:4 mask keeping the 2 largest magnitudes of each group of 4 (ties keep the
    /// lower index).
    public static func magnitudeMask(_ x: [Float], rows: Int, columns: Int) throws -> [Bool] {
        try checkShape(x.count, rows, columns)
        var mask = [Bool](repeating: false, count: x.count)
        x.withUnsafeBufferPointer { v in
            mask.withUnsafeMutableBufferPointer { keep in
                for g in stride(from: 0, to: v.count, by: 4) {
                    // The largest, then the largest of the rest; strict '>' keeps the lower index on ties.
                    var first = 0
                    for i in 1..<4 where v[g + i].magnitude > v[g + first].magnitude { first = i }
                    var second = first == 0 ? 1 : 0
                    for i in 0..<4 where i != first && v[g + i].magnitude > v[g + second].magnitude { second = i }
                    keep[g + first] = true
                    keep[g + second] = true
                }
            }
        }
        return mask
    }

    /// `x` with the elements `mask` leaves out set to zero.
    public static func masked(_ x: [Float], _ mask: [Bool]) -> [Float] {
        precondition(x.count == mask.count, "a mask of \(mask.count) for \(x.count) values")
        return [Float](unsafeUninitializedCapacity: x.count) { out, count in
            x.withUnsafeBufferPointer { x in
                mask.withUnsafeBufferPointer { mask in
                    for i in 0..<x.count { out[i] = mask[i] ? x[i] : 0 }
                }
            }
            count = x.count
        }
    }

    /// Keeps the elements `mask` selects. Throws naming the first group that does not keep
    /// exactly 2 of 4.
    public static func compress<Element>(_ x: [Element], mask: [Bool], rows: Int, columns: Int) throws -> Sparse24Matrix<Element>
    {
        try checkShape(x.count, rows, columns)
        guard mask.count == x.count else { throw FormatError.badShape("mask has \(mask.count) entries for \(x.count) values") }
        let groups = columns / 4, bytesPerRow = (groups + 1) / 2
        var values: [Element] = []
        values.reserveCapacity(x.count / 2)
        var metadata = [UInt8](repeating: 0, count: rows * bytesPerRow)
        for r in 0..<rows {
            for g in 0..<groups {
                let base = r * columns + g * 4
                var indices = (0, 0), kept = 0
                for i in 0..<4 where mask[base + i] {
                    if kept == 0 { indices.0 = i } else if kept == 1 { indices.1 = i }
                    kept += 1
                }
                guard kept == 2 else { throw FormatError.notTwoOfFour(row: r, group: g, kept: kept) }
                values.append(x[base + indices.0])
                values.append(x[base + indices.1])
                let nibble = UInt8(indices.0 | indices.1 << 2)
                metadata[r * bytesPerRow + g / 2] |= g % 2 == 0 ? nibble : nibble << 4
            }
        }
        return Sparse24Matrix(rows: rows, columns: columns, values: values, metadata: metadata)
    }

    /// The dense matrix, with `zero` at the dropped positions. Throws for metadata whose
    /// indices are not increasing.
    public static func expand<Element>(_ m: Sparse24Matrix<Element>, zero: Element) throws -> [Element] {
        let groups = m.columns / 4, bytesPerRow = m.metadataBytesPerRow
        var out = [Element](repeating: zero, count: m.rows * m.columns)
        for r in 0..<m.rows {
            for g in 0..<groups {
                let byte = m.metadata[r * bytesPerRow + g / 2]
                let nibble = g % 2 == 0 ? byte & 0xF : byte >> 4
                let first = Int(nibble & 3), second = Int(nibble >> 2)
                guard first < second else {
                    throw FormatError.badShape("row \(r), group \(g): metadata \(nibble) is not two increasing indices")
                }
                let k = (r * groups + g) * 2
                out[r * m.columns + g * 4 + first] = m.values[k]
                out[r * m.columns + g * 4 + second] = m.values[k + 1]
            }
        }
        return out
    }

    private static func checkShape(_ count: Int, _ rows: Int, _ columns: Int) throws {
        guard columns % 4 == 0 else { throw FormatError.badShape("reduction length \(columns) is not a multiple of 4") }
        guard rows * columns == count else { throw FormatError.badShape("\(count) values for a \(rows)x\(columns) matrix") }
    }
}
