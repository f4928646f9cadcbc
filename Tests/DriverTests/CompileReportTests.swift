// The compile report's data for the digits sample: its rows are `npucc profile`'s, its
// weight SQNRs are the compiled weights' against the folded float ones, and each histogram's
// grid holds exactly the values the quantizer gave the channel or block at the largest scale.
import Bundle
import Driver
import Formats
import Foundation
import IR
import Passes
import Reference
import Report
import Target
import TestSupport
import XCTest

final class CompileReportTests: XCTestCase {
    private let sample = packageRoot().appendingPathComponent("samples/digits_cnn.onnx").path
    private let calib = packageRoot().appendingPathComponent("samples/digits_calib.npz").path

    private func compile(_ precision: String, budget: String = "nvfp4") throws -> (CompiledModel, CompileReport) {
        var loaded = try Frontend.load(path: sample, inputShapes: ["input": [1, 1, 8, 8]])
        let original = loaded
        var options = CompileOptions()
        options.precision = precision
        options.sparsity = precision == "auto" ? .auto : .none
        options.calibPath = calib
        options.budget = budget
        let compiled = try Compilation.compile(
            &loaded, options: options, array: try Compilation.arrayShape(try TargetDescription.default))
        return (compiled, try CompileReport(compiled, original: original, options: options, targetPath: nil))
    }

    func testRowsAreTheProfilesRows() throws {
        let (compiled, report) = try compile("auto")
        let file = try BundleReader.parse(try compiled.bundle().encoded(), file: "digits")
        let profile = try BundleProfile.profile(file, bundlePath: "digits", targetPath: nil)
        XCTAssertEqual(report.layers.map(\.name), profile.layers.map(\.name))
        XCTAssertEqual(report.layers.map(\.simulatedCycles), profile.layers.map(\.cycles))
        XCTAssertEqual(report.layers.map(\.rooflineCycles), profile.layers.map(\.rooflineCycles))
        XCTAssertEqual(report.layers.map(\.candidate), profile.layers.map(\.precision))
        XCTAssertEqual(report.total.simulatedCycles, profile.total.cycles)
        XCTAssertEqual(report.layers.map(\.parameters), [16 * 9 + 16, 0, 32 * 16 * 9 + 32, 0, 128 * 10 + 10])
        // The table's weight SQNR of the chosen candidate is the analysis's for it.
        for l in report.layers where l.sensitivity != nil {
            let chosen = try XCTUnwrap(l.sensitivity?.first { $0.chosen })
            XCTAssertEqual(l.candidate, chosen.candidate)
            // fp16 is the reference the analysis measures against: its row has no SQNR.
            if chosen.candidate == "fp16" {
                XCTAssertNil(chosen.weightSQNR)
                continue
            }
            XCTAssertEqual(try XCTUnwrap(l.weightSQNR), try XCTUnwrap(chosen.weightSQNR), accuracy: 1e-9, l.name)
        }
    }

    func testGridsAreTheQuantizersValues() throws {
        var formats: Set<String> = []
        for budget in ["nvfp4", "fp8"] {
            let (compiled, report) = try compile("auto", budget: budget)
            let weights = report.histograms.filter { $0.kind == "weights" }
            XCTAssertEqual(weights.count, 3)
            // fp16's grid is finer than the bins: none is drawn.
            for h in weights where h.format == "fp16" { XCTAssertEqual(h.grid, []) }
            formats.formUnion(weights.map(\.format))
            try checkGrids(compiled, weights.filter { $0.format != "fp16" })
        }
        XCTAssertTrue(formats.isSuperset(of: ["fp8", "nvfp4"]), "\(formats)")
    }

    private func checkGrids(_ compiled: CompiledModel, _ weights: [CompileReport.ValueHistogram]) throws {
        for h in weights {
            let node = try XCTUnwrap(compiled.graph.nodes.first { $0.name == h.layer })
            let q = try XCTUnwrap(LayerWeight(node, compiled.graph))
            let values = q.matrix()
            // The largest rounded magnitude is the amax itself; its channel (fp8) or block of 16
            // (nvfp4) was rounded at the largest scale, onto the grid.
            let top = try XCTUnwrap(values.indices.max { values[$0].magnitude < values[$1].magnitude })
            let row = top / q.columns, rowEnd = (row + 1) * q.columns
            // Blocks of 16 run along each row.
            let block = row * q.columns + (top % q.columns) / 16 * 16
            let span = h.format == "fp8" ? row * q.columns..<rowEnd : block..<min(block + 16, rowEnd)
            let grid = Set(h.grid.map { Float($0) })
            XCTAssertEqual(grid.count, h.grid.count)
            for i in span where Double(values[i]) >= h.lower && Double(values[i]) <= h.upper {
                XCTAssertTrue(grid.contains(values[i]), "\(h.layer) \(h.format): \(values[i]) is not on the grid")
            }
            if h.format == "nvfp4" { XCTAssertLessThanOrEqual(h.grid.count, 15) }
        }
    }

    func testAFixedPrecisionHasNoAnalysis() throws {
        let (_, report) = try compile("fp8")
        XCTAssertNil(report.analysis)
        XCTAssertEqual(report.histograms, [])
        XCTAssertTrue(report.analysisNote?.contains("--precision fp8") ?? false)
        XCTAssertEqual(report.layers.compactMap(\.weightSQNR).count, 3)
        XCTAssertTrue(report.layers.allSatisfy { $0.sensitivity == nil })
    }
}
