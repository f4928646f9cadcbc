// Reverse mode against central differences of the interpreter: for random inputs x, a
// random output cotangent v and a random direction u, ⟨∂(v·f)/∂x, u⟩ must equal
// (v·f(x + hu) − v·f(x − hu)) / 2h, op by op and through small graphs.
import IR
import Reference
import TestSupport
import XCTest

final class BackpropagationTests: XCTestCase {
    /// Checks the cotangents of every graph input of `build`'s graph (inputs `shapes`).
    private func check(
        _ label: String, _ shapes: [String: [Int]], positive: Bool = false, distinct: Bool = false, seed: UInt64 = 1,
        _ build: (inout GraphBuilder) -> String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        var b = GraphBuilder()
        for name in shapes.keys.sorted() { b.input(name, .float32, shapes[name]!.map { .known($0) }) }
        let out = build(&b)
        b.output(out)
        let graph = b.graph
        var random = SeededRandom(seed: seed)
        func draw(_ n: Int) -> [Float] {
            (0..<n).map { _ in positive ? Float.random(in: 0.5...2, using: &random) : Float.random(in: -2...2, using: &random) }
        }
        // Distinct inputs lie on a shuffled grid 0.1 apart, off zero by half a step: a step of
        // h·u (at most 0.02) never changes which one of them is largest, nor any one's sign.
        func inputValues(_ n: Int) -> [Float] {
            distinct ? (0..<n).map { (Float($0) + 0.5) * 0.1 - Float(n) * 0.05 }.shuffled(using: &random) : draw(n)
        }
        let inputs = Dictionary(
            uniqueKeysWithValues: shapes.keys.sorted().map {
                ($0, Tensor(inputValues(shapes[$0]!.reduce(1, *)), shape: shapes[$0]!))
            })
        let interpreter = try Interpreter(graph: graph)
        var values = inputs
        let y = try XCTUnwrap(try interpreter.run(inputs) { values[$0] = $1 }[out], file: file, line: line)
        let v = Tensor(draw(y.count).map { $0 - 0.25 }, shape: y.shape)
        let result = try Backpropagation.run(graph, values: values, output: out, cotangent: v, wanted: Set(shapes.keys))
        XCTAssertTrue(result.blocked.isEmpty, "\(label): blocked \(result.blocked)", file: file, line: line)
        // One direction over every input at once.
        let directions = Dictionary(uniqueKeysWithValues: shapes.keys.sorted().map { ($0, draw(shapes[$0]!.reduce(1, *))) })
        var predicted = 0.0
        for (name, u) in directions {
            let g = try XCTUnwrap(result.cotangents[name], file: file, line: line).floats()
            XCTAssertEqual(g.count, u.count, "\(label): \(name)", file: file, line: line)
            predicted += zip(g, u).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        func objective(_ step: Float) throws -> Double {
            var moved: [String: Tensor] = [:]
            for (name, t) in inputs {
                moved[name] = Tensor(zip(t.floats(), directions[name]!).map { $0 + step * $1 }, shape: t.shape)
            }
            let f = try interpreter.run(moved)[out]!.floats()
            return zip(f, v.floats()).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        let h: Float = 1e-2
        let difference = (try objective(h) - objective(-h)) / Double(2 * h)
        XCTAssertEqual(
            predicted, difference, accuracy: 2e-3 * max(1, abs(difference)), "\(label)", file: file, line: line)
    }

    func testMatrixOps() throws {
        try check("conv 3x3 stride 2 pad 1 group 2, fused relu", ["x": [1, 4, 7, 6]]) { b in
            b.constant("w", Tensor((0..<108).map { (i: Int) -> Float in Float((i * 37) % 17) / 8 - 1 }, shape: [6, 2, 3, 3]))
            return b.node(
                "Conv", ["x", "w"],
                [
                    "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]), "group": .int(2), "npucc.activation": .string("Relu"),
                ])[0]
        }
        try check("conv 1x1", ["x": [2, 3, 4, 5]]) { b in
            b.constant("w", Tensor((0..<12).map { (i: Int) -> Float in Float(i) / 6 - 1 }, shape: [4, 3, 1, 1]))
            return b.node("Conv", ["x", "w"])[0]
        }
        try check("conv 1-D dilated", ["x": [1, 2, 9]]) { b in
            b.constant("w", Tensor((0..<12).map { (i: Int) -> Float in Float(i % 5) / 2 - 1 }, shape: [2, 2, 3]))
            return b.node("Conv", ["x", "w"], ["dilations": .ints([2]), "pads": .ints([1, 0])])[0]
        }
        try check("conv transpose stride 2, output padding", ["x": [1, 4, 3, 3]]) { b in
            b.constant("w", Tensor((0..<72).map { (i: Int) -> Float in Float((i * 11) % 13) / 6 - 1 }, shape: [4, 2, 3, 3]))
            return b.node(
                "ConvTranspose", ["x", "w"],
                [
                    "strides": .ints([2, 2]), "pads": .ints([1, 0, 0, 1]), "output_padding": .ints([1, 1]), "group": .int(2),
                ])[0]
        }
        for (ta, tb) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            try check("gemm transA \(ta) transB \(tb)", ["a": ta == 0 ? [3, 4] : [4, 3], "b": tb == 0 ? [4, 5] : [5, 4]]) { b in
                b.constant("c", Tensor([Float(0.5), -1, 0, 1, 2], shape: [5]))
                return b.node("Gemm", ["a", "b", "c"], ["transA": .int(ta), "transB": .int(tb), "alpha": .float(0.5)])[0]
            }
        }
        try check("matmul, broadcast batch", ["a": [2, 1, 3, 4], "b": [3, 4, 5]]) { b in b.node("MatMul", ["a", "b"])[0] }
        try check("matmul, vector times matrix", ["a": [4], "b": [2, 4, 3]]) { b in b.node("MatMul", ["a", "b"])[0] }
        try check("matmul, matrix times vector", ["a": [2, 3, 4], "b": [4]]) { b in b.node("MatMul", ["a", "b"])[0] }
    }

    func testElementwiseAndNormalizationOps() throws {
        for op in ["Add", "Sub", "Mul", "Div"] {
            try check(op, ["a": [2, 3, 4], "b": [3, 1]], positive: op == "Div") { b in b.node(op, ["a", "b"])[0] }
        }
        try check("Pow", ["a": [3, 4], "b": [4]], positive: true) { b in b.node("Pow", ["a", "b"])[0] }
        // Distinct values, a's and b's on grids half a step apart, and a constant off both:
        // no two inputs tie, so each output element has one input to follow.
        for op in ["Max", "Min"] {
            try check(op, ["a": [2, 3, 4], "b": [3, 1]], distinct: true) { b in b.node(op, ["a", "b"])[0] }
            try check("\(op) of three", ["a": [2, 3, 4], "b": [3, 1]], distinct: true) { b in
                b.constant("c", Tensor([Float(0.025), -0.375, 0.425, -0.975], shape: [4]))
                return b.node(op, ["a", "c", "b"])[0]
            }
        }
        for op in ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Exp", "Erf", "Gelu", "Softplus", "Softsign", "Elu", "Neg", "Abs"] {
            try check(op, ["x": [3, 5]]) { b in b.node(op, ["x"])[0] }
        }
        for op in ["Log", "Sqrt", "Reciprocal"] {
            try check(op, ["x": [3, 5]], positive: true) { b in b.node(op, ["x"])[0] }
        }
        try check("gelu tanh", ["x": [7]]) { b in b.node("Gelu", ["x"], ["approximate": .string("tanh")])[0] }
        try check("clip", ["x": [11]]) { b in
            b.constant("lo", Tensor(scalar: Float(-1)))
            b.constant("hi", Tensor(scalar: Float(1.5)))
            return b.node("Clip", ["x", "lo", "hi"])[0]
        }
        try check("layer norm over two axes", ["x": [2, 3, 4]]) { b in
            b.constant("s", Tensor((0..<12).map { (i: Int) -> Float in Float(i) / 4 - 1 }, shape: [3, 4]))
            b.constant("bias", Tensor((0..<12).map { (i: Int) -> Float in Float(i) / 8 }, shape: [3, 4]))
            return b.node("LayerNormalization", ["x", "s", "bias"], ["axis": .int(1)])[0]
        }
        try check("instance norm", ["x": [2, 3, 2, 3]]) { b in
            b.constant("s", Tensor([Float(1.5), -0.5, 0.25], shape: [3]))
            b.constant("bias", Tensor([Float(0), 1, -2], shape: [3]))
            return b.node("InstanceNormalization", ["x", "s", "bias"], ["epsilon": .float(1e-3)])[0]
        }
        try check("batch norm", ["x": [2, 3, 2, 2]]) { b in
            for (name, values) in [("g", [1, -0.5, 2]), ("bb", [0, 1, 2]), ("m", [0.5, 0, -1]), ("v", [1, 4, 0.25])] {
                b.constant(name, Tensor(values.map { Float($0) }, shape: [3]))
            }
            return b.node("BatchNormalization", ["x", "g", "bb", "m", "v"])[0]
        }
        try check("softmax axis 1", ["x": [2, 5, 3]]) { b in b.node("Softmax", ["x"], ["axis": .int(1)])[0] }
        try check("log softmax", ["x": [2, 5]]) { b in b.node("LogSoftmax", ["x"])[0] }
        try check("reduce mean", ["x": [2, 3, 4]]) { b in
            b.node("ReduceMean", ["x"], ["axes": .ints([0, 2]), "keepdims": .int(0)])[0]
        }
        try check("reduce sum, axes input", ["x": [2, 3, 4]]) { b in
            b.constant("axes", Tensor([Int64(1)], shape: [1]))
            return b.node("ReduceSum", ["x", "axes"])[0]
        }
    }

    func testPoolingAndMovementOps() throws {
        try check("max pool 3x3 stride 2 pad 1", ["x": [1, 2, 7, 7]], distinct: true) { b in
            b.node("MaxPool", ["x"], ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])])[0]
        }
        try check("average pool with pads counted", ["x": [1, 2, 5, 5]]) { b in
            b.node(
                "AveragePool", ["x"],
                [
                    "kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]),
                    "count_include_pad": .int(1),
                ])[0]
        }
        try check("average pool, ceil mode", ["x": [1, 1, 6, 6]]) { b in
            b.node("AveragePool", ["x"], ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "ceil_mode": .int(1)])[0]
        }
        try check("top 3 along an inner axis, and its values times their indices", ["x": [2, 6, 3]], distinct: true) { b in
            b.constant("k", Tensor([Int64(3)], shape: [1]))
            let chosen = b.node("TopK", ["x", "k"], ["axis": .int(1)], outputs: ["values", "indices"])
            return b.node("Mul", [chosen[0], b.node("Cast", [chosen[1]], ["to": .int(Int(DType.float32.rawValue))])[0]])[0]
        }
        try check("global pools", ["x": [2, 3, 4, 4]], distinct: true) { b in
            let a = b.node("GlobalAveragePool", ["x"])[0], m = b.node("GlobalMaxPool", ["x"])[0]
            return b.node("Mul", [a, m])[0]
        }
        try check("transpose, reshape, flatten", ["x": [2, 3, 4]]) { b in
            let t = b.node("Transpose", ["x"], ["perm": .ints([2, 0, 1])])[0]
            b.constant("shape", Tensor([Int64(4), -1, 2], shape: [3]))
            let r = b.node("Reshape", [t, "shape"])[0]
            return b.node("Flatten", [r], ["axis": .int(2)])[0]
        }
        try check("concat, split, slice", ["a": [2, 3], "b": [2, 2]]) { b in
            let c = b.node("Concat", ["a", "b", "a"], ["axis": .int(1)])[0]
            let parts = b.node("Split", [c], ["axis": .int(1), "num_outputs": .int(2)], outputs: ["p", "q"])
            b.constant("starts", Tensor([Int64(3)], shape: [1]))
            b.constant("ends", Tensor([Int64(-4)], shape: [1]))
            b.constant("axes", Tensor([Int64(1)], shape: [1]))
            b.constant("steps", Tensor([Int64(-2)], shape: [1]))
            let s = b.node("Slice", [parts[1], "starts", "ends", "axes", "steps"])[0]
            return b.node("Concat", [parts[0], b.node("Tanh", [s])[0]], ["axis": .int(1)])[0]
        }
        try check("pad reflect, gather, expand, tile", ["x": [2, 3]]) { b in
            b.constant("pads", Tensor([Int64(0), 1, 1, 2], shape: [4]))
            let p = b.node("Pad", ["x", "pads"], ["mode": .string("reflect")])[0]
            b.constant("idx", Tensor([Int64(2), 0, 2], shape: [3]))
            let g = b.node("Gather", [p, "idx"], ["axis": .int(1)])[0]
            b.constant("to", Tensor([Int64(2), 3, 3], shape: [3]))
            let e = b.node("Expand", [g, "to"])[0]
            b.constant("reps", Tensor([Int64(1), 2, 1], shape: [3]))
            return b.node("Tile", [e, "reps"])[0]
        }
        try check("dropout with its mask output omitted", ["x": [2, 3]]) { b in
            b.constant("one", Tensor([Float(1), 2, 0.5], shape: [3]))
            let d = b.node("Dropout", ["x"], outputs: ["d", ""])[0]
            return b.node("LayerNormalization", [d, "one"], outputs: ["n", "", ""])[0]
        }
        try check("resize nearest, twice as large", ["x": [1, 2, 3, 4]]) { b in
            b.constant("scales", Tensor([Float(1), 1, 2, 2], shape: [4]))
            return b.node("Resize", ["x", "", "scales"], ["mode": .string("nearest")])[0]
        }
        try check("resize linear, half pixel, to 5 x 7", ["x": [1, 2, 3, 4]]) { b in
            b.constant("sizes", Tensor([Int64(1), 2, 5, 7], shape: [4]))
            return b.node(
                "Resize", ["x", "", "", "sizes"],
                [
                    "mode": .string("linear"), "coordinate_transformation_mode": .string("half_pixel"),
                ])[0]
        }
        try check("where, both branches broadcast", ["a": [2, 3], "b": [3]]) { b in
            b.constant("c", Tensor(bools: [true, false, false, true, true, false], shape: [2, 3]))
            return b.node("Where", ["c", "a", "b"])[0]
        }
        try check("prelu, a slope per channel", ["x": [2, 3, 2]], distinct: true) { b in
            b.constant("slope", Tensor([Float(0.1), -0.5, 2], shape: [3, 1]))
            return b.node("PRelu", ["x", "slope"])[0]
        }
        try check("pad constant", ["x": [2, 3]]) { b in
            b.constant("pads", Tensor([Int64(1), 0, 0, 2], shape: [4]))
            b.constant("value", Tensor(scalar: Float(0.5)))
            return b.node("Pad", ["x", "pads", "value"])[0]
        }
    }

    /// A value read twice gets both paths' cotangents; a residual block's input gets the
    /// shortcut's and the branch's.
    func testResidualBlock() throws {
        try check("residual", ["x": [1, 3, 5, 5]]) { b in
            b.constant("w1", Tensor((0..<81).map { (i: Int) -> Float in Float((i * 7) % 9) / 9 - 0.5 }, shape: [3, 3, 3, 3]))
            b.constant("w2", Tensor((0..<9).map { (i: Int) -> Float in Float(i) / 9 - 0.4 }, shape: [3, 3, 1, 1]))
            let c1 = b.node("Conv", ["x", "w1"], ["pads": .ints([1, 1, 1, 1])])[0]
            let c2 = b.node("Conv", [b.node("Tanh", [c1])[0], "w2"])[0]
            let sum = b.node("Add", [c2, "x"])[0]
            let square = b.node("Mul", [sum, sum])[0]
            return b.node("Sigmoid", [square])[0]
        }
    }

    /// Values upstream of an op without a rule are blocked, naming the op; values on other
    /// paths are not.
    func testOpWithoutRuleBlocksWhatIsUpstreamOfIt() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(4)])
        b.constant("axis", Tensor(scalar: Int64(1)))
        let a = b.node("Tanh", ["x"])[0]
        let c = b.node("CumSum", [a, "axis"])[0]
        let d = b.node("Sigmoid", ["x"])[0]
        let y = b.node("Add", [c, d])[0]
        b.output(y)
        var values = ["x": Tensor([Float(0.5), -1, 2, 0], shape: [1, 4])]
        _ = try Interpreter(graph: b.graph).run(values) { values[$0] = $1 }
        let result = try Backpropagation.run(
            b.graph, values: values, output: y, cotangent: Tensor([Float](repeating: 1, count: 4), shape: [1, 4]),
            wanted: ["x", a, d])
        XCTAssertEqual(result.blocked, ["x": "CumSum", a: "CumSum"])
        XCTAssertEqual(try XCTUnwrap(result.cotangents[d]).floats(), [1, 1, 1, 1])
    }

    /// A rule that gives no cotangent for an input the path enters by (here a Conv's
    /// weights, computed from an input) blocks it as a missing rule does.
    func testAnInputTheRuleLeavesOutIsBlocked() throws {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(1), .known(3), .known(3)])
        b.input("v", .float32, [.known(1), .known(1), .known(2), .known(2)])
        let w = b.node("Tanh", ["v"])[0]
        let y = b.node("Conv", ["x", w])[0]
        b.output(y)
        var values = [
            "x": Tensor((0..<9).map { (i: Int) -> Float in Float(i) / 9 }, shape: [1, 1, 3, 3]),
            "v": Tensor([Float(0.5), -0.5, 0.25, 1], shape: [1, 1, 2, 2]),
        ]
        _ = try Interpreter(graph: b.graph).run(values) { values[$0] = $1 }
        let result = try Backpropagation.run(
            b.graph, values: values, output: y, cotangent: Tensor([Float](repeating: 1, count: 4), shape: [1, 1, 2, 2]),
            wanted: ["x", "v", w])
        XCTAssertEqual(result.blocked, ["v": "Conv", w: "Conv"])
        XCTAssertNotNil(result.cotangents["x"])
    }
}
