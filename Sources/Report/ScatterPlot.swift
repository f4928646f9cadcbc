// Points on two value axes, optionally joined in order as a staircase (a Pareto frontier),
// with some points highlighted and labelled (the chosen assignment, reference points).

public struct ScatterPlot: Sendable {
    public struct Point: Sendable {
        public var x: Double
        public var y: Double
        /// The hover text.
        public var title: String

        public init(x: Double, y: Double, title: String) {
            self.x = x
            self.y = y
            self.title = title
        }
    }

    /// Points drawn alike, with a legend entry.
    public struct Group: Sendable {
        public var name: String
        public var color: String
        public var points: [Point]
        /// Joined in order as a staircase (each step horizontal, then vertical).
        public var staircase: Bool
        /// A ring around each point instead of a dot, with its name written beside it.
        public var highlighted: Bool

        public init(_ name: String, color: String, points: [Point], staircase: Bool = false, highlighted: Bool = false) {
            self.name = name
            self.color = color
            self.points = points
            self.staircase = staircase
            self.highlighted = highlighted
        }
    }

    public var id: String
    public var title: String
    public var groups: [Group]
    public var xLabel: String
    public var yLabel: String
    public var xScale: PlotScale.Kind = .linear
    public var yScale: PlotScale.Kind = .logarithmic

    public init(id: String, title: String, groups: [Group], xLabel: String, yLabel: String) {
        self.id = id
        self.title = title
        self.groups = groups
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    public func svg() -> String {
        let frame = PlotFrame()
        let all = groups.flatMap(\.points)
        let xs = PlotScale(xScale, covering: all.map(\.x), includeZero: false)
        // A zero error cannot sit on a log axis: it is drawn on the axis's floor.
        let ys = PlotScale(yScale, covering: all.map(\.y))
        let legend = groups.map {
            LegendEntry($0.name, fill: $0.color, marker: $0.highlighted ? .ring : ($0.staircase ? .line : .dot))
        }
        var body = frame.decorations(title: title, yLabel: yLabel, xLabel: xLabel, yScale: ys, legend: legend)
        body += frame.xTicks(xs)
        for g in groups {
            let points = g.points.map { (frame.x($0.x, xs), frame.y($0.y, ys)) }
            if g.staircase, points.count > 1 {
                var path = [points[0]]
                for p in points.dropFirst() { path += [(p.0, path.last!.1), p] }
                body.append(SVG.polyline(path, stroke: g.color))
            }
            for (p, (x, y)) in zip(g.points, points) {
                if g.highlighted {
                    body.append(SVG.circle(x: x, y: y, r: 7, fill: "none", stroke: g.color, title: p.title))
                    let right = x > frame.left + frame.plotWidth * 0.8
                    body.append(
                        SVG.text(
                            g.name, x: right ? x - 10 : x + 10, y: y - 9, anchor: right ? "end" : "start", size: 10,
                            weight: "bold", fill: g.color))
                } else {
                    body.append(SVG.circle(x: x, y: y, r: 3.5, fill: g.color, title: p.title))
                }
            }
        }
        return SVG.document(id: id, label: title, width: frame.width, height: frame.height, body: body)
    }
}
