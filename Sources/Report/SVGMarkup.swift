// The few pieces of markup every chart writes: escaped text, coordinates printed the same
// way on every machine, and SVG elements with a hover title.
import Foundation

/// Text escaped for HTML and SVG content and attribute values (& < > " '): names come from
/// the model and are never trusted.
public func escapeMarkup(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.count)
    for c in text.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default:
            // Control characters other than tab and newline are not allowed in XML 1.0.
            if c.value < 0x20 && c != "\t" && c != "\n" { out += "\u{FFFD}" } else { out.unicodeScalars.append(c) }
        }
    }
    return out
}

/// Numbers as people read them on axes and in tables: at most `digits` significant digits,
/// exponent form for very large or small magnitudes, no trailing zeros.
public func readableNumber(_ x: Double, digits: Int = 3) -> String {
    guard x.isFinite else { return x.isNaN ? "NaN" : (x < 0 ? "-inf" : "inf") }
    if x == 0 { return "0" }
    let magnitude = abs(x)
    if magnitude >= 1e6 || magnitude < 1e-3 {
        let text = String(format: "%.\(max(digits - 1, 0))e", x)
        let parts = text.split(separator: "e")
        let mantissa = trimZeros(String(parts[0]))
        let exponent = Int(parts[1]) ?? 0
        return "\(mantissa)e\(exponent)"
    }
    let decimals = max(0, digits - 1 - Int((log10(magnitude)).rounded(.down)))
    return trimZeros(String(format: "%.\(decimals)f", x))
}

/// 84,224: an integer with thousands separators.
public func groupedNumber(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

private func trimZeros(_ s: String) -> String {
    guard s.contains(".") else { return s }
    var t = s
    while t.hasSuffix("0") { t.removeLast() }
    if t.hasSuffix(".") { t.removeLast() }
    return t
}

/// A coordinate: one decimal, the same bytes on every run.
func coordinate(_ x: Double) -> String { String(format: "%.1f", x) }

/// SVG elements; every attribute value is escaped.
enum SVG {
    static func rect(
        x: Double, y: Double, width: Double, height: Double, fill: String, title: String? = nil,
        extra: String = ""
    ) -> String {
        let open =
            "<rect x=\"\(coordinate(x))\" y=\"\(coordinate(y))\" width=\"\(coordinate(max(width, 0)))\" "
            + "height=\"\(coordinate(max(height, 0)))\" fill=\"\(escapeMarkup(fill))\"\(extra)"
        guard let title else { return open + "/>" }
        return open + "><title>\(escapeMarkup(title))</title></rect>"
    }

    static func line(
        _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1,
        dash: String? = nil, opacity: Double? = nil
    ) -> String {
        "<line x1=\"\(coordinate(x1))\" y1=\"\(coordinate(y1))\" x2=\"\(coordinate(x2))\" y2=\"\(coordinate(y2))\" "
            + "stroke=\"\(stroke)\" stroke-width=\"\(coordinate(width))\""
            + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "")
            + (opacity.map { " stroke-opacity=\"\(String(format: "%.2f", $0))\"" } ?? "") + "/>"
    }

    /// Text anchored at (x, y); `rotate` turns it about that point (degrees).
    static func text(
        _ s: String, x: Double, y: Double, anchor: String = "middle", size: Double = 11,
        weight: String? = nil, rotate: Double? = nil, fill: String = "#222"
    ) -> String {
        "<text x=\"\(coordinate(x))\" y=\"\(coordinate(y))\" text-anchor=\"\(anchor)\" font-size=\"\(coordinate(size))\""
            + (weight.map { " font-weight=\"\($0)\"" } ?? "") + " fill=\"\(fill)\""
            + (rotate.map { " transform=\"rotate(\(coordinate($0)) \(coordinate(x)) \(coordinate(y)))\"" } ?? "")
            + ">\(escapeMarkup(s))</text>"
    }

    static func circle(x: Double, y: Double, r: Double, fill: String, stroke: String = "none", title: String? = nil)
        -> String
    {
        let open =
            "<circle cx=\"\(coordinate(x))\" cy=\"\(coordinate(y))\" r=\"\(coordinate(r))\" fill=\"\(fill)\" "
            + "stroke=\"\(stroke)\" stroke-width=\"1.5\""
        guard let title else { return open + "/>" }
        return open + "><title>\(escapeMarkup(title))</title></circle>"
    }

    static func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 1.5) -> String {
        let p = points.map { "\(coordinate($0.0)),\(coordinate($0.1))" }.joined(separator: " ")
        return "<polyline points=\"\(p)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(coordinate(width))\"/>"
    }

    /// The root element: `label` is the chart's accessible name, `id` its element id.
    static func document(id: String, label: String, width: Double, height: Double, body: [String]) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(escapeMarkup(id))\" role=\"img\" "
            + "aria-label=\"\(escapeMarkup(label))\" width=\"\(coordinate(width))\" height=\"\(coordinate(height))\" "
            + "viewBox=\"0 0 \(coordinate(width)) \(coordinate(height))\" font-family=\"sans-serif\">\n"
            + body.joined(separator: "\n") + "\n</svg>"
    }
}
