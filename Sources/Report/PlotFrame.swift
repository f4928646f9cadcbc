// The frame every chart draws in: a title, a plotting area with a value axis on the left
// (gridlines, tick labels, a label with its unit), a bottom axis label, and a legend.

/// A legend entry: a swatch colour (or a pattern's url) and what it stands for.
public struct LegendEntry: Sendable {
    public var label: String
    public var fill: String
    public var marker: Marker = .box

    public enum Marker: Sendable { case box, dot, ring, line }

    public init(_ label: String, fill: String, marker: Marker = .box) {
        self.label = label
        self.fill = fill
        self.marker = marker
    }
}

struct PlotFrame {
    var width = 640.0
    var height = 340.0
    var left = 72.0
    var right = 16.0
    var top = 52.0
    var bottom = 64.0

    var plotWidth: Double { width - left - right }
    var plotHeight: Double { height - top - bottom }

    /// The pixel row of `value` on `scale` (the top of the area is `top`).
    func y(_ value: Double, _ scale: PlotScale) -> Double { top + plotHeight * (1 - scale.fraction(value)) }

    /// The pixel column of `value` on `scale`.
    func x(_ value: Double, _ scale: PlotScale) -> Double { left + plotWidth * scale.fraction(value) }

    /// Title, legend, the left axis with gridlines, and the axis labels.
    func decorations(title: String, yLabel: String, xLabel: String, yScale: PlotScale, legend: [LegendEntry])
        -> [String]
    {
        var out = [SVG.text(title, x: left, y: 18, anchor: "start", size: 14, weight: "bold")]
        out += legendMarkup(legend)
        for t in yScale.ticks {
            let y = self.y(t, yScale)
            out.append(SVG.line(left, y, left + plotWidth, y, stroke: "#e3e3e3"))
            out.append(SVG.text(readableNumber(t), x: left - 6, y: y + 4, anchor: "end", size: 10, fill: "#444"))
        }
        out.append(SVG.line(left, top, left, top + plotHeight, stroke: "#666"))
        out.append(SVG.line(left, top + plotHeight, left + plotWidth, top + plotHeight, stroke: "#666"))
        out.append(SVG.text(yLabel, x: 16, y: top + plotHeight / 2, size: 11, rotate: -90))
        out.append(SVG.text(xLabel, x: left + plotWidth / 2, y: height - 8, size: 11))
        return out
    }

    /// Bottom-axis ticks and labels for a value scale.
    func xTicks(_ scale: PlotScale) -> [String] {
        scale.ticks.flatMap { t -> [String] in
            let x = self.x(t, scale)
            return [
                SVG.line(x, top, x, top + plotHeight, stroke: "#eeeeee"),
                SVG.line(x, top + plotHeight, x, top + plotHeight + 4, stroke: "#666"),
                SVG.text(readableNumber(t), x: x, y: top + plotHeight + 16, size: 10, fill: "#444"),
            ]
        }
    }

    /// The legend in one row under the title, left to right.
    private func legendMarkup(_ entries: [LegendEntry]) -> [String] {
        var x = left, out: [String] = []
        let y = 36.0
        for e in entries {
            switch e.marker {
            case .box:
                out.append(
                    SVG.rect(x: x, y: y - 9, width: 12, height: 10, fill: e.fill, extra: " stroke=\"#555\" stroke-width=\"0.5\""))
            case .dot: out.append(SVG.circle(x: x + 6, y: y - 4, r: 4, fill: e.fill))
            case .ring: out.append(SVG.circle(x: x + 6, y: y - 4, r: 5, fill: "none", stroke: e.fill))
            case .line: out.append(SVG.line(x, y - 4, x + 12, y - 4, stroke: e.fill, width: 2))
            }
            out.append(SVG.text(e.label, x: x + 16, y: y, anchor: "start", size: 11))
            x += 16 + 6.5 * Double(e.label.count) + 16
        }
        return out
    }
}
