// import-qdq, Before and Expected side by side: fp8 weights and activation pairs become
// float tensors with their scales on the layers, other formats are dequantized with a
// warning, the cases where nothing may change, and the interpreter's results unchanged.
import IR
import Passes
import Reference
import TestSupport
import XCTest

final class ImportQDQTests: XCTestCase {
    /// infer-shapes (import-qdq needs types), import-qdq, then eliminate-dead-code so the
    /// expected text shows only what is still read; returns import-qdq's statistics.
    private func importQDQ(_ before: String) throws -> (after: String, statistics: PassStatistics) {
        var graph = try IRParser.parseGraph(before)
        try Verifier.verify(graph)
        let stats = try Pipeline([InferShapes(), ImportQDQ(), EliminateDeadCode()]).run(&graph, PassContext())
        return (printed(graph), stats[1].statistics)
    }

    func testFP8WeightsAndActivationsBecomeLayerAttributes() throws {
        let (after, statistics) = try importQDQ(
            """
            graph main(%x: f32[1,2,2,2]) -> (%y: f32[*]) {
              const %s: f32[] = [0.5]
              const %w_q: f8e4m3[2,2,1,1] = [1.0, -2.0, 448.0, 0.5]
              const %w_s: f32[2] = [0.25, 0.125]
              const %z: f8e4m3[] = [0.0]
              %x_q = QuantizeLinear(%x, %s, %z) name="x_quant"
              %x_dq = DequantizeLinear(%x_q, %s, %z) name="x_dequant"
              %w = DequantizeLinear(%w_q, %w_s) {axis=0} name="w_dequant"
              %y = Conv(%x_dq, %w) name="conv"
              return %y
            }
            """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[1,2,2,2]) -> (%y: f32[*]) {
              const %w: f32[2,2,1,1] = [0.25, -0.5, 56.0, 0.0625]
              %y: f32[1,2,2,2] = Conv(%x, %w) {npucc.activation_amax=224.0, npucc.activation_format="fp8", \
            npucc.activation_scale=0.5, npucc.weight_format="fp8", npucc.weight_scale=[0.25, 0.125]} name="conv"
              return %y
            }
            """)
        XCTAssertEqual(statistics["fp8-weights"], 1)
        XCTAssertEqual(statistics["fp8-activations"], 1)
        XCTAssertEqual(statistics.warnings, [])
    }

    /// Gemm with transB keeps per-row scales (its output channels); a QuantizeLinear of
    /// float constants is evaluated into the codes and goes away.
    func testAQuantizedConstantWeightOfAGemm() throws {
        let (after, statistics) = try importQDQ(
            """
            graph main(%x: f32[3,2]) -> (%y: f32[*]) {
              const %w_f: f32[2,2] = [1.0, 3.0, -0.75, 100.0]
              const %w_s: f32[2] = [0.5, 0.25]
              const %z: f8e4m3[2] = [0.0, 0.0]
              %w_q = QuantizeLinear(%w_f, %w_s, %z) {axis=0} name="w_quant"
              %w = DequantizeLinear(%w_q, %w_s, %z) {axis=0} name="w_dequant"
              %y = Gemm(%x, %w) {transB=1} name="fc"
              return %y
            }
            """)
        // 100 / 0.25 = 400 rounds to 384 in E4M3, times 0.25: 96.
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[3,2]) -> (%y: f32[*]) {
              const %w: f32[2,2] = [1.0, 3.0, -0.75, 96.0]
              %y: f32[3,2] = Gemm(%x, %w) {npucc.weight_format="fp8", npucc.weight_scale=[0.5, 0.25], transB=1} name="fc"
              return %y
            }
            """)
        XCTAssertEqual(statistics["fp8-weights"], 1)
    }

    /// The layer reads the float tensor; the Relu keeps the pair, which the interpreter runs.
    func testAnFP8PairStaysForReadersThatAreNotLayers() throws {
        let (after, statistics) = try importQDQ(
            """
            graph main(%x: f32[2,4]) -> (%y: f32[*], %r: f32[*]) {
              const %s: f32[] = [0.25]
              const %w: f32[4,3] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
              const %z: f8e4m3[] = [0.0]
              %x_q = QuantizeLinear(%x, %s, %z) name="x_quant"
              %x_dq = DequantizeLinear(%x_q, %s, %z) name="x_dequant"
              %r = Relu(%x_dq) name="relu"
              %y = MatMul(%x_dq, %w) name="mm"
              return %y, %r
            }
            """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2,4]) -> (%y: f32[*], %r: f32[*]) {
              const %s: f32[] = [0.25]
              const %w: f32[4,3] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
              const %z: f8e4m3[] = [0.0]
              %x_q: f8e4m3[2,4] = QuantizeLinear(%x, %s, %z) name="x_quant"
              %x_dq: f32[2,4] = DequantizeLinear(%x_q, %s, %z) name="x_dequant"
              %r: f32[2,4] = Relu(%x_dq) name="relu"
              %y: f32[2,3] = MatMul(%x, %w) {npucc.activation_amax=112.0, npucc.activation_format="fp8", \
            npucc.activation_scale=0.25} name="mm"
              return %y, %r
            }
            """)
        XCTAssertEqual(statistics["fp8-activations"], 1)
    }

    /// int8 weights and uint8 pairs: dequantized for every reader, with a warning each, the
    /// pair leaving a Clip to the values its codes give ((0 − 128) · 0.1 to (255 − 128) · 0.1);
    /// the int32 bias silently (biases stay float32 on the NPU).
    func testOtherFormatsAreDequantizedWithAWarning() throws {
        let (after, statistics) = try importQDQ(
            """
            graph main(%x: f32[1,2]) -> (%y: f32[*]) {
              const %b_q: i32[2] = [100, -4]
              const %b_s: f32[] = [0.01]
              const %s: f32[] = [0.1]
              const %w_q: i8[2,2] = [10, -20, 127, 1]
              const %w_s: f32[2] = [0.5, 0.25]
              const %w_z: i8[2] = [0, 1]
              const %z: u8[] = [128]
              %x_q = QuantizeLinear(%x, %s, %z) name="x_quant"
              %x_dq = DequantizeLinear(%x_q, %s, %z) name="x_dequant"
              %w = DequantizeLinear(%w_q, %w_s, %w_z) {axis=0} name="w_dequant"
              %b = DequantizeLinear(%b_q, %b_s) name="b_dequant"
              %g = Gemm(%x_dq, %w, %b) {transB=1} name="fc"
              %y = Add(%g, %x_dq) name="residual"
              return %y
            }
            """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[1,2]) -> (%y: f32[*]) {
              const %b: f32[2] = [1.0, -0.04]
              const %w: f32[2,2] = [5.0, -10.0, 31.5, 0.0]
              const %x_q_range_max: f32[] = [12.7]
              const %x_q_range_min: f32[] = [-12.8]
              %x_q_range = Clip(%x, %x_q_range_min, %x_q_range_max) name="x_quant/range"
              %g: f32[1,2] = Gemm(%x_q_range, %w, %b) {transB=1} name="fc"
              %y: f32[1,2] = Add(%g, %x_q_range) name="residual"
              return %y
            }
            """)
        XCTAssertEqual(statistics["dequantized"], 2)
        XCTAssertEqual(statistics["removed-pairs"], 1)
        XCTAssertEqual(
            statistics.warnings,
            [
                "DequantizeLinear \"w_dequant\": int8 weight dequantized: the NPU has no int8; this tensor will be recalibrated",
                "QuantizeLinear \"x_quant\": uint8 activation \"x\" dequantized: the NPU has no uint8; "
                    + "this tensor will be recalibrated",
            ])
    }

    func testFP8ThatTheNPUCannotKeepIsDequantizedWithTheReason() throws {
        let (after, statistics) = try importQDQ(
            """
            graph main(%x: f32[2,2]) -> (%y: f32[*]) {
              const %s: f32[2] = [0.5, 0.25]
              const %w_q: f8e4m3[2,2] = [1.0, 2.0, 3.0, 4.0]
              const %z: f8e4m3[2] = [0.0, 0.0]
              %x_q = QuantizeLinear(%x, %s, %z) {axis=1} name="x_quant"
              %x_dq = DequantizeLinear(%x_q, %s, %z) {axis=1} name="x_dequant"
              %w = DequantizeLinear(%w_q, %s) {axis=0} name="w_dequant"
              %y = MatMul(%x_dq, %w) name="mm"
              return %y
            }
            """)
        // MatMul's output channels are the weight's last axis; these scales run along axis 0.
        // The removed per-axis pair clamps each channel to ±448 times its scale.
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2,2]) -> (%y: f32[*]) {
              const %w: f32[2,2] = [0.5, 1.0, 0.75, 1.0]
              const %x_q_range_max: f32[1,2] = [224.0, 112.0]
              const %x_q_range_min: f32[1,2] = [-224.0, -112.0]
              %x_q_range_low = Max(%x, %x_q_range_min) name="x_quant/range_low"
              %x_q_range = Min(%x_q_range_low, %x_q_range_max) name="x_quant/range"
              %y: f32[2,2] = MatMul(%x_q_range, %w) name="mm"
              return %y
            }
            """)
        XCTAssertEqual(
            statistics.warnings,
            [
                "DequantizeLinear \"w_dequant\": fp8 e4m3 weight dequantized: its scales are not per output channel of "
                    + "MatMul \"mm\"; this tensor will be recalibrated",
                "QuantizeLinear \"x_quant\": fp8 e4m3 activation \"x\" dequantized: its scale is per axis, the NPU's "
                    + "activation scales are per tensor; this tensor will be recalibrated",
            ])
    }

    /// No Q/DQ, halves that disagree, a quantized value that is a graph output or read by
    /// another op, a DequantizeLinear of a graph input: nothing changes.
    func testWhereItMustNotFire() throws {
        let cases = [
            """
            graph main(%x: f32[2]) -> (%y: f32[2]) {
              %y: f32[2] = Relu(%x)
              return %y
            }
            """,
            """
            graph main(%x: f32[2]) -> (%y: f32[2]) {
              const %s: f32[] = [0.5]
              const %t: f32[] = [0.25]
              const %w: f32[2,2] = [1.0, 2.0, 3.0, 4.0]
              const %z: f8e4m3[] = [0.0]
              %x_q: f8e4m3[2] = QuantizeLinear(%x, %s, %z)
              %x_dq: f32[2] = DequantizeLinear(%x_q, %t, %z)
              %y: f32[2] = MatMul(%x_dq, %w)
              return %y
            }
            """,
            """
            graph main(%x: f32[2]) -> (%y: f32[2], %x_q: f8e4m3[2]) {
              const %s: f32[] = [0.5]
              const %w: f32[2,2] = [1.0, 2.0, 3.0, 4.0]
              const %z: f8e4m3[] = [0.0]
              %x_q: f8e4m3[2] = QuantizeLinear(%x, %s, %z)
              %x_dq: f32[2] = DequantizeLinear(%x_q, %s, %z)
              %y: f32[2] = MatMul(%x_dq, %w)
              return %y, %x_q
            }
            """,
            """
            graph main(%x: i8[2]) -> (%y: f32[2]) {
              const %s: f32[] = [0.5]
              const %w: f32[2,2] = [1.0, 2.0, 3.0, 4.0]
              %x_dq: f32[2] = DequantizeLinear(%x, %s)
              %y: f32[2] = MatMul(%x_dq, %w)
              return %y
            }
            """,
        ]
        for before in cases {
            var graph = try IRParser.parseGraph(before)
            let statistics = try ImportQDQ().run(&graph, PassContext())
            XCTAssertTrue(statistics.isEmpty && statistics.warnings.isEmpty, "\(statistics)")
            XCTAssertEqual(printed(graph), before)
        }
    }

    /// The fp8 model computes bit for bit what its Q/DQ nodes computed, with a scale whose
    /// amax (448 * scale) does not divide back to the scale in float32: that is what
    /// `npucc.activation_scale` is for. Canonicalization runs the pass.
    func testTheInterpreterComputesWhatTheQDQNodesComputed() throws {
        let candidates: [Float] = [0.013, 0.0071, 0.0173, 0.021, 0.0379, 0.047, 0.0913]
        let s = try XCTUnwrap(candidates.first { ($0 * 448) / 448 != $0 }, "a scale that amax / 448 misses")
        var rng = SeededRandom(seed: 5)
        let codes = (0..<(6 * 4 * 3 * 3)).map { _ in Float.random(in: -448...448, using: &rng) }
        let weights = Tensor(codes, shape: [6, 4, 3, 3]).cast(to: .float8e4m3fn)
        var b = GraphBuilder()
        b.input("x", .float32, [.symbol("N"), .known(4), .known(6), .known(6)])
        b.constant("s", Tensor(scalar: s))
        b.constant("z", Tensor([Float(0)], shape: []).cast(to: .float8e4m3fn))
        b.constant("w_q", weights)
        b.constant("w_s", Tensor((1...6).map { Float($0) * 0.0007 }, shape: [6]))
        b.node("QuantizeLinear", ["x", "s", "z"], outputs: ["x_q"], name: "x_quant")
        b.node("DequantizeLinear", ["x_q", "s", "z"], outputs: ["x_dq"], name: "x_dequant")
        b.node("DequantizeLinear", ["w_q", "w_s"], ["axis": .int(0)], outputs: ["w"], name: "w_dequant")
        b.node("Conv", ["x_dq", "w"], ["pads": .ints([1, 1, 1, 1])], outputs: ["y"], name: "conv")
        b.output("y")
        let x = Tensor((0..<(2 * 4 * 36)).map { _ in Float.random(in: -2...2, using: &rng) * s * 100 }, shape: [2, 4, 6, 6])
        // The Q/DQ nodes run as ONNX defines them, the Conv in the NPU's product order (the
        // order every quantized layer follows, schemas/formats.md), as it will after import.
        var reference = b.graph
        reference.nodes[3].attributes["npucc.weight_format"] = .string("fp8")
        let before = try XCTUnwrap(try Interpreter(graph: reference).run(["x": x])["y"])

        var graph = b.graph
        let stats = try Pipeline.canonicalize.run(&graph, PassContext())
        XCTAssertEqual(graph.nodes.map(\.op), ["Conv"], printed(graph))
        XCTAssertEqual(graph.nodes[0].float("npucc.activation_scale"), s)
        XCTAssertEqual(stats.first { $0.tag == "import-qdq" }?.statistics["fp8-weights"], 1)
        let after = try XCTUnwrap(try Interpreter(graph: graph).run(["x": x])["y"])
        XCTAssertTrue(after.bitwiseEqual(before))
    }
}
