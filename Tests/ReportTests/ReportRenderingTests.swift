// The report module on its own: names are escaped wherever they appear, scales give round
// ticks, the page is the same bytes for the same report, and missing analysis is said plainly.
import Foundation
import Report
import XCTest

final class ReportRenderingTests: XCTestCase {
    private func layer(_ name: String, op: String = "Conv", sensitivity: [CompileReport.Candidate]? = nil) -> CompileReport.Layer
    {
        CompileReport.Layer(
            name: name, op: op, inputShapes: [[1, 1, 8, 8]], outputShapes: [[1, 16, 8, 8]], macs: 9216, parameters: 160,
            precision: op == "Conv" ? "nvfp4" : "-", sparsity: op == "Conv" ? "dense" : "-",
            bitsPerWeight: op == "Conv" ? 4.5 : nil,
            weightSQNR: op == "Conv" ? 21.4 : nil, sensitivity: sensitivity, rooflineCycles: 5.2, simulatedCycles: 680,
            bound: "memory")
    }

    private func report(analysed: Bool) -> CompileReport {
        let evil = "<script>alert('x')</script>&\"conv\""
        let candidates = [
            CompileReport.Candidate(candidate: "fp16", predictedError: 0, measuredError: nil, weightSQNR: nil, chosen: false),
            CompileReport.Candidate(candidate: "fp8", predictedError: 3e-4, measuredError: nil, weightSQNR: 33, chosen: false),
            CompileReport.Candidate(candidate: "nvfp4", predictedError: 3e-3, measuredError: nil, weightSQNR: 21, chosen: true),
        ]
        let analysis = CompileReport.Analysis(
            samples: 4, outputError: "predicted", budget: "nvfp4", costKind: "latency", fp16Cost: 9216,
            frontier: [
                CompileReport.FrontierPoint(
                    cost: 2304, predictedError: 3e-3, latencyMACs: 2304, weightBytes: 81, choices: [evil: "nvfp4"]),
                CompileReport.FrontierPoint(
                    cost: 4608, predictedError: 3e-4, latencyMACs: 4608, weightBytes: 144, choices: [evil: "fp8"]),
            ], chosen: 0)
        let histogram = CompileReport.ValueHistogram(
            layer: evil, kind: "weights", tensor: "w<1>", format: "nvfp4", lower: -1, upper: 1, counts: [1, 0, 5, 2],
            grid: [-1, -0.5, 0, 0.5, 1], clip: nil, note: "note <b>")
        return CompileReport(
            model: "m<odel>.onnx", compiler: "npucc test", target: "npu-seed", options: ["precision": analysed ? "auto" : "fp8"],
            layers: [layer(evil, sensitivity: analysed ? candidates : nil), layer("pool", op: "MaxPool")],
            total: CompileReport.Total(
                simulatedCycles: 1360, rooflineCycles: 10.4, seconds: 1.36e-6, macs: 18432, weightBytes: 96),
            analysis: analysed ? analysis : nil, analysisNote: analysed ? nil : "compiled with --precision fp8: no analysis",
            histograms: analysed ? [histogram] : [])
    }

    func testNamesFromTheModelAreEscapedEverywhere() {
        let html = ReportPage.html(report(analysed: true))
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("<b>"))
        XCTAssertTrue(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;conv&quot;"))
        XCTAssertTrue(html.contains("m&lt;odel&gt;.onnx"))
        for id in ["plot-precision", "plot-latency", "plot-sensitivity", "plot-pareto", "hist-0"] {
            XCTAssertTrue(html.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(id)\""), id)
        }
        XCTAssertEqual(html.components(separatedBy: "<tr>").count - 1, 1 + 2)
    }

    func testWithoutAnalysisTheSectionsSaySo() {
        let html = ReportPage.html(report(analysed: false))
        XCTAssertFalse(html.contains("id=\"plot-sensitivity\""))
        XCTAssertFalse(html.contains("id=\"plot-pareto\""))
        XCTAssertEqual(html.components(separatedBy: "compiled with --precision fp8: no analysis").count - 1, 3)
        XCTAssertTrue(html.contains("id=\"plot-latency\"") && html.contains("id=\"plot-precision\""))
    }

    func testSameReportSameBytesAndJSONRoundTrips() throws {
        let r = report(analysed: true)
        XCTAssertEqual(ReportPage.html(r), ReportPage.html(r))
        let json = try ReportWriter.json(r)
        XCTAssertEqual(json, try ReportWriter.json(r))
        XCTAssertEqual(try JSONDecoder().decode(CompileReport.self, from: json), r)
    }

    func testScalesTickAtRoundValues() {
        let linear = PlotScale(.linear, covering: [0.3, 17])
        XCTAssertEqual(linear.ticks, [0, 5, 10, 15, 20])
        XCTAssertEqual(linear.fraction(10), 0.5)
        let log = PlotScale(.logarithmic, covering: [2e-4, 0, 0.03])
        XCTAssertEqual(log.ticks.map { (log10($0)).rounded() }, [-4, -3, -2, -1])
        XCTAssertEqual(log.fraction(1e-3), 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(log.fraction(0), 0)
    }

    func testNumbersReadTheSameEverywhere() {
        XCTAssertEqual(readableNumber(0.00031), "3.1e-4")
        XCTAssertEqual(readableNumber(21.36), "21.4")
        XCTAssertEqual(readableNumber(1500), "1500")
        XCTAssertEqual(readableNumber(2.5e7), "2.5e7")
        XCTAssertEqual(groupedNumber(84224), "84,224")
        XCTAssertEqual(groupedNumber(-1000), "-1,000")
        XCTAssertEqual(escapeMarkup("a\u{1}b"), "a\u{FFFD}b")
    }

    func testAnUnwritableDirectoryIsRefusedBeforeAnythingIsWritten() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("report-test-\(getpid())")
        try? FileManager.default.removeItem(at: base)
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        let file = base.appendingPathComponent("plain")
        try Data("x".utf8).write(to: file)
        XCTAssertThrowsError(try ReportWriter.write(report(analysed: false), to: file.appendingPathComponent("r").path)) {
            XCTAssertTrue("\($0)".contains("is not a directory"), "\($0)")
        }
        let dir = base.appendingPathComponent("a/b")
        try ReportWriter.write(report(analysed: true), to: dir.path)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(names, ["report.html", "report.json"])
    }
}

final class ChartGeometryTests: XCTestCase {
    /// The rects of an SVG with a hover title, as (height, title).
    private func bars(_ svg: String) -> [(Double, String)] {
        let pattern = try! NSRegularExpression(pattern: #"<rect [^>]*height="([0-9.]+)"[^>]*><title>([^<]*)</title>"#)
        return pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map { m in
            (Double(svg[Range(m.range(at: 1), in: svg)!])!, String(svg[Range(m.range(at: 2), in: svg)!]))
        }
    }

    func testLogBarsRiseOneStepPerDecade() {
        let chart = BarChart(
            id: "c", title: "t", categories: ["a", "b", "c"],
            series: [BarChart.Series("s", color: "#000", values: [1, 10, 100])],
            yLabel: "y", xLabel: "x")
        var log = chart
        log.scale = .logarithmic
        let heights = bars(log.svg()).map(\.0)
        XCTAssertEqual(heights.count, 3)
        // 1 sits on the axis floor (10^0), each decade adds the same height.
        XCTAssertEqual(heights[0], 0, accuracy: 0.05)
        XCTAssertEqual(heights[2], 2 * heights[1], accuracy: 0.1)
        let linear = bars(chart.svg()).map(\.0)
        XCTAssertEqual(linear[2], 10 * linear[1], accuracy: 0.6)
    }

    func testHistogramDrawsEveryNonEmptyBinAndTheGridWithinRange() {
        let h = Histogram(
            id: "h", title: "t", lower: -1, upper: 1, counts: [3, 0, 7, 1], grid: [-2, -1, 0, 0.5, 1, 2], clip: 0.75,
            xLabel: "x", color: "#000")
        let svg = h.svg()
        let drawn = bars(svg)
        XCTAssertEqual(drawn.map(\.1), ["[-1, -0.5): 3", "[0, 0.5): 7", "[0.5, 1): 1"])
        // Four grid values fall within [-1, 1]: a faint line and a tick each, and the legend's line.
        XCTAssertEqual(svg.components(separatedBy: "stroke=\"#c0392b\"").count - 1, 2 * 4 + 1)
        XCTAssertEqual(svg.components(separatedBy: "stroke-dasharray").count - 1, 2)  // ±clip
    }
}
