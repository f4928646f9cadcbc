// The checks a decoded target must pass before anything uses it; each error names the
// field by its JSON path. Decoding has already refused unknown and missing fields and
// wrong types; what is left is ranges and consistency between fields.
import Foundation

extension TargetDescription {
    /// Throws `FieldError` for the first field that is out of range or inconsistent.
    func validate() throws {
        if name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw FieldError("name", "must not be empty") }
        try positive(clockHz, "clock_hz", atMost: Self.largestClockHz)
        try validateCompute()
        try validateMemories()
        try positive(dma.perTile, "dma.queues_per_tile", atMost: Self.largestCount)
        try positive(dma.perCluster, "dma.queues_per_cluster", atMost: Self.largestCount)
        try positive(vector.lanesPerTile, "vector.lanes_per_tile", atMost: Self.largestCount)
        try positive(vector.elementwiseCycles, "vector.elementwise_cycles", atMost: Self.largestCycles)
        try positive(vector.transcendentalCycles, "vector.transcendental_cycles", atMost: Self.largestCycles)
        try notNegative(modeCosts.modeSwitchCycles, "mode_costs.mode_switch_cycles")
        try notNegative(modeCosts.dataRearrangementCycles, "mode_costs.data_rearrangement_cycles")
        try notNegative(modeCosts.pipelineFlushCycles, "mode_costs.pipeline_flush_cycles")
        try notNegative(conversionCosts.nvfp4ToFP8Cycles, "conversion_costs.nvfp4_to_fp8_cycles")
        try notNegative(conversionCosts.fp8ToNVFP4Cycles, "conversion_costs.fp8_to_nvfp4_cycles")
        try powerOfTwo(alignment.weightBytes, "alignment.weight_bytes")
        try powerOfTwo(alignment.activationBytes, "alignment.activation_bytes")
        try validateFit()
    }

    private func validateCompute() throws {
        // The ISA names a cluster in 8 bits and a tile in 8, tile 255 being the cluster's engines.
        try positive(compute.clusters, "compute.clusters", atMost: 256)
        try positive(compute.tilesPerCluster, "compute.tiles_per_cluster", atMost: 255)
        try positive(compute.macArray.rows, "compute.mac_array.rows", atMost: Self.largestCount)
        try positive(compute.macArray.columns, "compute.mac_array.columns", atMost: Self.largestCount)
        guard compute.macRate.fp16 == 1 else {
            throw FieldError(
                "compute.mac_rate.fp16",
                "must be 1: rates are relative to fp16 (got \(number(compute.macRate.fp16)))")
        }
        for p in MACPrecision.allCases where !(compute.macRate[p] >= 1 / Double(Self.largestCount) && compute.macRate[p].isFinite)
        {
            throw FieldError(
                "compute.mac_rate.\(p.rawValue)",
                "must be at least 1/\(Self.largestCount) (got \(number(compute.macRate[p])))")
        }
        for p in MACPrecision.allCases where compute.macRate[p] > Double(Self.largestCount) {
            throw FieldError(
                "compute.mac_rate.\(p.rawValue)", "must be at most \(Self.largestCount) (got \(number(compute.macRate[p])))")
        }
        let s = compute.sparse24Speedup
        guard s >= 1 && s <= 2 else {
            throw FieldError(
                "compute.sparse_2_4_speedup",
                "must be between 1 and 2: 2:4 sparsity skips at most half the products (got \(number(s)))")
        }
        // What the simulator and the fake-quantized interpreter compute: float32 sums, each
        // product added on its own in increasing reduction index (schemas/formats.md). A
        // target that states another order is refused, not run as if it had not.
        guard compute.accumulation.format == .fp32 else {
            throw FieldError(
                "compute.accumulation.format",
                "must be fp32: bundles and the fake-quantized interpreter accumulate in float32 (schemas/formats.md, "
                    + "matrix arithmetic); \(compute.accumulation.format.rawValue) accumulation is not implemented")
        }
        guard compute.accumulation.blockProducts == 1 else {
            throw FieldError(
                "compute.accumulation.block_products",
                "must be 1: each product joins the running sum on its own, in increasing reduction index "
                    + "(schemas/formats.md, matrix arithmetic); sums of blocks are not implemented "
                    + "(got \(compute.accumulation.blockProducts))")
        }
    }

    private func validateMemories() throws {
        guard let first = memories.first, let last = memories.last else {
            throw FieldError("memories", "must list at least one memory")
        }
        guard first.scope == .tile else {
            throw FieldError(
                "memories[0].scope",
                "the first memory is each tile's own and must be per tile (got \(first.scope.rawValue))")
        }
        var names = Set<String>()
        for (i, m) in memories.enumerated() {
            let at = "memories[\(i)]"
            guard isMemoryName(m.name) else {
                throw FieldError("\(at).name", "\"\(m.name)\" is not a memory name (lower-case letters, digits and _)")
            }
            guard names.insert(m.name).inserted else { throw FieldError("\(at).name", "\"\(m.name)\" is listed twice") }
            try positive(m.sizeBytes, "\(at).size_bytes", atMost: Self.largestBytes)
            try positive(m.bandwidthBytesPerCycle, "\(at).bandwidth_bytes_per_cycle", atMost: Self.largestBytes)
            try positive(m.latencyCycles, "\(at).latency_cycles", atMost: Self.largestCycles)
            guard i > 0 else { continue }
            let nearer = memories[i - 1]
            guard m.scope >= nearer.scope else {
                throw FieldError(
                    "\(at).scope",
                    "\(m.name) is \(m.scope.phrase) but the nearer \(nearer.name) is "
                        + "\(nearer.scope.phrase): memories are listed from the tiles outwards")
            }
            guard m.sizeBytes >= nearer.sizeBytes else {
                throw FieldError(
                    "\(at).size_bytes",
                    "\(m.name) (\(m.sizeBytes) bytes) is smaller than the nearer "
                        + "\(nearer.name) (\(nearer.sizeBytes) bytes): memories are listed from the tiles outwards")
            }
        }
        guard last.scope == .global else {
            throw FieldError(
                "memories[\(memories.count - 1)].scope",
                "the last memory holds the weights for the whole chip "
                    + "and must be global (got \(last.scope.rawValue))")
        }
    }

    /// The tile's memory must hold what its MAC array needs, and every memory a whole
    /// number of aligned buffers.
    private func validateFit() throws {
        let need = macArrayWorkingSetBytes
        guard need <= tileMemoryBytes else {
            let a = compute.macArray
            throw FieldError(
                "compute.mac_array",
                "a \(a.rows) x \(a.columns) array needs \(need) bytes of tile memory "
                    + "(an fp16 weight block, an input and an output vector) but \(memories[0].name) "
                    + "holds \(tileMemoryBytes)")
        }
        let align = max(alignment.weightBytes, alignment.activationBytes)
        for (i, m) in memories.enumerated() where m.sizeBytes % align != 0 {
            throw FieldError("memories[\(i)].size_bytes", "\(m.sizeBytes) is not a multiple of the \(align)-byte alignment")
        }
    }

    /// Bounds far beyond any real NPU that keep the compiler's and the cycle model's
    /// arithmetic (counts times sizes times cycles) within 64 bits: units of hardware (tiles,
    /// queues, lanes, array rows, rates), cycles of one step, bytes of one memory, the clock.
    static let largestCount = 1 << 16, largestCycles = 1 << 20, largestBytes = 1 << 44, largestClockHz = 1 << 40

    private func positive(_ v: Int, _ field: String, atMost limit: Int) throws {
        if v <= 0 { throw FieldError(field, "must be positive (got \(v))") }
        if v > limit { throw FieldError(field, "must be at most \(limit) (got \(v))") }
    }

    private func notNegative(_ v: Int, _ field: String) throws {
        if v < 0 { throw FieldError(field, "must not be negative (got \(v))") }
        if v > Self.largestCycles { throw FieldError(field, "must be at most \(Self.largestCycles) (got \(v))") }
    }

    private func powerOfTwo(_ v: Int, _ field: String) throws {
        if v <= 0 || v & (v - 1) != 0 { throw FieldError(field, "must be a power of two (got \(v))") }
        if v > Self.largestCount { throw FieldError(field, "must be at most \(Self.largestCount) (got \(v))") }
    }

    private func isMemoryName(_ s: String) -> Bool {
        guard let head = s.unicodeScalars.first, ("a"..."z").contains(head) else { return false }
        return s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    private func number(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)"
    }
}
