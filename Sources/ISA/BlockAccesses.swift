// The distinct accesses 64-byte blocks hold, each under a number: per 4-byte word its last
// write (instruction and queue), and the reads since, a list of entries, each a queue's reads
// with the words they read (a 16-bit mask) under the latest one's index; and what a read or
// a write of some of a block's words does to them. Flat arrays, no allocation per change.

struct BlockAccesses {
    /// A queue's reads of a block: the latest one's index, and the words read.
    struct Read {
        var index: Int32
        var unit: Int32
        var mask: UInt16
    }

    /// Where a value's list of reads lies in `entries` (oldest first), its room there (a
    /// power of two, 0 for none) and length, and the place of the queue that read it last
    /// (-1: none, or written since).
    private struct List {
        var start = 0
        var room: Int32 = 0
        var count: Int32 = 0
        var lastReader: Int32 = -1
    }

    /// How far back from its newest entry a read looks for its queue's entry before it adds
    /// one: a queue may then hold two entries of a block, which finds the same dependences
    /// (the later index wins) at less cost than a long search.
    static let readSearch = 8
    /// Lane w holds w: a word mask shifted right by these has bit w in lane w's lowest bit.
    private static let lanes = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

    /// A value: per word its last write and that one's queue (-1: none), and its reads;
    /// together, so that a change of it touches neighbouring memory only.
    private struct Record {
        var writer = SIMD16<Int32>(repeating: -1), writerUnit = SIMD16<Int32>(repeating: -1)
        var list = List()
    }

    /// The values by number; value 0 is an untouched block's.
    private var records = [Record()]
    /// The lists' entries, in pieces of a power of two each; free pieces by log2 of their room.
    private(set) var entries: [Read] = []
    private var freePieces: [[Int]] = []
    /// Numbers of freed values.
    private var freeValues: [Int32] = []

    /// Value `v`'s words' last writes and their queues.
    func writers(_ v: Int32) -> (SIMD16<Int32>, SIMD16<Int32>) { (records[Int(v)].writer, records[Int(v)].writerUnit) }

    /// Value `v`'s reads, oldest first.
    func reads(_ v: Int32) -> Range<Int> {
        let l = records[Int(v)].list
        return l.start..<(l.start + Int(l.count))
    }

    /// A new value: untouched, or a copy of `v` (with room for one more read).
    mutating func add(copying v: Int32? = nil) -> Int32 {
        let k: Int32
        if let f = freeValues.popLast() {
            k = f
        } else {
            k = Int32(records.count)
            records.append(Record())
        }
        guard let v else { return k }
        records[Int(k)].writer = records[Int(v)].writer
        records[Int(k)].writerUnit = records[Int(v)].writerUnit
        let from = records[Int(v)].list
        var to = List(start: 0, room: 0, count: from.count, lastReader: from.lastReader)
        if from.count > 0 {
            to.room = max(4, Int32(1) << (Int32.bitWidth - (from.count).leadingZeroBitCount))
            to.start = piece(to.room)
            for j in 0..<Int(from.count) { entries[to.start + j] = entries[from.start + j] }
        }
        records[Int(k)].list = to
        return k
    }

    /// A new value: every word written by instruction `index` of `unit`, no reads since.
    mutating func add(writtenBy index: Int32, unit: Int32) -> Int32 {
        let k = add()
        records[Int(k)].writer = SIMD16(repeating: index)
        records[Int(k)].writerUnit = SIMD16(repeating: unit)
        return k
    }

    /// Frees value `v`'s number and its list.
    mutating func remove(_ v: Int32) {
        let l = records[Int(v)].list
        if l.room > 0 { freePieces[l.room.trailingZeroBitCount].append(l.start) }
        records[Int(v)] = Record()
        freeValues.append(v)
    }

    /// A piece of `room` entries.
    private mutating func piece(_ room: Int32) -> Int {
        let c = room.trailingZeroBitCount
        while freePieces.count <= c { freePieces.append([]) }
        if let start = freePieces[c].popLast() { return start }
        entries.append(contentsOf: repeatElement(Read(index: -1, unit: -1, mask: 0), count: Int(room)))
        return entries.count - Int(room)
    }

    /// The place in `entries` of the entry a read by `unit` of value `v` merges into: the
    /// last reader's when it is `unit`'s, else `unit`'s newest among the newest `readSearch`;
    /// nil when it adds one.
    func entry(_ v: Int32, of unit: Int32) -> Int? {
        let l = records[Int(v)].list
        if l.lastReader >= 0 && entries[l.start + Int(l.lastReader)].unit == unit { return l.start + Int(l.lastReader) }
        var k = l.start + Int(l.count) - 1
        let stop = max(l.start, k + 1 - Self.readSearch)
        while k >= stop {
            if entries[k].unit == unit { return k }
            k -= 1
        }
        return nil
    }

    /// Whether instruction `index`'s read of the words of `mask`, merging into `entry`,
    /// leaves value `v` as it is (it read them already, last).
    func reads(_ v: Int32, _ mask: UInt16, index: Int32, entry: Int?) -> Bool {
        guard let k = entry else { return false }
        let e = entries[k]
        return e.index == index && e.mask | mask == e.mask
            && records[Int(v)].list.start + Int(records[Int(v)].list.lastReader) == k
    }

    /// Value `v` once instruction `index` of `unit` reads the words of `mask`, merging into
    /// `entry` (as `entry(_:of:)` found it) or adding one.
    mutating func read(_ v: Int32, _ mask: UInt16, index: Int32, unit: Int32, entry: Int?) {
        var l = records[Int(v)].list
        if let k = entry {
            entries[k].index = index
            entries[k].mask |= mask
            l.lastReader = Int32(k - l.start)
        } else {
            if l.count == l.room {
                let room = max(4, 2 * l.room), start = piece(room)
                for j in 0..<Int(l.count) { entries[start + j] = entries[l.start + j] }
                if l.room > 0 { freePieces[l.room.trailingZeroBitCount].append(l.start) }
                (l.start, l.room) = (start, room)
            }
            entries[l.start + Int(l.count)] = Read(index: index, unit: unit, mask: mask)
            l.lastReader = l.count
            l.count += 1
        }
        records[Int(v)].list = l
    }

    /// Value `v` once instruction `index` of `unit` writes the words of `mask`: their writer
    /// replaced, and hidden from every read entry (an emptied entry leaves the list).
    mutating func write(_ v: Int32, _ mask: UInt16, index: Int32, unit: Int32) {
        // All ones in the lanes of the words written, zeros elsewhere.
        let written = 0 &- ((SIMD16(repeating: Int32(mask)) &>> Self.lanes) & 1)
        records[Int(v)].writer = (records[Int(v)].writer & ~written) | (SIMD16(repeating: index) & written)
        records[Int(v)].writerUnit = (records[Int(v)].writerUnit & ~written) | (SIMD16(repeating: unit) & written)
        var l = records[Int(v)].list
        var kept = l.start
        for k in l.start..<(l.start + Int(l.count)) where entries[k].mask & ~mask != 0 {
            entries[kept] = entries[k]
            entries[kept].mask &= ~mask
            kept += 1
        }
        l.count = Int32(kept - l.start)
        l.lastReader = -1
        records[Int(v)].list = l
    }
}
