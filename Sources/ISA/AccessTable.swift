// Who touched each byte last: per 64-byte block of every memory instance, its accesses
// (`BlockAccesses`: per 4-byte word the last write, and the reads since by queue). Blocks
// that hold the same accesses share one value, so an access of many blocks costs a step per
// block plus one per distinct value among them: a block holds the number of its value, each
// value counts the blocks that hold it, and within an access each value's change (and the
// conflicts it finds) is worked out once. An access conflicts with the visible accesses of
// its words from other queues that it reads after (a write) or writes after (a read or a
// write). Words are the granularity: an access of part of a word counts as one of the whole
// word. Merging a queue's reads of a block into one entry and rounding to words can only add
// conflicts, never lose one.

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
    static let blockBytes = 64, wordBytes = 4
    /// The distinct values blocks hold; value 0 is an untouched block's.
    private var values = BlockAccesses()
    /// Per value, the blocks that hold it (-1: a free number; value 0 is never freed).
    private var holders: [Int] = [Int.max / 2]
    /// Values that no block held at some point of the access being recorded, freed after it.
    private var dropped: [Int32] = []
    /// Per block, memories end to end from `base`: the number of its value.
    private var valueOf: [Int32]
    private let base: [Int]
    /// Per value, its change in the current phase of an access: the phase's stamp, the mask
    /// of words, and the value it becomes.
    private var memo: [(stamp: Int, mask: UInt16, value: Int32)] = [(-1, 0, 0)]
    /// The current phase (an access's reads, then its writes), numbered from 1.
    private var stamp = 0
    /// The value of a block written whole in the current phase, and that phase's stamp.
    private var whole: (stamp: Int, value: Int32) = (-1, 0)
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
        valueOf = Array(repeating: 0, count: total)
        foundAt = Array(repeating: -1, count: units)
    }

    /// Calls `body` with spans of blocks the runs touch (the first numbered from `base`, how
    /// many) and the mask of the words they touch in each; runs that follow one another in a
    /// block are one call for it. The blocks come in the order the runs touch them.
    private static func forEachSpan(_ base: Int, _ runs: [(Int, Int)], _ body: (Int, Int, UInt16) -> Void) {
        var pending = -1, pendingMask: UInt16 = 0
        func add(_ block: Int, _ mask: UInt16) {
            if block == pending {
                pendingMask |= mask
            } else {
                if pending >= 0 { body(base + pending, 1, pendingMask) }
                (pending, pendingMask) = (block, mask)
            }
        }
        for (start, end) in runs where end > start {
            let first = start / Self.wordBytes, last = (end + Self.wordBytes - 1) / Self.wordBytes - 1
            let (firstBlock, lastBlock) = (first / 16, last / 16)
            func mask(_ lo: Int, _ hi: Int) -> UInt16 { UInt16(truncatingIfNeeded: ((1 << (hi + 1)) - 1) ^ ((1 << lo) - 1)) }
            if firstBlock == lastBlock {
                add(firstBlock, mask(first % 16, last % 16))
                continue
            }
            add(firstBlock, mask(first % 16, 15))
            if lastBlock - firstBlock > 1 {
                body(base + pending, 1, pendingMask)
                body(base + firstBlock + 1, lastBlock - firstBlock - 1, 0xFFFF)
                pending = -1
            }
            add(lastBlock, mask(0, last % 16))
        }
        if pending >= 0 { body(base + pending, 1, pendingMask) }
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

    /// A value's number for a new value (`BlockAccesses.add`), held by no block yet.
    private mutating func added(_ k: Int32) -> Int32 {
        if Int(k) == holders.count {
            holders.append(0)
            memo.append((-1, 0, 0))
        } else {
            holders[Int(k)] = 0
            memo[Int(k)] = (-1, 0, 0)
        }
        return k
    }

    /// Notes the writers of the words of `mask` of value `v` in block `block`.
    private mutating func noteWriters(
        _ v: Int32, _ mask: UInt16, _ unit: Int, _ kind: Dependence.Kind, _ memory: Int, _ block: Int
    ) {
        let (writer, writerUnit) = values.writers(v)
        var bits = mask
        while bits != 0 {
            let word = bits.trailingZeroBitCount
            bits &= bits - 1
            if writer[word] >= 0 { note(writer[word], writerUnit[word], unit, kind, memory, 16 * block + word) }
        }
    }

    /// The value `old` becomes when instruction `i` of `unit` reads (or writes) the words of
    /// `mask` of blocks holding it, the first of them `block`; notes the conflicts. When those
    /// blocks are all that hold it (`sole`), it changes in place.
    private mutating func change(
        _ old: Int32, _ mask: UInt16, write: Bool, block: Int, memory: Int, _ i: Int32, _ unit: Int, sole: Bool
    ) -> Int32 {
        let m = memo[Int(old)]
        if m.stamp == stamp && m.mask == mask { return m.value }
        let u = Int32(unit)
        var next = old
        if write {
            noteWriters(old, mask, unit, .writeAfterWrite, memory, block)
            for k in values.reads(old) where values.entries[k].mask & mask != 0 {
                let e = values.entries[k]
                note(e.index, e.unit, unit, .writeAfterRead, memory, 16 * block + (e.mask & mask).trailingZeroBitCount)
            }
            if mask == 0xFFFF {
                // Every block written whole in this phase holds the same value.
                if whole.stamp != stamp { whole = (stamp, added(values.add(writtenBy: i, unit: u))) }
                next = whole.value
            } else {
                if !sole { next = added(values.add(copying: old)) }
                values.write(next, mask, index: i, unit: u)
            }
        } else {
            // A queue's read of words its entry holds already needs no look at their writers:
            // no write has touched them since, and its earlier read met the same writers.
            var k = values.entry(old, of: u)
            noteWriters(old, k.map { mask & ~values.entries[$0].mask } ?? mask, unit, .readAfterWrite, memory, block)
            if !values.reads(old, mask, index: i, entry: k) {
                if !sole {
                    next = added(values.add(copying: old))
                    if let j = k { k = j - values.reads(old).lowerBound + values.reads(next).lowerBound }
                }
                values.read(next, mask, index: i, unit: u, entry: k)
            }
        }
        memo[Int(old)] = (stamp, mask, next)
        return next
    }

    /// Records the access of `mask` of each of `count` blocks from `first`.
    private mutating func record(_ first: Int, _ count: Int, _ mask: UInt16, write: Bool, memory: Int, _ i: Int32, _ unit: Int) {
        var block = first
        let end = first + count
        while block < end {
            let old = valueOf[block]
            var next = block + 1
            while next < end && valueOf[next] == old { next += 1 }
            let held = next - block
            let new = change(old, mask, write: write, block: block, memory: memory, i, unit, sole: holders[Int(old)] == held)
            if new != old {
                for b in block..<next { valueOf[b] = new }
                holders[Int(new)] += held
                holders[Int(old)] -= held
                if holders[Int(old)] == 0 { dropped.append(old) }
            }
            block = next
        }
    }

    /// Records instruction `index` on queue `unit` reading `reads` and writing `writes`
    /// (memory instance, byte runs); returns, per other queue, the latest earlier
    /// instruction it conflicts with, the latest first.
    mutating func access(
        index: Int, unit: Int, reads: [(Int, [(Int, Int)])], writes: [(Int, [(Int, Int)])]
    ) -> [Dependence] {
        found.removeAll(keepingCapacity: true)
        let i = Int32(index)
        stamp += 1
        for (memory, runs) in reads {
            Self.forEachSpan(base[memory], runs) { record($0, $1, $2, write: false, memory: memory, i, unit) }
        }
        stamp += 1
        for (memory, runs) in writes {
            Self.forEachSpan(base[memory], runs) { record($0, $1, $2, write: true, memory: memory, i, unit) }
        }
        for k in dropped where holders[Int(k)] == 0 {
            holders[Int(k)] = -1
            values.remove(k)
        }
        dropped.removeAll(keepingCapacity: true)
        for d in found { foundAt[d.unit] = -1 }
        // Sorted in place and handed out: the caller's copy is gone by the next access, which
        // then reuses the storage.
        if found.count > 1 { found.sort { $0.index > $1.index } }
        return found
    }
}
