// How the vector lowerings size their blocks in a tile's SRAM: regions rounded up to whole
// 64-byte bursts, and as many units (rows, planes, positions) a block as fit.
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
}
