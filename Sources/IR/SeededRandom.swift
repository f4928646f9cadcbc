// A small reproducible random number generator: property tests and the sensitivity
// analysis's random output cotangents.

import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014): the same seed gives the same sequence on every
/// platform, so a failing random case can be replayed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SeededRandom {
    /// A standard normal draw (Box–Muller on two 53-bit uniforms in (0, 1)).
    public mutating func normal() -> Double {
        let u1 = (Double(next() >> 11) + 0.5) * 0x1p-53, u2 = (Double(next() >> 11) + 0.5) * 0x1p-53
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }
}
