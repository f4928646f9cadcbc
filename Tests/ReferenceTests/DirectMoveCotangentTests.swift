import IR
import TestSupport
import XCTest

// The moving ops' direct cotangents against the rule for every moving op (the op run on
// positions, cotangents added where each came from): the same bits, −0, NaN and infinities
// included, over reshapes, every transpose of a rank-4 value, slices with negative and
// clamped bounds and steps, concatenations with an empty part, constant pads, and gathers
// that repeat and count from the end.
@testable import Reference

final class DirectMoveCotangentTests: XCTestCase {
    private var random = SeededRandom(seed: 7)

    /// A cotangent of `shape` drawing from signed values, zeros of both signs, NaN and ±inf.
    private func cotangent(_ shape: [Int]) -> Tensor {
        let specials: [Float] = [0, -0.0, .nan, .infinity, -.infinity, .leastNonzeroMagnitude, -.greatestFiniteMagnitude]
        let n = shape.reduce(1, *)
        return Tensor(
            (0..<n).map { _ in
                Int.random(in: 0..<4, using: &random) == 0
                    ? specials[Int.random(in: 0..<specials.count, using: &random)]
                    : Float.random(in: -3...3, using: &random)
            }, shape: shape)
    }

    /// Checks that `movedDirectly` handles `node` and agrees bit for bit with `moved`.
    private func check(_ node: Node, _ inputs: [Tensor?], data: [Int], file: StaticString = #filePath, line: UInt = #line) throws
    {
        let y = try Kernels.evaluate(node, inputs)[0]
        let g = cotangent(y.shape)
        let direct = try XCTUnwrap(
            try VectorJacobian.movedDirectly(node, inputs, g, others: []), "\(node.op) not moved directly", file: file, line: line
        )
        let general = try VectorJacobian.moved(node, inputs, data: data, outputs: [y], cotangents: [g])
        XCTAssertEqual(direct.count, general.count, file: file, line: line)
        for (i, (a, b)) in zip(direct, general).enumerated() {
            XCTAssertEqual(a?.shape, b?.shape, "\(node.op) input \(i)", file: file, line: line)
            let (bitsA, bitsB) = (a.map { $0.floats().map(\.bitPattern) }, b.map { $0.floats().map(\.bitPattern) })
            XCTAssertEqual(bitsA, bitsB, "\(node.op) input \(i)", file: file, line: line)
        }
    }

    private func values(_ shape: [Int]) -> Tensor {
        Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &random) }, shape: shape)
    }

    private func ints(_ v: [Int]) -> Tensor { Tensor(v.map(Int64.init), shape: [v.count]) }

    func testReshapesMoveTheCotangentBackUnchanged() throws {
        let x = values([2, 3, 4])
        try check(Node(op: "Reshape", inputs: ["x", "s"], outputs: ["y"]), [x, ints([4, -1, 2])], data: [0])
        try check(Node(op: "Flatten", inputs: ["x"], outputs: ["y"], attributes: ["axis": .int(2)]), [x], data: [0])
        try check(Node(op: "Unsqueeze", inputs: ["x", "a"], outputs: ["y"]), [x, ints([0, 4])], data: [0])
        try check(Node(op: "Squeeze", inputs: ["x", "a"], outputs: ["y"]), [values([2, 1, 3, 1]), ints([-1])], data: [0])
        try check(Node(op: "Identity", inputs: ["x"], outputs: ["y"]), [x], data: [0])
    }

    func testEveryTransposeOfARank4Value() throws {
        let x = values([2, 3, 4, 5])
        func permutations(_ items: [Int]) -> [[Int]] {
            items.count <= 1 ? [items] : items.flatMap { i in permutations(items.filter { $0 != i }).map { [i] + $0 } }
        }
        for perm in permutations([0, 1, 2, 3]) {
            try check(Node(op: "Transpose", inputs: ["x"], outputs: ["y"], attributes: ["perm": .ints(perm)]), [x], data: [0])
        }
        try check(Node(op: "Transpose", inputs: ["x"], outputs: ["y"]), [x], data: [0])
        try check(Node(op: "Transpose", inputs: ["x"], outputs: ["y"]), [values([7])], data: [0])
        // Swapping the last two axes of extents that are not multiples of the 32-square blocks
        // float32 values move in (the general rule moves int64 positions one at a time).
        let swapped = Node(op: "Transpose", inputs: ["x"], outputs: ["y"], attributes: ["perm": .ints([0, 2, 1])])
        try check(swapped, [values([3, 37, 70])], data: [0])
        try check(swapped, [values([2, 64, 33])], data: [0])
    }

    func testSlicesWithNegativeStepsClampedBoundsAndNothingTaken() throws {
        let x = values([4, 5, 6])
        let cases: [(starts: [Int], ends: [Int], axes: [Int], steps: [Int])] = [
            ([1], [3], [0], [1]),
            ([0, -1], [100, -6], [2, 1], [2, -1]),
            ([-100, 4], [100, 0], [-1, 1], [3, -2]),
            ([3], [3], [2], [1]),
            ([5, 0, 1], [-100, 4, 5], [2, 0, 1], [-3, 3, 2]),
        ]
        for c in cases {
            let node = Node(op: "Slice", inputs: ["x", "b", "e", "a", "s"], outputs: ["y"])
            try check(node, [x, ints(c.starts), ints(c.ends), ints(c.axes), ints(c.steps)], data: [0])
        }
        try check(Node(op: "Slice", inputs: ["x", "b", "e"], outputs: ["y"]), [x, ints([1, 1]), ints([3, -1])], data: [0])
    }

    func testConcatenationsGiveEachPartItsOwn() throws {
        let parts = [values([2, 3, 4]), values([2, 0, 4]), values([2, 5, 4]), values([2, 3, 4])]
        for axis in [1, -2] {
            try check(
                Node(op: "Concat", inputs: ["a", "b", "c", "d"], outputs: ["y"], attributes: ["axis": .int(axis)]), parts,
                data: [0, 1, 2, 3])
        }
        let rows = [values([1, 3]), values([4, 3])]
        try check(Node(op: "Concat", inputs: ["a", "b"], outputs: ["y"], attributes: ["axis": .int(0)]), rows, data: [0, 1])
    }

    func testConstantPadsWithAndWithoutAxes() throws {
        let x = values([2, 3, 4])
        try check(Node(op: "Pad", inputs: ["x", "p"], outputs: ["y"]), [x, ints([0, 1, 2, 1, 0, 3])], data: [0])
        try check(
            Node(op: "Pad", inputs: ["x", "p", "v"], outputs: ["y"]), [x, ints([1, 0, 0, 0, 2, 0]), Tensor(scalar: Float(2))],
            data: [0])
        try check(Node(op: "Pad", inputs: ["x", "p", "", "a"], outputs: ["y"]), [x, ints([2, 1]), nil, ints([-1])], data: [0])
    }

    func testGathersThatRepeatAndCountFromTheEnd() throws {
        let x = values([3, 4, 5])
        try check(
            Node(op: "Gather", inputs: ["x", "i"], outputs: ["y"], attributes: ["axis": .int(1)]), [x, ints([3, -1, 0, 3, 1])],
            data: [0])
        try check(Node(op: "Gather", inputs: ["x", "i"], outputs: ["y"]), [x, Tensor(scalar: Int64(-2))], data: [0])
        let twoByTwo = Tensor([Int64(4), 0, 4, 4], shape: [2, 2])
        try check(
            Node(op: "Gather", inputs: ["x", "i"], outputs: ["y"], attributes: ["axis": .int(-1)]), [x, twoByTwo], data: [0])
    }

    func testTheOtherMovesAreLeftToTheGeneralRule() throws {
        let x = values([2, 3])
        let expand = Node(op: "Expand", inputs: ["x", "s"], outputs: ["y"])
        XCTAssertNil(try VectorJacobian.movedDirectly(expand, [x, ints([2, 2, 3])], cotangent([2, 2, 3]), others: []))
        let reflect = Node(op: "Pad", inputs: ["x", "p"], outputs: ["y"], attributes: ["mode": .string("reflect")])
        XCTAssertNil(try VectorJacobian.movedDirectly(reflect, [x, ints([0, 1, 0, 1])], cotangent([2, 5]), others: []))
        let crop = Node(op: "Pad", inputs: ["x", "p"], outputs: ["y"])
        XCTAssertNil(try VectorJacobian.movedDirectly(crop, [x, ints([0, -1, 1, 0])], cotangent([3, 2]), others: []))
        // A second output's cotangent (Dropout's mask) is the general rule's to weigh.
        let identity = Node(op: "Identity", inputs: ["x"], outputs: ["y"])
        XCTAssertNil(try VectorJacobian.movedDirectly(identity, [x], cotangent([2, 3]), others: [cotangent([2, 3])]))
    }
}
