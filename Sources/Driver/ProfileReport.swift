// The profile as people read it (a table per layer, then the totals) and as JSON (the same
// data, keys sorted, so the same bundle always prints the same bytes).
import Foundation

extension BundleProfile {
    public static func text(_ p: Profile) -> String {
        var rows = [["layer", "op", "precision", "cycles", "MACs", "util"] + p.memories + ["bound", "roofline"]]
        for l in p.layers {
            rows.append(
                [l.name, l.op, l.precision, Inspection.grouped(l.cycles), Inspection.grouped(l.macs), percent(l.utilization)]
                    + p.memories.map { Inspection.grouped(l.bytes[$0] ?? 0) }
                    + [l.bound, Inspection.grouped(Int(l.rooflineCycles.rounded(.up)))])
        }
        let t = p.total
        let roofline = Int(t.rooflineCycles.rounded(.up))
        return
            ([
                "target:   \(p.target), \(TargetReport.decimal(Double(p.clockHz) / 1e9)) GHz;"
                    + " bytes read and written per memory level"
            ] + TargetReport.table(rows, leftColumns: 3) + [
                "latency:  \(Inspection.grouped(t.cycles)) cycles = \(duration(t.seconds)),"
                    + " \(Inspection.grouped(Int(t.inferencesPerSecond.rounded()))) inferences/s,"
                    + " \(TargetReport.decimal(t.effectiveTOPS)) effective TOPS (\(Inspection.grouped(t.macs)) MACs)",
                "roofline: \(Inspection.grouped(roofline)) cycles summed over the layers; the latency is "
                    + "\(TargetReport.decimal(roofline > 0 ? Double(t.cycles) / Double(roofline) : 0))x that",
            ]).joined(separator: "\n")
    }

    public static func json(_ p: Profile) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: try encoder.encode(p), as: UTF8.self)
    }

    /// 12.5%, "-" for nothing.
    private static func percent(_ x: Double) -> String {
        x > 0 ? String(format: 100 * x >= 1 ? "%.1f%%" : "%.2g%%", 100 * x) : "-"
    }

    /// 1.25 ms, 830 us.
    private static func duration(_ seconds: Double) -> String {
        for (scale, unit) in [(1.0, "s"), (1e-3, "ms"), (1e-6, "us")] where seconds >= scale {
            return "\(TargetReport.decimal(seconds / scale)) \(unit)"
        }
        return "\(TargetReport.decimal(seconds / 1e-9)) ns"
    }
}
