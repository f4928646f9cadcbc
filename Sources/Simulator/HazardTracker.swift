// Read-after-write and write-after-read hazards between instructions on any units, over
// the bytes their descriptors touch. Every memory instance is cut into blocks of the
// target's activation alignment; each block remembers the latest completion of the writes
// and of the reads of its bytes so far. A descriptor touches the blocks of its contiguous
// runs, or of its whole span when it has more than `TensorDescriptor.maxRuns` runs.
import ISA

/// Where a descriptor's bytes are: the memory instance and contiguous byte runs.
struct Footprint {
    var memory: Int
    /// [start, end) byte ranges.
    var runs: [(Int, Int)]
}

struct HazardTracker {
    let block: Int
    /// Per memory instance, per block: the latest completion of its writes, and of its reads.
    private var written: [[Int]]
    private var read: [[Int]]

    init(memories: Int, block: Int) {
        self.block = block
        written = Array(repeating: [], count: memories)
        read = Array(repeating: [], count: memories)
    }

    /// The bytes `d` touches in memory instance `memory` (`TensorDescriptor.byteRuns`).
    static func footprint(_ d: TensorDescriptor, memory: Int) -> Footprint {
        Footprint(memory: memory, runs: d.byteRuns())
    }

    private func blocks(_ run: (Int, Int)) -> Range<Int> { (run.0 / block)..<((run.1 + block - 1) / block) }

    private mutating func grow(_ m: Int, _ blocks: Range<Int>) {
        if written[m].count < blocks.upperBound {
            let extra = blocks.upperBound - written[m].count
            written[m] += repeatElement(0, count: extra)
            read[m] += repeatElement(0, count: extra)
        }
    }

    /// The earliest cycle an instruction reading `f` may start: once the earlier writes of
    /// its bytes are done.
    mutating func readReady(_ f: Footprint) -> Int { latest(f, reads: false) }

    /// The earliest cycle an instruction writing `f` may start: once the earlier reads of its
    /// bytes are done. Earlier writes of them are not waited for: two writes of one byte
    /// with no read between are ordered only by the program's semaphores (the ISA calls a
    /// program whose result depends on their order incorrect), and a read after both waits
    /// for both.
    mutating func writeReady(_ f: Footprint) -> Int { latest(f, reads: true) }

    /// The latest completion of the reads (or writes) of `f`'s blocks.
    private mutating func latest(_ f: Footprint, reads: Bool) -> Int {
        var t = 0
        for r in f.runs {
            let b = blocks(r)
            grow(f.memory, b)
            if reads {
                for i in b { t = max(t, read[f.memory][i]) }
            } else {
                for i in b { t = max(t, written[f.memory][i]) }
            }
        }
        return t
    }

    /// Records a read of `f` that completes at `end`.
    mutating func recordRead(_ f: Footprint, end: Int) {
        for r in f.runs { for i in blocks(r) { read[f.memory][i] = max(read[f.memory][i], end) } }
    }

    /// Records a write of `f` that completes at `end`.
    mutating func recordWrite(_ f: Footprint, end: Int) {
        for r in f.runs { for i in blocks(r) { written[f.memory][i] = max(written[f.memory][i], end) } }
    }
}
