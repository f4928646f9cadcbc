// `npucc inspect`: what a model file holds, as a short human-readable report.

import Foundation
import IR
import ONNXImport

public enum Inspection {
    /// The report for a loaded (canonicalized) model.
    public static func report(_ loaded: LoadedModel) -> String {
        let m = loaded.model
        var lines: [String] = []
        lines.append("model:      \(loaded.path)")
        let producer = [m.producerName, m.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        lines.append("producer:   \(producer.isEmpty ? "(not recorded)" : producer)")
        lines.append("ir version: \(m.irVersion)")
        let opsets = m.opsets.keys.sorted().map { "\($0.isEmpty ? "ai.onnx" : $0) \(m.opsets[$0]!)" }
        lines.append("opsets:     \(opsets.joined(separator: ", "))")
        lines.append("inputs:")
        for v in m.graph.inputs { lines.append("  \(v.name)  \(v.type)") }
        lines.append("outputs:")
        for v in m.graph.outputs { lines.append("  \(v.name)  \(v.type)") }
        let counts = loaded.summary.opCounts
        let total = counts.values.reduce(0, +)
        let read =
            total == loaded.summary.fileNodeCount
            ? "\(total) nodes in the file" : "\(total) of the file's \(loaded.summary.fileNodeCount) nodes (--graph-outputs)"
        lines.append("operators:  \(read), \(m.graph.nodes.count) after canonicalization")
        let width = counts.keys.map(\.count).max() ?? 0
        for (op, n) in counts.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            lines.append("  " + op.padding(toLength: width, withPad: " ", startingAt: 0) + "  \(n)")
        }
        var elements = 0, bytes = 0
        for t in m.graph.constants.values where t.dtype.isFloatingPoint {
            elements += t.count
            bytes += t.byteCount
        }
        lines.append("parameters: \(grouped(elements)) (\(byteSize(bytes)))")
        if loaded.summary.initializerInputCount > 0 {
            lines.append(
                "note:       \(loaded.summary.initializerInputCount) initializers are also listed as graph inputs; they are read as constants"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// The report for a model that does not import: its header, operators and weights as
    /// the file writes them, and the operators npucc has no rule for; nil when the file does
    /// not parse.
    public static func outlineReport(path: String) -> String? {
        guard let outline = try? ONNXImporter.outline(path: path) else { return nil }
        var lines: [String] = []
        lines.append("model:      \(path)")
        lines.append("producer:   \(outline.producer.isEmpty ? "(not recorded)" : outline.producer)")
        lines.append("ir version: \(outline.irVersion)")
        lines.append("opsets:     \(outline.opsets.map { "\($0.domain) \($0.version)" }.joined(separator: ", "))")
        let counts = outline.opCounts
        lines.append("operators:  \(counts.values.reduce(0, +)) nodes in the file (not imported: see the error)")
        let width = counts.keys.map(\.count).max() ?? 0
        for (op, n) in counts.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            let mark = outline.unsupported.contains(op) ? "  (not supported)" : ""
            lines.append("  " + op.padding(toLength: width, withPad: " ", startingAt: 0) + "  \(n)\(mark)")
        }
        lines.append("parameters: \(grouped(outline.initializerElements)) in \(outline.initializerCount) initializers")
        if !outline.unsupported.isEmpty {
            lines.append("unsupported: \(outline.unsupported.joined(separator: ", "))")
        }
        return lines.joined(separator: "\n")
    }

    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return out
    }

    static func byteSize(_ n: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB"]
        var value = Double(n), unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(n) bytes" : String(format: "%.1f %@", value, units[unit])
    }
}
