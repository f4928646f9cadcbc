// What changing precision costs a tile: switching the MAC array's mode, rearranging its
// operands, flushing its pipeline, and converting between nvfp4 and fp8.

/// Cycles a tile loses when consecutive work uses a different precision or sparsity.
public struct ModeCosts: Encodable, Equatable, Sendable {
    /// Reconfiguring the MAC array for another precision or sparsity.
    public var modeSwitchCycles: Int
    /// Rearranging operands already in the tile into the new mode's layout.
    public var dataRearrangementCycles: Int
    /// Draining the MAC pipeline before the switch.
    public var pipelineFlushCycles: Int

    public init(modeSwitchCycles: Int, dataRearrangementCycles: Int, pipelineFlushCycles: Int) {
        self.modeSwitchCycles = modeSwitchCycles
        self.dataRearrangementCycles = dataRearrangementCycles
        self.pipelineFlushCycles = pipelineFlushCycles
    }

    /// All three: what one change of mode costs.
    public var switchTotalCycles: Int { modeSwitchCycles + dataRearrangementCycles + pipelineFlushCycles }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case modeSwitchCycles = "mode_switch_cycles", dataRearrangementCycles = "data_rearrangement_cycles"
        case pipelineFlushCycles = "pipeline_flush_cycles"
    }
}

extension ModeCosts: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        self.init(modeSwitchCycles: try c.integer(.modeSwitchCycles),
                  dataRearrangementCycles: try c.integer(.dataRearrangementCycles),
                  pipelineFlushCycles: try c.integer(.pipelineFlushCycles))
    }
}

/// Latency in cycles a format conversion adds to the pipeline that performs it; the
/// converters are pipelined, one vector per cycle, so they add latency, not throughput.
public struct ConversionCosts: Encodable, Equatable, Sendable {
    /// nvfp4 -> fp8: a table look-up of each E2M1 code times its block scale.
    public var nvfp4ToFP8Cycles: Int
    /// fp8 -> nvfp4: a block maximum, a scale and a rounding per element.
    public var fp8ToNVFP4Cycles: Int

    public init(nvfp4ToFP8Cycles: Int, fp8ToNVFP4Cycles: Int) {
        self.nvfp4ToFP8Cycles = nvfp4ToFP8Cycles
        self.fp8ToNVFP4Cycles = fp8ToNVFP4Cycles
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case nvfp4ToFP8Cycles = "nvfp4_to_fp8_cycles", fp8ToNVFP4Cycles = "fp8_to_nvfp4_cycles"
    }
}

extension ConversionCosts: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        self.init(nvfp4ToFP8Cycles: try c.integer(.nvfp4ToFP8Cycles), fp8ToNVFP4Cycles: try c.integer(.fp8ToNVFP4Cycles))
    }
}
