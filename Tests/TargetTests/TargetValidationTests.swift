// Every way a target file can be wrong, each refused with the file, the field's JSON path
// and what is wrong. Cases edit the default target's text, one change each.
import Foundation
import Target
import XCTest

final class TargetValidationTests: XCTestCase {
    /// The default target file as shipped.
    private let seed: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/Target/Resources/npu-seed.json")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()

    /// Decodes the seed with `old` replaced by `new` (which must occur exactly once) and
    /// checks the error names `field` and says `phrase`.
    private func assertRefused(_ old: String, _ new: String, field: String, _ phrase: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(seed.components(separatedBy: old).count, 2, "\(old) must occur once", file: file, line: line)
        assertRefused(text: seed.replacingOccurrences(of: old, with: new), field: field, phrase, file: file, line: line)
    }

    private func assertRefused(text: String, field: String, _ phrase: String, file: StaticString = #filePath,
                               line: UInt = #line) {
        do {
            _ = try TargetDescription.decode(Data(text.utf8), file: "broken.json")
            XCTFail("accepted; expected an error at \(field)", file: file, line: line)
        } catch let e as TargetError {
            XCTAssertEqual(e.file, "broken.json", file: file, line: line)
            XCTAssertEqual(e.field, field, e.description, file: file, line: line)
            XCTAssertTrue(e.message.contains(phrase), e.description, file: file, line: line)
            XCTAssertTrue(e.description.hasPrefix(field.isEmpty ? "broken.json: " : "broken.json: \(field): "),
                          e.description, file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    func testSeedDecodes() throws {
        XCTAssertFalse(seed.isEmpty)
        XCTAssertEqual(try TargetDescription.decode(Data(seed.utf8), file: "npu-seed.json").totalMACs, 25_600)
    }

    func testUnknownFields() {
        assertRefused("\"clock_hz\"", "\"colour\": \"red\", \"clock_hz\"", field: "colour", "unknown field")
        assertRefused("{ \"name\": \"l2\", \"scope\": \"cluster\", \"size_bytes\"",
                      "{ \"name\": \"l2\", \"scope\": \"cluster\", \"size\"", field: "memories[1].size", "unknown field")
        assertRefused("\"rows\": 20,", "\"rows\": 20, \"depth\": 2,", field: "compute.mac_array.depth",
                      "expected rows, columns")
        assertRefused("\"fp8\": 2,", "\"fp8\": 2, \"int8\": 2,", field: "compute.mac_rate.int8", "unknown field")
    }

    func testMissingFields() {
        assertRefused("\"clock_hz\": 1000000000,", "", field: "clock_hz", "missing")
        assertRefused("\"rows\": 20, ", "", field: "compute.mac_array.rows", "missing")
        assertRefused("\"latency_cycles\": 48 ", "\"l\": 0", field: "memories[2].l", "unknown field")
        assertRefused(", \"latency_cycles\": 48 ", "", field: "memories[2].latency_cycles", "missing")
        assertRefused("\"alignment\": { \"weight_bytes\": 64, ", "\"alignment\": { ", field: "alignment.weight_bytes",
                      "missing")
    }

    func testWrongTypesAndValues() {
        assertRefused("\"clusters\": 4", "\"clusters\": \"4\"", field: "compute.clusters", "expected an integer")
        assertRefused("\"tiles_per_cluster\": 16", "\"tiles_per_cluster\": 16.5", field: "compute.tiles_per_cluster",
                      "expected an integer (got 16.5)")
        assertRefused("\"name\": \"npu-seed\"", "\"name\": null", field: "name", "null")
        assertRefused("\"scope\": \"cluster\"", "\"scope\": \"board\"", field: "memories[1].scope",
                      "expected one of tile, cluster, global")
        assertRefused("\"format\": \"fp32\"", "\"format\": \"int32\"", field: "compute.accumulation.format",
                      "unknown value \"int32\"")
        assertRefused("\"fp8\": 2,", "\"fp8\": \"2x\",", field: "compute.mac_rate.fp8", "expected a number")
        assertRefused("\"memories\": [", "\"memories\": {\"x\": 1}, \"unused\": [", field: "unused", "unknown field")
        assertRefused("\"version\": 1", "\"version\": 2", field: "version", "version 2 is not supported")
    }

    func testNotJSON() {
        assertRefused(text: "{", field: "", "not valid JSON")
        assertRefused("\"clusters\": 4,", "\"clusters\": 4,,", field: "", "not valid JSON: syntax error at line 7, column")
        assertRefused(text: "", field: "", "not valid JSON")
        assertRefused(text: "[1, 2]", field: "", "expected an object")
    }

    /// The simulator and the interpreter add each product in turn in float32: a target asking
    /// for another accumulation is refused, not run as the default one.
    func testAccumulationOtherThanTheOneImplemented() {
        assertRefused("\"format\": \"fp32\"", "\"format\": \"fp16\"", field: "compute.accumulation.format",
                      "must be fp32: bundles and the fake-quantized interpreter accumulate in float32")
        for blocks in [0, 16, 32] {
            assertRefused("\"block_products\": 1", "\"block_products\": \(blocks)",
                          field: "compute.accumulation.block_products",
                          "must be 1: each product joins the running sum on its own, in increasing reduction index")
        }
    }

    func testNonPositiveSizesAndRates() {
        assertRefused("\"clock_hz\": 1000000000", "\"clock_hz\": 0", field: "clock_hz", "must be positive (got 0)")
        assertRefused("\"clusters\": 4", "\"clusters\": 0", field: "compute.clusters", "must be positive")
        assertRefused("\"columns\": 20", "\"columns\": -20", field: "compute.mac_array.columns", "must be positive (got -20)")
        assertRefused(
            "\"nvfp4\": 4", "\"nvfp4\": 0", field: "compute.mac_rate.nvfp4", "must be at least 1/65536 (got 0)")
        // So small a rate made a product's cycles infinite.
        assertRefused(
            "\"nvfp4\": 4", "\"nvfp4\": 1e-300", field: "compute.mac_rate.nvfp4", "must be at least 1/65536 (got 1e-300)")
        assertRefused("\"size_bytes\": 8388608", "\"size_bytes\": 0", field: "memories[2].size_bytes", "must be positive")
        assertRefused("\"bandwidth_bytes_per_cycle\": 1000", "\"bandwidth_bytes_per_cycle\": -1",
                      field: "memories[3].bandwidth_bytes_per_cycle", "must be positive")
        assertRefused("\"latency_cycles\": 2 ", "\"latency_cycles\": 0 ", field: "memories[0].latency_cycles",
                      "must be positive")
        assertRefused("\"queues_per_tile\": 2", "\"queues_per_tile\": 0", field: "dma.queues_per_tile", "must be positive")
        assertRefused("\"lanes_per_tile\": 32", "\"lanes_per_tile\": 0", field: "vector.lanes_per_tile", "must be positive")
        assertRefused("\"mode_switch_cycles\": 3", "\"mode_switch_cycles\": -1", field: "mode_costs.mode_switch_cycles",
                      "must not be negative")
        assertRefused("\"fp8_to_nvfp4_cycles\": 2", "\"fp8_to_nvfp4_cycles\": -2",
                      field: "conversion_costs.fp8_to_nvfp4_cycles", "must not be negative")
        assertRefused("\"name\": \"npu-seed\"", "\"name\": \" \"", field: "name", "must not be empty")
    }

    func testRatesAndSparsity() {
        assertRefused("\"fp16\": 1", "\"fp16\": 2", field: "compute.mac_rate.fp16", "must be 1")
        assertRefused("\"sparse_2_4_speedup\": 2", "\"sparse_2_4_speedup\": 3", field: "compute.sparse_2_4_speedup",
                      "between 1 and 2")
        assertRefused("\"sparse_2_4_speedup\": 2", "\"sparse_2_4_speedup\": 0.5", field: "compute.sparse_2_4_speedup",
                      "(got 0.5)")
    }

    func testMemoriesOutOfOrder() {
        assertRefused("\"size_bytes\": 8388608", "\"size_bytes\": 262144", field: "memories[2].size_bytes",
                      "l3 (262144 bytes) is smaller than the nearer l2 (524288 bytes)")
        let swapped = seed.replacingOccurrences(of: "\"scope\": \"cluster\"", with: "\"scope\": \"global\"")
            .replacingOccurrences(of: "\"name\": \"l3\", \"scope\": \"global\"", with: "\"name\": \"l3\", \"scope\": \"cluster\"")
        assertRefused(text: swapped, field: "memories[2].scope", "l3 is per cluster but the nearer l2 is global")
        assertRefused("\"name\": \"sram\", \"scope\": \"tile\"", "\"name\": \"sram\", \"scope\": \"cluster\"",
                      field: "memories[0].scope", "must be per tile")
        assertRefused("\"name\": \"dram\", \"scope\": \"global\"", "\"name\": \"dram\", \"scope\": \"cluster\"",
                      field: "memories[3].scope", "l3 is global")
        let onlyTile = seed.replacingOccurrences(of: #"\{ "name": "l2".*\n.*\n.*\n"#, with: "", options: .regularExpression)
        assertRefused(text: onlyTile.replacingOccurrences(of: "\"latency_cycles\": 2 },", with: "\"latency_cycles\": 2 }"),
                      field: "memories[0].scope", "must be global")
        let start = seed.range(of: "\"memories\": [")!.upperBound, end = seed.range(of: "],\n  \"dma\"")!.lowerBound
        assertRefused(text: seed.replacingCharacters(in: start..<end, with: ""), field: "memories", "at least one")
        assertRefused("\"name\": \"l3\"", "\"name\": \"l2\"", field: "memories[2].name", "\"l2\" is listed twice")
        assertRefused("\"name\": \"l3\"", "\"name\": \"L3\"", field: "memories[2].name", "not a memory name")
    }

    func testAlignmentAndFit() {
        assertRefused("\"weight_bytes\": 64", "\"weight_bytes\": 48", field: "alignment.weight_bytes", "power of two")
        assertRefused("\"activation_bytes\": 64", "\"activation_bytes\": 0", field: "alignment.activation_bytes",
                      "power of two")
        assertRefused("\"size_bytes\": 32768", "\"size_bytes\": 32800", field: "memories[0].size_bytes",
                      "not a multiple of the 64-byte alignment")
        assertRefused("\"rows\": 20, \"columns\": 20", "\"rows\": 128, \"columns\": 128", field: "compute.mac_array",
                      "a 128 x 128 array needs 33536 bytes of tile memory")
    }

    func testMissingFileAndLoadErrors() {
        XCTAssertThrowsError(try TargetDescription.load(path: "/nonexistent/t.json")) { error in
            XCTAssertEqual((error as? TargetError)?.description, "/nonexistent/t.json: no such file")
        }
    }
}
