// What one instruction costs on its unit, from the target description alone: the matrix
// unit's stream and pipeline fill per precision and sparsity, mode switches and conversions,
// the vector unit's cycles per op, and which memory levels a transfer crosses. The formulas
// are schemas/cycles.md's; the scheduler (CycleModel) decides when each cost is paid.
import ISA
import Target

/// An instruction's cost on its unit: `occupancy` cycles during which the unit takes nothing
/// else, then `latency` cycles before its results can be read (the unit is free meanwhile).
public struct UnitCost: Equatable, Sendable {
    public var occupancy: Int
    public var latency: Int
}

/// A matrix unit's configuration: an mma with another one pays the target's mode switch.
struct MatrixMode: Equatable {
    var weights: Int
    var activations: Int
    var sparse: Bool
}

struct CycleCosts {
    let target: TargetDescription

    /// The MAC precision an mma of `wfmt` x `afmt` runs at: the wider of the two (fp32
    /// counts as fp16, the array's widest).
    static func precision(weights wfmt: Int, activations afmt: Int) -> MACPrecision {
        let order: [MACPrecision] = [.nvfp4, .fp8, .fp16]
        func rank(_ f: Int) -> Int {
            switch InstructionSet.formats[f] {
            case "nvfp4": return 0
            case "fp8": return 1
            default: return 2
            }
        }
        return order[max(rank(wfmt), rank(afmt))]
    }

    /// Pipeline fill: an activation row crosses the array's `columns` cells and its sums
    /// its `rows` cells before the first result leaves: rows + columns - 1 cycles.
    var pipelineFill: Int { target.compute.macArray.rows + target.compute.macArray.columns - 1 }

    /// Dense reduction positions one pass of the array takes at `precision`: rows x rate
    /// (x the 2:4 speed-up when sparse).
    func reductionPerPass(_ precision: MACPrecision, sparse: Bool) -> Double {
        Double(target.compute.macArray.rows) * target.compute.macRate[precision]
            * (sparse ? target.compute.sparse24Speedup : 1)
    }

    /// out[M, N] = act[M, K] x W[K, N]: ceil(N / columns) x ceil(K / per pass) weight blocks,
    /// each streaming the M activation rows one a cycle; then the pipeline fill, plus the
    /// nvfp4 -> fp8 conversion when one operand is nvfp4 and the other fp8.
    func mma(m: Int, k: Int, n: Int, weights wfmt: Int, activations afmt: Int, sparse: Bool) -> UnitCost {
        let p = Self.precision(weights: wfmt, activations: afmt)
        let columnBlocks = (n + target.compute.macArray.columns - 1) / target.compute.macArray.columns
        let reductionBlocks = Int((Double(k) / reductionPerPass(p, sparse: sparse)).rounded(.up))
        let formats = Set([InstructionSet.formats[wfmt], InstructionSet.formats[afmt]])
        let conversion = formats == ["nvfp4", "fp8"] ? target.conversionCosts.nvfp4ToFP8Cycles : 0
        return UnitCost(occupancy: m * columnBlocks * reductionBlocks, latency: pipelineFill + conversion)
    }

    /// Vectors of `lanes_per_tile` elements `count` elements take.
    func vectors(_ count: Int) -> Int { (count + target.vector.lanesPerTile - 1) / target.vector.lanesPerTile }

    /// A vop or vopp: vectors of the counted operand times the op's steps; pooling costs
    /// one elementwise step per window position (kernel h x w from its parameter record)
    /// per output element, plus one for average's division; a selection of K (topk,
    /// topk_index) passes each input element through a sorted buffer of K, 1 + ⌈log2 K⌉
    /// elementwise steps.
    func vector(op: String, dst: Int, a: Int, window: Int?, selected: Int? = nil) -> UnitCost {
        let v = target.vector
        if let window {
            let steps = window + (op == "average_pool" ? 1 : 0)
            return UnitCost(occupancy: vectors(dst) * steps * v.elementwiseCycles, latency: 0)
        }
        if let selected {
            let depth = Int.bitWidth - (max(selected, 1) - 1).leadingZeroBitCount
            return UnitCost(occupancy: vectors(a) * (1 + depth) * v.elementwiseCycles, latency: 0)
        }
        let s = InstructionSet.vectorSteps(op)
        let n = vectors(s.countsInput ? a : dst)
        return UnitCost(
            occupancy: n * (s.elementwise * v.elementwiseCycles + s.transcendental * v.transcendentalCycles), latency: 0)
    }

    /// quant: one elementwise pass (scale and round); nvfp4 adds one for the block maxima and
    /// the fp8 -> nvfp4 down-conversion's latency. dequant: one pass, nvfp4 -> fp8's latency.
    func quant(count: Int, format: Int, dequantize: Bool) -> UnitCost {
        let nvfp4 = InstructionSet.formats[format] == "nvfp4"
        let passes = dequantize || !nvfp4 ? 1 : 2
        let c = target.conversionCosts
        let latency = nvfp4 ? (dequantize ? c.nvfp4ToFP8Cycles : c.fp8ToNVFP4Cycles) : 0
        return UnitCost(occupancy: vectors(count) * passes * target.vector.elementwiseCycles, latency: latency)
    }

    /// The target memory level each ISA memory space lives in: sram the first (tile) level,
    /// l2 the first per-cluster level, l3 the first global level short of the last, dram and
    /// the bundle's weights and constants the last.
    static func levels(of target: TargetDescription) -> [MemorySpace: Int] {
        let m = target.memories
        var r: [MemorySpace: Int] = [.sram: 0, .dram: m.count - 1, .weights: m.count - 1, .constants: m.count - 1]
        (r[.l2], r[.l3]) = (target.clusterMemoryIndex, target.globalBufferIndex)
        return r
    }
}
