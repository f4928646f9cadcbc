// Who touched each byte last: per 64-byte block of every memory instance, the earlier
// accesses still visible there, each with the 4-byte words it covers (a 16-bit mask): the
// writes, and the reads since them, one entry per queue. A write hides every earlier access
// of its words; a read by a queue with an entry in the block merges into it (its words
// added, under the later index). An access conflicts with the visible accesses of its words from
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
    private var pool: [Entry] = []
    private var free: Int32 = -1
    /// Per block, memories end to end from `base`: the heads of its write and read lists.
    private var writeHead: [Int32], readHead: [Int32]
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
        writeHead = Array(repeating: -1, count: total)
        readHead = writeHead
        foundAt = Array(repeating: -1, count: units)
        lastReader = writeHead
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

    private mutating func note(_ e: Entry, _ unit: Int, _ kind: Dependence.Kind, _ memory: Int, _ block: Int, _ mask: UInt16) {
        guard Int(e.unit) != unit else { return }
        let at = Int(foundAt[Int(e.unit)])
        guard at < 0 || found[at].index < Int(e.index) else { return }
        let address = ((block - base[memory]) * 16 + (e.mask & mask).trailingZeroBitCount) * Self.wordBytes
        let d = Dependence(unit: Int(e.unit), index: Int(e.index), kind: kind, memory: memory, address: address)
        if at < 0 {
            foundAt[Int(e.unit)] = Int32(found.count)
            found.append(d)
        } else {
            found[at] = d
        }
    }

    /// Records instruction `index` on queue `unit` reading `reads` and writing `writes`
    /// (memory instance, byte runs); returns, per other queue, the latest earlier
    /// instruction it conflicts with, the latest first. A queue's read of words its entry in
    /// the block holds already needs no search: no write has touched them since, and the
    /// queue's earlier read of them met the same writes.
    mutating func access(
        index: Int, unit: Int, reads: [(Int, [(Int, Int)])], writes: [(Int, [(Int, Int)])]
    ) -> [Dependence] {
        found.removeAll(keepingCapacity: true)
        func scan(_ head: Int32, _ kind: Dependence.Kind, _ memory: Int, _ block: Int, _ mask: UInt16) {
            var k = head
            while k >= 0 {
                let e = pool[Int(k)]
                if e.mask & mask != 0 { note(e, unit, kind, memory, block, mask) }
                k = e.next
            }
        }
        let (i, u) = (Int32(index), Int32(unit))
        for (memory, runs) in reads {
            Self.forEachBlock(base[memory], runs) { block, mask in
                var k = lastReader[block]
                if k < 0 || pool[Int(k)].unit != u {
                    k = readHead[block]
                    while k >= 0 && pool[Int(k)].unit != u { k = pool[Int(k)].next }
                }
                let new = k >= 0 ? mask & ~pool[Int(k)].mask : mask
                if new != 0 { scan(writeHead[block], .readAfterWrite, memory, block, new) }
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
                scan(writeHead[block], .writeAfterWrite, memory, block, mask)
                scan(readHead[block], .writeAfterRead, memory, block, mask)
                writeHead[block] = hide(mask, from: writeHead[block])
                readHead[block] = hide(mask, from: readHead[block])
                writeHead[block] = push(Entry(index: i, unit: u, mask: mask, next: writeHead[block]))
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
