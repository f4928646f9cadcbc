// `npucc target`: a target description as people check it: peak rates per precision,
// the memory hierarchy as a table, data movement and mode costs.
import Foundation
import Target

public enum TargetReport {
    /// The target at `path`, or the built-in one when `path` is nil. A file that gives an
    /// object a key twice is refused by that key (`JSONKeys`).
    public static func load(path: String?) throws -> TargetDescription {
        guard let path else { return try TargetDescription.default }
        // Read once; a file that cannot be read gets `load`'s message for it.
        guard let data = FileManager.default.contents(atPath: path) else { return try TargetDescription.load(path: path) }
        let target = try TargetDescription.decode(data, file: path)
        if let repeated = JSONKeys.firstRepeated(in: data) {
            throw TargetError(
                file: path, field: JSONKeys.path(repeated),
                "is given twice in its object; JSON readers disagree on which value counts")
        }
        return target
    }

    /// The readable summary; `source` says where the target came from.
    public static func text(_ t: TargetDescription, source: String) -> String {
        var lines: [String] = []
        lines.append("target:       \(t.name) (\(source))")
        if let d = t.description { lines.append("description:  \(d)") }
        lines.append("clock:        \(frequency(t.clockHz))")
        let a = t.compute.macArray
        lines.append("compute:      \(t.compute.clusters) clusters x \(t.compute.tilesPerCluster) tiles"
                     + " x \(a.rows)x\(a.columns) MACs = \(Inspection.grouped(t.totalMACs)) MACs")
        let acc = t.compute.accumulation
        lines.append("accumulation: \(acc.format.rawValue), one product at a time in increasing reduction index")
        lines.append("peak (2:4 counts skipped products as done):")
        var peak = [["precision", "rate", "MACs/cycle", "TOPS", "2:4 MACs/cycle", "2:4 TOPS"]]
        for p in MACPrecision.allCases {
            peak.append([p.rawValue, "\(decimal(t.compute.macRate[p]))x", Inspection.grouped(Int(t.peakMACsPerCycle(p))),
                         decimal(t.peakTOPS(p)), Inspection.grouped(Int(t.peakMACsPerCycle(p, sparse24: true))),
                         decimal(t.peakTOPS(p, sparse24: true))])
        }
        lines += table(peak, leftColumns: 1)
        lines.append("memories (from the tiles outwards; bandwidth toward the tiles):")
        var mem = [["name", "scope", "size", "total", "bytes/cycle", "total GB/s", "latency"]]
        for m in t.memories {
            mem.append([m.name, m.scope.phrase, Inspection.byteSize(m.sizeBytes), Inspection.byteSize(t.totalBytes(of: m)),
                        Inspection.grouped(m.bandwidthBytesPerCycle),
                        number(t.aggregateBandwidthBytesPerSecond(of: m) / 1e9), cycles(m.latencyCycles)])
        }
        lines += table(mem, leftColumns: 2)
        if t.backingMemory != nil {
            let ridge = MACPrecision.allCases.map { "\($0.rawValue) \(decimal(t.ridgeMACsPerByte($0)))" }
            lines.append("ridge point:  MACs per \(t.backingMemory?.name ?? "") byte to stay compute-bound: "
                         + ridge.joined(separator: ", "))
        }
        lines.append("dma:          \(t.dma.perTile) queues per tile, \(t.dma.perCluster) per cluster")
        let v = t.vector
        lines.append("vector:       \(v.lanesPerTile) fp32 lanes per tile (\(Inspection.grouped(t.totalVectorLanes)) in all);"
                     + " \(cycles(v.elementwiseCycles)) per elementwise op, \(cycles(v.transcendentalCycles)) per transcendental")
        let m = t.modeCosts, c = t.conversionCosts
        lines.append("mode switch:  \(cycles(m.modeSwitchCycles)), data rearrangement \(m.dataRearrangementCycles),"
                     + " pipeline flush \(m.pipelineFlushCycles) (\(m.switchTotalCycles) in all)")
        lines.append("conversions:  nvfp4 -> fp8 \(cycles(c.nvfp4ToFP8Cycles)), fp8 -> nvfp4 \(cycles(c.fp8ToNVFP4Cycles))")
        lines.append("alignment:    weights \(t.alignment.weightBytes) bytes, activations \(t.alignment.activationBytes) bytes")
        return lines.joined(separator: "\n")
    }

    /// Rows padded to their columns' widths: the first `leftColumns` left-aligned, the
    /// rest right-aligned, indented by two spaces.
    static func table(_ rows: [[String]], leftColumns: Int) -> [String] {
        let widths = (0..<rows[0].count).map { i in rows.map { $0[i].count }.max() ?? 0 }
        return rows.map { row in
            "  " + row.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i < leftColumns ? cell + pad : pad + cell
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
    }

    /// 1 GHz, 800 MHz, 1.5 GHz.
    private static func frequency(_ hz: Int) -> String {
        for (scale, unit) in [(1e9, "GHz"), (1e6, "MHz"), (1e3, "kHz")] where Double(hz) >= scale {
            return "\(decimal(Double(hz) / scale)) \(unit)"
        }
        return "\(hz) Hz"
    }

    /// "1 cycle", "16 cycles".
    private static func cycles(_ n: Int) -> String { n == 1 ? "1 cycle" : "\(Inspection.grouped(n)) cycles" }

    /// A whole number with thousands separators, else `decimal(_:)`.
    private static func number(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? Inspection.grouped(Int(x)) : decimal(x)
    }

    /// Up to three decimals, without trailing zeros: 51.2, 2, 0.125.
    static func decimal(_ x: Double) -> String {
        var s = String(format: "%.3f", x)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
}
