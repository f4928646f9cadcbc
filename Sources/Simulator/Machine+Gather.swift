// `gather` and `scatter` (schemas/isa.md): rows of a table in a global memory copied in the
// order an index tensor names them, or rows copied into the table where it names, with dma's
// bounds and written-byte checks. Every index is checked, and every row read, before anything
// is written.
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
        guard table.dims.count == 2, dst.dims.count == 2, dst.element == table.element, dst.dims[1] == table.dims[1],
            dst.dims[0] == idx.count
        else {
            throw SimulatorError(
                "gather needs src [R, D] and dst [N, D] of one element type, N being idx's \(idx.count) elements: "
                    + "src \(table.element.rawValue) \(table.dims), dst \(dst.element.rawValue) \(dst.dims)")
        }
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
            let row = ByteRuns(
                base: Int(table.address) + Int(r) * table.strides[0] * size, dims: [width], strides: [table.strides[1]],
                size: size)
            let view = RunView(memory: memory, runs: row)
            if let byte = memories[memory].firstUnwritten(view) {
                throw SimulatorError("reads \(memoryName(memory)) byte \(byte), never written")
            }
            out.withUnsafeMutableBytes { memories[memory].read(view, into: $0.baseAddress! + i * rowBytes) }
        }
        try storeElements(dst, out)
    }

    /// Row i of `src` [N, D] to row idx[i] of `dst` [R, D], for each of idx's N elements
    /// (i32 or i64, each in [0, R)) in row-major order: of two rows sent to one place, the
    /// later one stays.
    mutating func scatter(_ dst: DescriptorRef, _ src: DescriptorRef, _ idx: DescriptorRef) throws {
        let table = dst.descriptor
        guard table.space == .dram || table.space == .l3 else {
            throw SimulatorError("the table is in \(table.space.rawValue); scatter writes it in dram or l3")
        }
        guard table.dims.count == 2, src.dims.count == 2, src.element == table.element, src.dims[1] == table.dims[1],
            src.dims[0] == idx.count
        else {
            throw SimulatorError(
                "scatter needs dst [R, D] and src [N, D] of one element type, N being idx's \(idx.count) elements: "
                    + "dst \(table.element.rawValue) \(table.dims), src \(src.element.rawValue) \(src.dims)")
        }
        let indices = try rowNumbers(idx)
        let (rows, width, size) = (table.dims[0], table.dims[1], try Self.elementSize(table.element))
        for (i, r) in indices.enumerated() where !(0..<Int64(rows)).contains(r) {
            throw SimulatorError("index \(r) (idx element \(i)) is out of range for the table's \(rows) rows")
        }
        let memory = try writableRuns(dst).memory  // the whole table lies inside its memory
        let values = try readBytes(src, into: .bytes)
        let rowBytes = width * size
        guard rowBytes > 0 else { return }
        let copy = [UInt8](values)
        copy.withUnsafeBytes { data in
            for (i, r) in indices.enumerated() {
                let row = ByteRuns(
                    base: Int(table.address) + Int(r) * table.strides[0] * size, dims: [width], strides: [table.strides[1]],
                    size: size)
                memories[memory].write(RunView(memory: memory, runs: row), from: data.baseAddress! + i * rowBytes)
            }
        }
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
