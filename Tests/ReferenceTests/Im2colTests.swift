// The unfolding of images into windows' columns, against reading each window element by
// element: strides, dilations and pads of every size, in one and two dimensions; and its
// adjoint, which adds columns back into the image, by the adjoint identity on values whose
// products and sums are exact.
import IR
import TestSupport
import XCTest

@testable import Reference

final class Im2colTests: XCTestCase {
    func testColumnsAreTheWindowsAndTheirAdjointAddsThemBack() throws {
        var rng = SeededRandom(seed: 61)
        for trial in 0..<300 {
            let rank = trial % 3 == 0 ? 1 : 2
            let input = (0..<rank).map { _ in Int.random(in: 1...9, using: &rng) }
            let kernel = (0..<rank).map { _ in Int.random(in: 1...3, using: &rng) }
            let strides = (0..<rank).map { _ in Int.random(in: 1...3, using: &rng) }
            let dilations = (0..<rank).map { _ in Int.random(in: 1...2, using: &rng) }
            let pads = (0..<(2 * rank)).map { _ in Int.random(in: 0...2, using: &rng) }
            var node = Node(op: "Conv", name: "c", inputs: ["x", "w"], outputs: ["y"])
            node.attributes = [
                "strides": .ints(strides), "dilations": .ints(dilations), "pads": .ints(pads),
                "kernel_shape": .ints(kernel),
            ]
            guard let g = try? WindowGeometry(node: node, input: input, kernel: kernel) else { continue }
            let channels = 2, plane = input.reduce(1, *), positions = g.output.reduce(1, *)
            let kSize = kernel.reduce(1, *)
            let x = (0..<(channels * plane)).map { _ in Float(Int.random(in: -8...8, using: &rng)) }
            var col = [Float](repeating: .nan, count: channels * kSize * positions)
            x.withUnsafeBufferPointer { xp in
                col.withUnsafeMutableBufferPointer { im2col(xp.baseAddress!, channels: channels, g, into: $0.baseAddress!) }
            }
            // Row (channel, kernel offset), column (output position): the input there, or 0.
            func element(_ c: Int, _ k: Int, _ p: Int) -> Float {
                var (kRest, pRest, index) = (k, p, 0)
                for d in stride(from: rank - 1, through: 0, by: -1) {
                    let kd = kRest % kernel[d], pd = pRest % g.output[d]
                    kRest /= kernel[d]
                    pRest /= g.output[d]
                    let i = pd * strides[d] - g.padBegin[d] + kd * dilations[d]
                    guard (0..<input[d]).contains(i) else { return 0 }
                    index += i * input[(d + 1)...].reduce(1, *)
                }
                return x[c * plane + index]
            }
            var wrong = 0
            for c in 0..<channels {
                for k in 0..<kSize {
                    for p in 0..<positions where col[(c * kSize + k) * positions + p] != element(c, k, p) { wrong += 1 }
                }
            }
            XCTAssertEqual(wrong, 0, "input \(input) kernel \(kernel) strides \(strides) dilations \(dilations) pads \(pads)")
            // <im2col(x), v> = <x, col2im(v)>.
            let v = col.indices.map { _ in Float(Int.random(in: -8...8, using: &rng)) }
            var back = [Float](repeating: 0, count: x.count)
            v.withUnsafeBufferPointer { vp in
                back.withUnsafeMutableBufferPointer { col2im(vp.baseAddress!, channels: channels, g, into: $0.baseAddress!) }
            }
            XCTAssertEqual(zip(col, v).reduce(0) { $0 + $1.0 * $1.1 }, zip(x, back).reduce(0) { $0 + $1.0 * $1.1 })
        }
    }
}
