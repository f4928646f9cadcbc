// npucc profile on the compiled digits sample: the layers' cycles add up to the latency,
// each lowered node's instructions are recorded in program order, nvfp4 with 2:4 runs faster
// than fp16, and a target whose tiles are not the bundle's is refused.
import Driver
import Foundation
import Target
import TestSupport
import XCTest

final class ProfileTests: XCTestCase {
    private let sample = packageRoot().appendingPathComponent("samples/digits_cnn.onnx").path
    private let calib = packageRoot().appendingPathComponent("samples/digits_calib.npz").path
    private let folder = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-profile-\(getpid())")

    override func setUpWithError() throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    /// The digits sample compiled at `precision`, written as a bundle; its path and program length.
    private func bundle(_ precision: String, _ sparsity: CompileOptions.Sparsity) throws -> (String, Int) {
        var loaded = try Frontend.load(path: sample, inputShapes: ["input": [1, 1, 8, 8]])
        var options = CompileOptions()
        options.precision = precision
        options.sparsity = sparsity
        options.calibPath = calib
        if sparsity == .twoFour { options.pruning = .magnitude }
        let compiled = try Compilation.compile(
            &loaded, options: options, array: try Compilation.arrayShape(try TargetDescription.default))
        let path = folder.appendingPathComponent("\(precision)-\(sparsity == .none ? "dense" : "24").npub").path
        try Data(try compiled.bundle().encoded()).write(to: URL(fileURLWithPath: path))
        return (path, compiled.lowered.program.instructions.count)
    }

    func testTheLayersAddUpToTheLatency() throws {
        let (path, instructions) = try bundle("fp16", .none)
        let p = try BundleProfile.profile(bundlePath: path, targetPath: nil)
        XCTAssertEqual(p.layers.map(\.name), ["conv1", "pool1", "conv2", "pool2", "fc"])
        XCTAssertEqual(p.layers.map(\.cycles).reduce(0, +), p.total.cycles)
        XCTAssertEqual(p.layers.map(\.instructions).reduce(0, +), instructions - 1)  // all but the halt
        XCTAssertEqual(p.layers.map(\.macs), [16 * 64 * 9, 0, 32 * 16 * 16 * 9, 0, 10 * 128])
        XCTAssertEqual(p.total.macs, 84_224)
        XCTAssertEqual(p.layers.last?.end, p.total.cycles)
        for l in p.layers {
            XCTAssertGreaterThan(l.cycles, 0, l.name)
            XCTAssertGreaterThanOrEqual(Double(l.cycles), l.rooflineCycles, l.name)
            XCTAssertGreaterThan((l.bytes["dram"] ?? 0) + (l.bytes["l3"] ?? 0), 0, l.name)
        }
        // The activations between the layers stay in L3; the graph's input and output are in DRAM.
        XCTAssertEqual(p.layers[1].bytes["dram"], 0)
        XCTAssertEqual(p.layers[3].bytes["dram"], 0)
        XCTAssertGreaterThan(p.layers[0].bytes["dram"] ?? 0, 0)
        // fc: 1,280 MACs at fp16 over 25,600 a cycle (0.05) against its bytes: in DRAM its
        // weights 2,560, bias 40 and output 40 at 1,000 a cycle (2.64); in L3 its input 512 at
        // 2,048 a cycle (0.25).
        XCTAssertEqual(p.layers[4].rooflineCycles, 2.64, accuracy: 1e-9)
        XCTAssertEqual(p.layers[4].bound, "memory")
        XCTAssertEqual(p.total.seconds, Double(p.total.cycles) / 1e9)
        XCTAssertEqual(p.total.effectiveTOPS, 2 * 84_224 / p.total.seconds / 1e12, accuracy: 1e-12)
        // The same bundle, the same profile.
        let again = try BundleProfile.profile(bundlePath: path, targetPath: nil)
        XCTAssertEqual(try BundleProfile.json(again), try BundleProfile.json(p))
    }

    func testNVFP4With24IsFasterThanFP16() throws {
        let fp16 = try BundleProfile.profile(bundlePath: try bundle("fp16", .none).0, targetPath: nil)
        let fast = try BundleProfile.profile(bundlePath: try bundle("nvfp4", .twoFour).0, targetPath: nil)
        XCTAssertEqual(fast.layers.map(\.precision), ["nvfp4", "-", "nvfp4+2:4", "-", "nvfp4+2:4"])
        XCTAssertLessThan(fast.total.cycles, fp16.total.cycles)
        XCTAssertLessThan(fast.layers[2].cycles, fp16.layers[2].cycles)
    }

    func testATargetWithOtherTilesIsRefused() throws {
        let (path, _) = try bundle("fp16", .none)
        var t = try TargetDescription.default
        t.compute.clusters = 2
        let file = folder.appendingPathComponent("two-clusters.json")
        try t.json().write(to: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BundleProfile.profile(bundlePath: path, targetPath: file.path)) {
            XCTAssertTrue("\($0)".contains("2 x 16 tiles"), "\($0)")
        }
        // The same tiles with a faster DRAM: accepted, and no slower.
        t = try TargetDescription.default
        t.memories[t.memories.count - 1].bandwidthBytesPerCycle *= 4
        try t.json().write(to: file, atomically: true, encoding: .utf8)
        let faster = try BundleProfile.profile(bundlePath: path, targetPath: file.path)
        XCTAssertLessThanOrEqual(
            faster.total.cycles, try BundleProfile.profile(bundlePath: path, targetPath: nil).total.cycles)
    }
}
