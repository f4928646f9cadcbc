// The vector unit beside each tile's MAC array: fp32 lanes for what is not a matrix
// product (activations, softmax, normalization, scaling, format conversion).

/// One tile's vector unit: `lanesPerTile` fp32 lanes; an operation on one lanes-wide
/// vector takes `elementwiseCycles` (add, multiply, max, compare, select, scale) or
/// `transcendentalCycles` (exp, log, reciprocal, rsqrt, tanh, sigmoid), pipelined.
public struct VectorUnit: Encodable, Equatable, Sendable {
    public var lanesPerTile: Int
    public var elementwiseCycles: Int
    public var transcendentalCycles: Int

    public init(lanesPerTile: Int, elementwiseCycles: Int, transcendentalCycles: Int) {
        self.lanesPerTile = lanesPerTile
        self.elementwiseCycles = elementwiseCycles
        self.transcendentalCycles = transcendentalCycles
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case lanesPerTile = "lanes_per_tile", elementwiseCycles = "elementwise_cycles"
        case transcendentalCycles = "transcendental_cycles"
    }
}

extension VectorUnit: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        self.init(lanesPerTile: try c.integer(.lanesPerTile), elementwiseCycles: try c.integer(.elementwiseCycles),
                  transcendentalCycles: try c.integer(.transcendentalCycles))
    }
}
