// The simulator's memories: bytes, which of them have been written, and bounds. Every
// access is checked; reading a byte never written is an error, as is any access outside
// the memory. Accesses go by runs of contiguous bytes, so a row-major tile is one copy.
import Foundation

/// One memory instance: a plain view of its bytes and written flags, which a
/// `MemoryStorage` owns, so that reaching a memory counts no references.
struct Memory {
    let size: Int
    let bytes: UnsafeMutableRawPointer
    /// One flag per byte (1: written); nil for a read-only memory (the bundle's sections),
    /// whose every byte counts as written.
    let written: UnsafeMutablePointer<UInt8>?
    var readOnly: Bool { written == nil }
    /// Whether `bytes` were allocated here (and are freed with the memory), or lent.
    let owned: Bool

    /// A writable memory of `size` bytes, allocated zeroed: pages the program never touches
    /// are never mapped.
    init(size: Int) {
        self.size = size
        bytes = calloc(max(size, 1), 1)!
        written = calloc(max(size, 1), 1)!.assumingMemoryBound(to: UInt8.self)
        owned = true
    }

    /// A read-only memory holding `contents`.
    init(contents: [UInt8]) {
        size = contents.count
        let bytes = malloc(max(size, 1))!
        contents.withUnsafeBytes { if $0.count > 0 { bytes.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        self.bytes = bytes
        written = nil
        owned = true
    }

    /// A read-only memory over `contents`, which stay where they are: whoever lends them
    /// keeps them alive, unchanged, as long as the memory.
    init(borrowing contents: UnsafeRawBufferPointer) {
        size = contents.count
        written = nil
        if let base = contents.baseAddress, size > 0 {
            (bytes, owned) = (UnsafeMutableRawPointer(mutating: base), false)
        } else {
            (bytes, owned) = (malloc(1)!, true)
        }
    }

    /// Whether every byte of `range` has been written.
    func isWritten(_ range: Range<Int>) -> Bool {
        guard let written, !range.isEmpty else { return true }
        return memchr(written + range.lowerBound, 0, range.count) == nil
    }

    /// The bytes of `range`.
    func contents(_ range: Range<Int>) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: bytes + range.lowerBound, count: range.count))
    }

    func store(_ data: [UInt8], at offset: Int) {
        data.withUnsafeBytes { d in
            guard d.count > 0 else { return }
            (bytes + offset).copyMemory(from: d.baseAddress!, byteCount: d.count)
            if let written { memset(written + offset, 1, d.count) }
        }
    }

    /// The first byte of `runs` never written, if any.
    func firstUnwritten(_ runs: RunView) -> Int? {
        guard let written else { return nil }
        // Short runs (a gathered code, a float, a window's row) are checked byte by byte: a
        // call per run would cost more than the check.
        var first: Int?
        let length = runs.length
        if length <= 16 {
            runs.starts.forEachStart { start in
                guard first == nil else { return }
                for b in 0..<length where written[start &+ b] == 0 {
                    first = start &+ b
                    return
                }
            }
        } else {
            runs.starts.forEachStart { start in
                if first == nil, let hit = memchr(written + start, 0, length) {
                    first = UnsafeRawPointer(written).distance(to: UnsafeRawPointer(hit))
                }
            }
        }
        return first
    }

    /// Copies the bytes of `runs`, in order, to `out` (runs.count x runs.length bytes).
    func read(_ runs: RunView, into out: UnsafeMutableRawPointer) {
        // Runs of a byte (a code gathered across channels), a word (a float32) or a few of
        // either (a window's row of codes or of their scales, read in place) are moved by
        // plain loads and stores: a call per run would cost more than the move.
        let length = runs.length
        switch length {
        case 1:
            var to = out.assumingMemoryBound(to: UInt8.self)
            runs.starts.forEachStart { start in
                to.pointee = bytes.load(fromByteOffset: start, as: UInt8.self)
                to += 1
            }
        case 4:
            var to = out
            runs.starts.forEachStart { start in
                to.storeBytes(of: bytes.loadUnaligned(fromByteOffset: start, as: UInt32.self), as: UInt32.self)
                to += 4
            }
        case 2...16 where length % 4 == 0:
            var to = out
            runs.starts.forEachStart { start in
                for w in stride(from: 0, to: length, by: 4) {
                    to.storeBytes(
                        of: bytes.loadUnaligned(fromByteOffset: start &+ w, as: UInt32.self), toByteOffset: w, as: UInt32.self)
                }
                to += length
            }
        case 2...16:
            var to = out.assumingMemoryBound(to: UInt8.self)
            runs.starts.forEachStart { start in
                for b in 0..<length { to[b] = bytes.load(fromByteOffset: start &+ b, as: UInt8.self) }
                to += length
            }
        default:
            var to = out
            runs.starts.forEachStart { start in
                to.copyMemory(from: bytes + start, byteCount: length)
                to += length
            }
        }
    }

    /// Writes `data` (runs.count x runs.length bytes) over `runs`, in order, and marks them
    /// written unless `marked` says they already are.
    func write(_ runs: RunView, from data: UnsafeRawPointer, marked: Bool = false) {
        var from = data
        let length = runs.length
        runs.starts.forEachStart { start in
            if bytes + start != UnsafeMutableRawPointer(mutating: from) {
                (bytes + start).copyMemory(from: from, byteCount: length)
            }
            if !marked, let written { memset(written + start, 1, length) }
            from += length
        }
    }

    /// Marks the bytes of `runs` written (their bytes were written in place).
    func mark(_ runs: RunView) {
        guard let written else { return }
        runs.starts.forEachStart { memset(written + $0, 1, runs.length) }
    }
}

/// The memories of a machine, freed with the last machine that shares them.
final class MemoryStorage {
    let memories: [Memory]

    init(_ memories: [Memory]) { self.memories = memories }

    deinit {
        for m in memories where m.owned {
            free(m.bytes)
            free(m.written)
        }
    }
}

/// A resolved descriptor's runs as the memories read them: its memory instance and runs.
struct RunView {
    let memory: Int
    let starts: RunStarts
    let length: Int
    /// The lowest byte to one past the highest (empty when no bytes).
    var span: Range<Int> = 0..<0

    var count: Int { starts.count * length }

    init(memory: Int, runs: ByteRuns) {
        self.memory = memory
        starts = runs.starts
        length = runs.length
        span = runs.span ?? 0..<0
    }
}

/// The bytes a descriptor covers, as runs of equal length in the row-major order of its
/// elements: trailing dimensions laid out contiguously merge into one run.
struct ByteRuns {
    let starts: RunStarts
    let length: Int
    /// The lowest byte touched and one past the highest, or nil when empty.
    let span: Range<Int>?

    var count: Int { starts.count * length }

    /// The runs of `dims`/`strides` (in elements of `size` bytes) from byte `base`, and
    /// the lowest and highest byte touched (none when an extent is 0).
    init(base: Int, dims: [Int], strides: [Int], size: Int) {
        guard !dims.contains(0) else {
            starts = RunStarts(base: base, extents: [], steps: [], count: 0)
            length = 0
            span = nil
            return
        }
        // The axes that step, outermost first; the trailing ones laid out contiguously
        // merge into the run.
        var outer = dims.indices.filter { dims[$0] != 1 }
        var run = 1
        while let axis = outer.last, strides[axis] == run {
            run *= dims[axis]
            outer.removeLast()
        }
        length = run * size
        // Each axis reaches (extent - 1) steps below or above the base.
        var (count, low, high) = (1, base, base)
        for axis in outer {
            count *= dims[axis]
            let reach = (dims[axis] - 1) * strides[axis] * size
            if reach < 0 { low += reach } else { high += reach }
        }
        span = low..<(high + length)
        starts = RunStarts(base: base, extents: outer.map { dims[$0] }, steps: outer.map { strides[$0] * size }, count: count)
    }
}

/// Where runs start: `base`, moved by an odometer over at most `maxAxes` outer axes (the
/// last turning fastest). The starts are walked, never stored: a gather of single bytes
/// would otherwise keep eight bytes of start for each.
struct RunStarts: Sequence {
    static let maxAxes = 8
    let base: Int
    let count: Int
    /// The outer axes but the last, outermost first; unused lanes are extent 1, step 0.
    private var extents = SIMD8<Int>(repeating: 1)
    private var steps = SIMD8<Int>(repeating: 0)
    private let outerAxes: Int
    /// The last (fastest) axis: its extent and step. Extent `count`, step 0 when there is
    /// no axis (one run).
    private let innerExtent: Int
    private let innerStep: Int

    init(base: Int, extents: [Int], steps: [Int], count: Int) {
        precondition(extents.count <= Self.maxAxes && extents.count == steps.count, "at most eight axes, a step each")
        self.base = base
        self.count = count
        outerAxes = Swift.max(extents.count - 1, 0)
        for a in 0..<outerAxes {
            self.extents[a] = extents[a]
            self.steps[a] = steps[a]
        }
        innerExtent = extents.last ?? count
        innerStep = steps.last ?? 0
    }

    /// Calls `body` with each start, in order: one tight loop per turn of the last axis.
    @inline(__always)
    func forEachStart(_ body: (Int) -> Void) {
        guard count > 0 else { return }
        @inline(__always) func turn(from offset: Int) {
            var start = offset
            for _ in 0..<innerExtent {
                body(start)
                start &+= innerStep
            }
        }
        switch outerAxes {
        case 0: turn(from: base)
        case 1:
            let (extent, step) = (extents[0], steps[0])
            var offset = base
            for _ in 0..<extent {
                turn(from: offset)
                offset &+= step
            }
        default:
            // The odometer's positions in scalars of their own: a lane written into a
            // vector and the vector read back stalls on every turn.
            withUnsafeTemporaryAllocation(of: Int.self, capacity: Self.maxAxes) { position in
                position.initialize(repeating: 0)
                var offset = base
                repeat { turn(from: offset) } while advance(position, &offset)
            }
        }
    }

    /// Turns the outer axes (all but the last) one step, moving `offset` with them; false
    /// once they have gone all the way round.
    @inline(__always)
    private func advance(_ position: UnsafeMutableBufferPointer<Int>, _ offset: inout Int) -> Bool {
        var axis = outerAxes - 1
        while axis >= 0 {
            position[axis] &+= 1
            offset &+= steps[axis]
            if position[axis] < extents[axis] { return true }
            offset &-= steps[axis] &* extents[axis]
            position[axis] = 0
            axis &-= 1
        }
        return false
    }

    func makeIterator() -> Iterator { Iterator(starts: self) }

    struct Iterator: IteratorProtocol {
        let starts: RunStarts
        /// The odometer's positions, as scalars: a lane written into a vector and the
        /// vector read back would stall at every turn.
        private var position: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
        private var inner = 0
        private var offset: Int
        private var left: Int

        init(starts: RunStarts) {
            self.starts = starts
            offset = starts.base
            left = starts.count
        }

        mutating func next() -> Int? {
            guard left > 0 else { return nil }
            left &-= 1
            let start = offset &+ inner &* starts.innerStep
            inner &+= 1
            if inner == starts.innerExtent {
                inner = 0
                withUnsafeMutableBytes(of: &position) { _ = starts.advance($0.bindMemory(to: Int.self), &offset) }
            }
            return start
        }
    }
}
