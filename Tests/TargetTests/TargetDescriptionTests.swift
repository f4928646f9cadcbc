// The default target: it loads from the module's resources, holds the seed chapter's
// numbers, derives the right totals and peaks, and round-trips through its JSON form.
import Foundation
import Target
import XCTest

final class TargetDescriptionTests: XCTestCase {
    func testDefaultTargetIsTheSeedNPU() throws {
        let t = try TargetDescription.default
        XCTAssertEqual(t.name, "npu-seed")
        XCTAssertEqual(t.clockHz, 1_000_000_000)
        XCTAssertEqual(t.compute.clusters, 4)
        XCTAssertEqual(t.compute.tilesPerCluster, 16)
        XCTAssertEqual(t.compute.macArray, MACArray(rows: 20, columns: 20))
        XCTAssertEqual(t.compute.macRate, MACRates(fp16: 1, fp8: 2, nvfp4: 4))
        XCTAssertEqual(t.compute.sparse24Speedup, 2)
        XCTAssertEqual(t.compute.accumulation, Accumulation(format: .fp32, blockProducts: 1))
        XCTAssertEqual(t.memories.map(\.name), ["sram", "l2", "l3", "dram"])
        XCTAssertEqual(t.memories.map(\.scope), [.tile, .cluster, .global, .global])
        XCTAssertEqual(t.memory(named: "sram")?.sizeBytes, 32 << 10)
        XCTAssertEqual(t.memory(named: "l2")?.sizeBytes, 512 << 10)
        XCTAssertEqual(t.memory(named: "l3")?.sizeBytes, 8 << 20)
        XCTAssertEqual(t.memory(named: "dram")?.bandwidthBytesPerCycle, 1000)
        XCTAssertEqual(t.modeCosts, ModeCosts(modeSwitchCycles: 3, dataRearrangementCycles: 2, pipelineFlushCycles: 10))
        XCTAssertEqual(t.conversionCosts, ConversionCosts(nvfp4ToFP8Cycles: 1, fp8ToNVFP4Cycles: 2))
        XCTAssertEqual(t.alignment, Alignment(weightBytes: 64, activationBytes: 64))
        XCTAssertEqual(t.vector.lanesPerTile, 32)
    }

    func testDerivedValues() throws {
        let t = try TargetDescription.default
        XCTAssertEqual(t.tileCount, 64)
        XCTAssertEqual(t.macsPerTile, 400)
        XCTAssertEqual(t.totalMACs, 25_600)
        XCTAssertEqual(t.peakMACsPerCycle(.fp16), 25_600)
        XCTAssertEqual(t.peakMACsPerCycle(.fp8), 51_200)
        XCTAssertEqual(t.peakMACsPerCycle(.nvfp4), 102_400)
        XCTAssertEqual(t.peakMACsPerCycle(.nvfp4, sparse24: true), 204_800)
        XCTAssertEqual(t.peakTOPS(.fp16), 51.2, accuracy: 1e-9)
        XCTAssertEqual(t.peakTOPS(.fp8, sparse24: true), 204.8, accuracy: 1e-9)
        XCTAssertEqual(t.peakTOPS(.nvfp4, sparse24: true), 409.6, accuracy: 1e-9)
        XCTAssertEqual(t.tileMemoryBytes, 32_768)
        XCTAssertEqual(t.tileMemory?.name, "sram")
        XCTAssertEqual(t.backingMemory?.name, "dram")
        let sram = try XCTUnwrap(t.memory(named: "sram")), l2 = try XCTUnwrap(t.memory(named: "l2"))
        let dram = try XCTUnwrap(t.memory(named: "dram"))
        XCTAssertEqual(t.instances(of: sram), 64)
        XCTAssertEqual(t.instances(of: l2), 4)
        XCTAssertEqual(t.instances(of: dram), 1)
        XCTAssertEqual(t.totalBytes(of: sram), 2 << 20)
        XCTAssertEqual(t.totalBytes(of: l2), 2 << 20)
        XCTAssertEqual(t.aggregateBandwidthBytesPerCycle(of: sram), 8192)
        XCTAssertEqual(t.aggregateBandwidthBytesPerSecond(of: dram), 1e12)
        XCTAssertEqual(t.ridgeMACsPerByte(.fp16), 25.6, accuracy: 1e-9)
        XCTAssertEqual(t.totalVectorLanes, 2048)
        XCTAssertEqual(t.macArrayWorkingSetBytes, 832 + 64 + 128)
        XCTAssertEqual(t.modeCosts.switchTotalCycles, 15)
        XCTAssertNil(t.memory(named: "l4"))
    }

    func testJSONFormRoundTrips() throws {
        let t = try TargetDescription.default
        let text = t.json()
        XCTAssertEqual(try TargetDescription.decode(Data(text.utf8), file: "round-trip.json"), t)
        // The built-in target writes back byte for byte as shipped.
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/Target/Resources/npu-seed.json")
        XCTAssertEqual(text, try String(contentsOf: shipped, encoding: .utf8))
        // Strings are escaped, fractional rates kept.
        var odd = t
        odd.description = "quote \" backslash \\ newline \n tab \t bell \u{7}"
        odd.compute.macRate.fp8 = 1.5
        odd.compute.sparse24Speedup = 1.25
        XCTAssertEqual(try TargetDescription.decode(Data(odd.json().utf8), file: "odd.json"), odd)
    }

    func testLoadFromPathAndDescriptionIsOptional() throws {
        var t = try TargetDescription.default
        t.description = nil
        t.name = "small"
        t.compute.clusters = 1
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-target-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try t.json().write(to: url, atomically: true, encoding: .utf8)
        let loaded = try TargetDescription.load(path: url.path)
        XCTAssertEqual(loaded, t)
        XCTAssertFalse(loaded.json().contains("\"description\""))
        XCTAssertEqual(loaded.totalMACs, 6_400)
    }

    func testTargetErrorRendering() {
        XCTAssertEqual(TargetError(file: "t.json", field: "compute.clusters", "must be positive (got 0)").description,
                       "t.json: compute.clusters: must be positive (got 0)")
        XCTAssertEqual(TargetError(file: "t.json", field: "", "no such file").description, "t.json: no such file")
    }
}
