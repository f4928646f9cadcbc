// The report's charts, each from the report's data alone: the sensitivity of each analysed
// layer, the precision along the network, the latency per layer against its roofline bound,
// the precision search's Pareto frontier, and the histograms of the most sensitive layers.

enum ReportPlots {
    /// Colours by format (the precision chart) and by candidate (the sensitivity chart).
    static let formatColor = ["fp16": "#4e79a7", "fp8": "#f28e2b", "nvfp4": "#59a14f"]
    static let candidateColor = [
        "fp16": "#4e79a7", "fp8": "#f28e2b", "nvfp4": "#59a14f", "fp16+2:4": "#76b7b2", "fp8+2:4": "#edc948",
        "nvfp4+2:4": "#e15759",
    ]
    static let candidateOrder = ["fp8", "nvfp4", "fp16+2:4", "fp8+2:4", "nvfp4+2:4"]

    /// Model output error per analysed layer and candidate; nil without an analysis.
    static func sensitivity(_ r: CompileReport) -> String? {
        guard let analysis = r.analysis else { return nil }
        let layers = r.layers.filter { $0.sensitivity != nil }
        guard !layers.isEmpty else { return nil }
        let present = candidateOrder.filter { c in layers.contains { $0.sensitivity!.contains { $0.candidate == c } } }
        let series = present.map { c in
            BarChart.Series(
                c, color: candidateColor[c] ?? "#999",
                values: layers.map { l in l.sensitivity!.first { $0.candidate == c }.map(\.error) })
        }
        return BarChart(
            id: "plot-sensitivity", title: "Sensitivity: model output error with only that layer changed",
            categories: layers.map(\.name), series: series,
            yLabel: "\(analysis.outputError) output error (log)", xLabel: "layer (analysed, in network order)"
        ).with(scale: .logarithmic).svg()
    }

    /// Bits per weight of each matrix layer as compiled, coloured by format, hatched when 2:4.
    static func precision(_ r: CompileReport) -> String? {
        let layers = r.layers.filter { $0.bitsPerWeight != nil }
        guard !layers.isEmpty else { return nil }
        let fill = { (l: CompileReport.Layer) -> String in
            l.sparsity == "2:4" ? "url(#hatch-\(l.precision))" : formatColor[l.precision] ?? "#999"
        }
        var chart = BarChart(
            id: "plot-precision", title: "Precision along the network",
            categories: layers.map(\.name),
            series: [
                BarChart.Series(
                    "bits per weight", color: "#999", values: layers.map(\.bitsPerWeight), colors: layers.map(fill),
                    labels: layers.map(\.candidate))
            ],
            yLabel: "stored bits per weight", xLabel: "matrix layer (network order)")
        chart.legend =
            ["fp16", "fp8", "nvfp4"].map { LegendEntry($0, fill: formatColor[$0]!) } + [
                LegendEntry("2:4 sparse (hatched)", fill: "url(#hatch-fp16)")
            ]
        chart.definitions = formatColor.keys.sorted().map { f in
            "<pattern id=\"hatch-\(f)\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
                + "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"\(formatColor[f]!)\"/>"
                + "<rect width=\"2.5\" height=\"6\" fill=\"#ffffff\" fill-opacity=\"0.6\"/></pattern>"
        }.joined()
        return chart.svg()
    }

    /// The cycle model's cycles per layer, coloured by the roofline term that wins, with the
    /// roofline lower bound marked.
    static func latency(_ r: CompileReport) -> String {
        let colors = ["compute": "#4e79a7", "memory": "#e15759"]
        var chart = BarChart(
            id: "plot-latency", title: "Latency per layer: simulated cycles and the roofline lower bound",
            categories: r.layers.map(\.name),
            series: [
                BarChart.Series(
                    "simulated cycles", color: "#999", values: r.layers.map { Double($0.simulatedCycles) },
                    colors: r.layers.map { colors[$0.bound] })
            ],
            yLabel: "cycles (log)", xLabel: "layer (program order)")
        chart.markers = [BarChart.Marker("roofline bound", color: "#111", values: r.layers.map(\.rooflineCycles))]
        chart.legend = [
            LegendEntry("compute-bound", fill: colors["compute"]!), LegendEntry("memory-bound", fill: colors["memory"]!),
            LegendEntry("roofline lower bound", fill: "#111", marker: .line),
        ]
        return chart.with(scale: .logarithmic).svg()
    }

    /// The solver's Pareto frontier of cost against predicted error, the choice ringed.
    static func pareto(_ r: CompileReport) -> String? {
        guard let a = r.analysis, !a.frontier.isEmpty else { return nil }
        let bySize = a.costKind == "size"
        func x(_ p: CompileReport.FrontierPoint) -> Double { bySize ? p.weightBytes / 1024 : p.latencyMACs / max(a.fp16Cost, 1) }
        func title(_ p: CompileReport.FrontierPoint) -> String {
            (bySize
                ? "\(readableNumber(p.weightBytes / 1024, digits: 4)) KiB" : "latency \(readableNumber(x(p), digits: 4)) of fp16")
                + ", predicted error \(readableNumber(p.predictedError, digits: 4)): "
                + p.choices.keys.sorted().map { "\($0)=\(p.choices[$0]!)" }.joined(separator: ", ")
        }
        let points = a.frontier.map { ScatterPlot.Point(x: x($0), y: $0.predictedError, title: title($0)) }
        let chosen = a.frontier.indices.contains(a.chosen) ? [points[a.chosen]] : []
        var plot = ScatterPlot(
            id: "plot-pareto", title: "Precision search: the solver's Pareto frontier (budget \(a.budget))",
            groups: [
                ScatterPlot.Group("frontier", color: "#4e79a7", points: points, staircase: true),
                ScatterPlot.Group("chosen", color: "#c0392b", points: chosen, highlighted: true),
            ],
            xLabel: bySize ? "weight size (KiB)" : "latency (MACs at fp16 speed, fraction of all fp16)",
            yLabel: "predicted output error (log)")
        plot.xScale = .linear
        return plot.svg()
    }

    static func histogram(_ h: CompileReport.ValueHistogram, index: Int) -> String {
        Histogram(
            id: "hist-\(index)", title: "\(h.layer): \(h.kind) (\(h.format))", lower: h.lower, upper: h.upper,
            counts: h.counts, grid: h.grid, clip: h.clip, xLabel: h.kind == "weights" ? "weight value" : "activation value",
            color: h.kind == "weights" ? "#4e79a7" : "#59a14f"
        ).svg()
    }
}

extension BarChart {
    func with(scale: PlotScale.Kind) -> BarChart {
        var copy = self
        copy.scale = scale
        return copy
    }
}
