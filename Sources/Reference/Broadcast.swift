// Numpy broadcasting: the result shape of several operands and a row walker that hands
// the kernel contiguous output rows with each operand's offset and inner stride.
import IR

/// The broadcast shape of `shapes`, or nil when they do not broadcast.
func broadcastShape(_ shapes: [[Int]]) -> [Int]? {
    let rank = shapes.map(\.count).max() ?? 0
    var out = [Int](repeating: 1, count: rank)
    for s in shapes {
        for (i, d) in s.enumerated() {
            let o = rank - s.count + i
            if out[o] == 1 { out[o] = d } else if d != 1 && d != out[o] { return nil }
        }
    }
    return out
}

/// Walks an output of `shape` in rows; each operand is read with broadcast strides.
struct BroadcastWalk {
    /// Coalesced outer extents (the last axis is the row).
    var shape: [Int]
    /// Per operand, coalesced strides (0 on broadcast axes).
    var strides: [[Int]]

    init(output: [Int], operands: [[Int]]) {
        let rank = output.count
        var opStrides: [[Int]] = operands.map { s in
            let padded = [Int](repeating: 1, count: rank - s.count) + s
            let c = contiguousStrides(padded)
            return (0..<rank).map { padded[$0] == 1 && output[$0] != 1 ? 0 : c[$0] }
        }
        // Merge axis i into i+1 when every operand (and the output) is contiguous across them.
        var dims = output
        var i = dims.count - 2
        while i >= 0 {
            let mergeable = dims[i + 1] == 1 || opStrides.allSatisfy { $0[i] == $0[i + 1] * dims[i + 1] }
            if mergeable && dims[i] != 1 || dims[i] == 1 {
                let keepStrides = dims[i + 1] == 1
                dims[i + 1] *= dims[i]
                dims.remove(at: i)
                for k in opStrides.indices {
                    if keepStrides { opStrides[k][i + 1] = opStrides[k][i] }
                    opStrides[k].remove(at: i)
                }
            }
            i -= 1
        }
        if dims.isEmpty {
            dims = [1]
            opStrides = opStrides.map { _ in [0] }
        }
        shape = dims
        strides = opStrides
    }

    var rowLength: Int { shape.last ?? 1 }
    var rowCount: Int { shape.dropLast().reduce(1, *) }

    /// The offset of each operand at the start of row `row`.
    @inline(__always)
    func offsets(row: Int, into out: inout [Int]) {
        for k in out.indices { out[k] = 0 }
        var r = row
        var axis = shape.count - 2
        while axis >= 0 {
            let d = shape[axis]
            let idx = r % d
            r /= d
            for k in strides.indices { out[k] += idx * strides[k][axis] }
            axis -= 1
        }
    }
}
