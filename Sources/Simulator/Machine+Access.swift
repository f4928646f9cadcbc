// Element access through descriptors: each descriptor resolved to its memory and byte runs
// once per run, its bytes checked written once (written bytes stay written), and read or
// written by copies of whole runs, or in place where a descriptor is one contiguous run.
import Formats
import ISA

extension Machine {
    /// The memory instance `d` is in: dram, weights, constants, l3, then one l2 per cluster,
    /// then one sram per tile, cluster-major.
    static func memoryInstance(_ d: TensorDescriptor, clusters: Int, tilesPerCluster: Int) throws -> Int {
        do { return try Units(clusters: clusters, tilesPerCluster: tilesPerCluster).instance(of: d) } catch let e as ISAError {
            throw SimulatorError(e.description)
        }
    }

    static func elementSize(_ e: ElementType) throws -> Int {
        switch e {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i64: return 8
        case .f8e4m3, .f8e5m2, .i8, .u8, .bool, .packed: return 1
        case .e2m1: throw SimulatorError("e2m1 elements are not byte-addressable")
        }
    }

    /// The runs of bytes `d` covers, after checking the whole span lies in its memory;
    /// resolved on the descriptor's first access in the run and kept (memories do not change
    /// size), errors included.
    @inline(__always)
    func runs(_ d: DescriptorRef) throws -> RunView {
        if let known = resolved.views[d.index] { return known }
        return try resolveRuns(d)
    }

    private func resolveRuns(_ d: DescriptorRef) throws -> RunView {
        if let error = resolved.errors[d.index] { throw error }
        do {
            let (memory, runs) = try resolve(d.descriptor)
            return resolved.keep(runs, memory: memory, at: d.index)
        } catch let e as SimulatorError {
            resolved.errors[d.index] = e
            throw e
        }
    }

    private func resolve(_ d: TensorDescriptor) throws -> (memory: Int, runs: ByteRuns) {
        let m = try Self.memoryInstance(d, clusters: shape.clusters, tilesPerCluster: shape.tilesPerCluster)
        let runs = ByteRuns(base: Int(d.address), dims: d.dims, strides: d.strides, size: try Self.elementSize(d.element))
        if let span = runs.span, span.lowerBound < 0 || span.upperBound > memories[m].size {
            throw SimulatorError(
                "\(d.text) reaches bytes \(span.lowerBound)..<\(span.upperBound) of \(memoryName(m)), which has \(memories[m].size)"
            )
        }
        return (m, runs)
    }

    /// The runs of `d` after checking every byte of them has been written. A descriptor
    /// found written (or written through) once stays so: bytes are never unwritten.
    func writtenRuns(_ d: DescriptorRef) throws -> RunView {
        let runs = try runs(d)
        if resolved.written[d.index] { return runs }
        if let byte = memories[runs.memory].firstUnwritten(runs) {
            throw SimulatorError("reads \(memoryName(runs.memory)) byte \(byte), never written")
        }
        resolved.setWritten(d.index)
        return runs
    }

    /// Where `runs` lie when they are one run of whole floats (4-byte aligned), else nil.
    func contiguousFloats(_ runs: RunView) -> UnsafeMutablePointer<Float>? {
        guard runs.starts.count == 1, runs.starts.base % 4 == 0, runs.length % 4 == 0 else { return nil }
        return (memories[runs.memory].bytes + runs.starts.base).assumingMemoryBound(to: Float.self)
    }

    private func loadElements(_ d: DescriptorRef) throws -> [UInt8] {
        let runs = try writtenRuns(d)
        return [UInt8](unsafeUninitializedCapacity: runs.count) { out, n in
            if runs.count > 0 { memories[runs.memory].read(runs, into: out.baseAddress!) }
            n = runs.count
        }
    }

    func storeElements(_ d: DescriptorRef, _ bytes: UnsafeRawBufferPointer) throws {
        let runs = try writableRuns(d)
        precondition(bytes.count == runs.count, "a store's bytes match its descriptor")
        if runs.count > 0 { memories[runs.memory].write(runs, from: bytes.baseAddress!, marked: resolved.written[d.index]) }
        resolved.setWritten(d.index)
    }

    func storeElements(_ d: DescriptorRef, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try storeElements(d, $0) }
    }

    /// The runs of `d`, which must not lie in a read-only memory.
    func writableRuns(_ d: DescriptorRef) throws -> RunView {
        let runs = try runs(d)
        guard !memories[runs.memory].readOnly else {
            throw SimulatorError("writes \(memoryName(runs.memory)), which is read-only")
        }
        return runs
    }

    /// Marks `d`'s bytes written after they were computed in place.
    func markWritten(_ d: DescriptorRef, _ runs: RunView) {
        if !resolved.written[d.index] { memories[runs.memory].mark(runs) }
        resolved.setWritten(d.index)
    }

    // Memories hold float32 little-endian (Float32Bytes); on a little-endian host the
    // bytes are the floats themselves and are copied as they are.
    func loadFloats(_ d: DescriptorRef) throws -> [Float] {
        guard d.element == .f32 else { throw SimulatorError("\(d.text) is not f32") }
        #if _endian(little)
            let runs = try writtenRuns(d)
            return [Float](unsafeUninitializedCapacity: runs.count / 4) { out, n in
                if runs.count > 0 { memories[runs.memory].read(runs, into: UnsafeMutableRawPointer(out.baseAddress!)) }
                n = runs.count / 4
            }
        #else
            return Float32Bytes.decode(try loadElements(d))
        #endif
    }

    /// The f32 elements of `d`, in place when they are one aligned run, else read into
    /// `slot`'s buffer (valid until the slot is reused or the memory written).
    func readFloats(_ d: DescriptorRef, into slot: OperandBuffers.Slot) throws -> UnsafeBufferPointer<Float> {
        guard d.element == .f32 else { throw SimulatorError("\(d.text) is not f32") }
        let runs = try writtenRuns(d)
        #if _endian(little)
            if let p = contiguousFloats(runs) { return UnsafeBufferPointer(start: p, count: runs.count / 4) }
            let out = buffers.floats(slot, runs.count / 4)
            if runs.count > 0 { memories[runs.memory].read(runs, into: UnsafeMutableRawPointer(out.baseAddress!)) }
        #else
            let out = buffers.floats(slot, runs.count / 4)
            _ = out.initialize(from: Float32Bytes.decode(try loadElements(d)))
        #endif
        return UnsafeBufferPointer(out)
    }

    /// The bytes of `d`'s elements, in place when they are one run, else read into `slot`'s
    /// buffer (valid until the slot is reused or the memory written).
    func readBytes(_ d: DescriptorRef, into slot: OperandBuffers.Slot) throws -> UnsafeRawBufferPointer {
        let runs = try writtenRuns(d)
        if runs.starts.count == 1 {
            return UnsafeRawBufferPointer(start: memories[runs.memory].bytes + runs.starts.base, count: runs.count)
        }
        let out = buffers.raw(slot, runs.count)
        if runs.count > 0 { memories[runs.memory].read(runs, into: out.baseAddress!) }
        return UnsafeRawBufferPointer(out)
    }

    func storeFloats(_ d: DescriptorRef, _ values: UnsafeBufferPointer<Float>) throws {
        guard d.element == .f32 else { throw SimulatorError("\(d.text) is not f32") }
        #if _endian(little)
            try storeElements(d, UnsafeRawBufferPointer(values))
        #else
            try storeElements(d, Float32Bytes.encode(Array(values)))
        #endif
    }

    func storeFloats(_ d: DescriptorRef, _ values: [Float]) throws {
        guard d.element == .f32 else { throw SimulatorError("\(d.text) is not f32") }
        #if _endian(little)
            try values.withUnsafeBytes { try storeElements(d, $0) }
        #else
            try storeElements(d, Float32Bytes.encode(values))
        #endif
    }

    /// `dma`'s copy: `src`'s bytes to `dst`'s, run against run, straight from memory to
    /// memory unless the two overlap (then through a buffer, all read before any written).
    func copy(_ dst: DescriptorRef, _ src: DescriptorRef) throws {
        let from = try writtenRuns(src)
        let to = try writableRuns(dst)
        precondition(from.count == to.count, "a copy's bytes match")
        guard from.count > 0 else { return resolved.setWritten(dst.index) }
        if from.memory == to.memory && from.span.overlaps(to.span) {
            let staged = buffers.raw(.bytes, from.count)
            memories[from.memory].read(from, into: staged.baseAddress!)
            return try storeElements(dst, UnsafeRawBufferPointer(staged))
        }
        let (source, target) = (memories[from.memory].bytes, memories[to.memory].bytes)
        let marked = resolved.written[dst.index]
        if from.starts.count == 1 {
            memories[to.memory].write(to, from: source + from.starts.base, marked: marked)
        } else if to.starts.count == 1 {
            memories[from.memory].read(from, into: target + to.starts.base)
            if !marked { memories[to.memory].mark(to) }
        } else {
            // Both cut into runs: walk them side by side, a piece at a time.
            var (i, j) = (from.starts.makeIterator(), to.starts.makeIterator())
            var (fromStart, toStart) = (i.next(), j.next())
            var (atI, atJ) = (0, 0)
            while let f = fromStart, let t = toStart {
                let piece = min(from.length - atI, to.length - atJ)
                (target + t + atJ).copyMemory(from: source + f + atI, byteCount: piece)
                atI += piece
                atJ += piece
                if atI == from.length { (fromStart, atI) = (i.next(), 0) }
                if atJ == to.length { (toStart, atJ) = (j.next(), 0) }
            }
            if !marked { memories[to.memory].mark(to) }
        }
        resolved.setWritten(dst.index)
    }
}

/// A descriptor of the running program: its index in the table, and the table (valid while
/// the program runs), so that passing one copies no arrays.
struct DescriptorRef {
    let index: Int
    let table: UnsafePointer<TensorDescriptor>
    var descriptor: TensorDescriptor { table[index] }
    var element: ElementType { table[index].element }
    var dims: [Int] { table[index].dims }
    var count: Int { table[index].count }
    var text: String { table[index].text }
}

/// Per descriptor of the running program: the memory instance and byte runs it resolves
/// to, or the error resolving it raised, neither until first accessed; and whether all its
/// bytes are known written. Each entry is storage of its own, so that a view is a plain
/// value and two threads may resolve different descriptors at once.
final class ResolvedDescriptors {
    let count: Int
    let views: UnsafeMutablePointer<RunView?>
    let errors: UnsafeMutablePointer<SimulatorError?>
    /// Set once every byte of the descriptor has been found written, or written through it.
    let written: UnsafeMutablePointer<Bool>
    /// Each descriptor's element count (`TensorDescriptor.count`), found once.
    let elements: UnsafeMutablePointer<Int>

    init(_ descriptors: [TensorDescriptor]) {
        count = descriptors.count
        elements = .allocate(capacity: max(count, 1))
        for (k, d) in descriptors.enumerated() { (elements + k).initialize(to: d.count) }
        views = .allocate(capacity: max(count, 1))
        views.initialize(repeating: nil, count: count)
        errors = .allocate(capacity: max(count, 1))
        errors.initialize(repeating: nil, count: count)
        written = .allocate(capacity: max(count, 1))
        written.initialize(repeating: false, count: max(count, 1))
    }

    deinit {
        views.deinitialize(count: count)
        views.deallocate()
        errors.deinitialize(count: count)
        errors.deallocate()
        written.deallocate()
        elements.deallocate()
    }

    /// Records that every byte of descriptor `index` is written (stored only when new, so
    /// that threads sharing the table do not write its lines over and over).
    @inline(__always)
    func setWritten(_ index: Int) {
        if !written[index] { written[index] = true }
    }

    /// Keeps `runs` in `memory` as descriptor `index`'s, and returns its view.
    func keep(_ runs: ByteRuns, memory: Int, at index: Int) -> RunView {
        let view = RunView(memory: memory, runs: runs)
        views[index] = view
        return view
    }
}
