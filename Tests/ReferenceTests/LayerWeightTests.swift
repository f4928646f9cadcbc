// The weight view of each layer kind: ConvTranspose's [C, M/G, kh, kw] seen as the matrix of
// the convolution it equals (kernel flipped, channels swapped per group), and back.
import IR
import Reference
import TestSupport
import XCTest

final class LayerWeightTests: XCTestCase {
    private func graph(_ op: String, weightShape: [Int], _ attributes: [String: Attribute] = [:]) -> Graph {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(weightShape[0]), .known(4), .known(4)])
        b.constant("w", Tensor((0..<weightShape.reduce(1, *)).map(Float.init), shape: weightShape))
        b.node(op, ["x", "w"], attributes, outputs: ["y"], name: "layer")
        b.output("y")
        return b.graph
    }

    func testConvTransposeIsTheFlippedConvolutionPerGroup() throws {
        // C = 4 input channels in 2 groups, M/G = 3 output channels per group, a 2 x 3 kernel.
        let g = graph("ConvTranspose", weightShape: [4, 3, 2, 3], ["group": .int(2)])
        let w = try XCTUnwrap(LayerWeight(g.nodes[0], g))
        XCTAssertEqual(w.rows, 6)
        XCTAssertEqual(w.columns, 12)  // C/G · kh · kw
        XCTAssertEqual(w.groups, 2)
        XCTAssertEqual(w.kernelSize, 6)
        XCTAssertFalse(w.transposed)
        let m = w.matrix()
        // Row g·3 + o, column c·6 + ky·3 + kx holds W[g·2 + c, o, 1 − ky, 2 − kx] (flat index
        // ((g·2 + c)·3 + o)·6 + (1 − ky)·3 + 2 − kx, the value itself).
        for group in 0..<2 {
            for o in 0..<3 {
                for c in 0..<2 {
                    for ky in 0..<2 {
                        for kx in 0..<3 {
                            let stored = ((group * 2 + c) * 3 + o) * 6 + (1 - ky) * 3 + (2 - kx)
                            XCTAssertEqual(m[(group * 3 + o) * 12 + c * 6 + ky * 3 + kx], Float(stored))
                        }
                    }
                }
            }
        }
        XCTAssertEqual(w.tensor(from: m).floats(), w.tensor.floats())
        XCTAssertEqual(w.tensor(from: m).shape, [4, 3, 2, 3])
    }

    func testConvAndGemmKeepTheirLayouts() throws {
        let conv = graph("Conv", weightShape: [4, 2, 3, 3], ["group": .int(2)])
        let c = try XCTUnwrap(LayerWeight(conv.nodes[0], conv))
        XCTAssertEqual([c.rows, c.columns, c.groups, c.kernelSize], [4, 18, 2, 9])
        XCTAssertEqual(c.matrix(), c.tensor.floats())
        var b = GraphBuilder()
        b.input("x", .float32, [.known(2), .known(3)])
        b.constant("w", Tensor((0..<6).map(Float.init), shape: [3, 2]))
        b.node("Gemm", ["x", "w"], outputs: ["y"], name: "fc")
        b.output("y")
        let gemm = try XCTUnwrap(LayerWeight(b.graph.nodes[0], b.graph))
        XCTAssertTrue(gemm.transposed)
        XCTAssertEqual([gemm.rows, gemm.columns, gemm.groups, gemm.kernelSize], [2, 3, 1, 1])
        XCTAssertEqual(gemm.matrix(), [0, 2, 4, 1, 3, 5])
        XCTAssertEqual(gemm.tensor(from: gemm.matrix()).floats(), gemm.tensor.floats())
    }

    func testMatMulWeightsOfEveryShapeTransposeElementByElement() throws {
        // [K, N] stored, [N, K] seen: shapes below, at and past the 32 x 32 blocks, ragged too.
        for (k, n) in [(1, 1), (3, 70), (32, 32), (33, 65), (100, 7), (64, 1)] {
            var b = GraphBuilder()
            b.input("x", .float32, [.known(2), .known(k)])
            b.constant("w", Tensor((0..<(k * n)).map { Float($0) }, shape: [k, n]))
            b.node("MatMul", ["x", "w"], outputs: ["y"], name: "layer")
            b.output("y")
            let g = b.graph
            let w = try XCTUnwrap(LayerWeight(g.nodes[0], g))
            XCTAssertEqual([w.rows, w.columns], [n, k])
            let m = w.matrix()
            for row in 0..<n {
                for column in 0..<k where m[row * k + column] != Float(column * n + row) {
                    return XCTFail("[\(k), \(n)]: element [\(row), \(column)] is \(m[row * k + column])")
                }
            }
            XCTAssertEqual(w.tensor(from: m).floats(), w.tensor.floats(), "[\(k), \(n)] back")
        }
    }
}
