import IR
import TestSupport
import XCTest

// A depthwise convolution's input cotangent, taken into the windows' sums directly, against
// the products through columns that every other convolution takes: the same bits, over
// strides, dilations, uneven pads, one, two and three spatial axes and several images, with
// zeros of both signs and infinities among the values.
@testable import Reference

final class DepthwiseCotangentTests: XCTestCase {
    private var random = SeededRandom(seed: 11)

    private func values(_ shape: [Int]) -> Tensor {
        let specials: [Float] = [0, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude]
        return Tensor(
            (0..<shape.reduce(1, *)).map { _ in
                Int.random(in: 0..<6, using: &random) == 0
                    ? specials[Int.random(in: 0..<specials.count, using: &random)] : Float.random(in: -2...2, using: &random)
            }, shape: shape)
    }

    private func check(
        input: [Int], kernel: [Int], _ attributes: [String: Attribute], file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let channels = input[1]
        var node = Node(op: "Conv", inputs: ["x", "w"], outputs: ["y"], attributes: attributes)
        node.attributes["group"] = .int(channels)
        let x = Tensor(zeros: .float32, shape: input), w = values([channels, 1] + kernel)
        let geometry = try WindowGeometry(node: node, input: Array(input[2...]), kernel: kernel)
        let g = values([input[0], channels] + geometry.output)
        let direct = try VectorJacobian.convolutionInput(node, x, w, g)
        let columns = try VectorJacobian.convolutionInput(node, x, w, g, byColumns: true)
        XCTAssertEqual(direct.shape, input, file: file, line: line)
        XCTAssertEqual(
            direct.floats().map(\.bitPattern), columns.floats().map(\.bitPattern), "\(input) \(kernel) \(attributes)",
            file: file, line: line)
    }

    func testDirectSumsAreTheColumnsSums() throws {
        try check(input: [2, 3, 9, 11], kernel: [3, 3], ["pads": .ints([1, 1, 1, 1])])
        try check(input: [1, 4, 13, 10], kernel: [7, 7], ["pads": .ints([3, 3, 3, 3])])
        try check(input: [1, 2, 12, 12], kernel: [3, 3], ["strides": .ints([2, 2]), "pads": .ints([0, 1, 2, 0])])
        try check(input: [1, 2, 10, 9], kernel: [3, 2], ["dilations": .ints([2, 3]), "pads": .ints([2, 1, 0, 2])])
        try check(input: [3, 5, 17], kernel: [5], ["strides": .ints([3]), "pads": .ints([2, 1])])
        try check(input: [1, 2, 5, 6, 7], kernel: [3, 3, 3], ["pads": .ints([1, 1, 1, 1, 1, 1])])
        try check(input: [1, 2, 6, 6], kernel: [3, 3], ["auto_pad": .string("SAME_UPPER"), "strides": .ints([2, 2])])
    }
}
