// Unique: the distinct elements of a tensor (or its distinct slices along `axis`), in
// increasing order (lexicographic for slices) or, with `sorted` 0, in the order they first
// appear; with the first place of each, each element's (slice's) place among them, and how
// often each appears. Equal values are one however they are spelt (-0 and +0), and so are
// NaNs, which order after every number (numpy's unique); the value kept is the first one's.
import IR

func unique(_ node: Node, _ inputs: [Tensor?]) throws -> [Tensor] {
    let x = try operand(node, inputs, 0)
    let axis = try node.int("axis").map { try normalizedAxis($0, rank: x.rank, node) }
    let extents = axis == nil ? [x.count] : x.shape
    let a = axis ?? 0
    let (outer, count) = (extents[..<a].reduce(1, *), extents[a])
    let inner = extents[(a + 1)...].reduce(1, *)
    // Element j (row-major over the other axes) of item k.
    func element(_ k: Int, _ j: Int) -> Int { (j / inner * count + k) * inner + j % inner }
    let order = elementOrder(x)
    func precedes(_ p: Int, _ q: Int) -> Bool {
        for j in 0..<(outer * inner) {
            let c = order(element(p, j), element(q, j))
            if c != 0 { return c < 0 }
        }
        return false
    }
    // Sorted by value, equal items by place: each run of equal items is one value, its first
    // place the run's first.
    let byValue = (0..<count).sorted { precedes($0, $1) || !precedes($1, $0) && $0 < $1 }
    var runs: [[Int]] = []
    for k in byValue {
        if let last = runs.last?.first, !precedes(last, k) { runs[runs.count - 1].append(k) } else { runs.append([k]) }
    }
    if node.int("sorted", default: 1) == 0 { runs.sort { $0[0] < $1[0] } }
    var place = [Int64](repeating: 0, count: count)
    for (u, run) in runs.enumerated() { for k in run { place[k] = Int64(u) } }
    var shape = extents
    shape[a] = runs.count
    let y = taking(x, extents: extents, axis: a, places: runs.map { $0[0] }, shape: shape)
    return [
        y, Tensor(runs.map { Int64($0[0]) }, shape: [runs.count]), Tensor(place, shape: [count]),
        Tensor(runs.map { Int64($0.count) }, shape: [runs.count]),
    ]
}

/// How elements `i` and `j` of `x` compare: negative, 0 or positive. Floats by value, NaN
/// after every number and equal to itself; integers and bools as integers (uint64 unsigned).
private func elementOrder(_ x: Tensor) -> (Int, Int) -> Int {
    func sign<T: Comparable>(_ a: T, _ b: T) -> Int { a < b ? -1 : a > b ? 1 : 0 }
    if x.dtype.isFloatingPoint {
        return { i, j in
            let (a, b) = (x.double(at: i), x.double(at: j))
            if a.isNaN || b.isNaN { return a.isNaN == b.isNaN ? 0 : a.isNaN ? 1 : -1 }
            return sign(a, b)
        }
    }
    if x.dtype == .uint64 {
        return { i, j in sign(UInt64(bitPattern: x.int64(at: i)), UInt64(bitPattern: x.int64(at: j))) }
    }
    return { i, j in sign(x.int64(at: i), x.int64(at: j)) }
}
