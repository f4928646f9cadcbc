// Values that follow from a target description: MAC counts, peak rates per precision and
// sparsity, memory instances and totals. Nothing here is stored in the file.

extension TargetDescription {
    /// Tiles on the chip: clusters x tiles per cluster (64 for npu-seed).
    public var tileCount: Int { compute.clusters * compute.tilesPerCluster }

    /// MAC units in one tile's array: rows x columns (400 for npu-seed).
    public var macsPerTile: Int { compute.macArray.rows * compute.macArray.columns }

    /// MAC units on the chip (25,600 for npu-seed): the fp16 dense MACs per cycle.
    public var totalMACs: Int { tileCount * macsPerTile }

    /// Multiply-accumulates per cycle at `precision`, counting the products a 2:4 sparse
    /// layer skips as done (dense-equivalent), so sparse and dense layers compare directly.
    /// npu-seed: fp16 25,600, fp8 51,200, nvfp4 102,400; twice that with 2:4 sparsity.
    public func peakMACsPerCycle(_ precision: MACPrecision, sparse24: Bool = false) -> Double {
        Double(totalMACs) * compute.macRate[precision] * (sparse24 ? compute.sparse24Speedup : 1)
    }

    /// Peak tera-operations per second at `precision`, two operations (multiply, add) per MAC.
    /// npu-seed: fp16 51.2, fp8 102.4, nvfp4 204.8 dense; 409.6 for nvfp4 with 2:4.
    public func peakTOPS(_ precision: MACPrecision, sparse24: Bool = false) -> Double {
        2 * peakMACsPerCycle(precision, sparse24: sparse24) * Double(clockHz) / 1e12
    }

    /// Instances of `memory` on the chip: one per tile, one per cluster, or one.
    public func instances(of memory: MemoryLevel) -> Int {
        switch memory.scope {
        case .tile: return tileCount
        case .cluster: return compute.clusters
        case .global: return 1
        }
    }

    /// Bytes all instances of `memory` hold together.
    public func totalBytes(of memory: MemoryLevel) -> Int { memory.sizeBytes * instances(of: memory) }

    /// Bytes per cycle all instances of `memory` move together toward the tiles.
    public func aggregateBandwidthBytesPerCycle(of memory: MemoryLevel) -> Int {
        memory.bandwidthBytesPerCycle * instances(of: memory)
    }

    /// `aggregateBandwidthBytesPerCycle(of:)` in bytes per second at the target's clock.
    public func aggregateBandwidthBytesPerSecond(of memory: MemoryLevel) -> Double {
        Double(aggregateBandwidthBytesPerCycle(of: memory)) * Double(clockHz)
    }

    /// The memory called `name`, if the target has one.
    public func memory(named name: String) -> MemoryLevel? { memories.first { $0.name == name } }

    /// Each tile's own memory, the one the MAC array reads (the first level; validated to exist).
    public var tileMemory: MemoryLevel? { memories.first }

    /// Bytes of memory each tile has to itself (32 KiB for npu-seed).
    public var tileMemoryBytes: Int { memories.first?.sizeBytes ?? 0 }

    /// The outermost memory, where weights live before the model runs (DRAM).
    public var backingMemory: MemoryLevel? { memories.last }

    /// Where the ISA's `l2` lives: the first per-cluster memory, if any.
    public var clusterMemoryIndex: Int? { memories.firstIndex { $0.scope == .cluster } }

    /// Where the ISA's `l3` lives: the first global memory short of the last, if any.
    public var globalBufferIndex: Int? {
        memories.indices.dropLast().first { memories[$0].scope == .global }
    }

    /// MACs a layer must do per byte it reads from the backing memory to keep every MAC
    /// busy at `precision` (the roofline's ridge point). npu-seed, fp16 dense: 25.6.
    public func ridgeMACsPerByte(_ precision: MACPrecision, sparse24: Bool = false) -> Double {
        guard let backing = backingMemory else { return 0 }
        return peakMACsPerCycle(precision, sparse24: sparse24) / Double(aggregateBandwidthBytesPerCycle(of: backing))
    }

    /// fp32 vector lanes on the chip: lanes per tile x tiles (2,048 for npu-seed).
    public var totalVectorLanes: Int { vector.lanesPerTile * tileCount }

    /// Bytes a tile needs to run its MAC array at all: one fp16 weight block of rows x columns
    /// (aligned to weights), one fp16 input vector of `rows` values and one fp32 output vector
    /// of `columns` accumulators (each aligned to activations). 1,024 bytes for npu-seed.
    public var macArrayWorkingSetBytes: Int {
        let a = compute.macArray
        return Alignment.roundUp(a.rows * a.columns * 2, to: alignment.weightBytes)
            + Alignment.roundUp(a.rows * 2, to: alignment.activationBytes)
            + Alignment.roundUp(a.columns * 4, to: alignment.activationBytes)
    }
}
