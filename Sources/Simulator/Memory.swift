// The simulator's memories: bytes, which of them have been written, and bounds. Every
// access is checked; reading a byte never written is an error, as is any access outside
// the memory. Accesses go by runs of contiguous bytes, so a row-major tile is one copy.
import Foundation

struct Memory {
    let name: String
    var bytes: [UInt8]
    /// One flag per byte (1: written); empty for a read-only memory (the bundle's sections),
    /// whose every byte counts as written.
    var written: [UInt8]
    let readOnly: Bool

    init(name: String, size: Int) {
        self.name = name
        bytes = [UInt8](repeating: 0, count: size)
        written = [UInt8](repeating: 0, count: size)
        readOnly = false
    }

    init(name: String, contents: [UInt8]) {
        self.name = name
        bytes = contents
        written = []
        readOnly = true
    }

    /// Whether every byte of `range` has been written.
    func isWritten(_ range: Range<Int>) -> Bool {
        readOnly || !written[range].contains(0)
    }

    mutating func store(_ data: [UInt8], at offset: Int) {
        bytes.replaceSubrange(offset..<(offset + data.count), with: data)
        written.replaceSubrange(offset..<(offset + data.count), with: repeatElement(1, count: data.count))
    }

    /// The first byte of `runs` never written, if any.
    func firstUnwritten(_ runs: RunView) -> Int? {
        guard !readOnly else { return nil }
        return written.withUnsafeBytes { w in
            let base = UnsafeRawPointer(w.baseAddress!)
            for start in runs.starts {
                if let hit = memchr(base + start, 0, runs.length) { return base.distance(to: UnsafeRawPointer(hit)) }
            }
            return nil
        }
    }

    /// Copies the bytes of `runs`, in order, to `out` (runs.count x runs.length bytes).
    func read(_ runs: RunView, into out: UnsafeMutableRawPointer) {
        bytes.withUnsafeBytes { b in
            for (i, start) in runs.starts.enumerated() {
                (out + i * runs.length).copyMemory(from: b.baseAddress! + start, byteCount: runs.length)
            }
        }
    }

    /// Writes `data` (runs.count x runs.length bytes) over `runs`, in order.
    mutating func write(_ runs: RunView, from data: UnsafeRawPointer) {
        bytes.withUnsafeMutableBytes { b in
            written.withUnsafeMutableBytes { w in
                for (i, start) in runs.starts.enumerated() {
                    (b.baseAddress! + start).copyMemory(from: data + i * runs.length, byteCount: runs.length)
                    memset(w.baseAddress! + start, 1, runs.length)
                }
            }
        }
    }
}

/// A resolved descriptor's runs as the memories read them: its memory instance and the
/// runs' starts, kept alive by the table that resolved them (`ResolvedDescriptors`).
struct RunView {
    let memory: Int
    let starts: UnsafeBufferPointer<Int>
    let length: Int

    var count: Int { starts.count * length }
}

/// The bytes a descriptor covers, as runs of equal length in the row-major order of its
/// elements: trailing dimensions laid out contiguously merge into one run.
struct ByteRuns {
    var starts: [Int]
    var length: Int

    var count: Int { starts.count * length }

    /// The runs of `dims`/`strides` (in elements of `size` bytes) from byte `base`, and
    /// the lowest and highest byte touched (an empty span when an extent is 0).
    init(base: Int, dims: [Int], strides: [Int], size: Int) {
        guard !dims.contains(0) else {
            starts = []
            length = 0
            return
        }
        var outer = Array(zip(dims, strides).filter { $0.0 != 1 })
        var run = 1
        while let (d, s) = outer.last, s == run {
            run *= d
            outer.removeLast()
        }
        length = run * size
        var offsets = [base]
        for (d, s) in outer {
            var next = [Int]()
            next.reserveCapacity(offsets.count * d)
            for o in offsets {
                for j in 0..<d { next.append(o + j * s * size) }
            }
            offsets = next
        }
        starts = offsets
    }

    /// The bytes from the lowest to one past the highest touched, or nil when empty.
    var span: Range<Int>? {
        guard let lo = starts.min(), let hi = starts.max(), length > 0 else { return nil }
        return lo..<(hi + length)
    }
}
