// Grouped bars: one group per category (a layer), one bar per series, on a linear or
// logarithmic value axis; bars may take their own colour, carry a label above, and a
// category may carry a marker line (a bound to compare the bar with).

public struct BarChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var color: String
        /// One value per category; nil draws no bar.
        public var values: [Double?]
        /// Per category: a colour overriding the series' (nil keeps it).
        public var colors: [String?] = []
        /// Per category: a short label drawn above the bar.
        public var labels: [String?] = []

        public init(_ name: String, color: String, values: [Double?], colors: [String?] = [], labels: [String?] = []) {
            self.name = name
            self.color = color
            self.values = values
            self.colors = colors
            self.labels = labels
        }
    }

    /// A horizontal mark across a category's group (e.g. a lower bound).
    public struct Marker: Sendable {
        public var name: String
        public var color: String
        public var values: [Double?]

        public init(_ name: String, color: String, values: [Double?]) {
            self.name = name
            self.color = color
            self.values = values
        }
    }

    public var id: String
    public var title: String
    public var categories: [String]
    public var series: [Series]
    public var markers: [Marker] = []
    public var scale: PlotScale.Kind = .linear
    public var yLabel: String
    public var xLabel: String
    /// The legend; the series' and markers' own when nil.
    public var legend: [LegendEntry]?
    /// SVG definitions (patterns) the colours may refer to.
    public var definitions: String = ""

    public init(id: String, title: String, categories: [String], series: [Series], yLabel: String, xLabel: String) {
        self.id = id
        self.title = title
        self.categories = categories
        self.series = series
        self.yLabel = yLabel
        self.xLabel = xLabel
    }

    public func svg() -> String {
        let perBar = series.count > 2 ? 9.0 : 16.0
        let group = Double(max(series.count, 1)) * perBar + 10
        var frame = PlotFrame()
        let rotated = categories.count > 6 || categories.contains { $0.count > 8 }
        frame.bottom = rotated ? 96 : 64
        frame.width = max(640, frame.left + frame.right + Double(categories.count) * group)
        let values = series.flatMap { $0.values.compactMap { $0 } } + markers.flatMap { $0.values.compactMap { $0 } }
        // Labels above bars need room under the top of the axis.
        let labelled = series.contains { $0.labels.contains { $0 != nil } }
        let yScale = PlotScale(scale, covering: labelled ? values + [(values.max() ?? 0) * 1.12] : values)
        let entries =
            legend
            ?? (series.map { LegendEntry($0.name, fill: $0.color) }
                + markers.map { LegendEntry($0.name, fill: $0.color, marker: .line) })
        var body = definitions.isEmpty ? [] : ["<defs>\(definitions)</defs>"]
        body += frame.decorations(title: title, yLabel: yLabel, xLabel: xLabel, yScale: yScale, legend: entries)
        let slot = frame.plotWidth / Double(max(categories.count, 1))
        let barWidth = min(perBar * 1.6, (slot - 6) / Double(max(series.count, 1)))
        let base = frame.top + frame.plotHeight
        for (i, category) in categories.enumerated() {
            let center = frame.left + slot * (Double(i) + 0.5)
            let start = center - barWidth * Double(series.count) / 2
            for (k, s) in series.enumerated() {
                guard i < s.values.count, let v = s.values[i], v.isFinite else { continue }
                let top = frame.y(v, yScale)
                let fill = (i < s.colors.count ? s.colors[i] : nil) ?? s.color
                let x = start + Double(k) * barWidth
                body.append(
                    SVG.rect(
                        x: x + 0.5, y: top, width: barWidth - 1, height: base - top, fill: fill,
                        title: "\(category): \(s.name) \(readableNumber(v, digits: 4))"))
                if i < s.labels.count, let label = s.labels[i] {
                    body.append(SVG.text(label, x: x + barWidth / 2, y: top - 4, size: 9, fill: "#333"))
                }
            }
            for m in markers {
                guard i < m.values.count, let v = m.values[i], v.isFinite else { continue }
                let y = frame.y(v, yScale)
                body.append(SVG.line(start - 3, y, start + barWidth * Double(series.count) + 3, y, stroke: m.color, width: 2.5))
            }
            let shown = category.count > 16 ? String(category.prefix(15)) + "…" : category
            if rotated {
                body.append(SVG.text(shown, x: center, y: base + 12, anchor: "end", size: 10, rotate: -35))
            } else {
                body.append(SVG.text(shown, x: center, y: base + 16, size: 10))
            }
        }
        return SVG.document(id: id, label: title, width: frame.width, height: frame.height, body: body)
    }
}
