// `gather` and `scatter` (schemas/isa.md): rows of a table in a global memory copied in the
// order an index tensor names them, or rows copied into the table where it names (or combined
// with the rows there), with dma's bounds and written-byte checks. Every index is checked, and
// every row read, before anything is written.
import Formats
import ISA

extension Machine {
    /// The memory spaces a gather's table may live in: the global ones, which every DMA
    /// engine reaches.
    static let gatherTableSpaces: Set<MemorySpace> = [.dram, .weights, .constants, .l3]

    /// Row idx[i] of `src` [R, D] (idx[i] + R when negative) to row i of `dst` [N, D], for
    /// each of idx's N elements (i32 or i64) in row-major order.
    mutating func gather(_ dst: DescriptorRef, _ src: DescriptorRef, _ idx: DescriptorRef) throws {
        let table = src.descriptor
        guard Self.gatherTableSpaces.contains(table.space) else {
            throw SimulatorError("the table is in \(table.space.rawValue); gather reads it from dram, weights, constants or l3")
        }
        try checkRows("gather", table: ("src", src), rows: ("dst", dst), idx)
        let indices = try rowNumbers(idx)
        let (rows, width, size) = (table.dims[0], table.dims[1], try Self.elementSize(table.element))
        let memory = try runs(src).memory  // the whole table lies inside its memory
        let rowBytes = width * size
        var out = [UInt8](repeating: 0, count: indices.count * rowBytes)
        for (i, v) in indices.enumerated() {
            let r = v < 0 ? v + Int64(rows) : v
            guard (0..<Int64(rows)).contains(r) else {
                throw SimulatorError("index \(v) (idx element \(i)) is out of range for the table's \(rows) rows")
            }
            guard rowBytes > 0 else { continue }
            let view = Self.row(r, of: table, in: memory, size: size)
            if let byte = memories[memory].firstUnwritten(view) {
                throw SimulatorError("reads \(memoryName(memory)) byte \(byte), never written")
            }
            out.withUnsafeMutableBytes { memories[memory].read(view, into: $0.baseAddress! + i * rowBytes) }
        }
        try storeElements(dst, out)
    }

    /// Row i of `src` [N, D] to row idx[i] of `dst` [R, D], for each of idx's N elements
    /// (i32 or i64, each in [0, R)) in row-major order, replacing the row there (of two rows
    /// sent to one place, the later one stays) or, with a reduction, combined with it element
    /// by element (f32, i32 or i64 rows; every row combined must have been written).
    mutating func scatter(
        _ dst: DescriptorRef, _ src: DescriptorRef, _ idx: DescriptorRef, _ reduction: ScatterReduction
    ) throws {
        let table = dst.descriptor
        guard table.space == .dram || table.space == .l3 else {
            throw SimulatorError("the table is in \(table.space.rawValue); scatter writes it in dram or l3")
        }
        try checkRows("scatter", table: ("dst", dst), rows: ("src", src), idx)
        guard reduction == .none || [.f32, .i32, .i64].contains(table.element) else {
            throw SimulatorError("scatter combines f32, i32 or i64 rows (reduction \(reduction)), not \(table.element.rawValue)")
        }
        let indices = try rowNumbers(idx)
        let (rows, width, size) = (table.dims[0], table.dims[1], try Self.elementSize(table.element))
        for (i, r) in indices.enumerated() where !(0..<Int64(rows)).contains(r) {
            throw SimulatorError("index \(r) (idx element \(i)) is out of range for the table's \(rows) rows")
        }
        let memory = try writableRuns(dst).memory  // the whole table lies inside its memory
        let values = [UInt8](try readBytes(src, into: .bytes))
        guard width > 0 else { return }
        func row(_ r: Int64) -> RunView { Self.row(r, of: table, in: memory, size: size) }
        if reduction != .none {
            // Every row combined is read first: a refused scatter writes nothing.
            var seen = Set<Int64>()
            for r in indices where seen.insert(r).inserted {
                if let byte = memories[memory].firstUnwritten(row(r)) {
                    throw SimulatorError("reads \(memoryName(memory)) byte \(byte), never written")
                }
            }
        }
        let rowBytes = width * size
        var old = [UInt8](repeating: 0, count: rowBytes)
        values.withUnsafeBytes { data in
            for (i, r) in indices.enumerated() {
                let place = row(r), new = data.baseAddress! + i * rowBytes
                guard reduction != .none else {
                    memories[memory].write(place, from: new)
                    continue
                }
                old.withUnsafeMutableBytes { o in
                    memories[memory].read(place, into: o.baseAddress!)
                    Self.combine(o, with: new, width, table.element, reduction)
                    memories[memory].write(place, from: o.baseAddress!)
                }
            }
        }
    }

    /// Each of `row`'s `width` elements (f32, i32 or i64, little-endian) combined with the one
    /// at `new`, in place.
    private static func combine(
        _ row: UnsafeMutableRawBufferPointer, with new: UnsafeRawPointer, _ width: Int, _ element: ElementType,
        _ reduction: ScatterReduction
    ) {
        for e in 0..<width {
            switch element {
            case .f32:
                let a = Float(bitPattern: UInt32(littleEndian: row.loadUnaligned(fromByteOffset: 4 * e, as: UInt32.self)))
                let b = Float(bitPattern: UInt32(littleEndian: new.loadUnaligned(fromByteOffset: 4 * e, as: UInt32.self)))
                row.storeBytes(of: reduction.combined(a, b).bitPattern.littleEndian, toByteOffset: 4 * e, as: UInt32.self)
            case .i32:
                let a = Int64(Int32(littleEndian: row.loadUnaligned(fromByteOffset: 4 * e, as: Int32.self)))
                let b = Int64(Int32(littleEndian: new.loadUnaligned(fromByteOffset: 4 * e, as: Int32.self)))
                let combined = Int32(truncatingIfNeeded: reduction.combined(a, b))
                row.storeBytes(of: combined.littleEndian, toByteOffset: 4 * e, as: Int32.self)
            default:
                let a = Int64(littleEndian: row.loadUnaligned(fromByteOffset: 8 * e, as: Int64.self))
                let b = Int64(littleEndian: new.loadUnaligned(fromByteOffset: 8 * e, as: Int64.self))
                row.storeBytes(of: reduction.combined(a, b).littleEndian, toByteOffset: 8 * e, as: Int64.self)
            }
        }
    }

    /// Checks that a gather's or scatter's `table` [R, D] and `rows` [N, D] (each with its
    /// operand's name) are of one element type, N being idx's element count.
    private func checkRows(
        _ op: String, table: (name: String, d: DescriptorRef), rows: (name: String, d: DescriptorRef), _ idx: DescriptorRef
    ) throws {
        let (t, r) = (table.d.descriptor, rows.d)
        guard t.dims.count == 2, r.dims.count == 2, r.element == t.element, r.dims[1] == t.dims[1], r.dims[0] == idx.count
        else {
            throw SimulatorError(
                "\(op) needs \(table.name) [R, D] and \(rows.name) [N, D] of one element type, N being idx's \(idx.count) "
                    + "elements: \(table.name) \(t.element.rawValue) \(t.dims), \(rows.name) \(r.element.rawValue) \(r.dims)")
        }
    }

    /// Row `r` of `table` [R, D] (elements of `size` bytes) in memory instance `memory`.
    private static func row(_ r: Int64, of table: TensorDescriptor, in memory: Int, size: Int) -> RunView {
        RunView(
            memory: memory,
            runs: ByteRuns(
                base: Int(table.address) + Int(r) * table.strides[0] * size, dims: [table.dims[1]], strides: [table.strides[1]],
                size: size))
    }

    /// The row numbers `idx` holds: little-endian i32 or i64, in row-major order.
    private func rowNumbers(_ idx: DescriptorRef) throws -> [Int64] {
        guard idx.element == .i64 || idx.element == .i32 else {
            throw SimulatorError("idx holds i32 or i64 row numbers, not \(idx.element.rawValue)")
        }
        let bytes = try readBytes(idx, into: .bytes)
        if idx.element == .i64 {
            return (0..<idx.count).map { Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        }
        return (0..<idx.count).map { Int64(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
    }
}
