// Vector-unit nodes lowered and run by the simulator give the interpreter's bits: layer
// normalization, softmax and log-softmax over rows split into several blocks on several
// tiles, and every element-wise op the backend lowers, on ordinary and special values
// (zeros of both signs, infinities, NaN). Rows along an axis before the last are gathered
// with strides, split into several blocks and scattered back. Reductions of rows longer
// than a tile's SRAM run in pieces, their running value carried.
import Backend
import Formats
import IR
import ISA
import Simulator
import TestSupport
import XCTest

final class VectorLayerTests: XCTestCase {
    /// A small SRAM, so that a layer's rows take several blocks.
    private let resources = TileResources(
        sramBytes: 4096, arrayRows: 20, arrayColumns: 20,
        rates: [.fp16: 1, .fp8: 2, .nvfp4: 4], clusters: 2, tilesPerCluster: 2)

    private func random(_ shape: [Int], _ range: ClosedRange<Float>, seed: UInt64) -> Tensor {
        var rng = SeededRandom(seed: seed)
        return Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: range, using: &rng) }, shape: shape)
    }

    func testLayerNormalizationSoftmaxAndLogSoftmaxOverRows() throws {
        let (rows, c) = (15, 40)
        var b = GraphBuilder()
        b.input("x", .float32, [.known(3), .known(rows / 3), .known(c)])
        b.constant("scale", random([c], 0.5...1.5, seed: 2))
        b.constant("bias", random([c], -0.2...0.2, seed: 3))
        b.node("LayerNormalization", ["x", "scale", "bias"], ["epsilon": .float(1e-3)], outputs: ["ln"], name: "ln")
        b.node("LayerNormalization", ["x", "scale"], outputs: ["ln_scale_only"])
        b.node("Softmax", ["x"], ["axis": .int(-1)], outputs: ["sm"])
        b.node("LogSoftmax", ["x"], ["axis": .int(2)], outputs: ["lsm"])
        for y in ["ln", "ln_scale_only", "sm", "lsm"] { b.output(y) }
        var x = random([3, rows / 3, c], -8...8, seed: 1).floats()
        // A row with an infinity's worth of spread, a row of equal values, and a masked entry.
        x[0] = 80
        for i in c..<(2 * c) { x[i] = 0.25 }
        x[2 * c + 3] = -.infinity
        let g = try prepared(b.graph)
        try assertSimulatedEqualsInterpreted(g, ["x": Tensor(x, shape: [3, rows / 3, c])], resources: resources)
    }

    func testElementwiseOpsOnSpecialValues() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(40), .known(33)])
        b.constant("three", Tensor([Float(3)], shape: []))
        b.constant("row", random([33], -2...2, seed: 5))
        b.constant("lo", Tensor([Float(-0.5)], shape: []))
        b.constant("hi", Tensor([Float(0.7)], shape: []))
        let unary = [
            "Erf", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Floor", "Ceil", "Sign", "Relu",
            "HardSwish", "Softplus", "Softsign", "Gelu",
        ]
        for op in unary { b.output(b.node(op, ["x"], outputs: ["y_" + op.lowercased()])[0]) }
        b.constant("zero", Tensor([Float(0)], shape: [1, 1]))
        b.output(b.node("Div", ["x", "three"], outputs: ["y_div"])[0])
        b.output(b.node("Div", ["three", "x"], outputs: ["y_scalar_div"])[0])
        b.output(b.node("Add", ["x", "three"], outputs: ["y_add_scalar"])[0])
        b.output(b.node("Mul", ["three", "x"], outputs: ["y_scalar_mul"])[0])
        b.output(b.node("Sub", ["x", "zero"], outputs: ["y_sub_zero"])[0])
        b.output(b.node("Sub", ["three", "x"], outputs: ["y_scalar_sub"])[0])
        b.output(b.node("Mul", ["row", "x"], outputs: ["y_mul"])[0])
        b.output(b.node("Sub", ["x", "row"], outputs: ["y_sub"])[0])
        b.output(b.node("LeakyRelu", ["x"], ["alpha": .float(0.2)], outputs: ["y_leaky"])[0])
        b.output(b.node("Elu", ["x"], ["alpha": .float(0.7)], outputs: ["y_elu"])[0])
        b.output(b.node("Gelu", ["x"], ["approximate": .string("tanh")], outputs: ["y_gelu_tanh"])[0])
        b.output(b.node("Pow", ["x", "row"], outputs: ["y_pow"])[0])
        b.output(b.node("Clip", ["x", "lo", "hi"], outputs: ["y_clip"])[0])
        b.output(b.node("Clip", ["x", "", "hi"], outputs: ["y_clip_hi"])[0])
        b.output(b.node("HardSigmoid", ["x"], outputs: ["y_hard_sigmoid"])[0])
        b.output(b.node("HardSigmoid", ["x"], ["alpha": .float(-0.3), "beta": .float(0)], outputs: ["y_hard_sigmoid_0"])[0])
        // Max and Min of x and -x meet NaN with NaN, +0 with -0 and each infinity with the other.
        b.node("Neg", ["x"], outputs: ["minus_x"])
        b.output(b.node("Max", ["x", "minus_x"], outputs: ["y_max"])[0])
        b.output(b.node("Min", ["minus_x", "x"], outputs: ["y_min"])[0])
        b.output(b.node("Max", ["row", "x"], outputs: ["y_max_row"])[0])
        b.output(b.node("Min", ["x", "row"], outputs: ["y_min_row"])[0])
        // (Two NaN operands of Add or Sum may give either NaN: the ISA does not fix which.)
        b.output(b.node("Sum", ["x", "row", "three"], outputs: ["y_sum3"])[0])
        b.output(b.node("Max", ["minus_x", "row", "x"], outputs: ["y_max3"])[0])
        var x = random([40, 33], -4...4, seed: 4).floats()
        x.replaceSubrange(0..<6, with: [0, -0.0, .infinity, -.infinity, .nan, Float(bitPattern: 0x0001_16C2)])  // the last a subnormal, about 1e-40
        let g = try prepared(b.graph)
        try assertSimulatedEqualsInterpreted(g, ["x": Tensor(x, shape: [40, 33])], resources: resources)
        // A scalar constant operand is an immediate, but for c - x and c / x.
        let program = try Lowering.lower(g, layers: [], resources: resources).program
        let ops = Set(
            program.instructions.filter { ["vop", "vopp"].contains($0.spec.mnemonic) }.map {
                InstructionSet.vectorOps[Int($0["op"])]
            })
        XCTAssertTrue(
            ops.isSuperset(of: [
                "add_scalar", "mul_scalar", "div_scalar", "sub", "div", "mul", "max_scalar", "min_scalar", "elu", "gelu",
                "gelu_tanh", "pow",
                "hard_sigmoid", "max", "min",
            ]), "\(ops)")
    }

    func testHardSigmoidMaxAndMinFollowTheirRulesOnSpecialValues() {
        func bits(_ x: Float) -> UInt32 { x.bitPattern }
        let h = { (x: Float) in VectorArithmetic.hardSigmoid(x, alpha: 0.2, beta: 0.5) }
        XCTAssertTrue(h(.nan).isNaN)
        XCTAssertEqual([h(.infinity), h(-.infinity), h(2.5), h(-2.5), h(1)], [1, 0, 1, 0, 0.7])
        // -0 clamps to +0: v = 1 * -0 + -0 is -0.
        XCTAssertEqual(bits(VectorArithmetic.hardSigmoid(-0.0, alpha: 1, beta: -0.0)), 0)
        // A NaN operand gives the quiet NaN; of +0 and -0, max gives y and min gives x.
        for (x, y) in [(Float.nan, Float(1)), (1, .nan), (-.infinity, .nan)] {
            XCTAssertEqual(bits(VectorArithmetic.maximum(x, y)), 0x7fc0_0000)
            XCTAssertEqual(bits(VectorArithmetic.minimum(x, y)), 0x7fc0_0000)
        }
        XCTAssertEqual(bits(VectorArithmetic.maximum(0, -0.0)), bits(-0.0))
        XCTAssertEqual(bits(VectorArithmetic.maximum(-0.0, 0)), 0)
        XCTAssertEqual(bits(VectorArithmetic.minimum(0, -0.0)), 0)
        XCTAssertEqual(bits(VectorArithmetic.minimum(-0.0, 0)), bits(-0.0))
        XCTAssertEqual(VectorArithmetic.maximum(-.infinity, 3), 3)
        XCTAssertEqual(VectorArithmetic.minimum(.infinity, 3), 3)
    }

    /// LayerNormalization over the last two axes; Softmax over the first and LogSoftmax over
    /// the middle one, whose rows (of 6 and 20 values) a strided DMA gathers, 60 and 6 of
    /// them, in blocks the small SRAM splits over every tile.
    func testRowsAlongInnerAxesAndOverSeveralAxes() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(6), .known(20), .known(10)])
        b.constant("scale", random([20, 10], 0.5...1.5, seed: 7))
        b.node("LayerNormalization", ["x", "scale"], ["axis": .int(1)], outputs: ["ln"])
        b.node("Softmax", ["x"], ["axis": .int(0)], outputs: ["sm"])
        b.node("LogSoftmax", ["x"], ["axis": .int(-2)], outputs: ["lsm"])
        for y in ["ln", "sm", "lsm"] { b.output(y) }
        let g = try prepared(b.graph)
        try assertSimulatedEqualsInterpreted(g, ["x": random([6, 20, 10], -6...6, seed: 8)], resources: resources)
    }

    /// Rows of 1,100 values, more than the small SRAM's buffers hold (496 each): every
    /// reduction runs in three pieces per row carrying its running Double, over trailing axes
    /// and over an inner axis whose rows are gathered 3 apart, and gives the interpreter's
    /// one-pass bits, on ordinary values and on rows holding NaN, an infinity or only
    /// negative zeros.
    func testReductionsOfRowsLongerThanATile() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2), .known(3), .known(1100)])
        b.input("t", .float32, [.known(2), .known(1100), .known(3)])
        b.input("p", .float32, [.known(4), .known(1100)])
        let cases: [(String, String, [Int])] = [
            ("ReduceSum", "x", [2]), ("ReduceMean", "x", [-1]), ("ReduceMax", "x", [2]), ("ReduceMin", "t", [1]),
            ("ReduceMean", "t", [1]), ("ReduceProd", "p", [1]), ("ReduceSum", "x", [1, 2]),
        ]
        for (index, (op, input, axes)) in cases.enumerated() {
            b.constant("axes\(index)", Tensor(axes.map(Int64.init), shape: [axes.count]))
            b.node(op, [input, "axes\(index)"], ["keepdims": .int(index % 2)], outputs: ["y\(index)"])
            b.output("y\(index)")
        }
        let g = try prepared(b.graph)
        var x = random([2, 3, 1100], -6...6, seed: 11).floats(), t = random([2, 1100, 3], -6...6, seed: 12).floats()
        x[1 * 1100 + 700] = .nan
        x[2 * 1100 + 5] = .infinity
        for i in 0..<1100 { x[4 * 1100 + i] = -0.0 }
        t[3 * 500 + 2] = -.infinity
        let p = random([4, 1100], 0.999...1.001, seed: 13)
        try assertSimulatedEqualsInterpreted(
            g, ["x": Tensor(x, shape: [2, 3, 1100]), "t": Tensor(t, shape: [2, 1100, 3]), "p": p], resources: resources)
        let lowered = try Lowering.lower(
            g, layers: try WeightSection.build(g, arrayRows: 20, arrayColumns: 20) { resources.rates[$0]! }.layers,
            resources: resources)
        let carry = UInt64(InstructionSet.vectorOps.firstIndex(of: "reduce_carry")!)
        XCTAssertEqual(
            lowered.program.instructions.filter { $0.spec.mnemonic == "vopp" && $0["op"] == carry }.count,
            3 * (6 + 6 + 6 + 6 + 6 + 4) + 7 * 2, "three pieces a row, seven for the rows of 3,300")
    }

    /// Instance normalization of planes of 1,100 values, more than the small SRAM holds: three
    /// passes of three pieces each (the mean and the squared deviations carried as Doubles,
    /// then x · s + shift), giving the interpreter's one-pass bits on ordinary planes, a
    /// constant plane (no deviation: inv = 1 / sqrt(epsilon)), a plane of negative zeros,
    /// and planes holding a NaN or an infinity.
    func testInstanceNormalizationOfPlanesLongerThanATile() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2), .known(3), .known(1100)])
        b.constant("scale", random([3], 0.5...1.5, seed: 21))
        b.constant("bias", random([3], -1...1, seed: 22))
        b.node("InstanceNormalization", ["x", "scale", "bias"], ["epsilon": .float(1e-3)], outputs: ["y"])
        b.output("y")
        let g = try prepared(b.graph)
        var x = random([2, 3, 1100], -6...6, seed: 23).floats()
        for i in 0..<1100 {
            x[1 * 1100 + i] = 2.5
            x[2 * 1100 + i] = -0.0
        }
        x[3 * 1100 + 640] = .nan
        x[4 * 1100 + 3] = -.infinity
        try assertSimulatedEqualsInterpreted(g, ["x": Tensor(x, shape: [2, 3, 1100])], resources: resources)
        let lowered = try Lowering.lower(
            g, layers: try WeightSection.build(g, arrayRows: 20, arrayColumns: 20) { resources.rates[$0]! }.layers,
            resources: resources)
        let carry = UInt64(InstructionSet.vectorOps.firstIndex(of: "reduce_carry")!)
        XCTAssertEqual(
            lowered.program.instructions.filter { $0.spec.mnemonic == "vopp" && $0["op"] == carry }.count, 6 * 2 * 3,
            "two passes of three pieces per plane carry their running values")
    }
}
