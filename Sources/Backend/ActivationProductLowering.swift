// A MatMul of two activations, [.., M, K] x [.., K, N] with the batch axes broadcast as
// numpy does (attention's q·kᵀ and weights·v), on the matrix unit: per output tile, each
// reduction step stages both operands in the tile's SRAM, rounds them to fp16 there
// (`quant`) and multiplies them with `mma` reading the second as an f32 [K, N] operand, in
// the NPU's order; output tiles are spread over every tile in turn. A constant operand that
// is no layer's weight (DeBERTa's relative position keys, [H, K, N] per head; DETR's
// constant queries on the left) is read from the constant section the same way. An operand
// that is a Transpose no other node reads (attention's heads split out of [.., T, H, D]) is
// read in place: its input with the permuted strides.
import Formats
import IR
import ISA
import Passes

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
        // Tiles as the MAC array takes them: N across its columns, K down its rows, M as fits.
        let tileN = min(n, resources.arrayColumns), tileK = min(k, resources.tileColumns(.fp16, sparse: false))
        func footprint(_ tileM: Int) -> Int {
            burstAligned(4 * tileM * tileK) + burstAligned(4 * tileK * tileN) + burstAligned(4 * tileM * tileN)
        }
        var tileM = min(m, 32)
        while tileM > 1 && footprint(tileM) > resources.sramBytes { tileM -= 1 }
        guard footprint(tileM) <= resources.sramBytes else {
            throw IRError("a 1 x \(tileK) x \(tileN) product does not fit a tile's SRAM", at: node)
        }
        let (actAt, wgtAt, accAt) = (
            0, burstAligned(4 * tileM * tileK), burstAligned(4 * tileM * tileK) + burstAligned(4 * tileK * tileN)
        )
        let format = UInt64(InstructionSet.formats.firstIndex(of: fp16)!)
        var unit = 0
        for index in 0..<batch.reduce(1, *) {
            var rest = index, aFirst = 0, bFirst = 0
            for d in stride(from: batch.count - 1, through: 0, by: -1) {
                aFirst += rest % batch[d] * aStrides[d]
                bFirst += rest % batch[d] * bStrides[d]
                rest /= batch[d]
            }
            for m0 in stride(from: 0, to: m, by: tileM) {
                for n0 in stride(from: 0, to: n, by: tileN) {
                    let (cluster, tile) = resources.place(unit)
                    unit += 1
                    let (mLen, nLen) = (min(tileM, m - m0), min(tileN, n - n0))
                    func sram(_ address: Int, _ dims: [Int]) throws -> UInt64 {
                        b.descriptor(
                            try TensorDescriptor(.sram, .f32, cluster: cluster, tile: tile, address: UInt64(address), dims: dims))
                    }
                    func activation(_ base: Place, _ element: Int, _ dims: [Int], _ rowStride: Int, _ columnStride: Int = 1)
                        throws -> UInt64
                    {
                        b.descriptor(
                            try base.advanced(by: 4 * element).descriptor(dims: dims, strides: [rowStride, columnStride]))
                    }
                    // Operand `input` (at `base`, or a constant) from `element` on.
                    func operand(
                        _ input: Int, _ base: Place?, _ element: Int, _ dims: [Int], _ rowStride: Int, _ columnStride: Int
                    ) throws -> UInt64 {
                        if let base { return try activation(base, element, dims, rowStride, columnStride) }
                        let name = node.inputs[input]
                        return try tables.descriptor(
                            name, graph.constants[name]!, .f32, first: element, rows: dims[0], width: dims[1],
                            rowStride: rowStride, &b)
                    }
                    let acc = try sram(accAt, [mLen, nLen])
                    for k0 in stride(from: 0, to: k, by: tileK) {
                        let kLen = min(tileK, k - k0)
                        let (act, wgt) = (try sram(actAt, [mLen, kLen]), try sram(wgtAt, [kLen, nLen]))
                        try b.emit(
                            "dma",
                            [
                                "dst": act,
                                "src": try operand(0, x, aFirst + m0 * aRow + k0 * aColumn, [mLen, kLen], aRow, aColumn),
                            ])
                        try b.emit("quant", ["dst": act, "src": act, "fmt": format, "amax": 0, "scale": 0])
                        try b.emit(
                            "dma",
                            [
                                "dst": wgt,
                                "src": try operand(1, w, bFirst + k0 * bRow + n0 * bColumn, [kLen, nLen], bRow, bColumn),
                            ])
                        try b.emit("quant", ["dst": wgt, "src": wgt, "fmt": format, "amax": 0, "scale": 0])
                        try b.emit(
                            "mma",
                            [
                                "out": acc, "act": act, "wgt": wgt, "scl": 0, "wfmt": format, "afmt": format, "sparse": 0,
                                "accumulate": k0 > 0 ? 1 : 0,
                            ])
                    }
                    try b.emit("dma", ["dst": try activation(y, (index * m + m0) * n + n0, [mLen, nLen], n), "src": acc])
                }
            }
        }
    }
}
