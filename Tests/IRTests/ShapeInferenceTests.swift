// Shape rules by hand: convolution and pooling arithmetic, broadcasting with symbols,
// reshape with 0 and -1, and errors that name the node.
import IR
import XCTest

final class ShapeInferenceTests: XCTestCase {
    private func infer(_ op: String, _ types: [TensorType?], _ constants: [Tensor?] = [],
                       _ attrs: [String: Attribute] = [:], outputs: Int = 1) throws -> [TensorType?] {
        let node = Node(op: op, name: "n", inputs: types.indices.map { "i\($0)" },
                        outputs: (0..<outputs).map { "o\($0)" }, attributes: attrs)
        let c = constants + Array(repeating: nil, count: max(0, types.count - constants.count))
        return try ShapeInference.infer(node, inputTypes: types, constantInputs: c)
    }

    private func t(_ dims: [Dim], _ dtype: DType = .float32) -> TensorType { TensorType(dtype, Shape(dims)) }

    func testConvolutionAndPoolingArithmetic() throws {
        // (9 + 1 + 2 - ((3-1)*2+1)) / 1 + 1 = 8 ; (8 + 0 + 1 - 2) / 2 + 1 = 4
        let out = try infer("Conv", [t([.symbol("N"), .known(4), .known(9), .known(8)]), TensorType(.float32, [6, 2, 3, 2])], [],
                            ["group": .int(2), "dilations": .ints([2, 1]), "strides": .ints([1, 2]), "pads": .ints([1, 0, 2, 1])])
        XCTAssertEqual(out[0], t([.symbol("N"), .known(6), .known(8), .known(4)]))
        let pool = try infer("MaxPool", [TensorType(.float32, [1, 2, 7, 8])], [],
                             ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "ceil_mode": .int(1)])
        XCTAssertEqual(pool[0], TensorType(.float32, [1, 2, 3, 4]))
        XCTAssertThrowsError(try infer("Conv", [TensorType(.float32, [1, 3, 8, 8]), TensorType(.float32, [4, 2, 3, 3])])) { error in
            XCTAssertTrue("\(error)".contains("input has 3 channels but the weight"), "\(error)")
        }
    }

    func testBroadcastingKeepsSymbols() throws {
        let out = try infer("Add", [t([.symbol("N"), .known(3), .known(1)]), t([.known(5)])])
        XCTAssertEqual(out[0], t([.symbol("N"), .known(3), .known(5)]))
        XCTAssertThrowsError(try infer("Mul", [t([.known(2), .known(3)]), t([.known(4)])])) { error in
            XCTAssertTrue("\(error)".contains("do not broadcast"), "\(error)")
        }
        XCTAssertEqual(try infer("Equal", [t([.known(2)]), t([.known(1)])])[0], t([.known(2)], .bool))
    }

    func testReshapeCopiesZerosAndInfersMinusOne() throws {
        let out = try infer("Reshape", [TensorType(.float32, [2, 3, 4]), TensorType(.int64, [3])],
                            [nil, Tensor([Int64(0), -1, 2], shape: [3])])
        XCTAssertEqual(out[0], TensorType(.float32, [2, 6, 2]))
        let symbolic = try infer("Reshape", [t([.symbol("N"), .known(3), .known(4)]), TensorType(.int64, [2])],
                                 [nil, Tensor([Int64(0), -1], shape: [2])])
        XCTAssertEqual(symbolic[0], t([.symbol("N"), .unknown]))
        XCTAssertThrowsError(try infer("Reshape", [TensorType(.float32, [2, 3]), TensorType(.int64, [1])],
                                       [nil, Tensor([Int64(5)], shape: [1])]))
    }

    func testMatMulGemmSliceConcatAndShape() throws {
        XCTAssertEqual(try infer("MatMul", [t([.symbol("B"), .known(3), .known(4)]), TensorType(.float32, [4, 5])])[0],
                       t([.symbol("B"), .known(3), .known(5)]))
        XCTAssertEqual(try infer("Gemm", [TensorType(.float32, [4, 3]), TensorType(.float32, [5, 4])], [],
                                 ["transA": .int(1), "transB": .int(1)])[0], TensorType(.float32, [3, 5]))
        let slice = try infer("Slice", [TensorType(.float32, [5, 6]), TensorType(.int64, [2]), TensorType(.int64, [2]),
                                        TensorType(.int64, [2]), TensorType(.int64, [2])],
                              [nil, Tensor([Int64(4), -1], shape: [2]), Tensor([Int64(0), -7], shape: [2]),
                               Tensor([Int64(0), 1], shape: [2]), Tensor([Int64(-2), -2], shape: [2])])
        XCTAssertEqual(slice[0], TensorType(.float32, [2, 3]))
        XCTAssertEqual(try infer("Concat", [t([.symbol("N"), .known(2)]), t([.symbol("N"), .known(3)])], [], ["axis": .int(1)])[0],
                       t([.symbol("N"), .known(5)]))
        XCTAssertEqual(try infer("Shape", [t([.symbol("N"), .known(2)])])[0], TensorType(.int64, [2]))
    }
}
