// report.html: one self-contained page (inline CSS and SVG, no script, nothing fetched):
// a summary, the per-layer table, then the charts. Every name from the model is escaped.

public enum ReportPage {
    public static func html(_ r: CompileReport) -> String {
        let title = "npucc report: \(r.model)"
        var body = ["<h1>\(escapeMarkup(title))</h1>", summary(r), "<h2>Layers</h2>", table(r)]
        let note = r.analysisNote ?? "No layer was analysed."
        body.append("<div class=\"plots\">")
        body.append(
            section("Precision along the network", id: "precision", ReportPlots.precision(r), missing: "No matrix layer."))
        body.append(section("Latency", id: "latency", ReportPlots.latency(r), missing: ""))
        body.append(section("Sensitivity", id: "sensitivity", ReportPlots.sensitivity(r), missing: note))
        body.append(section("Precision search", id: "pareto", ReportPlots.pareto(r), missing: note))
        body.append("</div>")
        body.append(histograms(r))
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escapeMarkup(title))</title>
            <style>\(style)</style>
            </head>
            <body>
            \(body.joined(separator: "\n"))
            </body>
            </html>

            """
    }

    private static let style = """
        body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}
        h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
        dl.summary{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0;font-size:13px}
        dl.summary dt{color:#555}dl.summary dd{margin:0}
        table{border-collapse:collapse;font-size:12px}
        th,td{padding:3px 7px;border-bottom:1px solid #e5e5e5;text-align:left;vertical-align:top}
        th{background:#f4f4f4;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
        .candidate{white-space:nowrap;margin-right:6px}.chosen{font-weight:bold}.note{color:#666;font-style:italic;font-size:13px}
        .plots{display:flex;flex-wrap:wrap;gap:8px 24px}.plots>section{flex:0 1 auto;min-width:min(640px,100%);max-width:100%}
        .scroll{overflow-x:auto}figure{margin:0;width:420px}figcaption{margin:0 8px}
        """

    private static func summary(_ r: CompileReport) -> String {
        var rows: [(String, String)] = [
            ("model", r.model), ("compiler", r.compiler), ("target", r.target),
            ("options", r.options.keys.sorted().map { "\($0)=\(r.options[$0]!)" }.joined(separator: " ")),
            (
                "latency",
                "\(groupedNumber(r.total.simulatedCycles)) cycles (\(readableNumber(r.total.seconds * 1e6, digits: 4)) µs); "
                    + "roofline bound \(groupedNumber(Int(r.total.rooflineCycles.rounded(.up)))) cycles"
            ),
            ("work", "\(groupedNumber(r.total.macs)) MACs; weights \(groupedNumber(r.total.weightBytes)) bytes"),
        ]
        if let a = r.analysis, a.frontier.indices.contains(a.chosen) {
            rows.append(
                (
                    "analysis",
                    "budget \(a.budget), \(a.samples) samples, \(a.outputError) errors; chosen predicted error "
                        + readableNumber(a.frontier[a.chosen].predictedError, digits: 4)
                ))
        }
        return "<dl class=\"summary\">" + rows.map { "<dt>\(escapeMarkup($0.0))</dt><dd>\(escapeMarkup($0.1))</dd>" }.joined()
            + "</dl>"
    }

    private static func table(_ r: CompileReport) -> String {
        let headers = [
            "layer", "op", "input shapes", "output shapes", "MACs", "parameters", "precision", "sparsity",
            "sensitivity (output error per candidate)", "weight SQNR (dB)", "predicted cycles (roofline)",
            "simulated cycles",
        ]
        var out = ["<div class=\"scroll\"><table id=\"layers\">", "<thead><tr>"]
        out.append(headers.map { "<th>\(escapeMarkup($0))</th>" }.joined() + "</tr></thead><tbody>")
        for l in r.layers {
            let cells = [
                text(l.name), text(l.op), text(shapes(l.inputShapes)), text(shapes(l.outputShapes)),
                number(groupedNumber(l.macs)), number(groupedNumber(l.parameters)), text(l.precision), text(l.sparsity),
                "<td>\(sensitivity(l, analysed: r.analysis != nil))</td>",
                number(l.weightSQNR.map { readableNumber($0, digits: 4) } ?? "-"),
                number(readableNumber(l.rooflineCycles, digits: 4)), number(groupedNumber(l.simulatedCycles)),
            ]
            out.append("<tr>" + cells.joined() + "</tr>")
        }
        out.append("</tbody></table></div>")
        return out.joined(separator: "\n")
    }

    private static func sensitivity(_ l: CompileReport.Layer, analysed: Bool) -> String {
        guard let candidates = l.sensitivity else { return analysed || l.bitsPerWeight == nil ? "-" : "not analysed" }
        return candidates.map { c in
            let text = escapeMarkup("\(c.candidate) \(readableNumber(c.error))")
            return "<span class=\"candidate\(c.chosen ? " chosen" : "")\">\(text)</span>"
        }.joined(separator: " ")
    }

    private static func shapes(_ s: [[Int]]) -> String {
        s.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: " ")
    }

    private static func text(_ s: String) -> String { "<td>\(escapeMarkup(s))</td>" }
    private static func number(_ s: String) -> String { "<td class=\"num\">\(escapeMarkup(s))</td>" }

    private static func section(_ title: String, id: String, _ svg: String?, missing: String) -> String {
        "<section><h2 id=\"\(id)\">\(escapeMarkup(title))</h2>\n"
            + (svg.map { "<div class=\"scroll\">\($0)</div>" } ?? "<p class=\"note\">\(escapeMarkup(missing))</p>")
            + "</section>"
    }

    private static func histograms(_ r: CompileReport) -> String {
        var out = "<h2 id=\"histograms\">Values of the most sensitive layers</h2>\n"
        guard !r.histograms.isEmpty else {
            return out + "<p class=\"note\">\(escapeMarkup(r.analysisNote ?? "No layer was analysed."))</p>"
        }
        out +=
            "<p class=\"note\">Red lines: the values the layer's format represents at its largest scale "
            + "(the channel or block holding the largest magnitude; smaller scales give finer grids).</p>\n"
        out += "<div class=\"plots\">"
        for (i, h) in r.histograms.enumerated() {
            out +=
                "<figure>\(ReportPlots.histogram(h, index: i))"
                + "<figcaption class=\"note\">\(escapeMarkup(h.note))</figcaption></figure>"
        }
        return out + "</div>"
    }
}
