// The bandwidth of one memory instance shared by every transfer through it: time in windows
// of `window` cycles, each able to move window x bandwidth bytes. A transfer claims its bytes
// from the window it starts in onwards, taking what earlier claims left, so transfers issued
// later in program order still fill the gaps earlier ones left (schemas/cycles.md).

struct BandwidthLedger {
    let bytesPerCycle: Int
    let window: Int
    /// Bytes claimed in each window so far.
    private var used: [Int] = []
    /// For each window, a window at or after it that may still have room (path-compressed).
    private var next: [Int] = []

    init(bytesPerCycle: Int, window: Int) {
        self.bytesPerCycle = bytesPerCycle
        self.window = window
    }

    private var capacity: Int { bytesPerCycle * window }

    private mutating func grow(to index: Int) {
        while used.count <= index {
            next.append(used.count)
            used.append(0)
        }
    }

    /// The first window at or after `index` with room.
    private mutating func open(_ index: Int) -> Int {
        grow(to: index)
        var root = index
        while next[root] != root {
            root = next[root]
            grow(to: root)
        }
        var i = index
        while next[i] != root {
            let n = next[i]
            next[i] = root
            i = n
        }
        return root
    }

    /// Claims `bytes` from the window holding cycle `start` onwards; returns the cycle its
    /// last byte moves: its window's start plus that window's claimed bytes at the
    /// bandwidth, rounded up.
    mutating func claim(_ bytes: Int, from start: Int) -> Int {
        guard bytes > 0 else { return start }
        var left = bytes
        var w = open(start / window)
        while true {
            let take = min(left, capacity - used[w])
            used[w] += take
            left -= take
            if used[w] == capacity {
                grow(to: w + 1)
                next[w] = w + 1
            }
            if left == 0 { return w * window + (used[w] + bytesPerCycle - 1) / bytesPerCycle }
            w = open(w + 1)
        }
    }
}
