// What each queue knows has completed: vector clocks over the queues, advanced by queue
// order and by waits on signals. Queue u's clock holds, per queue v, the latest instruction
// of v (by program index) known to have completed before u's next instruction issues. A
// signal carries its queue's clock as of that queue's last instruction before it; a wait
// that a single queue's k-th signal satisfies joins that signal's clock into the waiting
// queue's. Clocks are kept as versions (one per wait); the last `kept` versions of each
// queue are remembered in full, an older one by its own queue's entry alone, which can only
// know less. Everything here is a function of the program and the machine's queues, so the
// backend's synchronization and the checker reach the same knowledge.

public struct HappensBefore: Sendable {
    /// One signal's knowledge: its queue, that queue's last instruction before it, and the
    /// version of that queue's clock then.
    public struct Snapshot: Sendable {
        public var unit: Int
        public var index: Int
        public var version: Int

        public init(unit: Int, index: Int, version: Int) {
            self.unit = unit
            self.index = index
            self.version = version
        }
    }

    /// Versions remembered in full per queue: 64, or fewer on a machine of so many queues
    /// that 64 would take more than 64 MiB.
    let kept: Int
    let units: Int
    /// clocks[u * units + v]: the latest instruction of v known complete before u's next.
    private var clocks: [Int32]
    /// Per queue, its clock's version (waits so far), and the last `kept` versions.
    public private(set) var version: [Int]
    private var history: [Int32]
    /// Per queue, its last instruction and the version of its clock then.
    private var last: [(index: Int, version: Int)]
    /// Per semaphore: the queue that signals it (-1 when several do), and its signals.
    private var signaller: [Int: Int] = [:]
    private var signals: [Int: [Snapshot]] = [:]

    public init(units: Int) {
        self.units = units
        kept = max(2, min(64, (64 << 20) / max(1, 4 * units * units)))
        clocks = Array(repeating: -1, count: units * units)
        version = Array(repeating: 0, count: units)
        history = Array(repeating: -1, count: units * kept * units)
        last = Array(repeating: (-1, 0), count: units)
    }

    /// True when instruction `index` of queue `v` is known complete before `u`'s next
    /// instruction (always for u's own queue: queue order).
    public func ordered(_ v: Int, _ index: Int, before u: Int) -> Bool {
        u == v || Int(clocks[u * units + v]) >= index
    }

    /// Records instruction `index` issued on queue `u`.
    public mutating func issue(_ u: Int, _ index: Int) { last[u] = (index, version[u]) }

    /// A `signal` after queue `u` incrementing `sem`.
    public mutating func signal(_ u: Int, _ sem: Int) {
        signaller[sem] = signaller[sem].map { $0 == u ? u : -1 } ?? u
        signals[sem, default: []].append(Snapshot(unit: u, index: last[u].index, version: last[u].version))
    }

    /// A `wait` holding queue `u` until `sem` >= `count`: joins the clock of the signal that
    /// satisfies it when one queue alone signals `sem` and `count` of its signals precede.
    public mutating func wait(_ u: Int, _ sem: Int, count: Int) {
        guard count > 0, signaller[sem] ?? -1 >= 0, let known = signals[sem], known.count >= count else {
            return join(u, nil)
        }
        join(u, known[count - 1])
    }

    /// Queue `u` learns what `s` knows (nothing with nil), and its clock takes a new version.
    public mutating func join(_ u: Int, _ s: Snapshot?) {
        let units = self.units, row = u * units
        if let s, s.index >= 0 {
            clocks[row + s.unit] = max(clocks[row + s.unit], Int32(s.index))
            if version[s.unit] - s.version < kept {
                let from = (s.unit * kept + s.version % kept) * units
                // Row by row through pointers, so that the loops run on vectors.
                clocks.withUnsafeMutableBufferPointer { c in
                    history.withUnsafeBufferPointer { h in
                        let clock = c.baseAddress! + row, known = h.baseAddress! + from
                        for v in 0..<units { clock[v] = max(clock[v], known[v]) }
                    }
                }
            }
        }
        version[u] += 1
        let to = (u * kept + version[u] % kept) * units
        history.withUnsafeMutableBufferPointer { h in
            clocks.withUnsafeBufferPointer { c in
                (h.baseAddress! + to).update(from: c.baseAddress! + row, count: units)
            }
        }
    }
}
