// ConvTranspose in the NPU's order (a quantized layer: the convolution it equals over its
// input spread out with zeros) agrees with the fp32 scatter path for every attribute form,
// and sums each output in increasing reduction index of the flipped weight.
import IR
import Reference
import TestSupport
import XCTest

final class ConvTransposeTests: XCTestCase {
    private func random(_ shape: [Int], _ rng: inout SeededRandom) -> Tensor {
        Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: shape)
    }

    func testTheNPUOrderAgreesWithTheScatterPath() throws {
        var rng = SeededRandom(seed: 31)
        let cases: [(weight: [Int], attributes: [String: Attribute])] = [
            ([4, 3, 3, 3], ["strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
            (
                [4, 2, 3, 3],
                [
                    "strides": .ints([2, 2]), "pads": .ints([1, 0, 1, 2]), "output_padding": .ints([1, 1]),
                    "group": .int(2),
                ]
            ),
            ([4, 3, 2, 3], ["dilations": .ints([2, 1]), "strides": .ints([1, 3])]),
            ([4, 3, 3, 3], ["strides": .ints([2, 2]), "auto_pad": .string("SAME_UPPER")]),
            ([4, 3, 3, 3], ["strides": .ints([2, 2]), "auto_pad": .string("SAME_LOWER")]),
            ([4, 3, 4, 4], ["strides": .ints([2, 2]), "output_shape": .ints([11, 12])]),
            // Pads beyond dilation·(k − 1): the spread input is cropped.
            ([4, 3, 3, 3], ["strides": .ints([2, 2]), "pads": .ints([3, 2, 3, 4])]),
        ]
        for (shape, attributes) in cases {
            let x = random([2, 4, 5, 6], &rng), w = random(shape, &rng)
            let bias = random([shape[1] * (attributes["group"] == nil ? 1 : 2)], &rng)
            let plain = Node(op: "ConvTranspose", name: "up", inputs: ["x", "w", "b"], outputs: ["y"], attributes: attributes)
            var ordered = plain
            ordered.attributes["npucc.weight_format"] = .string("fp16")
            let want = try Kernels.evaluate(plain, [x, w, bias])[0], got = try Kernels.evaluate(ordered, [x, w, bias])[0]
            XCTAssertEqual(got.shape, want.shape, "\(attributes)")
            for (a, b) in zip(got.floats(), want.floats()) { XCTAssertEqual(a, b, accuracy: 1e-5, "\(attributes)") }
        }
    }

    /// One output element by hand: the products of the flipped kernel's taps that meet input
    /// pixels, added from +0 in increasing [channel, ky, kx] of the flipped kernel.
    func testEachOutputSumsTheFlippedKernelInOrder() throws {
        var rng = SeededRandom(seed: 32)
        let x = random([1, 2, 3, 3], &rng), w = random([2, 1, 3, 3], &rng)
        var node = Node(
            op: "ConvTranspose", name: "up", inputs: ["x", "w"], outputs: ["y"],
            attributes: [
                "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]),
            ])
        node.attributes["npucc.weight_format"] = .string("fp16")
        let y = try Kernels.evaluate(node, [x, w])[0]
        XCTAssertEqual(y.shape, [1, 1, 5, 5])
        let xv = x.floats(), wv = w.floats()
        for oy in 0..<5 {
            for ox in 0..<5 {
                var sum: Float = 0
                // The spread input has 1 zero border (2·1 − 1) and a zero between pixels.
                for c in 0..<2 {
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            let (sy, sx) = (oy + ky - 1, ox + kx - 1)
                            guard sy >= 0, sx >= 0, sy % 2 == 0, sx % 2 == 0, sy / 2 < 3, sx / 2 < 3 else { continue }
                            let product = xv[(c * 3 + sy / 2) * 3 + sx / 2] * wv[c * 9 + (2 - ky) * 3 + (2 - kx)]
                            sum = sum + product
                        }
                    }
                }
                XCTAssertEqual(y.floats()[oy * 5 + ox], sum, "(\(oy), \(ox))")
            }
        }
    }
}
