// The layer Hessian from calibration equals Σ x·xᵀ over the vectors the weight meets
// (rows of a Gemm input, unfolded windows of a padded, strided, grouped Conv or of the
// convolution a ConvTranspose equals), and the
// error it predicts equals the error measured by running the layer.
import IR
import Passes
import Reference
import TestSupport
import XCTest

final class LayerHessianTests: XCTestCase {
    private func randomTensor(_ shape: [Int], _ rng: inout SeededRandom) -> Tensor {
        Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: shape)
    }

    private func gemm(_ w: Tensor) -> Graph {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(6), .known(w.shape[1])])
        b.constant("w", w)
        b.node("Gemm", ["x", "w"], ["transB": .int(1)], outputs: ["y"], name: "fc")
        b.output("y")
        return b.graph
    }

    /// x [1, 4, 5, 5] through a 3x3 Conv with 2 groups, pads 1 and stride 2.
    private func conv(_ w: Tensor) -> Graph {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(4), .known(5), .known(5)])
        b.constant("w", w)
        b.node(
            "Conv", ["x", "w"], ["group": .int(2), "pads": .ints([1, 1, 1, 1]), "strides": .ints([2, 2])],
            outputs: ["y"], name: "conv")
        b.output("y")
        return b.graph
    }

    func testGemmHessianIsTheSumOfInputRowOuterProducts() throws {
        var rng = SeededRandom(seed: 11)
        let graph = gemm(randomTensor([3, 8], &rng))
        let samples = (0..<2).map { _ in randomTensor([6, 8], &rng) }
        var calibrator = try Calibrator(graph: graph, collectHessians: true)
        for x in samples { try calibrator.observe(["x": x]) }
        let h = try XCTUnwrap(calibrator.layerHessians()["y"])
        XCTAssertEqual(h.vectors, 12)
        for i in 0..<8 {
            for j in 0..<8 {
                let expected = samples.reduce(Float(0)) { sum, x in
                    let v = x.floats()
                    return sum + (0..<6).reduce(0) { $0 + v[$1 * 8 + i] * v[$1 * 8 + j] }
                }
                XCTAssertEqual(h.gram[i * 8 + j], expected, accuracy: 1e-5, "H[\(i), \(j)]")
            }
        }
    }

    func testGroupedConvHessianIsTheSumOverUnfoldedWindows() throws {
        var rng = SeededRandom(seed: 12)
        let graph = conv(randomTensor([4, 2, 3, 3], &rng))
        let x = randomTensor([1, 4, 5, 5], &rng)
        var calibrator = try Calibrator(graph: graph, collectHessians: true)
        try calibrator.observe(["x": x])
        let h = try XCTUnwrap(calibrator.layerHessians()["y"])
        XCTAssertEqual(h.groups, 2)
        XCTAssertEqual(h.columns, 18)
        XCTAssertEqual(h.vectors, 9)  // 3 x 3 output positions
        let v = x.floats()
        // The window vector of group g at output (oy, ox), ordered [channel, ky, kx].
        func window(_ g: Int, _ oy: Int, _ ox: Int) -> [Float] {
            var out: [Float] = []
            for c in 0..<2 {
                for ky in 0..<3 {
                    for kx in 0..<3 {
                        let iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx
                        let inside = iy >= 0 && iy < 5 && ix >= 0 && ix < 5
                        out.append(inside ? v[((g * 2 + c) * 5 + iy) * 5 + ix] : 0)
                    }
                }
            }
            return out
        }
        for g in 0..<2 {
            var expected = [Float](repeating: 0, count: 18 * 18)
            for oy in 0..<3 {
                for ox in 0..<3 {
                    let u = window(g, oy, ox)
                    for i in 0..<18 { for j in 0..<18 { expected[i * 18 + j] += u[i] * u[j] } }
                }
            }
            for k in 0..<(18 * 18) {
                XCTAssertEqual(h.gram[g * 324 + k], expected[k], accuracy: 1e-5, "group \(g) entry \(k)")
            }
        }
    }

    /// x [1, 4, 3, 3] through a 3x3 ConvTranspose with 2 groups (weight [4, 3, 3, 3]: 6 output
    /// channels), stride 2, pads 1, output_padding 1 and dilation 2.
    private func convTranspose(_ w: Tensor) -> Graph {
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(4), .known(3), .known(3)])
        b.constant("w", w)
        b.node(
            "ConvTranspose", ["x", "w"],
            [
                "group": .int(2), "pads": .ints([1, 2, 1, 0]), "strides": .ints([2, 2]), "output_padding": .ints([1, 0]),
                "dilations": .ints([2, 1]),
            ], outputs: ["y"], name: "up")
        b.output("y")
        return b.graph
    }

    /// The Hessian of the convolution ConvTranspose equals, in its flipped weight's order
    /// (`LayerWeight`), predicts the error of the ConvTranspose run as ONNX defines it.
    /// A 3x3 "same" convolution wide enough for the shifted products (`ShiftedGram`): its
    /// calibrated Hessian, made symmetric, is Σ over its windows of u·uᵀ (InputGram's), over
    /// samples observed one by one and two at a time.
    func testSameConvHessianFromShiftedProductsIsTheSumOverWindows() throws {
        var rng = SeededRandom(seed: 14)
        let c = ShiftedGram.minimumChannels, k = 9 * c
        var b = GraphBuilder()
        b.input("x", .float32, [.known(1), .known(c), .known(4), .known(3)])
        b.constant("w", randomTensor([2, c, 3, 3], &rng))
        b.node("Conv", ["x", "w"], ["pads": .ints([1, 1, 1, 1])], outputs: ["y"], name: "conv")
        b.output("y")
        let samples = (0..<3).map { _ in randomTensor([1, c, 4, 3], &rng) }
        var calibrator = try Calibrator(graph: b.graph, collectHessians: true)
        try calibrator.observe(["x": samples[0]])
        try calibrator.observe(batch: samples[1...].map { ["x": $0] })
        let h = try XCTUnwrap(calibrator.layerHessians()["y"])
        XCTAssertEqual(h.vectors, 3 * 12)
        var expected = [Float](repeating: 0, count: k * k)
        for x in samples {
            _ = try expected.withUnsafeMutableBufferPointer {
                try InputGram.accumulate(b.graph.nodes[0], input: x, weightShape: [2, c, 3, 3], into: $0.baseAddress!)
            }
        }
        let scale = expected.map(\.magnitude).max()!
        for i in 0..<k {
            for j in 0..<k {
                // InputGram fills the upper triangle; the Hessian is symmetric.
                XCTAssertEqual(h.gram[i * k + j], expected[min(i, j) * k + max(i, j)], accuracy: 1e-5 * scale, "H[\(i), \(j)]")
            }
        }
    }

    func testConvTransposeHessianPredictsTheErrorOfItsFlippedWeight() throws {
        var rng = SeededRandom(seed: 14)
        let shape = [4, 3, 3, 3]
        let w = randomTensor(shape, &rng)
        let g = convTranspose(w)
        let samples = (0..<3).map { _ in randomTensor([1, 4, 3, 3], &rng) }
        var calibrator = try Calibrator(graph: g, collectHessians: true)
        for x in samples { try calibrator.observe(["x": x]) }
        let h = try XCTUnwrap(calibrator.layerHessians()["y"])
        XCTAssertEqual(h.groups, 2)
        XCTAssertEqual(h.columns, 18)
        // Output 8 x 5: 2·(3 − 1) + 1 + 2·(3 − 1) + 1 − 2 rows, 2·(3 − 1) + 3 − 2 columns.
        XCTAssertEqual(h.vectors, 3 * 8 * 5)
        let changed = Tensor(w.floats().map { $0 + Float.random(in: -0.1...0.1, using: &rng) }, shape: shape)
        var other = g
        other.constants["w"] = changed
        let original = try XCTUnwrap(LayerWeight(g.nodes[0], g)), moved = try XCTUnwrap(LayerWeight(other.nodes[0], other))
        XCTAssertEqual(original.rows, 6)
        let predicted = h.relativeOutputError(original: original.matrix(), changed: moved.matrix(), rows: 6)
        let measured = try relativeOutputChange(g, replacing: "w", with: changed, samples: samples)
        XCTAssertEqual(predicted, measured, accuracy: 1e-4 * measured)
    }

    func testPredictedLayerErrorEqualsTheMeasuredOne() throws {
        var rng = SeededRandom(seed: 13)
        for (graph, shape, xShape) in [(gemm, [3, 8], [6, 8]), (conv, [4, 2, 3, 3], [1, 4, 5, 5])] {
            let w = randomTensor(shape, &rng)
            let g = graph(w)
            let samples = (0..<3).map { _ in randomTensor(xShape, &rng) }
            var calibrator = try Calibrator(graph: g, collectHessians: true)
            for x in samples { try calibrator.observe(["x": x]) }
            let h = try XCTUnwrap(calibrator.layerHessians()["y"])
            let changed = Tensor(w.floats().map { $0 + Float.random(in: -0.1...0.1, using: &rng) }, shape: shape)
            let predicted = h.relativeOutputError(original: w.floats(), changed: changed.floats(), rows: shape[0])
            let measured = try relativeOutputChange(g, replacing: "w", with: changed, samples: samples)
            XCTAssertEqual(predicted, measured, accuracy: 1e-4 * measured, "\(g.nodes[0].op)")
        }
    }
}
