// Who touched each byte last: per 4-byte word of every memory instance, its last write
// (instruction and queue); per 64-byte block, the reads since, entries of a queue and the
// words it read (a 16-bit mask). A write replaces its words' writer and hides them from
// every read entry; a read by a queue whose entry is the block's last reader's or among the
// first few of its list merges into it (its words added, under the later index), else it
// adds one. An access conflicts with the visible accesses of its words from
// other queues that it reads after (a write) or writes after (a read or a write). Words are
// the granularity: an access of part of a word counts as one of the whole word. Merging and
// rounding to words can only add conflicts, never lose one.

/// An earlier instruction a later one depends on.
public struct Dependence: Sendable, Equatable {
    public enum Kind: Sendable {
        case readAfterWrite, writeAfterRead, writeAfterWrite

        /// What the later instruction does to the byte, and the earlier one.
        public var verbs: (later: String, earlier: String) {
            switch self {
            case .readAfterWrite: return ("reads", "writes")
            case .writeAfterRead: return ("writes", "reads")
            case .writeAfterWrite: return ("writes", "also writes")
            }
        }
    }
    /// The earlier instruction's queue (`Units` numbers them) and index in the program.
    public var unit: Int
    public var index: Int
    public var kind: Kind
    /// A byte both touch: memory instance (as `Units.memory(of:)` numbers them) and address.
    public var memory: Int
    public var address: Int
}

struct AccessTable {
    /// One access in a block's list: entries live in one pool, linked by `next` (-1 ends).
    private struct Entry {
        var index: Int32
        var unit: Int32
        var mask: UInt16
        var next: Int32
    }

    static let blockBytes = 64, wordBytes = 4
    /// How far down a block's list of reads a read looks for its queue's entry before it
    /// adds one: a queue may then hold two entries of a block, which finds the same
    /// dependences (the later index wins) at less cost than a long search.
    static let readSearch = 8
    private var pool: [Entry] = []
    private var free: Int32 = -1
    /// Per word, memories end to end from 16 x `base`: its last write and that one's queue.
    private var writer: [Int32], writerUnit: [Int32]
    /// Per block, memories end to end from `base`: the head of its list of reads.
    private var readHead: [Int32]
    private let base: [Int]
    /// Per block, the entry of the queue that read it last (-1: none, or written since).
    private var lastReader: [Int32]
    /// The dependences of the access being recorded, and each queue's place among them.
    private var found: [Dependence] = []
    private var foundAt: [Int32]

    /// A table of memories of `bytes` each, for accesses by `units` queues.
    init(bytes: [Int], units: Int) {
        var base: [Int] = [], total = 0
        for b in bytes {
            base.append(total)
            total += (b + Self.blockBytes - 1) / Self.blockBytes
        }
        self.base = base
        readHead = Array(repeating: -1, count: total)
        writer = Array(repeating: -1, count: 16 * total)
        writerUnit = writer
        foundAt = Array(repeating: -1, count: units)
        lastReader = readHead
    }

    /// Calls `body` with each block the runs touch (numbered from `base`) and the mask of
    /// the words they touch in it; runs that follow one another in a block are one call.
    private static func forEachBlock(_ base: Int, _ runs: [(Int, Int)], _ body: (Int, UInt16) -> Void) {
        var pending = -1, pendingMask: UInt16 = 0
        for (start, end) in runs where end > start {
            let first = start / Self.wordBytes, last = (end + Self.wordBytes - 1) / Self.wordBytes - 1
            for block in (first / 16)...(last / 16) {
                let lo = max(first, block * 16) - block * 16, hi = min(last, block * 16 + 15) - block * 16
                let mask = UInt16(truncatingIfNeeded: ((1 << (hi + 1)) - 1) ^ ((1 << lo) - 1))
                if block == pending {
                    pendingMask |= mask
                } else {
                    if pending >= 0 { body(base + pending, pendingMask) }
                    (pending, pendingMask) = (block, mask)
                }
            }
        }
        if pending >= 0 { body(base + pending, pendingMask) }
    }

    /// Notes that the access depends on instruction `index` of `other` through word `word`.
    private mutating func note(_ index: Int32, _ other: Int32, _ unit: Int, _ kind: Dependence.Kind, _ memory: Int, _ word: Int) {
        guard Int(other) != unit else { return }
        let at = Int(foundAt[Int(other)])
        guard at < 0 || found[at].index < Int(index) else { return }
        let address = (word - 16 * base[memory]) * Self.wordBytes
        let d = Dependence(unit: Int(other), index: Int(index), kind: kind, memory: memory, address: address)
        if at < 0 {
            foundAt[Int(other)] = Int32(found.count)
            found.append(d)
        } else {
            found[at] = d
        }
    }

    /// Notes the writers of the words of `mask` in `block`.
    private mutating func noteWriters(_ block: Int, _ mask: UInt16, _ unit: Int, _ kind: Dependence.Kind, _ memory: Int) {
        var bits = mask
        while bits != 0 {
            let word = 16 * block + bits.trailingZeroBitCount
            bits &= bits - 1
            if writer[word] >= 0 { note(writer[word], writerUnit[word], unit, kind, memory, word) }
        }
    }

    /// Records instruction `index` on queue `unit` reading `reads` and writing `writes`
    /// (memory instance, byte runs); returns, per other queue, the latest earlier
    /// instruction it conflicts with, the latest first. A queue's read of words its entry in
    /// the block holds already needs no look at their writers: no write has touched them
    /// since, and the queue's earlier read of them met the same writers.
    mutating func access(
        index: Int, unit: Int, reads: [(Int, [(Int, Int)])], writes: [(Int, [(Int, Int)])]
    ) -> [Dependence] {
        found.removeAll(keepingCapacity: true)
        let (i, u) = (Int32(index), Int32(unit))
        for (memory, runs) in reads {
            Self.forEachBlock(base[memory], runs) { block, mask in
                var k = lastReader[block]
                if k < 0 || pool[Int(k)].unit != u {
                    var steps = 0
                    k = readHead[block]
                    while k >= 0 && pool[Int(k)].unit != u {
                        steps += 1
                        k = steps < Self.readSearch ? pool[Int(k)].next : -1
                    }
                }
                let new = k >= 0 ? mask & ~pool[Int(k)].mask : mask
                if new != 0 { noteWriters(block, new, unit, .readAfterWrite, memory) }
                if k >= 0 {
                    pool[Int(k)].index = i
                    pool[Int(k)].mask |= mask
                } else {
                    k = push(Entry(index: i, unit: u, mask: mask, next: readHead[block]))
                    readHead[block] = k
                }
                lastReader[block] = k
            }
        }
        for (memory, runs) in writes {
            Self.forEachBlock(base[memory], runs) { block, mask in
                noteWriters(block, mask, unit, .writeAfterWrite, memory)
                var k = readHead[block]
                while k >= 0 {
                    let e = pool[Int(k)]
                    if e.mask & mask != 0 {
                        note(e.index, e.unit, unit, .writeAfterRead, memory, 16 * block + (e.mask & mask).trailingZeroBitCount)
                    }
                    k = e.next
                }
                readHead[block] = hide(mask, from: readHead[block])
                var bits = mask
                while bits != 0 {
                    let word = 16 * block + bits.trailingZeroBitCount
                    bits &= bits - 1
                    (writer[word], writerUnit[word]) = (i, u)
                }
                lastReader[block] = -1
            }
        }
        for d in found { foundAt[d.unit] = -1 }
        return found.sorted { $0.index > $1.index }
    }

    /// Clears `mask` from the list at `head`, unlinking emptied entries; the new head.
    private mutating func hide(_ mask: UInt16, from head: Int32) -> Int32 {
        var head = head, previous: Int32 = -1, k = head
        while k >= 0 {
            let next = pool[Int(k)].next
            pool[Int(k)].mask &= ~mask
            if pool[Int(k)].mask == 0 {
                if previous < 0 { head = next } else { pool[Int(previous)].next = next }
                pool[Int(k)].next = free
                free = k
            } else {
                previous = k
            }
            k = next
        }
        return head
    }

    private mutating func push(_ e: Entry) -> Int32 {
        if free >= 0 {
            let k = free
            free = pool[Int(k)].next
            pool[Int(k)] = e
            return k
        }
        pool.append(e)
        return Int32(pool.count - 1)
    }
}
