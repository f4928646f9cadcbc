// How the vector lowerings size their blocks in a tile's SRAM and deal them to the tiles:
// regions rounded up to whole 64-byte bursts, as many units (rows, planes, positions) a
// block as fit, and the blocks handed to the tiles in turn.
extension Lowering {
    /// `bytes` rounded up to a whole number of 64-byte bursts.
    static func burstAligned(_ bytes: Int) -> Int { (bytes + 63) / 64 * 64 }

    /// The most units, from 1 up to `count`, whose `footprint` fits `sramBytes`; 1 when
    /// even one does not (the caller checks that one fits). `footprint` grows with the units.
    static func mostFitting(_ count: Int, sramBytes: Int, _ footprint: (Int) -> Int) -> Int {
        var units = 1
        while units < count && footprint(units + 1) <= sramBytes { units += 1 }
        return units
    }

    /// For each of `groups` groups in turn, `count` units in blocks of at most `step`, the
    /// blocks dealt to the tiles in order (`resources.place`): `body(group, first, units,
    /// cluster, tile)`.
    static func forEachBlock(
        groups: Int = 1, of count: Int, step: Int, _ resources: TileResources,
        _ body: (_ group: Int, _ first: Int, _ units: Int, _ cluster: Int, _ tile: Int) throws -> Void
    ) rethrows {
        var unit = 0
        for group in 0..<groups {
            for first in stride(from: 0, to: count, by: step) {
                let (cluster, tile) = resources.place(unit)
                unit += 1
                try body(group, first, min(step, count - first), cluster, tile)
            }
        }
    }
}
