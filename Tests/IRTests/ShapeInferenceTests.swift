// Shape rules checked by hand: convolution and pooling arithmetic, broadcasting with
// symbols, reshape with 0 and -1, shape operands that are not constant, and errors that
// name the node and both shapes. (PassesTests checks the rules against onnxruntime.)
import IR
import XCTest

final class ShapeInferenceTests: XCTestCase {
    private func infer(
        _ op: String, _ types: [TensorType?], _ constants: [Tensor?] = [],
        _ attributes: [String: Attribute] = [:], outputs: Int = 1
    ) throws -> [TensorType?] {
        let node = Node(
            op: op, name: "n", inputs: types.indices.map { "i\($0)" },
            outputs: (0..<outputs).map { "o\($0)" }, attributes: attributes)
        let c = constants + Array(repeating: nil, count: max(0, types.count - constants.count))
        return try ShapeInference.infer(node, inputTypes: types, constantInputs: c)
    }

    private func error(_ body: () throws -> Any) -> String {
        do { _ = try body() } catch { return "\(error)" }
        return "no error"
    }

    private func t(_ dims: [Dim], _ dtype: DType = .float32) -> TensorType { TensorType(dtype, Shape(dims)) }
    private func f(_ sizes: [Int]) -> TensorType { TensorType(.float32, sizes) }
    private func i64(_ values: [Int]) -> Tensor { Tensor(values.map(Int64.init), shape: [values.count]) }
    private let n = Dim.symbol("N")

    func testConvolutionArithmetic() throws {
        // H: (9 + 1 + 2 - ((3-1)*2+1)) / 1 + 1 = 8; W: (8 + 0 + 1 - 2) / 2 + 1 = 4.
        let conv = try infer(
            "Conv", [t([n, .known(4), .known(9), .known(8)]), f([6, 2, 3, 2])], [],
            ["group": .int(2), "dilations": .ints([2, 1]), "strides": .ints([1, 2]), "pads": .ints([1, 0, 2, 1])])
        XCTAssertEqual(conv[0], t([n, .known(6), .known(8), .known(4)]))
        // SAME_UPPER: ceil(7 / 2) = 4; VALID: (7 - 3) / 2 + 1 = 3.
        XCTAssertEqual(
            try infer(
                "Conv", [f([1, 1, 7, 7]), f([2, 1, 3, 3])], [],
                ["auto_pad": .string("SAME_UPPER"), "strides": .ints([2, 2])])[0], f([1, 2, 4, 4]))
        XCTAssertEqual(
            try infer(
                "Conv", [f([1, 1, 7, 7]), f([2, 1, 3, 3])], [],
                ["auto_pad": .string("VALID"), "strides": .ints([2, 2])])[0], f([1, 2, 3, 3]))
        // A 1x1 stride-1 window keeps symbolic extents; a 3x3 one cannot know them.
        let h = Dim.symbol("H")
        XCTAssertEqual(
            try infer("Conv", [t([n, .known(8), h, .known(5)]), f([4, 8, 1, 1])])[0], t([n, .known(4), h, .known(5)]))
        XCTAssertEqual(
            try infer("Conv", [t([n, .known(8), h, .known(5)]), f([4, 8, 3, 3])])[0], t([n, .known(4), .unknown, .known(3)]))
    }

    func testConvolutionErrorsNameTheNodeAndShapes() {
        let node = Node(op: "Conv", name: "conv1", inputs: ["x", "w"], outputs: ["y"])
        XCTAssertEqual(
            error {
                try ShapeInference.infer(
                    node, inputTypes: [self.f([1, 3, 8, 8]), self.f([8, 4, 3, 3])],
                    constantInputs: [nil, nil])
            },
            "node Conv \"conv1\": input has 3 channels but the weight expects 4 (group 1): "
                + "input [1,3,8,8], weight [8,4,3,3]")
        XCTAssertTrue(
            error { try self.infer("Conv", [self.f([1, 3, 2, 2]), self.f([8, 3, 3, 3])]) }
                .contains("input extent 2 at spatial axis 0 is smaller than the window 3"))
        XCTAssertTrue(error { try self.infer("Conv", [self.f([1, 3, 8, 8]), self.f([8, 3, 3])]) }.contains("has rank 3"))
    }

    func testPoolingArithmetic() throws {
        // ceil_mode: ceil((7 - 3) / 2) + 1 = 3 rows; ceil((8 - 3) / 2) + 1 = 4 columns.
        let pool = try infer(
            "MaxPool", [f([1, 2, 7, 8])], [],
            ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "ceil_mode": .int(1)], outputs: 2)
        XCTAssertEqual(pool, [f([1, 2, 3, 4]), TensorType(.int64, [1, 2, 3, 4])])
        // span 4 + 0 + 1 - 2 = 3: ceil(3 / 2) + 1 = 3 windows, but the third would start at 4,
        // inside the end padding, so 2.
        XCTAssertEqual(
            try infer(
                "AveragePool", [f([1, 1, 4])], [],
                ["kernel_shape": .ints([2]), "strides": .ints([2]), "pads": .ints([0, 1]), "ceil_mode": .int(1)])[0],
            f([1, 1, 2]))
        // Dilated MaxPool: extent (2 - 1) * 2 + 1 = 3, (6 - 3) / 1 + 1 = 4.
        XCTAssertEqual(
            try infer("MaxPool", [f([1, 1, 6])], [], ["kernel_shape": .ints([2]), "dilations": .ints([2])])[0],
            f([1, 1, 4]))
        XCTAssertEqual(
            try infer("GlobalAveragePool", [t([n, .known(16), .known(7), .known(7)])])[0],
            t([n, .known(16), .known(1), .known(1)]))
    }

    func testConvTransposeArithmetic() throws {
        // 2 * (5 - 1) + 1 + (3 - 1) * 1 + 1 - 1 - 1 = 10 ; channels 3 * group 2 = 6.
        XCTAssertEqual(
            try infer(
                "ConvTranspose", [f([1, 4, 5, 5]), f([4, 3, 3, 3])], [],
                [
                    "strides": .ints([2, 2]), "output_padding": .ints([1, 1]), "pads": .ints([1, 1, 1, 1]),
                    "group": .int(2),
                ])[0], f([1, 6, 10, 10]))
        XCTAssertEqual(
            try infer(
                "ConvTranspose", [f([1, 4, 5, 5]), f([4, 3, 3, 3])], [],
                ["strides": .ints([2, 2]), "auto_pad": .string("SAME_UPPER")])[0], f([1, 3, 10, 10]))
    }

    func testBroadcastingWithSymbols() throws {
        let b = Dim.symbol("B")
        XCTAssertEqual(try infer("Add", [t([n, .known(3), .known(1)]), t([.known(5)])])[0], t([n, .known(3), .known(5)]))
        XCTAssertEqual(try infer("Mul", [t([n, .known(1)]), t([n, .known(4)])])[0], t([n, .known(4)]))
        XCTAssertEqual(try infer("Sub", [t([n]), t([.known(7)])])[0], t([.known(7)]))
        XCTAssertEqual(try infer("Div", [t([n]), t([b])])[0], t([.unknown]))
        XCTAssertEqual(try infer("Sum", [t([.known(2), .known(1)]), t([.known(3)]), t([.known(1), .known(1)])])[0], f([2, 3]))
        XCTAssertEqual(try infer("Equal", [f([2]), f([1])])[0], TensorType(.bool, [2]))
        XCTAssertEqual(try infer("Where", [TensorType(.bool, [3, 1]), f([1, 4]), f([])])[0], f([3, 4]))
        let node = Node(op: "Add", name: "add1", inputs: ["a", "b"], outputs: ["y"])
        XCTAssertEqual(
            error { try ShapeInference.infer(node, inputTypes: [self.f([2, 3]), self.f([4])], constantInputs: [nil, nil]) },
            "node Add \"add1\": shapes [2,3] and [4] do not broadcast: 3 and 4 at axis -1")
        XCTAssertTrue(
            error { try self.infer("Add", [self.f([2]), TensorType(.int64, [2])]) }.contains("input 1 is i64 but input 0 is f32"))
    }

    func testMatMulAndGemm() throws {
        XCTAssertEqual(
            try infer("MatMul", [t([.symbol("B"), .known(3), .known(4)]), f([4, 5])])[0],
            t([.symbol("B"), .known(3), .known(5)]))
        XCTAssertEqual(try infer("MatMul", [f([4]), f([2, 4, 5])])[0], f([2, 5]))
        XCTAssertEqual(try infer("MatMul", [f([2, 1, 3, 4]), f([7, 4, 5])])[0], f([2, 7, 3, 5]))
        XCTAssertEqual(
            error { try self.infer("MatMul", [self.f([2, 64]), self.f([32, 10])]) },
            "node MatMul \"n\": inner dimensions 64 and 32 differ ([2,64] times [32,10])")
        XCTAssertEqual(
            try infer("Gemm", [f([4, 3]), f([5, 4]), f([5])], [], ["transA": .int(1), "transB": .int(1)])[0], f([3, 5]))
        XCTAssertTrue(
            error { try self.infer("Gemm", [self.f([4, 3]), self.f([4, 5]), self.f([2, 5])], [], ["transA": .int(1)]) }.contains(
                "does not broadcast"))
        XCTAssertTrue(
            error { try self.infer("Gemm", [self.f([4, 3]), self.f([4, 5])]) }.contains("inner dimensions 3 and 4 differ"))
    }

    func testReshapeCopiesZerosInfersMinusOneAndCountsElements() throws {
        XCTAssertEqual(
            try infer("Reshape", [f([2, 3, 4]), TensorType(.int64, [3])], [nil, i64([0, -1, 2])])[0], f([2, 6, 2]))
        // Symbols cancel: N*3*4 elements over N leave 12; over 3*4 leave N.
        XCTAssertEqual(
            try infer("Reshape", [t([n, .known(3), .known(4)]), TensorType(.int64, [2])], [nil, i64([0, -1])])[0],
            t([n, .known(12)]))
        XCTAssertEqual(
            try infer("Reshape", [t([n, .known(3), .known(4)]), TensorType(.int64, [3])], [nil, i64([3, 4, -1])])[0],
            t([.known(3), .known(4), n]))
        XCTAssertEqual(
            try infer("Reshape", [f([0, 3]), TensorType(.int64, [2])], [nil, i64([0, 3])], ["allowzero": .int(1)])[0],
            f([0, 3]))
        XCTAssertEqual(
            error { try self.infer("Reshape", [self.f([2, 3]), TensorType(.int64, [1])], [nil, self.i64([5])]) },
            "node Reshape \"n\": cannot reshape [2,3] (6 elements) to [5] (5 elements)")
        XCTAssertTrue(
            error { try self.infer("Reshape", [self.f([2, 3]), TensorType(.int64, [2])], [nil, self.i64([4, -1])]) }
                .contains("4 does not divide it"))
        XCTAssertTrue(
            error { try self.infer("Reshape", [self.f([6]), TensorType(.int64, [2])], [nil, self.i64([-1, -1])]) }
                .contains("more than one -1"))
        // A shape operand that is not constant still gives the rank.
        XCTAssertEqual(try infer("Reshape", [f([2, 3]), TensorType(.int64, [3])])[0], t([.unknown, .unknown, .unknown]))
    }

    func testShapeOperandsThatAreNotConstant() throws {
        let x = f([4, 5, 6])
        let axes = i64([1])
        // Slice with constant axes but dynamic starts: only axis 1 becomes unknown.
        XCTAssertEqual(
            try infer(
                "Slice", [x, TensorType(.int64, [1]), TensorType(.int64, [1]), TensorType(.int64, [1])],
                [nil, nil, nil, axes])[0], t([.known(4), .unknown, .known(6)]))
        XCTAssertEqual(try infer("Unsqueeze", [x, TensorType(.int64, [2])])[0], t(Array(repeating: .unknown, count: 5)))
        XCTAssertEqual(try infer("ReduceSum", [x, TensorType(.int64, [1])])[0], t([.unknown, .unknown, .unknown]))
        XCTAssertNil(try infer("ReduceSum", [x, TensorType(.int64, [1])], [], ["keepdims": .int(0)])[0]?.shape)
        XCTAssertEqual(
            try infer("Pad", [x, TensorType(.int64, [2]), f([]), TensorType(.int64, [1])], [nil, nil, nil, axes])[0],
            t([.known(4), .unknown, .known(6)]))
        XCTAssertEqual(try infer("Expand", [f([3, 1]), TensorType(.int64, [3])])[0], t([.unknown, .known(3), .unknown]))
        XCTAssertEqual(try infer("Tile", [x, TensorType(.int64, [3])])[0], t([.unknown, .unknown, .unknown]))
        XCTAssertEqual(try infer("ConstantOfShape", [TensorType(.int64, [2])])[0], t([.unknown, .unknown]))
        XCTAssertEqual(
            try infer("Range", [TensorType(.int64, []), TensorType(.int64, []), TensorType(.int64, [])])[0],
            t([.unknown], .int64))
        XCTAssertEqual(try infer("Resize", [x, f([0]), f([3])])[0], t([.unknown, .unknown, .unknown]))
    }

    func testShapeOperandsThatAreConstant() throws {
        // Slice, step -2 on both axes: rows 4, 2 (end 0 is exclusive); columns from -1 (5) to -7
        // (clamped to -1, before the first): 5, 3, 1.
        let slice = try infer(
            "Slice",
            [
                f([5, 6]), TensorType(.int64, [2]), TensorType(.int64, [2]), TensorType(.int64, [2]),
                TensorType(.int64, [2]),
            ],
            [nil, i64([4, -1]), i64([0, -7]), i64([0, 1]), i64([-2, -2])])
        XCTAssertEqual(slice[0], f([2, 3]))
        XCTAssertEqual(
            try infer(
                "Slice", [t([n, .known(6)]), TensorType(.int64, [1]), TensorType(.int64, [1])],
                [nil, i64([0]), i64([Int(Int64.max)])])[0], t([n, .known(6)]))
        XCTAssertEqual(
            try infer("Split", [f([10, 2]), TensorType(.int64, [2])], [nil, i64([3, 7])], outputs: 2), [f([3, 2]), f([7, 2])])
        XCTAssertEqual(try infer("Split", [f([10])], [], ["num_outputs": .int(4)], outputs: 4), [f([3]), f([3]), f([3]), f([1])])
        XCTAssertTrue(
            error { try self.infer("Split", [self.f([10]), TensorType(.int64, [2])], [nil, self.i64([3, 6])], outputs: 2) }
                .contains("adds up to 9"))
        XCTAssertEqual(try infer("Pad", [f([4, 5]), TensorType(.int64, [4])], [nil, i64([1, -1, 2, -2])])[0], f([7, 2]))
        XCTAssertEqual(
            try infer("Resize", [f([1, 3, 5, 7]), f([0]), f([4])], [nil, nil, Tensor([Float(1), 1, 2, 1.5], shape: [4])])[0],
            f([1, 3, 10, 10]))
        XCTAssertEqual(
            try infer(
                "Resize", [f([1, 3, 20, 40]), f([0]), f([0]), TensorType(.int64, [2])], [nil, nil, nil, i64([10, 10])],
                ["axes": .ints([2, 3]), "keep_aspect_ratio_policy": .string("not_larger")])[0], f([1, 3, 5, 10]))
        XCTAssertEqual(
            try infer("Tile", [t([n, .known(2)]), TensorType(.int64, [2])], [nil, i64([1, 3])])[0], t([n, .known(6)]))
        XCTAssertEqual(
            try infer("Expand", [t([n, .known(1)]), TensorType(.int64, [2])], [nil, i64([1, 4])])[0], t([n, .known(4)]))
        XCTAssertEqual(try infer("Squeeze", [f([1, 3, 1]), TensorType(.int64, [1])], [nil, i64([-1])])[0], f([1, 3]))
        XCTAssertEqual(try infer("Squeeze", [f([1, 3, 1])])[0], f([3]))
        XCTAssertTrue(
            error { try self.infer("Squeeze", [self.f([1, 3]), TensorType(.int64, [1])], [nil, self.i64([1])]) }
                .contains("cannot squeeze axis 1 of [1,3]: its extent is 3, not 1"))
        XCTAssertEqual(
            try infer("Unsqueeze", [t([n, .known(3)]), TensorType(.int64, [2])], [nil, i64([0, -1])])[0],
            t([.known(1), n, .known(3), .known(1)]))
        XCTAssertEqual(
            try infer("ReduceMean", [f([2, 3, 4]), TensorType(.int64, [2])], [nil, i64([0, -1])], ["keepdims": .int(0)])[0],
            f([3]))
        XCTAssertEqual(try infer("ReduceMax", [f([2, 3])])[0], f([1, 1]))
        XCTAssertEqual(
            try infer(
                "Range", [f([]), f([]), f([])],
                [
                    Tensor(scalar: Float(1)), Tensor(scalar: Float(2)),
                    Tensor(scalar: Float(0.3)),
                ])[0], f([4]))
        XCTAssertEqual(
            try infer(
                "Range", [TensorType(.int64, []), TensorType(.int64, []), TensorType(.int64, [])],
                [Tensor(scalar: Int64(10)), Tensor(scalar: Int64(1)), Tensor(scalar: Int64(-4))])[0],
            TensorType(.int64, [3]))
        // Operands of one element, as onnxruntime takes them; two elements are refused.
        XCTAssertEqual(
            try infer(
                "Range", [TensorType(.int64, [1]), TensorType(.int64, []), TensorType(.int64, [1])],
                [Tensor([Int64(0)], shape: [1]), Tensor(scalar: Int64(5)), Tensor([Int64(2)], shape: [1])])[0],
            TensorType(.int64, [3]))
        XCTAssertThrowsError(
            try infer("Range", [TensorType(.int64, [2]), TensorType(.int64, []), TensorType(.int64, [])]))
        XCTAssertEqual(
            try infer(
                "ConstantOfShape", [TensorType(.int64, [2])], [i64([2, 3])],
                ["value": .tensor(Tensor([Int64(7)], shape: [1]))])[0], TensorType(.int64, [2, 3]))
    }

    /// A Range over an extent of a shape (`torch.arange(x.size(1))`, tf2onnx's positions
    /// over a sequence, cast to int32): as long as that extent, known or symbolic; a Range
    /// that does not count it from 0 by 1 has a symbolic extent's length unknown.
    func testARangeOverAnExtentOfAShapeIsAsLongAsTheExtent() throws {
        let steps = Dim.symbol("T")
        let constants = ["zero": Tensor(scalar: Int64(0)), "one": Tensor(scalar: Int64(1)), "two": Tensor(scalar: Int64(2))]
        func walk(_ x: TensorType, cast: Bool, start: String = "zero", delta: String = "one") throws -> TensorType? {
            var nodes = [
                Node(op: "Shape", name: "s", inputs: ["x"], outputs: ["shape"]),
                Node(op: "Gather", name: "g", inputs: ["shape", "one"], outputs: ["len"], attributes: ["axis": .int(0)]),
            ]
            if cast {
                nodes.append(Node(op: "Cast", name: "c", inputs: ["len"], outputs: ["len32"], attributes: ["to": .int(6)]))
                nodes.append(Node(op: "Cast", name: "c0", inputs: [start], outputs: ["start32"], attributes: ["to": .int(6)]))
                nodes.append(Node(op: "Cast", name: "c1", inputs: [delta], outputs: ["delta32"], attributes: ["to": .int(6)]))
            }
            nodes.append(
                Node(
                    op: "Range", name: "r", inputs: cast ? ["start32", "len32", "delta32"] : [start, "len", delta],
                    outputs: ["r"]))
            var types: [String: TensorType] = ["x": x]
            for (name, t) in constants { types[name] = TensorType(t.dtype, t.shape) }
            var values: [String: [Dim]] = [:]
            for node in nodes {
                let inputTypes = node.inputs.map { types[$0] }
                let outputs = try ShapeInference.infer(node, inputTypes: inputTypes, constants: constants, tracking: &values)
                for (name, t) in zip(node.outputs, outputs) { types[name] = t }
            }
            return types["r"]
        }
        XCTAssertEqual(try walk(t([n, steps, .known(4)]), cast: false), t([steps], .int64))
        XCTAssertEqual(try walk(t([n, steps, .known(4)]), cast: true), t([steps], .int32))
        XCTAssertEqual(try walk(f([2, 5, 4]), cast: true), t([.known(5)], .int32))
        XCTAssertEqual(try walk(f([2, 5, 4]), cast: false, start: "one", delta: "two"), t([.known(2)], .int64))
        XCTAssertEqual(try walk(t([n, steps, .known(4)]), cast: false, start: "one"), t([.unknown], .int64))
        XCTAssertEqual(try walk(t([n, steps, .known(4)]), cast: false, delta: "two"), t([.unknown], .int64))
    }

    func testLayoutOps() throws {
        XCTAssertEqual(try infer("Flatten", [t([n, .known(3), .known(4)])])[0], t([n, .known(12)]))
        XCTAssertEqual(try infer("Flatten", [t([n, .known(3), .known(4)])], [], ["axis": .int(0)])[0], t([.known(1), .unknown]))
        XCTAssertEqual(
            try infer("Transpose", [t([n, .known(3), .known(4)])], [], ["perm": .ints([0, 2, 1])])[0],
            t([n, .known(4), .known(3)]))
        XCTAssertEqual(try infer("Transpose", [f([2, 3])])[0], f([3, 2]))
        XCTAssertTrue(
            error { try self.infer("Transpose", [self.f([2, 3])], [], ["perm": .ints([0, 0])]) }.contains("not a permutation"))
        XCTAssertEqual(
            try infer("Concat", [t([n, .known(2)]), t([.unknown, .known(3)])], [], ["axis": .int(1)])[0], t([n, .known(5)]))
        XCTAssertEqual(
            try infer("Concat", [t([n, .known(2)]), t([.known(4), .known(2)])], [], ["axis": .int(0)])[0],
            t([.unknown, .known(2)]))
        XCTAssertTrue(
            error { try self.infer("Concat", [self.f([2, 2]), self.f([3, 3])], [], ["axis": .int(1)]) }
                .contains("extents 2 and 3 differ at axis 0"))
        XCTAssertEqual(
            try infer("Gather", [f([5, 6, 7]), TensorType(.int64, [2, 3])], [], ["axis": .int(1)])[0], f([5, 2, 3, 7]))
        XCTAssertTrue(
            error { try self.infer("Gather", [self.f([5]), TensorType(.int64, [1])], [nil, self.i64([5])]) }
                .contains("index 5 is out of range"))
        XCTAssertEqual(try infer("Shape", [t([n, .known(2), .known(3)])], [], ["start": .int(-2)])[0], TensorType(.int64, [2]))
        XCTAssertEqual(try infer("Size", [t([n])])[0], TensorType(.int64, []))
        XCTAssertEqual(try infer("Cast", [f([2])], [], ["to": .int(7)])[0], TensorType(.int64, [2]))
        XCTAssertEqual(try infer("ArgMax", [f([2, 3])], [], ["axis": .int(1), "keepdims": .int(0)])[0], TensorType(.int64, [2]))
        XCTAssertEqual(
            try infer("LayerNormalization", [f([2, 3, 4]), f([4])], [], ["axis": .int(-1)], outputs: 3),
            [f([2, 3, 4]), f([2, 3, 1]), f([2, 3, 1])])
        XCTAssertTrue(
            error {
                try self.infer("BatchNormalization", [self.f([1, 3, 2, 2]), self.f([4]), self.f([3]), self.f([3]), self.f([3])])
            }
            .contains("input 1 has 4 values but the input [1,3,2,2] has 3 channels"))
    }

    /// Values a malformed model can carry give errors, never arithmetic traps.
    func testOutOfRangeValuesAreErrorsNotTraps() throws {
        let big = Int(Int64.max)
        XCTAssertTrue(
            error { try self.infer("Pad", [self.f([4]), TensorType(.int64, [2])], [nil, self.i64([big, 1])]) }
                .contains("an extent overflows"))
        XCTAssertEqual(
            try infer(
                "Slice",
                [
                    f([5]), TensorType(.int64, [1]), TensorType(.int64, [1]), TensorType(.int64, [1]),
                    TensorType(.int64, [1]),
                ], [nil, i64([0]), i64([5]), i64([0]), i64([big])])[0], f([1]))
        XCTAssertEqual(
            try infer(
                "Slice",
                [
                    f([5]), TensorType(.int64, [1]), TensorType(.int64, [1]), TensorType(.int64, [1]),
                    TensorType(.int64, [1]),
                ],
                [
                    nil, i64([-1]), i64([Int(Int64.min)]), i64([0]),
                    i64([Int(Int64.min)]),
                ])[0], f([1]))
        XCTAssertTrue(
            error {
                try self.infer(
                    "Range", [self.f([]), self.f([]), self.f([])],
                    [Tensor(scalar: Float(0)), Tensor(scalar: Float.infinity), Tensor(scalar: Float(1))])
            }
            .contains("out of range"))
        XCTAssertTrue(
            error {
                try self.infer("MaxPool", [self.f([1, 1, 4])], [], ["kernel_shape": .ints([2]), "dilations": .ints([big])])
            }
            .contains("an extent overflows"))
    }

    func testQuantizationOpTypes() throws {
        let x = f([2, 3, 4])
        func q(_ dtype: DType, _ dims: [Int] = [2, 3, 4]) -> TensorType { TensorType(dtype, dims) }
        // QuantizeLinear gives the zero point's type, else output_dtype's, else uint8.
        XCTAssertEqual(try infer("QuantizeLinear", [x, f([])])[0], q(.uint8))
        XCTAssertEqual(try infer("QuantizeLinear", [x, f([3]), q(.float8e4m3fn, [3])])[0], q(.float8e4m3fn))
        XCTAssertEqual(try infer("QuantizeLinear", [x, f([1])], [], ["output_dtype": .int(3)])[0], q(.int8))
        XCTAssertEqual(try infer("QuantizeLinear", [x, f([4]), q(.int16, [4])], [], ["axis": .int(-1)])[0], q(.int16))
        // DequantizeLinear gives the scale's type.
        XCTAssertEqual(try infer("DequantizeLinear", [q(.int8), f([3]), q(.int8, [3])])[0], x)
        XCTAssertEqual(try infer("DequantizeLinear", [q(.float8e5m2), TensorType(.float16, [])])[0], q(.float16))
        XCTAssertEqual(try infer("DequantizeLinear", [q(.int32), f([])])[0], x)
        // Blocked: one scale per block of 2 along axis 2 of [2, 3, 4]; the last of 3 blocks of
        // 5 short.
        XCTAssertEqual(
            try infer("DequantizeLinear", [q(.int4), f([2, 3, 2])], [], ["axis": .int(2), "block_size": .int(2)])[0], x)
        XCTAssertEqual(
            try infer("DequantizeLinear", [q(.float4e2m1, [2, 5]), f([2, 3])], [], ["axis": .int(1), "block_size": .int(2)])[0],
            f([2, 5]))
    }

    func testQuantizationOpErrorsNameTheNode() {
        let x = f([2, 3, 4])
        let cases: [(String, [TensorType?], [String: Attribute], String)] = [
            (
                "QuantizeLinear", [x, f([2, 3, 3])], ["axis": .int(2), "block_size": .int(2)],
                "the scale [2,3,3] does not give one value per block of 2 along axis 2 of the input [2,3,4]"
            ),
            (
                "QuantizeLinear", [x, f([2, 2])], ["axis": .int(1), "block_size": .int(2)],
                "a blocked scale has the input's rank 3, not 2"
            ),
            ("QuantizeLinear", [x, f([4])], [:], "the scale has 4 values but axis 1 of the input [2,3,4] has 3"),
            ("QuantizeLinear", [x, f([3]), TensorType(.int8, [2])], [:], "the zero point [2] and the scale [3] differ in shape"),
            ("QuantizeLinear", [x, f([3, 1])], [:], "the scale [3,1] is neither a scalar (per tensor) nor 1-D (per axis)"),
            (
                "QuantizeLinear", [x, f([]), TensorType(.uint8, [])], ["output_dtype": .int(3)],
                "output_dtype i8 differs from the zero point's type u8"
            ),
            (
                "QuantizeLinear", [x, f([])], ["output_dtype": .int(22)],
                "output_dtype 22 is not one of i8, u8, i16, u16, f8e4m3, f8e5m2"
            ),
            (
                "DequantizeLinear", [x, f([])], [:],
                "DequantizeLinear reads i8, u8, i16, u16, f8e4m3, f8e5m2, i32, i4, u4, f4e2m1, not f32"
            ),
            (
                "DequantizeLinear", [TensorType(.int8, [2]), f([]), TensorType(.uint8, [])], [:],
                "input 2 is u8 but input 0 is i8"
            ),
        ]
        for (op, types, attributes, message) in cases {
            XCTAssertEqual(error { try self.infer(op, types, [], attributes) }, "node \(op) \"n\": \(message)")
        }
    }
}
