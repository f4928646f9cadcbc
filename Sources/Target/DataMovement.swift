// How data moves and where it may start: DMA queues, and the alignment of weight and
// activation buffers in every memory.

/// Independent DMA queues: transfers on different queues overlap.
public struct DMAQueues: Encodable, Equatable, Sendable {
    /// Queues each tile has for its own SRAM (to and from L2).
    public var perTile: Int
    /// Queues each cluster has for its L2 (to and from L3 and DRAM).
    public var perCluster: Int

    public init(perTile: Int, perCluster: Int) {
        self.perTile = perTile
        self.perCluster = perCluster
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case perTile = "queues_per_tile", perCluster = "queues_per_cluster" }
}

extension DMAQueues: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        self.init(perTile: try c.integer(.perTile), perCluster: try c.integer(.perCluster))
    }
}

/// Byte alignment of buffers: every weight blob and every activation buffer starts at a
/// multiple of its alignment in every memory (a power of two).
public struct Alignment: Encodable, Equatable, Sendable {
    public var weightBytes: Int
    public var activationBytes: Int

    public init(weightBytes: Int, activationBytes: Int) {
        self.weightBytes = weightBytes
        self.activationBytes = activationBytes
    }

    /// `bytes` rounded up to a multiple of `alignment`.
    public static func roundUp(_ bytes: Int, to alignment: Int) -> Int {
        (bytes + alignment - 1) / alignment * alignment
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case weightBytes = "weight_bytes", activationBytes = "activation_bytes" }
}

extension Alignment: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        self.init(weightBytes: try c.integer(.weightBytes), activationBytes: try c.integer(.activationBytes))
    }
}
