// ConvTranspose lowered as the convolution it equals (its rounded input spread out by DMA
// into a zeroed buffer, the flipped weights packed) and run by the simulator: the
// fake-quant interpreter's output bit for bit, over two images, with groups, strides,
// pads (cropping when beyond the kernel), output_padding and dilation, its image in DRAM or
// in L3.
import Backend
import Formats
import IR
import TestSupport
import XCTest

final class ConvTransposeLayerTests: XCTestCase {
    private func check(
        c: Int, m: Int, group: Int, kernel: Int, attributes: [String: Attribute], format: PrecisionFormat, sparse: Bool,
        l3Bytes: Int = 0
    ) throws {
        var resources = TileResources(
            sramBytes: 16384, arrayRows: 20, arrayColumns: 20,
            rates: [.fp16: 1, .fp8: 2, .nvfp4: 4], clusters: 2, tilesPerCluster: 2)
        resources.l3Bytes = l3Bytes
        var rng = SeededRandom(seed: 72)
        let (h, w) = (4, 5)
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2), .known(c), .known(h), .known(w)])
        let weights = (0..<(c * m / group * kernel * kernel)).map { _ in Float.random(in: -1...1, using: &rng) }
        b.constant("w", Tensor(weights, shape: [c, m / group, kernel, kernel]))
        b.constant("bias", Tensor((0..<m).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [m]))
        var all = attributes
        all["group"] = .int(group)
        b.node("ConvTranspose", ["x", "w", "bias"], all, outputs: ["t"], name: "up")
        b.node("Relu", ["t"], outputs: ["y"])
        b.output("y")
        let x = Tensor((0..<(2 * c * h * w)).map { _ in Float.random(in: -2...2, using: &rng) }, shape: [2, c, h, w])
        let (g, _, _) = try quantizedReference(b.graph, x: x, format: format, sparse: sparse)
        XCTAssertEqual(g.nodes.map(\.op), ["ConvTranspose"])  // the Relu fused
        try assertSimulatedEqualsInterpreted(g, ["x": x], resources: resources)
    }

    func testStrideTwoUpsamplingWithPadsAndOutputPadding() throws {
        for format in [PrecisionFormat.fp16, .fp8, .nvfp4] {
            try check(
                c: 8, m: 12, group: 1, kernel: 3,
                attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 0, 1, 2]), "output_padding": .ints([1, 0])],
                format: format, sparse: format != .fp8)
        }
    }

    func testGroupedDilatedAndUnevenlyStrided() throws {
        try check(
            c: 8, m: 6, group: 2, kernel: 3,
            attributes: ["strides": .ints([1, 3]), "dilations": .ints([2, 1]), "pads": .ints([2, 1, 0, 1])],
            format: .nvfp4, sparse: true)
    }

    /// Pads beyond dilation·(k − 1) crop the spread input: its first rows and last columns.
    func testPadsBeyondTheKernelCropTheSpreadInput() throws {
        for format in [PrecisionFormat.fp16, .nvfp4] {
            try check(
                c: 8, m: 4, group: 1, kernel: 3, attributes: ["strides": .ints([2, 2]), "pads": .ints([3, 1, 1, 5])],
                format: format, sparse: false)
        }
    }

    func testTheSpreadImageKeptInL3() throws {
        try check(
            c: 16, m: 8, group: 1, kernel: 4, attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])],
            format: .fp8, sparse: true, l3Bytes: 1 << 16)
    }
}
