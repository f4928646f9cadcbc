// `npucc inspect BUNDLE.npub`: a checked bundle's header, sections and metadata keys.
import Bundle
import Foundation

public enum BundleInspection {
    /// Whether `path` is a bundle (starts with the magic "NPUB") rather than an ONNX model.
    public static func isBundle(path: String) -> Bool { BundleReader.hasMagic(path: path) }

    /// Reads and checks the bundle at `path` and reports it; a damaged bundle throws a
    /// `BundleError` naming the part at fault.
    public static func report(path: String) throws -> String {
        report(try BundleReader.read(path: path))
    }

    /// The report for a checked bundle.
    public static func report(_ bundle: BundleFile) -> String {
        var lines: [String] = []
        lines.append("bundle:     \(bundle.file)")
        lines.append("format:     version \(bundle.majorVersion).\(bundle.minorVersion), flags \(hex(bundle.flags))")
        lines.append("size:       \(Inspection.grouped(bundle.fileSize)) bytes, \(bundle.entries.count) sections")
        lines.append("checksums:  header \(hex(bundle.headerCRC)) ok, section table \(hex(bundle.tableCRC)) ok")
        lines.append("sections:")
        // size is the stored bytes; a zlib section also says how many it decodes to.
        let rows =
            [["kind", "offset", "size", "align", "crc32", "stored", "check"]]
            + bundle.entries.map {
                [
                    "\($0.kind)", "\($0.offset)", "\($0.size)", "\($0.alignment)", hex($0.crc32),
                    $0.encoding == .stored ? "as is" : "\($0.encoding), \($0.decodedSize) decoded",
                    $0.isKnown ? "ok" : "ok (unknown kind, kept)",
                ]
            }
        let widths = (0..<7).map { c in rows.map { $0[c].count }.max() ?? 0 }
        for row in rows {
            let cells = row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return (1...3).contains(c) ? pad + cell : (c == 6 ? cell : cell + pad)
            }
            lines.append("  " + cells.joined(separator: "  "))
        }
        lines.append("metadata:   \(bundle.metadata.count) \(bundle.metadata.count == 1 ? "key" : "keys")")
        let width = bundle.metadata.keys.map(\.count).max() ?? 0
        for key in bundle.metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            lines.append("  " + key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + summary(bundle.metadata[key]!))
        }
        lines += layerTable(bundle.metadata["layers"])
        return lines.joined(separator: "\n")
    }

    /// The metadata's layer table (what `npucc compile` writes): each layer's precision,
    /// sparsity, weights, packed bytes and bits per weight against its format's minimum.
    static func layerTable(_ value: JSONValue?) -> [String] {
        guard case .array(let items)? = value, !items.isEmpty,
            items.allSatisfy({
                if case .object(let o) = $0 { return o["format"] != nil && o["rows"] != nil }
                return false
            })
        else { return [] }
        func field(_ item: JSONValue, _ key: String) -> String {
            guard case .object(let o) = item, let v = o[key] else { return "-" }
            switch v {
            case .string(let s): return s
            case .int(let i): return key.hasSuffix("per_weight") ? String(format: "%.3f", Double(i)) : "\(i)"
            case .double(let d): return String(format: "%.3f", d)
            case .bool(let b): return b ? "2:4" : "dense"
            default: return "-"
            }
        }
        func number(_ item: JSONValue, _ key: String) -> Int {
            if case .object(let o) = item, case .int(let i)? = o[key] { return Int(i) }
            return 0
        }
        var rows = [["layer", "op", "precision", "sparsity", "weights", "bytes", "bits/weight", "minimum"]]
        for item in items {
            rows.append([
                field(item, "name"), field(item, "op"), field(item, "format"), field(item, "sparse"),
                Inspection.grouped(number(item, "rows") * number(item, "columns")),
                Inspection.grouped(number(item, "size")), field(item, "bits_per_weight"),
                field(item, "minimum_bits_per_weight"),
            ])
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        return ["layers:"]
            + rows.map { row in
                "  "
                    + row.enumerated().map { c, cell in
                        let pad = String(repeating: " ", count: widths[c] - cell.count)
                        return c >= 4 ? pad + cell : cell + pad
                    }.joined(separator: "  ")
            }
    }

    /// A value in a few words: scalars as they are (long strings cut), containers by size.
    static func summary(_ value: JSONValue) -> String {
        switch value {
        case .object(let o): return "{\(o.count) \(o.count == 1 ? "key" : "keys")}"
        case .array(let a): return "[\(a.count) \(a.count == 1 ? "item" : "items")]"
        case .string(let s): return s.count > 60 ? "\"\(s.prefix(57))...\"" : "\"\(s)\""
        default: return String(decoding: value.canonicalText ?? Data(), as: UTF8.self)
        }
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
