// A MatMul of two activations, [.., M, K] x [.., K, N] with the batch axes broadcast as
// numpy does (attention's q·kᵀ and weights·v), on the matrix unit: per output tile, both
// operands' tiles over all of K (or runs of it, accumulated in the array, where two tiles of
// each do not fit a tile's SRAM) are staged in the tile's SRAM, rounded to fp16 there
// (`quant`) and multiplied with one `mma` reading the second as an f32 [K, N] operand, in
// the NPU's order. Each tile takes a run of consecutive output tiles along the smaller
// operand's tiles, keeping the larger operand's tile they share, and loads its next tiles
// into its second buffers while it multiplies. A constant operand that
// is no layer's weight (DeBERTa's relative position keys, [H, K, N] per head; DETR's
// constant queries on the left) is read from the constant section the same way. An operand
// that is a Transpose no other node reads (attention's heads split out of [.., T, H, D]) is
// read in place: its input with the permuted strides.
import Formats
import IR
import ISA

extension Lowering {
    /// Transposes (by node index) whose result only products of two activations read, and not
    /// as a graph output: each reader reads the Transpose's input in place, with the
    /// permuted strides (`TransposedView`), and the Transpose is not lowered; its input is
    /// live until its last reader.
    struct TransposedView: Equatable {
        var input: String
        var perm: [Int]
        var lastReader: Int
    }

    static func transposedViews(_ graph: Graph, excluded: Set<Int>) -> [Int: TransposedView] {
        var readers: [String: [Int]] = [:]
        for (i, n) in graph.nodes.enumerated() { for input in Set(n.inputs) { readers[input, default: []].append(i) } }
        let outputs = Set(graph.outputs.map(\.name))
        var found: [Int: TransposedView] = [:]
        for (i, node) in graph.nodes.enumerated() where node.op == "Transpose" && !excluded.contains(i) {
            guard let x = node.input(0), let y = node.outputs.first, !outputs.contains(y), graph.constants[x] == nil,
                graph.type(of: x)?.dtype == .float32, let rank = graph.type(of: x)?.shape?.rank,
                let r = readers[y], !r.isEmpty,
                r.allSatisfy({
                    graph.nodes[$0].op == "MatMul"
                        && graph.nodes[$0].attributes[QuantizationAttributes.activationFormatB] != nil
                })
            else { continue }
            let perm = node.ints("perm") ?? Array((0..<rank).reversed())
            guard perm.count == rank else { continue }
            found[i] = TransposedView(input: x, perm: perm, lastReader: r.max()!)
        }
        return found
    }

    static func lowerActivationProduct(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources, _ tables: inout GatherTables,
        _ b: inout ProgramBuilder, views: [String: TransposedView] = [:]
    ) throws {
        let fp16 = PrecisionFormat.fp16.rawValue
        guard node.string(QuantizationAttributes.activationFormat) == fp16,
            node.string(QuantizationAttributes.activationFormatB) == fp16
        else {
            throw IRError("cannot lower a MatMul of two activations unless quantize marked both operands fp16", at: node)
        }
        // An operand's dims, where it lies (a place, or nil: the constant of its name) and its
        // elements' strides there: row-major, or a Transpose's input's permuted.
        func place(_ v: String) throws -> (dims: [Int], place: Place?, strides: [Int]) {
            guard graph.type(of: v)?.dtype == .float32, let d = graph.type(of: v)?.shape?.dims.compactMap(\.value),
                d.count == graph.type(of: v)?.shape?.rank, d.count >= 2
            else {
                throw IRError("cannot lower MatMul of \"\(v)\": not a static float32 tensor of rank 2 or more", at: node)
            }
            if graph.constants[v] != nil { return (d, nil, TensorDescriptor.rowMajor(d)) }
            if let view = views[v], let o = memory.place(of: view.input),
                let inDims = graph.type(of: view.input)?.shape?.dims.compactMap(\.value)
            {
                let own = TensorDescriptor.rowMajor(inDims)
                return (d, o, view.perm.map { own[$0] })
            }
            guard let o = memory.place(of: v) else { throw IRError("MatMul's \"\(v)\" has no place in memory", at: node) }
            return (d, o, TensorDescriptor.rowMajor(d))
        }
        let (aDims, x, aOwn) = try place(node.inputs[0]), (bDims, w, bOwn) = try place(node.inputs[1])
        let (outDims, output, _) = try place(node.outputs[0])
        guard let y = output else { throw IRError("MatMul's output has no place in memory", at: node) }
        let (m, k, n) = (aDims[aDims.count - 2], aDims[aDims.count - 1], bDims[bDims.count - 1])
        let batch = Array(outDims.dropLast(2))
        // Each operand's element offset per step along the output's batch axes (0 where it
        // broadcasts).
        func batchStrides(_ dims: [Int], _ own: [Int]) -> [Int] {
            let pad = batch.count - (dims.count - 2)
            return (0..<batch.count).map { d in d < pad || dims[d - pad] == 1 ? 0 : own[d - pad] }
        }
        let (aStrides, bStrides) = (batchStrides(aDims, aOwn), batchStrides(bDims, bOwn))
        // Each operand's rows and columns apart.
        let (aRow, aColumn) = (aOwn[aOwn.count - 2], aOwn[aOwn.count - 1])
        let (bRow, bColumn) = (bOwn[bOwn.count - 2], bOwn[bOwn.count - 1])
        // Output tiles as wide as the MAC array, each one `mma` over a run of `kc` reduction
        // positions (all of K when the tiles allow: every such product is one), and two of
        // each operand's and the accumulators' tiles in SRAM, so that a tile's next loads run
        // while it multiplies.
        let tileN = min(n, resources.arrayColumns), depth = min(k, resources.tileColumns(.fp16, sparse: false))
        let (tileM, kc) = try activationProductTiles(m: m, k: k, tileN: tileN, depth: depth, resources.sramBytes, node)
        // With all of K at once, consecutive units of a tile keep the larger operand tile:
        // the units run along the other operand's tiles (n for A's rows, m for B's columns).
        let keepsB = kc == k && tileN > tileM
        let (actBytes, wgtBytes) = (burstAligned(4 * tileM * kc), burstAligned(4 * kc * tileN))
        let accBytes = burstAligned(4 * tileM * tileN)
        let (wgtAt, accAt) = (2 * actBytes, 2 * actBytes + 2 * wgtBytes)
        let format = UInt64(InstructionSet.formats.firstIndex(of: fp16)!)
        struct Unit {
            var index: Int, m0: Int, n0: Int
            var a: Int, b: Int
        }
        var units: [Unit] = []
        for index in 0..<batch.reduce(1, *) {
            var rest = index, aFirst = 0, bFirst = 0
            for d in stride(from: batch.count - 1, through: 0, by: -1) {
                aFirst += rest % batch[d] * aStrides[d]
                bFirst += rest % batch[d] * bStrides[d]
                rest /= batch[d]
            }
            let (rows, columns) = (Array(stride(from: 0, to: m, by: tileM)), Array(stride(from: 0, to: n, by: tileN)))
            let pairs =
                keepsB ? columns.flatMap { n0 in rows.map { ($0, n0) } } : rows.flatMap { m0 in columns.map { (m0, $0) } }
            units += pairs.map { Unit(index: index, m0: $0.0, n0: $0.1, a: aFirst + $0.0 * aRow, b: bFirst + $0.1 * bColumn) }
        }
        // Each tile takes a run of consecutive units.
        let tiles = min(resources.tileCount, units.count)
        for t in 0..<tiles {
            let (cluster, tile) = resources.place(t)
            let run = (t * units.count / tiles)..<((t + 1) * units.count / tiles)
            func sram(_ address: Int, _ dims: [Int]) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(.sram, .f32, cluster: cluster, tile: tile, address: UInt64(address), dims: dims))
            }
            // Operand `input` (at `base`, or a constant) from `element` on.
            func operand(_ input: Int, _ base: Place?, _ element: Int, _ dims: [Int], _ rowStride: Int, _ columnStride: Int)
                throws -> UInt64
            {
                if let base {
                    return b.descriptor(
                        try base.advanced(by: 4 * element).descriptor(dims: dims, strides: [rowStride, columnStride]))
                }
                let name = node.inputs[input]
                return try tables.descriptor(
                    name, graph.constants[name]!, .f32, first: element, rows: dims[0], width: dims[1],
                    rowStride: rowStride, &b)
            }
            // The steps in order: a unit's runs of K, each with the buffers of its operands
            // and whether it loads them (a kept operand tile is not loaded again).
            struct Step {
                var unit: Unit, k0: Int, kLen: Int
                var act: Int, wgt: Int, loadsAct: Bool, loadsWgt: Bool
            }
            var steps: [Step] = []
            var turns = (act: -1, wgt: -1)
            for u in run {
                let unit = units[u]
                for k0 in stride(from: 0, to: k, by: kc) {
                    let last = steps.last?.unit
                    let loadsAct = !(kc == k && !keepsB && last.map { $0.a == unit.a && $0.m0 == unit.m0 } == true)
                    let loadsWgt = !(kc == k && keepsB && last.map { $0.b == unit.b && $0.n0 == unit.n0 } == true)
                    if loadsAct { turns.act += 1 }
                    if loadsWgt { turns.wgt += 1 }
                    steps.append(
                        Step(
                            unit: unit, k0: k0, kLen: min(kc, k - k0), act: turns.act % 2, wgt: turns.wgt % 2,
                            loadsAct: loadsAct, loadsWgt: loadsWgt))
                }
            }
            func act(_ s: Step) throws -> UInt64 { try sram(s.act * actBytes, [min(tileM, m - s.unit.m0), s.kLen]) }
            func wgt(_ s: Step) throws -> UInt64 { try sram(wgtAt + s.wgt * wgtBytes, [s.kLen, min(tileN, n - s.unit.n0)]) }
            func load(_ s: Step) throws {
                let (mLen, nLen) = (min(tileM, m - s.unit.m0), min(tileN, n - s.unit.n0))
                if s.loadsAct {
                    try b.emit(
                        "dma",
                        [
                            "dst": try act(s),
                            "src": try operand(0, x, s.unit.a + s.k0 * aColumn, [mLen, s.kLen], aRow, aColumn),
                        ])
                }
                if s.loadsWgt {
                    try b.emit(
                        "dma",
                        [
                            "dst": try wgt(s),
                            "src": try operand(1, w, s.unit.b + s.k0 * bRow, [s.kLen, nLen], bRow, bColumn),
                        ])
                }
            }
            if let first = steps.first { try load(first) }
            var unitTurn = 0
            for (i, s) in steps.enumerated() {
                let (mLen, nLen) = (min(tileM, m - s.unit.m0), min(tileN, n - s.unit.n0))
                if s.loadsAct {
                    try b.emit("quant", ["dst": try act(s), "src": try act(s), "fmt": format, "amax": 0, "scale": 0])
                }
                if s.loadsWgt {
                    try b.emit("quant", ["dst": try wgt(s), "src": try wgt(s), "fmt": format, "amax": 0, "scale": 0])
                }
                let acc = try sram(accAt + unitTurn % 2 * accBytes, [mLen, nLen])
                try b.emit(
                    "mma",
                    [
                        "out": acc, "act": try act(s), "wgt": try wgt(s), "scl": 0, "wfmt": format, "afmt": format,
                        "sparse": 0, "accumulate": s.k0 > 0 ? 1 : 0,
                    ])
                // The next step's loads before this unit's store, which waits for the product.
                if i + 1 < steps.count { try load(steps[i + 1]) }
                guard s.k0 + s.kLen == k else { continue }
                let u = s.unit
                try b.emit(
                    "dma",
                    [
                        "dst": b.descriptor(
                            try y.advanced(by: 4 * ((u.index * m + u.m0) * n + u.n0)).descriptor(
                                dims: [mLen, nLen], strides: [n, 1])),
                        "src": acc,
                    ])
                unitTurn += 1
            }
        }
    }

    /// Rows per output tile and reduction positions per `mma` of a product of two activations
    /// (`tileN` columns a tile, `depth` the array's reduction positions): two tiles of each
    /// operand and of the accumulators must fit a tile's SRAM. All of K with the most rows up
    /// to 32 that fit, unless fewer than 8 (or all of M) do: then the longest run of whole
    /// array depths that leaves room for them, or one depth.
    static func activationProductTiles(
        m: Int, k: Int, tileN: Int, depth: Int, _ sramBytes: Int, _ node: Node
    ) throws -> (tileM: Int, kc: Int) {
        func footprint(_ tileM: Int, _ kc: Int) -> Int {
            2 * (burstAligned(4 * tileM * kc) + burstAligned(4 * kc * tileN) + burstAligned(4 * tileM * tileN))
        }
        func rows(_ kc: Int) -> Int {
            var tileM = min(m, 32)
            while tileM > 1 && footprint(tileM, kc) > sramBytes { tileM -= 1 }
            return footprint(tileM, kc) <= sramBytes ? tileM : 0
        }
        let wanted = min(m, 8)
        for kc in [k] + Array(stride(from: (k - 1) / depth * depth, through: depth, by: -depth)) where rows(kc) >= wanted {
            return (rows(kc), kc)
        }
        guard rows(depth) > 0 else {
            throw IRError("a 1 x \(depth) x \(tileN) product does not fit a tile's SRAM twice over", at: node)
        }
        return (rows(depth), depth)
    }
}
