// The Gram matrix of a 3x3, stride-1, pad-1 convolution's windows from the input's shifted
// products equals the one im2col's windows give (InputGram), for images of every size from
// one pixel up, several images at once, and only where the shape qualifies.
import IR
import Reference
import TestSupport
import XCTest

final class ShiftedGramTests: XCTestCase {
    private func conv(_ attributes: [String: Attribute]) -> Node {
        Node(op: "Conv", domain: "", name: "conv", inputs: ["x", "w"], outputs: ["y"], attributes: attributes)
    }

    private let same: [String: Attribute] = ["pads": .ints([1, 1, 1, 1]), "kernel_shape": .ints([3, 3])]

    func testShiftedProductsGiveTheWindowsGramMatrix() throws {
        var rng = SeededRandom(seed: 31)
        let c = ShiftedGram.minimumChannels
        for (n, h, w) in [(1, 1, 1), (2, 1, 4), (1, 2, 3), (2, 5, 4), (1, 7, 7)] {
            let x = Tensor((0..<n * c * h * w).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [n, c, h, w])
            let node = conv(same), weight = [8, c, 3, 3], k = 9 * c
            XCTAssertTrue(ShiftedGram.applies(node, input: x.shape, weightShape: weight))
            var expected = [Float](repeating: 0, count: k * k)
            let vectors = try expected.withUnsafeMutableBufferPointer {
                try InputGram.accumulate(node, input: x, weightShape: weight, into: $0.baseAddress!)
            }
            var acc = [Float](repeating: 0, count: ShiftedGram.accumulatorSize(channels: c))
            // Two calls, the images split between them, sum as one.
            let halves = [Array(x.floats()[..<(c * h * w)]), Array(x.floats()[(c * h * w)...])].filter { !$0.isEmpty }
            var added = 0
            for part in halves {
                added += acc.withUnsafeMutableBufferPointer {
                    ShiftedGram.accumulate(Tensor(part, shape: [part.count / (c * h * w), c, h, w]), into: $0.baseAddress!)
                }
            }
            XCTAssertEqual(added, vectors)
            var got = [Float](repeating: 0, count: k * k)
            acc.withUnsafeBufferPointer { a in
                got.withUnsafeMutableBufferPointer { ShiftedGram.assemble(a.baseAddress!, channels: c, into: $0.baseAddress!) }
            }
            let scale = expected.map(\.magnitude).max() ?? 1
            var worst: Float = 0
            for i in 0..<k {
                for j in 0..<k {
                    // The upper triangle is filled, the lower left alone.
                    if j < i { XCTAssertEqual(got[i * k + j], 0); continue }
                    worst = max(worst, abs(got[i * k + j] - expected[i * k + j]))
                }
            }
            XCTAssertLessThanOrEqual(worst, 1e-5 * scale, "\(n)x\(c)x\(h)x\(w)")
        }
    }

    func testOnlySameSizedThreeByThreeConvolutionsQualify() {
        let c = ShiftedGram.minimumChannels, shape = [1, c, 6, 6], weight = [4, c, 3, 3]
        XCTAssertTrue(ShiftedGram.applies(conv(same), input: shape, weightShape: weight))
        var strided = same
        strided["strides"] = .ints([2, 2])
        var dilated = same
        dilated["dilations"] = .ints([2, 2])
        var grouped = same
        grouped["group"] = .int(2)
        for attributes in [strided, dilated, grouped, ["pads": .ints([0, 0, 0, 0])], ["pads": .ints([1, 1, 0, 0])]] {
            XCTAssertFalse(ShiftedGram.applies(conv(attributes), input: shape, weightShape: weight), "\(attributes)")
        }
        XCTAssertFalse(ShiftedGram.applies(conv(same), input: shape, weightShape: [4, c, 5, 5]))
        XCTAssertFalse(ShiftedGram.applies(conv(same), input: [1, c - 1, 6, 6], weightShape: [4, c - 1, 3, 3]))
        XCTAssertFalse(ShiftedGram.applies(conv(same), input: [1, c, 0, 6], weightShape: weight))
    }
}
