// Ops that only move data, lowered to `dma` (and `fill`) between activation buffers, so each
// result is a copy of its input's elements, bit for bit: Pad, Split, Expand, Tile, Gather
// with constant indices, Trilu (zeros, then each row's kept columns), Cast from float32 to float32
// and BitCast between float32 and int32, of float32, bool (float32 masks),
// int32 and int64 tensors alike (Pad's constant mode of integers reads its pad value from
// the constants at stride 0, since `fill` writes f32). An op that picks, per output
// index along each axis, one input index (Gather, Tile, Pad's edge, reflect and wrap modes,
// nearest Resize) runs axis by axis through `copyAlongAxes`.
import IR
import ISA
import Reference

extension Lowering {
    /// The ops `lowerCopy` takes.
    static let copyOps: Set<String> = ["Pad", "Split", "Expand", "Tile", "Gather", "Cast", "Trilu", "BitCast"]

    /// Lowers data-movement `node`; returns the scratch bytes it used at `scratch`.
    static func lowerCopy(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, scratch: UInt64, _ constants: inout ConstantSection,
        _ b: inout ProgramBuilder
    ) throws -> Int {
        let (dims, x, _) = try rowOperands(node, graph, memory, anyElement: true)
        let element = graph.type(of: node.inputs[0])?.dtype.vectorElement ?? .f32
        let size = element == .i64 ? 8 : 4
        func outputDims(_ v: String) throws -> (dims: [Int], at: Place) {
            guard graph.type(of: v)?.dtype.vectorElement == element, let d = graph.type(of: v)?.shape?.dims.compactMap(\.value),
                d.count == graph.type(of: v)?.shape?.rank, let o = memory.place(of: v)
            else {
                throw IRError("cannot lower \(node.op) into \"\(v)\": not a static activation of its input's type", at: node)
            }
            return (d, o)
        }
        func constant(_ index: Int, _ what: String) throws -> Tensor? {
            guard let name = node.input(index) else { return nil }
            guard let t = graph.constants[name] else {
                throw IRError("cannot lower \(node.op) whose \(what) \"\(name)\" is not a constant", at: node)
            }
            return t
        }
        let own = TensorDescriptor.rowMajor(dims)
        switch node.op {
        case "Split":
            // Each output is one slab of the input along the axis, in order.
            var axis = node.int("axis", default: 0)
            if axis < 0 { axis += dims.count }
            var start = 0
            for out in node.outputs where !out.isEmpty {
                let (d, y) = try outputDims(out)
                try copy(from: x.advanced(by: size * start * own[axis]), d, own, to: y, element, &b)
                start += d[axis]
            }
            return 0
        case "Expand":
            // One DMA reading the input with stride 0 along every broadcast axis.
            let (d, y) = try outputDims(node.outputs[0])
            let padded = Array(repeating: 1, count: d.count - dims.count) + dims
            let strides = zip(padded, TensorDescriptor.rowMajor(padded)).map { $0 == 1 ? 0 : $1 }
            try copy(from: x, d, strides, to: y, element, &b)
            return 0
        case "Trilu":
            // The output zeroed (as float32 words, whatever its elements), then each row
            // index's kept columns copied in every matrix at once.
            let (d, y) = try outputDims(node.outputs[0])
            guard d.count >= 2 else { throw IRError("cannot lower Trilu of fewer than two axes", at: node) }
            let k = try constant(1, "k").map { Int($0.int64(at: 0)) } ?? 0
            let upper = node.int("upper", default: 1) != 0
            let (m, n) = (d[d.count - 2], d[d.count - 1])
            let matrices = m * n == 0 ? 0 : d.reduce(1, *) / (m * n)
            let rows = (0..<m).map { keptColumns(row: $0, columns: n, k: k, upper: upper) }
            if matrices > 0 && rows.contains(where: { $0.count < n }) {
                let words = try y.descriptor(.f32, dims: [size / 4 * d.reduce(1, *)])
                try b.emit("fill", ["dst": b.descriptor(words), "value": UInt64(Float(0).bitPattern)])
            }
            for (i, kept) in rows.enumerated() where matrices > 0 && !kept.isEmpty {
                let at = size * (i * n + kept.lowerBound)
                let (src, dst) = (
                    try x.advanced(by: at).descriptor(element, dims: [matrices, kept.count], strides: [m * n, 1]),
                    try y.advanced(by: at).descriptor(element, dims: [matrices, kept.count], strides: [m * n, 1])
                )
                try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
            }
            return 0
        case "Cast":
            let (d, y) = try outputDims(node.outputs[0])
            try copy(from: x, [d.reduce(1, *)], [1], to: y, element, &b)
            return 0
        case "BitCast":
            // The same bytes under another type: float32 and int32 words (a bool is a float32
            // mask on the NPU, not a byte), or int64 as int64.
            let types = [node.inputs[0], node.outputs[0]].map { graph.type(of: $0)?.dtype }
            let words: Set<DType?> = [.float32, .int32]
            guard types.allSatisfy(words.contains) || types.allSatisfy({ $0 == .int64 }),
                let y = memory.place(of: node.outputs[0])
            else {
                throw IRError(
                    "cannot lower BitCast of \(types[0]?.name ?? "?") to \(types[1]?.name ?? "?"): the NPU bit-casts "
                        + "between float32 and int32", at: node)
            }
            try copy(from: x, [dims.reduce(1, *)], [1], to: y, element, &b)
            return 0
        case "Tile":
            let (d, y) = try outputDims(node.outputs[0])
            let maps = zip(dims, d).map { n, m in (0..<m).map { $0 % max(n, 1) } }
            return try copyAlongAxes(from: x, dims, maps, to: y, scratch: scratch, element, &b)
        case "Gather":
            guard let indices = try constant(1, "indices") else { throw IRError("Gather needs its indices", at: node) }
            var axis = node.int("axis", default: 0)
            if axis < 0 { axis += dims.count }
            let n = dims[axis]
            let picked = try indices.int64s().map { i -> Int in
                let j = i < 0 ? Int(i) + n : Int(i)
                guard (0..<n).contains(j) else {
                    throw IRError("Gather index \(i) is out of range for axis \(axis) of size \(n)", at: node)
                }
                return j
            }
            // The output is the input's shape with the axis n -> indices.count, in memory.
            let (_, y) = try outputDims(node.outputs[0])
            var maps = dims.map { Array(0..<$0) }
            maps[axis] = picked
            return try copyAlongAxes(from: x, dims, maps, to: y, scratch: scratch, element, &b)
        default:
            return try lowerPad(
                node, dims, x, element, try outputDims(node.outputs[0]), constant, scratch: scratch, &constants, &b)
        }
    }

    /// Pad: constant mode fills the output with the pad value and copies the input (cropped
    /// where a pad is negative) into its place; edge, reflect and wrap pick an input index
    /// per output index along each axis, as the interpreter does.
    private static func lowerPad(
        _ node: Node, _ dims: [Int], _ x: Place, _ element: ElementType, _ out: (dims: [Int], at: Place),
        _ constant: (Int, String) throws -> Tensor?, scratch: UInt64, _ constants: inout ConstantSection,
        _ b: inout ProgramBuilder
    ) throws -> Int {
        let rank = dims.count
        guard let raw = try constant(1, "pads")?.int64s().map(Int.init) else { throw IRError("Pad needs its pads", at: node) }
        let axes = try constant(3, "axes")?.int64s().map { Int($0 < 0 ? $0 + Int64(rank) : $0) } ?? Array(0..<rank)
        guard raw.count == 2 * axes.count, axes.allSatisfy({ (0..<rank).contains($0) }) else {
            throw IRError("Pad's pads \(raw) do not give a start and an end for each of axes \(axes)", at: node)
        }
        var before = [Int](repeating: 0, count: rank), after = before
        for (k, a) in axes.enumerated() { (before[a], after[a]) = (raw[k], raw[k + axes.count]) }
        let mode = node.string("mode", default: "constant")
        switch mode {
        case "constant":
            let padValue = try constant(2, "constant_value")
            if (before + after).contains(where: { $0 > 0 }) {
                let count = out.dims.reduce(1, *)
                if element == .f32 {
                    let value = padValue.flatMap { $0.count > 0 ? $0.cast(to: .float32).floats()[0] : nil } ?? 0
                    let all = try out.at.descriptor(dims: [count])
                    try b.emit("fill", ["dst": b.descriptor(all), "value": UInt64(value.bitPattern)])
                } else {
                    // `fill` writes float32: an integer pad value is one constant, read over
                    // the whole output at stride 0.
                    let value = padValue.flatMap { $0.count > 0 ? $0.int64s()[0] : nil } ?? 0
                    let at = constants.append(integers: [value], element)
                    let src = try TensorDescriptor(.constants, element, address: UInt64(at), dims: [count], strides: [0])
                    try b.emit(
                        "dma", ["dst": b.descriptor(try out.at.descriptor(element, dims: [count])), "src": b.descriptor(src)])
                }
            }
            let (inStrides, outStrides) = (TensorDescriptor.rowMajor(dims), TensorDescriptor.rowMajor(out.dims))
            var from = 0, to = 0, kept = dims
            for d in 0..<rank {
                from += max(-before[d], 0) * inStrides[d]
                to += max(before[d], 0) * outStrides[d]
                kept[d] = dims[d] - max(-before[d], 0) - max(-after[d], 0)
            }
            guard kept.allSatisfy({ $0 > 0 }) else { return 0 }
            let size = element == .i64 ? 8 : 4
            let dst = try out.at.advanced(by: size * to).descriptor(element, dims: kept, strides: outStrides)
            let src = try x.advanced(by: size * from).descriptor(element, dims: kept, strides: inStrides)
            try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
            return 0
        case "edge", "reflect", "wrap":
            let maps = (0..<rank).map { d in
                (0..<out.dims[d]).map { i -> Int in
                    let n = dims[d], j = i - before[d]
                    if (0..<n).contains(j) { return j }
                    switch mode {
                    case "edge": return min(max(j, 0), n - 1)
                    case "wrap": return ((j % n) + n) % n
                    default:
                        guard n > 1 else { return 0 }
                        let period = 2 * (n - 1), k = ((j % period) + period) % period
                        return k >= n ? period - k : k
                    }
                }
            }
            guard dims.allSatisfy({ $0 > 0 }) else { throw IRError("cannot pad an empty tensor in mode \(mode)", at: node) }
            return try copyAlongAxes(from: x, dims, maps, to: out.at, scratch: scratch, element, &b)
        default:
            throw IRError("cannot lower Pad in mode \(mode)", at: node)
        }
    }

    /// One DMA of `dims` elements read at `strides` from `x` into contiguous `y`.
    private static func copy(
        from x: Place, _ dims: [Int], _ strides: [Int], to y: Place, _ element: ElementType, _ b: inout ProgramBuilder
    ) throws {
        let src = try x.descriptor(element, dims: dims, strides: strides)
        try b.emit("dma", ["dst": b.descriptor(try y.descriptor(element, dims: dims)), "src": b.descriptor(src)])
    }

    /// Copies `x` (row-major `dims`) to `y`, where output index i along axis d is input index
    /// `maps[d][i]`: axis by axis, leaving out axes whose map is the identity, one DMA per run
    /// of output indices whose input indices step evenly (a repeat is a step of 0). Between
    /// two mapped axes the partial result alternates between two halves of DRAM scratch at
    /// `scratch`; returns the scratch bytes used.
    static func copyAlongAxes(
        from x: Place, _ dims: [Int], _ maps: [[Int]], to y: Place, scratch: UInt64, _ element: ElementType,
        _ b: inout ProgramBuilder
    ) throws -> Int {
        let size = element == .i64 ? 8 : 4
        let axes = dims.indices.filter { maps[$0] != Array(0..<dims[$0]) }
        if axes.isEmpty {
            try copy(from: x, [dims.reduce(1, *)], [1], to: y, element, &b)
            return 0
        }
        // Each half holds the largest partial result.
        var shape = dims, half = 0
        for axis in axes.dropLast() {
            shape[axis] = maps[axis].count
            half = max(half, (shape.reduce(1, *) * size + 63) / 64 * 64)
        }
        shape = dims
        var source = x
        for (step, axis) in axes.enumerated() {
            var next = shape
            next[axis] = maps[axis].count
            let target = step == axes.count - 1 ? y : Place(.dram, scratch + UInt64(step % 2 * half))
            let (from, to) = (TensorDescriptor.rowMajor(shape), TensorDescriptor.rowMajor(next))
            let map = maps[axis]
            var o = 0
            while o < map.count {
                // The longest run from o whose input indices step by one stride.
                let delta = o + 1 < map.count ? map[o + 1] - map[o] : 1
                var run = 1
                while o + run < map.count && map[o + run] - map[o + run - 1] == delta { run += 1 }
                var (srcStrides, dstStrides, runDims) = (from, to, next)
                (srcStrides[axis], runDims[axis]) = (from[axis] * delta, run)
                dstStrides[axis] = to[axis]
                let src = try source.advanced(by: size * map[o] * from[axis]).descriptor(
                    element, dims: runDims, strides: srcStrides)
                let dst = try target.advanced(by: size * o * to[axis]).descriptor(element, dims: runDims, strides: dstStrides)
                try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
                o += run
            }
            (shape, source) = (next, target)
        }
        return 2 * half
    }
}
