// The compute side of a target: clusters of tiles, each tile one MAC array, its rate per
// precision, the 2:4 sparse speed-up and how products are accumulated.

/// A precision the MAC arrays multiply in. Rates are relative to fp16.
public enum MACPrecision: String, NamedChoice, Sendable {
    case fp16, fp8, nvfp4
}

/// The format partial sums are kept in.
public enum AccumulatorFormat: String, NamedChoice, Sendable {
    case fp32, fp16
}

/// Clusters x tiles x one MAC array per tile.
public struct Compute: Encodable, Equatable, Sendable {
    /// Clusters on the chip; each has its own L2-level memories and NoC router.
    public var clusters: Int
    /// Tiles in each cluster; each has one MAC array, a vector unit and its own SRAM.
    public var tilesPerCluster: Int
    /// The MAC array of one tile.
    public var macArray: MACArray
    /// Multiply-accumulates per cycle of each precision relative to fp16.
    public var macRate: MACRates
    /// How much faster a layer with 2:4 sparse weights runs than the same layer dense
    /// (2: the array skips the two zeros of each group of four).
    public var sparse24Speedup: Double
    /// How products are summed.
    public var accumulation: Accumulation

    public init(clusters: Int, tilesPerCluster: Int, macArray: MACArray, macRate: MACRates, sparse24Speedup: Double,
                accumulation: Accumulation) {
        self.clusters = clusters
        self.tilesPerCluster = tilesPerCluster
        self.macArray = macArray
        self.macRate = macRate
        self.sparse24Speedup = sparse24Speedup
        self.accumulation = accumulation
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case clusters, tilesPerCluster = "tiles_per_cluster", macArray = "mac_array", macRate = "mac_rate"
        case sparse24Speedup = "sparse_2_4_speedup", accumulation
    }
}

extension Compute: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        self.init(clusters: try c.integer(.clusters), tilesPerCluster: try c.integer(.tilesPerCluster),
                  macArray: try c.decode(MACArray.self, forKey: .macArray),
                  macRate: try c.decode(MACRates.self, forKey: .macRate),
                  sparse24Speedup: try c.decode(Double.self, forKey: .sparse24Speedup),
                  accumulation: try c.decode(Accumulation.self, forKey: .accumulation))
    }
}

/// One tile's MAC array: `rows` x `columns` multiply-accumulate units issuing one fp16
/// MAC each per cycle.
public struct MACArray: Encodable, Equatable, Sendable {
    public var rows: Int
    public var columns: Int

    public init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case rows, columns }
}

extension MACArray: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        self.init(rows: try c.integer(.rows), columns: try c.integer(.columns))
    }
}

/// MACs per cycle of each precision relative to fp16 (fp16 is 1 by definition).
public struct MACRates: Encodable, Equatable, Sendable {
    public var fp16: Double
    public var fp8: Double
    public var nvfp4: Double

    public init(fp16: Double, fp8: Double, nvfp4: Double) {
        self.fp16 = fp16
        self.fp8 = fp8
        self.nvfp4 = nvfp4
    }

    /// The rate of `precision`.
    public subscript(_ precision: MACPrecision) -> Double {
        switch precision {
        case .fp16: return fp16
        case .fp8: return fp8
        case .nvfp4: return nvfp4
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case fp16, fp8, nvfp4 }
}

extension MACRates: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        self.init(fp16: try c.decode(Double.self, forKey: .fp16), fp8: try c.decode(Double.self, forKey: .fp8),
                  nvfp4: try c.decode(Double.self, forKey: .nvfp4))
    }
}

/// Products are summed in `format`, `blockProducts` at a time, before each block's sum is
/// added to the running partial sum. Validation takes only what bundles compute: fp32, one
/// product at a time.
public struct Accumulation: Encodable, Equatable, Sendable {
    public var format: AccumulatorFormat
    public var blockProducts: Int

    public init(format: AccumulatorFormat, blockProducts: Int) {
        self.format = format
        self.blockProducts = blockProducts
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case format, blockProducts = "block_products" }
}

extension Accumulation: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        self.init(format: try c.decode(AccumulatorFormat.self, forKey: .format),
                  blockProducts: try c.integer(.blockProducts))
    }
}
