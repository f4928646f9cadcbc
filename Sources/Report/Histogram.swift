// A histogram of values already binned, on a log count axis (a spike at zero after a ReLU
// does not flatten the rest), with the quantization grid drawn as ticks under the bars and
// the clipping range as dashed lines.

public struct Histogram: Sendable {
    public var id: String
    public var title: String
    /// Bin edges are lower + i * (upper - lower) / counts.count.
    public var lower: Double
    public var upper: Double
    public var counts: [Int]
    /// Representable values after scaling, drawn where they fall within [lower, upper].
    public var grid: [Double]
    /// Where values clip (the calibrated amax), drawn when within range.
    public var clip: Double?
    public var xLabel: String
    public var color: String

    public init(
        id: String, title: String, lower: Double, upper: Double, counts: [Int], grid: [Double], clip: Double?,
        xLabel: String, color: String
    ) {
        self.id = id
        self.title = title
        self.lower = lower
        self.upper = upper
        self.counts = counts
        self.grid = grid
        self.clip = clip
        self.xLabel = xLabel
        self.color = color
    }

    public func svg() -> String {
        var frame = PlotFrame()
        frame.width = 420
        frame.height = 280
        frame.bottom = 70
        let ys = PlotScale(.logarithmic, covering: counts.map(Double.init) + [1])
        let xs = PlotScale(.linear, covering: [lower, upper], includeZero: false)
        var legend = [LegendEntry("values", fill: color)]
        if !grid.isEmpty { legend.append(LegendEntry("grid", fill: "#c0392b", marker: .line)) }
        if clip != nil { legend.append(LegendEntry("clip ±amax", fill: "#7d3c98", marker: .line)) }
        var body = frame.decorations(title: title, yLabel: "count (log)", xLabel: xLabel, yScale: ys, legend: legend)
        body += frame.xTicks(xs)
        let width = (upper - lower) / Double(max(counts.count, 1))
        let base = frame.top + frame.plotHeight
        // The grid behind the bars, faint across the area and solid as ticks under the axis.
        let shown = grid.filter { $0 >= xs.lower && $0 <= xs.upper }
        // A dense grid (fp8's 253 values) would hide the bars: the fainter, the more lines.
        let opacity = shown.count > 40 ? 0.12 : 0.35
        for g in shown {
            let x = frame.x(g, xs)
            body.append(SVG.line(x, frame.top, x, base, stroke: "#c0392b", width: 0.6, opacity: opacity))
            body.append(SVG.line(x, base + 1, x, base + 7, stroke: "#c0392b", width: 1))
        }
        for (i, n) in counts.enumerated() where n > 0 {
            let a = lower + Double(i) * width, b = a + width
            let x0 = frame.x(a, xs), x1 = frame.x(b, xs), y = frame.y(Double(n), ys)
            body.append(
                SVG.rect(
                    x: x0, y: y, width: max(x1 - x0 - 0.3, 0.5), height: base - y, fill: color,
                    title: "[\(readableNumber(a, digits: 4)), \(readableNumber(b, digits: 4))): \(groupedNumber(n))",
                    extra: " fill-opacity=\"0.85\""))
        }
        if let clip {
            for c in [-clip, clip] where c >= xs.lower && c <= xs.upper {
                let x = frame.x(c, xs)
                body.append(SVG.line(x, frame.top, x, base, stroke: "#7d3c98", width: 1.2, dash: "4 3"))
            }
        }
        return SVG.document(id: id, label: title, width: frame.width, height: frame.height, body: body)
    }
}
