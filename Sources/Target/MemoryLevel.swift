// One level of the memory hierarchy: where it sits (per tile, per cluster, global), how
// big one instance is, how fast it feeds the level nearer the tiles, and its latency.

/// How many instances of a memory there are: one per tile, one per cluster, or one.
public enum MemoryScope: String, NamedChoice, Sendable, Comparable {
    case tile, cluster, global

    /// Nearer the MAC arrays first: tile < cluster < global.
    public static func < (a: MemoryScope, b: MemoryScope) -> Bool { a.order < b.order }

    private var order: Int {
        switch self {
        case .tile: return 0
        case .cluster: return 1
        case .global: return 2
        }
    }

    /// "per tile", "per cluster", "global".
    public var phrase: String { self == .global ? "global" : "per \(rawValue)" }
}

/// One memory level. Sizes and bandwidths are of one instance.
public struct MemoryLevel: Encodable, Equatable, Sendable {
    /// Its name (`sram`, `l2`, `l3`, `dram`): lower-case letters, digits and `_`, unique.
    public var name: String
    public var scope: MemoryScope
    /// Bytes one instance holds.
    public var sizeBytes: Int
    /// Bytes per cycle one instance moves to the level nearer the tiles (for the tile's own
    /// memory: to its MAC array and vector unit; for DRAM: what it delivers to the chip).
    public var bandwidthBytesPerCycle: Int
    /// Cycles from a request to its first bytes.
    public var latencyCycles: Int

    public init(name: String, scope: MemoryScope, sizeBytes: Int, bandwidthBytesPerCycle: Int, latencyCycles: Int) {
        self.name = name
        self.scope = scope
        self.sizeBytes = sizeBytes
        self.bandwidthBytesPerCycle = bandwidthBytesPerCycle
        self.latencyCycles = latencyCycles
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, scope, sizeBytes = "size_bytes", bandwidthBytesPerCycle = "bandwidth_bytes_per_cycle"
        case latencyCycles = "latency_cycles"
    }
}

extension MemoryLevel: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), scope: try c.decode(MemoryScope.self, forKey: .scope),
                  sizeBytes: try c.integer(.sizeBytes), bandwidthBytesPerCycle: try c.integer(.bandwidthBytesPerCycle),
                  latencyCycles: try c.integer(.latencyCycles))
    }
}
