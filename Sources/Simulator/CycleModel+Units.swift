// The cycle model's three kinds of unit: DMA engines (dma, fill, gather, scatter), the matrix unit (mma) and
// the vector unit (vop, vopp, quant, dequant). Each finds when its instruction may start,
// pays its cost and records what it read and wrote for the hazards of later instructions.
import ISA
import Target

extension CycleModel.SchedulerState {
    /// dma (src to dst), fill (dst) and gather (rows of src picked by idx, to dst): on the
    /// earliest free DMA engine of the tile whose SRAM it touches (the destination's first),
    /// else of the cluster whose L2 it touches, else of cluster 0. It moves its bytes at the
    /// narrowest level's bandwidth, claims them from every memory instance it touches (twice
    /// from one it both reads and writes), and completes after the slowest level's latency.
    /// A gather's bytes are the rows it copies and the indices it reads; it fetches one row
    /// at a time, each after the one before has arrived, so its engine is busy one latency
    /// longer per row. A scatter moves its rows and indices, one row issued a cycle; with a
    /// reduction it also reads the rows it writes, each a latency after the one before.
    mutating func transfer(_ i: Instruction, _ program: Program) throws {
        let space = program.descriptors[Int(i["dst"])].space
        guard space != .weights && space != .constants else {
            throw SimulatorError("writes \(space.rawValue), which is read-only")
        }
        let mnemonic = i.spec.mnemonic
        let dst = try operand(program, i["dst"])
        let src = mnemonic == "fill" ? nil : try operand(program, i["src"])
        let indexed = mnemonic == "gather" || mnemonic == "scatter"
        let idx = indexed ? try operand(program, i["idx"]) : nil
        let target = model.target
        // What it reads, and the bytes it moves through each: a gather reads dst's bytes of rows.
        var reads: [(CycleModel.Operand, Int)] = []
        if let src { reads.append((src, mnemonic == "gather" ? dst.bytes : src.bytes)) }
        if let idx { reads.append((idx, idx.bytes)) }
        // A scatter that combines reads each row it writes.
        let combines = mnemonic == "scatter" && i["reduction"] != 0
        if combines, let src { reads.append((dst, src.bytes)) }
        // The engine: the tile's, else the cluster's.
        let engineTile = dst.tile ?? reads.lazy.compactMap(\.0.tile).first
        let engineCluster = dst.cluster ?? reads.lazy.compactMap(\.0.cluster).first ?? 0
        let queue = engineTile ?? (3 * model.tiles + engineCluster)
        var ready = max(gate[queue], hazards.writeReady(dst.footprint))
        for (r, _) in reads { ready = max(ready, hazards.readReady(r.footprint)) }
        let moved = reads.first?.1 ?? dst.bytes
        let bytes = reads.isEmpty ? dst.bytes : reads.reduce(0) { $0 + $1.1 }
        let levels = [dst.level] + reads.map(\.0.level)
        let latency = levels.map { target.memories[$0].latencyCycles }.max()!
        let bandwidth = levels.map { target.memories[$0].bandwidthBytesPerCycle }.min()!
        let engines = engineTile.map { tileDMAFree[$0] } ?? clusterDMAFree[engineCluster]
        let engine = engines.indices.min { engines[$0] < engines[$1] }!
        let start = max(ready, engines[engine])
        var busy = start + (bytes + bandwidth - 1) / bandwidth
        // Each instance's claim: the bytes written to it and read from it, claimed at once.
        var claims = [dst.ledger: moved]
        for (r, n) in reads { claims[r.ledger, default: 0] += n }
        for (ledger, n) in claims.sorted(by: { $0.key < $1.key }) {
            busy = max(busy, ledgers[ledger].claim(n, from: start))
        }
        if mnemonic == "gather" { busy += dst.dims.first.map { $0 * latency } ?? 0 }
        // A scatter's writes are posted: its engine issues one row a cycle, waiting for none;
        // one that combines waits for each row's read, as a gather does.
        if mnemonic == "scatter" { busy += (src!.dims.first ?? 0) * (combines ? latency : 1) }
        let end = busy + latency
        if let t = engineTile { tileDMAFree[t][engine] = busy } else { clusterDMAFree[engineCluster][engine] = busy }
        queueEnd[queue] = max(queueEnd[queue], end)
        for (r, _) in reads { hazards.recordRead(r.footprint, end: end) }
        hazards.recordWrite(dst.footprint, end: end)
        record(start, end, unit: queue, released: busy, engine: engine, bytes: moved, from: src?.level ?? -1, to: dst.level)
    }

    /// mma on the matrix unit of `out`'s tile: a change of mode first pays the target's
    /// switch; an mma accumulating onto the out its unit's previous mma wrote takes the
    /// partial sums inside the array, without waiting for that mma's pipeline to drain.
    mutating func matrix(_ i: Instruction, _ program: Program) throws {
        let outIndex = i["out"]
        let out = try operand(program, outIndex), act = try operand(program, i["act"])
        let wgt = try operand(program, i["wgt"])
        guard let tile = out.tile, act.tile == tile, wgt.tile == tile, out.dims.count == 2,
            let k = program.descriptors[Int(i["act"])].matrixColumns(rows: out.dims[0])
        else {
            throw SimulatorError("mma needs out [M, N], act [M, K] (or codes of M x K) and its weights in one tile's SRAM")
        }
        let (wfmt, afmt, sparse) = (Int(i["wfmt"]), Int(i["afmt"]), i["sparse"] == 1)
        let accumulate = i["accumulate"] == 1
        let queue = model.tiles + tile
        var ready = max(gate[queue], hazards.readReady(act.footprint), hazards.readReady(wgt.footprint))
        if InstructionSet.formats[wfmt] != "fp16" {
            ready = max(ready, hazards.readReady(try operand(program, i["scl"]).footprint))
        }
        // A coded act's scales are read with its codes.
        let actScales = try i.codedScales(program.descriptors).map { try operand(program, UInt64($0)) }
        if let actScales { ready = max(ready, hazards.readReady(actScales.footprint)) }
        var outReady = hazards.writeReady(out.footprint)
        if accumulate { outReady = max(outReady, hazards.readReady(out.footprint)) }
        if accumulate, let last = lastMMA[tile], last.out == outIndex, outReady == last.end { outReady = last.streamEnd }
        ready = max(ready, outReady)
        let mode = MatrixMode(weights: wfmt, activations: afmt, sparse: sparse)
        let switchCycles = matrixMode[tile].map { $0 == mode ? 0 : model.target.modeCosts.switchTotalCycles } ?? 0
        matrixMode[tile] = mode
        let cost = model.costs.mma(
            m: out.dims[0], k: k, n: out.dims[1], weights: wfmt, activations: afmt, sparse: sparse)
        let start = max(ready, matrixFree[tile])
        let streamEnd = start + switchCycles + cost.occupancy
        let end = streamEnd + cost.latency
        matrixFree[tile] = streamEnd
        lastMMA[tile] = (outIndex, streamEnd, end)
        queueEnd[queue] = max(queueEnd[queue], end)
        hazards.recordRead(act.footprint, end: end)
        if let actScales { hazards.recordRead(actScales.footprint, end: end) }
        hazards.recordRead(wgt.footprint, end: end)
        hazards.recordWrite(out.footprint, end: end)
        record(start, end, unit: queue, released: streamEnd)
    }

    /// vop, vopp, quant and dequant on the vector unit of `dst`'s tile.
    mutating func vector(_ i: Instruction, _ program: Program, _ constants: [UInt8]) throws {
        let mnemonic = i.spec.mnemonic
        let dst = try operand(program, i["dst"])
        guard let tile = dst.tile else { throw SimulatorError("\(mnemonic) writes a tile's SRAM") }
        var reads = [try operand(program, mnemonic == "quant" || mnemonic == "dequant" ? i["src"] : i["a"])]
        let cost: UnitCost
        switch mnemonic {
        case "quant", "dequant":
            cost = model.costs.quant(count: dst.elements, format: Int(i["fmt"]), dequantize: mnemonic == "dequant")
        default:
            let op = InstructionSet.vectorOps[Int(i["op"])]
            if InstructionSet.vectorOpsReadingB.contains(Int(i["op"])) { reads.append(try operand(program, i["b"])) }
            var window: Int?, selected: Int?
            if ["max_pool", "average_pool", "max_pool_index", "topk", "topk_index"].contains(op) {
                guard mnemonic == "vopp" else { throw SimulatorError("\(op) takes a parameter record: it is a vopp, not a vop") }
                let at = 4 * Int(i["params"])
                guard at + 8 <= constants.count else {
                    throw SimulatorError("\(op)'s parameter record is outside the constant section")
                }
                func int32(_ o: Int) -> Int {
                    Int(Int32(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(constants[o + $1]) << (8 * $1) }))
                }
                let (first, second) = (int32(at), int32(at + 4))
                guard (1...(1 << 20)).contains(first), (1...(1 << 20)).contains(second) else {
                    throw SimulatorError(
                        op.hasPrefix("topk")
                            ? "\(op)'s parameter record is not a selection (row length, K, largest)"
                            : "\(op)'s parameter record is not a window (kernel, strides, pads, dilations)")
                }
                if op.hasPrefix("topk") { selected = second } else { window = first * second }
            }
            // An i64 element takes two of the vector unit's 32-bit lanes.
            let lanes = ([dst] + reads).contains { $0.elements > 0 && $0.bytes == 8 * $0.elements } ? 2 : 1
            cost = model.costs.vector(
                op: op, dst: lanes * dst.elements, a: lanes * reads[0].elements, window: window, selected: selected)
        }
        let queue = 2 * model.tiles + tile
        // A quant into codes writes their scales too.
        let writes = [dst] + (try i.codedScales(program.descriptors).map { [try operand(program, UInt64($0))] } ?? [])
        var ready = gate[queue]
        for w in writes { ready = max(ready, hazards.writeReady(w.footprint)) }
        for r in reads { ready = max(ready, hazards.readReady(r.footprint)) }
        let start = max(ready, vectorFree[tile])
        let end = start + cost.occupancy + cost.latency
        vectorFree[tile] = start + cost.occupancy
        queueEnd[queue] = max(queueEnd[queue], end)
        for r in reads { hazards.recordRead(r.footprint, end: end) }
        for w in writes { hazards.recordWrite(w.footprint, end: end) }
        record(start, end, unit: queue, released: start + cost.occupancy)
    }
}
