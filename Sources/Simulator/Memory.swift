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

    /// A writable memory of `size` bytes, allocated zeroed: pages the program never touches
    /// are never mapped.
    init(size: Int) {
        self.size = size
        bytes = calloc(max(size, 1), 1)!
        written = calloc(max(size, 1), 1)!.assumingMemoryBound(to: UInt8.self)
    }

    /// A read-only memory holding `contents`.
    init(contents: [UInt8]) {
        size = contents.count
        let bytes = malloc(max(size, 1))!
        contents.withUnsafeBytes { if $0.count > 0 { bytes.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        self.bytes = bytes
        written = nil
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
        for start in runs.starts {
            if let hit = memchr(written + start, 0, runs.length) {
                return UnsafeRawPointer(written).distance(to: UnsafeRawPointer(hit))
            }
        }
        return nil
    }

    /// Copies the bytes of `runs`, in order, to `out` (runs.count x runs.length bytes).
    func read(_ runs: RunView, into out: UnsafeMutableRawPointer) {
        // Runs of a byte (a code gathered across channels), a word (a float32) or a few of
        // either (a window's row of codes or of their scales, read in place) are moved by
        // plain loads and stores: a call per run would cost more than the move.
        let length = runs.length
        switch length {
        case 1:
            let to = out.assumingMemoryBound(to: UInt8.self)
            for (i, start) in runs.starts.enumerated() { to[i] = bytes.load(fromByteOffset: start, as: UInt8.self) }
        case 4:
            for (i, start) in runs.starts.enumerated() {
                let word = bytes.loadUnaligned(fromByteOffset: start, as: UInt32.self)
                out.storeBytes(of: word, toByteOffset: 4 &* i, as: UInt32.self)
            }
        case 2...16 where length % 4 == 0:
            var to = out
            for start in runs.starts {
                for w in stride(from: 0, to: length, by: 4) {
                    to.storeBytes(
                        of: bytes.loadUnaligned(fromByteOffset: start &+ w, as: UInt32.self), toByteOffset: w, as: UInt32.self)
                }
                to += length
            }
        case 2...16:
            var to = out.assumingMemoryBound(to: UInt8.self)
            for start in runs.starts {
                for b in 0..<length { to[b] = bytes.load(fromByteOffset: start &+ b, as: UInt8.self) }
                to += length
            }
        default:
            var to = out
            for start in runs.starts {
                to.copyMemory(from: bytes + start, byteCount: runs.length)
                to += runs.length
            }
        }
    }

    /// Writes `data` (runs.count x runs.length bytes) over `runs`, in order, and marks them
    /// written unless `marked` says they already are.
    func write(_ runs: RunView, from data: UnsafeRawPointer, marked: Bool = false) {
        var from = data
        for start in runs.starts {
            if bytes + start != UnsafeMutableRawPointer(mutating: from) {
                (bytes + start).copyMemory(from: from, byteCount: runs.length)
            }
            if !marked, let written { memset(written + start, 1, runs.length) }
            from += runs.length
        }
    }

    /// Marks the bytes of `runs` written (their bytes were written in place).
    func mark(_ runs: RunView) {
        guard let written else { return }
        for start in runs.starts { memset(written + start, 1, runs.length) }
    }
}

/// The memories of a machine, freed with the last machine that shares them.
final class MemoryStorage {
    let memories: [Memory]

    init(_ memories: [Memory]) { self.memories = memories }

    deinit {
        for m in memories {
            free(m.bytes)
            free(m.written)
        }
    }
}

/// A resolved descriptor's runs as the memories read them: its memory instance and the
/// runs' starts, kept alive by the table that resolved them (`ResolvedDescriptors`).
struct RunView {
    let memory: Int
    let starts: UnsafeBufferPointer<Int>
    let length: Int
    /// The lowest byte to one past the highest (empty when no bytes).
    var span: Range<Int> = 0..<0

    var count: Int { starts.count * length }
}

/// The bytes a descriptor covers, as runs of equal length in the row-major order of its
/// elements: trailing dimensions laid out contiguously merge into one run.
struct ByteRuns {
    var starts: [Int]
    var length: Int
    /// The lowest byte touched and one past the highest, or nil when empty.
    let span: Range<Int>?

    var count: Int { starts.count * length }

    /// The runs of `dims`/`strides` (in elements of `size` bytes) from byte `base`, and
    /// the lowest and highest byte touched (none when an extent is 0).
    init(base: Int, dims: [Int], strides: [Int], size: Int) {
        guard !dims.contains(0) else {
            starts = []
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
        let extents = outer.map { dims[$0] }, steps = outer.map { strides[$0] * size }
        starts = [Int](unsafeUninitializedCapacity: count) { out, filled in
            // An odometer over the outer axes, the last one turning fastest.
            var position = [Int](repeating: 0, count: extents.count)
            var offset = base
            for k in 0..<count {
                out[k] = offset
                var axis = extents.count - 1
                while axis >= 0 {
                    position[axis] += 1
                    offset += steps[axis]
                    if position[axis] < extents[axis] { break }
                    offset -= steps[axis] * extents[axis]
                    position[axis] = 0
                    axis -= 1
                }
            }
            filled = count
        }
    }
}
