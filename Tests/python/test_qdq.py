"""QDQ models (QuantizeLinear / DequantizeLinear pairs from quantization-aware training):
`npucc run` against onnxruntime, what import-qdq keeps in the IR (the model's fp8 scales on
its layers) and what it warns about (int8 and the other formats the NPU lacks), the Q/DQ
kernels bit for bit against onnxruntime's, and fp8 models compiled for the NPU."""
import re
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

F32 = np.float32
E4M3 = ml_dtypes.float8_e4m3fn


def ort_run(path, feeds):
    options = ort.SessionOptions()
    # Unfused, so onnxruntime computes what the nodes define (its QDQ fusions would run
    # int8 models as QLinearConv in integers).
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, feeds)


def npucc_run(tmp_path, path, feeds):
    np.savez(tmp_path / "in.npz", **feeds)
    r = run_npucc("run", path, "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    return dict(np.load(tmp_path / "out.npz")), r.stderr


def assert_close(got, want):
    """1e-5 relative to the output's scale (summation order differs from onnxruntime's)."""
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, float(np.abs(want).max()))


def qdq_model(path, kind, activations=True):
    """x [N,3,8,8] -> Q/DQ -> Conv (per-channel weight, bias) -> Relu -> Q/DQ -> MaxPool
    -> Flatten -> Q/DQ -> Gemm (per-tensor weight, transB) -> y.

    kind "fp8": E4M3 everywhere, opset 19 (the Gemm weight stored in int32_data, the Conv
    weight in raw_data). kind "int8": int8 per-channel Conv weight with an int32 bias, a
    uint8 Gemm weight with zero point 128, uint8 activations; opset 13. Without
    `activations`, the same model with the activation pairs left out; with "clip", each
    pair replaced by a Clip to the values it can give."""
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((4, 3, 3, 3)).astype(F32)
    w2 = rng.standard_normal((5, 64)).astype(F32)
    b1 = rng.standard_normal(4).astype(F32)
    b2 = rng.standard_normal(5).astype(F32)
    scales = {"x": F32(0.013), "r": F32(0.021), "f": F32(0.017)}
    inits = [numpy_helper.from_array(b2, "b2"), numpy_helper.from_array(np.array([0, -1], np.int64), "flat_shape")]
    nodes = []
    if kind == "fp8":
        zero = "z"
        inits.append(numpy_helper.from_array(np.array(0, E4M3), "z"))
        s_w1 = (np.abs(w1).reshape(4, -1).max(1) / 448).astype(F32)
        codes1 = (w1 / s_w1[:, None, None, None]).astype(E4M3)
        s_w2 = F32(np.abs(w2).max() / 448)
        codes2 = (w2 / s_w2).astype(E4M3)
        inits += [numpy_helper.from_array(codes1, "w1_q"), numpy_helper.from_array(s_w1, "w1_s"),
                  helper.make_tensor("w2_q", TensorProto.FLOAT8E4M3FN, codes2.shape, codes2.astype(F32).flatten()),
                  numpy_helper.from_array(np.array(s_w2), "w2_s"), numpy_helper.from_array(b1, "b1")]
        nodes += [helper.make_node("DequantizeLinear", ["w1_q", "w1_s"], ["w1"], name="w1_dequant", axis=0),
                  helper.make_node("DequantizeLinear", ["w2_q", "w2_s"], ["w2"], name="w2_dequant")]
        bias = "b1"
        opset = 19
    else:
        zero = "z"
        inits.append(numpy_helper.from_array(np.array(128, np.uint8), "z"))
        s_w1 = (np.abs(w1).reshape(4, -1).max(1) / 127).astype(F32)
        codes1 = np.clip(np.rint(w1 / s_w1[:, None, None, None]), -128, 127).astype(np.int8)
        s_w2 = F32(np.abs(w2).max() / 127)
        codes2 = np.clip(np.rint(w2 / s_w2) + 128, 0, 255).astype(np.uint8)
        s_b1 = (scales["x"] * s_w1).astype(F32)
        codes_b1 = np.rint(b1 / s_b1).astype(np.int32)
        inits += [numpy_helper.from_array(codes1, "w1_q"), numpy_helper.from_array(s_w1, "w1_s"),
                  numpy_helper.from_array(np.zeros(4, np.int8), "w1_z"),
                  numpy_helper.from_array(codes2, "w2_q"), numpy_helper.from_array(np.array(s_w2), "w2_s"),
                  numpy_helper.from_array(np.array(128, np.uint8), "w2_z"),
                  numpy_helper.from_array(codes_b1, "b1_q"), numpy_helper.from_array(s_b1, "b1_s")]
        nodes += [helper.make_node("DequantizeLinear", ["w1_q", "w1_s", "w1_z"], ["w1"], name="w1_dequant", axis=0),
                  helper.make_node("DequantizeLinear", ["w2_q", "w2_s", "w2_z"], ["w2"], name="w2_dequant"),
                  helper.make_node("DequantizeLinear", ["b1_q", "b1_s"], ["b1"], name="b1_dequant", axis=0)]
        bias = "b1"
        opset = 13
    for name, s in scales.items():
        inits.append(numpy_helper.from_array(np.array(s), f"{name}_s"))

    def fake_quant(value):
        if not activations:
            return value
        if activations == "clip":
            low, high = -128, 127  # the uint8 pairs' codes 0 to 255 at zero point 128
            inits.extend([numpy_helper.from_array(F32(low * scales[value]), f"{value}_low"),
                          numpy_helper.from_array(F32(high * scales[value]), f"{value}_high")])
            nodes.append(helper.make_node("Clip", [value, f"{value}_low", f"{value}_high"], [f"{value}_clipped"]))
            return f"{value}_clipped"
        nodes.append(helper.make_node("QuantizeLinear", [value, f"{value}_s", zero], [f"{value}_q"], name=f"{value}_quant"))
        nodes.append(helper.make_node("DequantizeLinear", [f"{value}_q", f"{value}_s", zero], [f"{value}_dq"],
                                      name=f"{value}_dequant"))
        return f"{value}_dq"

    nodes.append(helper.make_node("Conv", [fake_quant("x"), "w1", bias], ["c"], name="conv", pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Relu", ["c"], ["r"], name="relu"))
    nodes.append(helper.make_node("MaxPool", [fake_quant("r")], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]))
    nodes.append(helper.make_node("Reshape", ["p", "flat_shape"], ["f"], name="flatten"))
    nodes.append(helper.make_node("Gemm", [fake_quant("f"), "w2", "b2"], ["y"], name="fc", transB=1))
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return {"w1_s": s_w1, "w2_s": s_w2, **scales}


def feeds():
    return {"x": np.random.default_rng(3).standard_normal((4, 3, 8, 8)).astype(F32)}


def attribute(line, name):
    """The value of attribute `name` in a node line of the text IR, as float32s."""
    m = re.search(name + r"=(\[[^\]]*\]|[^,}]+)", line)
    assert m, f"{name} not in {line}"
    return np.array(re.findall(r"[-0-9.e+]+|nan|inf", m.group(1)), dtype=F32)


def node_line(ir, op):
    lines = [l for l in ir.splitlines() if f"= {op}(" in l]
    assert len(lines) == 1, ir
    return lines[0]


def test_fp8_model_runs_as_onnxruntime_runs_it(tmp_path):
    path = tmp_path / "fp8.onnx"
    qdq_model(path, "fp8")
    got, stderr = npucc_run(tmp_path, path, feeds())
    want = ort_run(path, feeds())[0]
    assert_close(got["y"], want)
    assert "warning" not in stderr
    # The activations really are rounded: the model without its pairs computes otherwise.
    qdq_model(tmp_path / "plain.onnx", "fp8", activations=False)
    assert np.abs(ort_run(tmp_path / "plain.onnx", feeds())[0] - want).max() > 1e-3


def test_fp8_import_keeps_the_models_scales(tmp_path):
    path = tmp_path / "fp8.onnx"
    scales = qdq_model(path, "fp8")
    r = run_npucc("dump-ir", path)
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr
    conv, fc = node_line(r.stdout, "Conv"), node_line(r.stdout, "Gemm")
    for line, weight, activation in [(conv, "w1_s", "x"), (fc, "w2_s", "f")]:
        assert 'npucc.weight_format="fp8"' in line and 'npucc.activation_format="fp8"' in line
        np.testing.assert_array_equal(attribute(line, "npucc.weight_scale"), np.atleast_1d(scales[weight]))
        assert attribute(line, "npucc.activation_scale")[0] == scales[activation]
        assert attribute(line, "npucc.activation_amax")[0] == scales[activation] * F32(448)
    assert conv.split(" = Conv(")[1].startswith("%x, %w1, %b1)")
    assert fc.split(" = Gemm(")[1].startswith("%f, %w2, %b2)")
    # The pair before MaxPool stays (the interpreter runs it); no fp8 weight is left.
    assert r.stdout.count("QuantizeLinear(") == 1 and r.stdout.count("DequantizeLinear(") == 1
    assert "const %w1: f32[4,3,3,3]" in r.stdout and "f8e4m3[4,3,3,3]" not in r.stdout


def test_int8_model_is_dequantized_with_one_warning_per_tensor(tmp_path):
    path = tmp_path / "int8.onnx"
    qdq_model(path, "int8")
    r = run_npucc("dump-ir", path)
    assert r.returncode == 0, r.stderr
    prefix = f"npucc: warning: {path}: "
    expected = [
        'DequantizeLinear "w1_dequant": int8 weight dequantized: the NPU has no int8; this tensor will be recalibrated',
        'DequantizeLinear "w2_dequant": uint8 weight dequantized: the NPU has no uint8; this tensor will be recalibrated',
    ] + [f'QuantizeLinear "{v}_quant": uint8 activation "{v}" dequantized: the NPU has no uint8; '
         "this tensor will be recalibrated" for v in ["x", "r", "f"]]
    # Collected, and summarised after the command's own output.
    assert r.stderr.splitlines() == [prefix + w for w in expected] + ["npucc: 5 warnings"]
    assert "QuantizeLinear(" not in r.stdout and "DequantizeLinear(" not in r.stdout
    assert "npucc." not in r.stdout
    assert "const %b1: f32[4]" in r.stdout  # the int32 bias, dequantized without a warning


def test_int8_weights_dequantize_exactly_and_the_activation_pairs_go(tmp_path):
    path, clipped = tmp_path / "int8.onnx", tmp_path / "int8_clipped.onnx"
    qdq_model(path, "int8")
    qdq_model(clipped, "int8", activations="clip")
    got, stderr = npucc_run(tmp_path, path, feeds())
    assert stderr.count("npucc: warning:") == 5
    # The weights are onnxruntime's dequantized weights; the activations are no longer
    # rounded, but stay within what their pairs could give (uint8 at zero point 128: -128 to
    # 127 steps; x reaches past both ends).
    assert np.abs(feeds()["x"]).max() > 128 * 0.013
    assert_close(got["y"], ort_run(clipped, feeds())[0])
    assert np.abs(got["y"] - ort_run(path, feeds())[0]).max() > 1e-3


def removed_pair_outputs(tmp_path, s, z, tail, seed, **axis):
    """x [1, 3, 8, 8] -> 3x3 Conv to 4 channels -> a QuantizeLinear / DequantizeLinear pair of
    scale `s` and zero point `z` (`axis` when per channel) -> `tail` ("pool": a 2x2 MaxPool,
    "relu"): npucc's and onnxruntime's outputs "y", after checking the pair's warning; then the
    bundle's and the fake-quant interpreter's bits are compared (the clamp lowers too)."""
    inits = [numpy_helper.from_array((np.random.default_rng(seed).standard_normal((4, 3, 3, 3)) * 0.5).astype(F32), "w"),
             numpy_helper.from_array(s, "s"), numpy_helper.from_array(z, "z")]
    last = (helper.make_node("MaxPool", ["dq"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2])
            if tail == "pool" else helper.make_node("Relu", ["dq"], ["y"]))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["c", "s", "z"], ["q"], name="c_quant", **axis),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"], name="c_dequant", **axis), last]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), tmp_path / "m.onnx")
    x = {"x": (np.random.default_rng(seed + 1).standard_normal((1, 3, 8, 8)) * 2).astype(F32)}
    got, stderr = npucc_run(tmp_path, tmp_path / "m.onnx", x)
    assert "QuantizeLinear \"c_quant\"" in stderr and "this tensor will be recalibrated" in stderr
    np.savez(tmp_path / "x.npz", **x)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "x.npz")
    assert_same_bits(sim, fq, ["y"])
    return got["y"], ort_run(tmp_path / "m.onnx", x)[0]


@pytest.mark.parametrize("qtype,zero_point,scale_shape", [
    (np.int8, -128, [1]), (np.uint8, 0, []), (np.int8, 0, []), (np.int16, -7, [])])
def test_a_removed_pair_keeps_the_range_of_its_codes(tmp_path, qtype, zero_point, scale_shape):
    # onnxruntime's quantize_static drops a Relu in front of an int8 pair of zero point -128:
    # the pair gives nothing below 0. Without its rounding, npucc still clamps to what the
    # pair can give, so its output is onnxruntime's within half a step. (That quantizer also
    # writes a scale of shape [1] beside a scalar zero point: one value each, per tensor.)
    s = F32(0.01)
    info = np.iinfo(qtype)
    got, want = removed_pair_outputs(tmp_path, np.full(scale_shape, s, F32), np.array(zero_point, qtype), "pool", 5)
    low, high = F32(info.min - zero_point) * s, F32(info.max - zero_point) * s
    assert got.min() >= low and got.max() <= high
    assert want.min() < 0 or zero_point == info.min  # the clamp at 0 matters where it is one
    np.testing.assert_allclose(got, want, rtol=0, atol=s / 2 + 1e-6)


def test_a_removed_per_axis_pair_keeps_each_channels_range(tmp_path):
    """An int8 pair with a scale and zero point per channel (axis 1): each channel is clamped
    to what its codes give, within half its step of onnxruntime."""
    s = np.array([0.01, 0.02, 0.005, 0.03], F32)
    z = np.array([-128, 0, -20, 100], np.int8)
    got, want = removed_pair_outputs(tmp_path, s, z, "relu", 7, axis=1)
    low = ((-128 - z.astype(np.int32)).astype(F32) * s).reshape(1, 4, 1, 1)
    high = ((127 - z.astype(np.int32)).astype(F32) * s).reshape(1, 4, 1, 1)
    assert (got <= np.maximum(high, 0)).all() and (want >= np.maximum(low, 0) - 1e-6).all()
    assert (want == np.maximum(high, 0)).any()  # some channel's clamp matters
    np.testing.assert_allclose(got, want, rtol=0, atol=float(s.max()) / 2 + 1e-6)


def qdq_pair(path, qtype, opset, saturate=None, per_axis=False, with_codes=True):
    """x [4,3,5] -> QuantizeLinear -> DequantizeLinear -> y, with the codes as an output too
    (`with_codes`). Both are graph outputs, so canonicalization keeps the pair."""
    np_type = {TensorProto.INT8: np.int8, TensorProto.UINT8: np.uint8, TensorProto.FLOAT8E4M3FN: E4M3,
               TensorProto.FLOAT8E5M2: ml_dtypes.float8_e5m2}[qtype]
    scale = np.array([0.02, 0.5, 3.0], F32) if per_axis else np.array(0.05, F32)
    zero = np.array(7 if np_type in (np.int8, np.uint8) else 0).astype(np_type)
    if per_axis:
        zero = np.array([0, 7, -3] if np_type == np.int8 else [0, 0, 0]).astype(np_type)
    axis = {"axis": 1} if per_axis else {}
    q_attrs = dict(axis, **({} if saturate is None else {"saturate": saturate}))
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q", **q_attrs),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq", **axis)]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3, 5])]
    if with_codes:
        outputs.append(helper.make_tensor_value_info("q", qtype, [4, 3, 5]))
    graph = helper.make_graph(nodes, "pair", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 3, 5])], outputs,
                              [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zero, "z")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def pair_input(fp8):
    x = (np.random.default_rng(11).standard_normal((4, 3, 5)) * np.array([1, 10, 1000])[None, :, None]).astype(F32)
    x.flat[:8] = [np.inf, -np.inf, 0.125, -0.0, 0.05 * 2.5, 0.05 * 3.5, 1e9, -1e9]  # ties, overflow
    if fp8:
        x.flat[8] = np.nan
    return x


@pytest.mark.parametrize("qtype,opset,saturate,per_axis", [
    (TensorProto.INT8, 13, None, False), (TensorProto.INT8, 13, None, True), (TensorProto.UINT8, 10, None, False),
    (TensorProto.FLOAT8E4M3FN, 19, 1, False), (TensorProto.FLOAT8E4M3FN, 19, 0, False),
    (TensorProto.FLOAT8E4M3FN, 21, 1, True), (TensorProto.FLOAT8E5M2, 19, 1, False), (TensorProto.FLOAT8E5M2, 19, 0, False),
])
def test_quantize_dequantize_kernels_match_onnxruntime_bit_for_bit(tmp_path, qtype, opset, saturate, per_axis):
    fp8 = qtype in (TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E5M2)
    # onnxruntime's Python API cannot return E5M2 arrays: for E5M2 only y is compared.
    with_codes = qtype != TensorProto.FLOAT8E5M2
    path = tmp_path / "pair.onnx"
    qdq_pair(path, qtype, opset, saturate, per_axis, with_codes)
    x = pair_input(fp8)
    want = ort_run(path, {"x": x})
    got, _ = npucc_run(tmp_path, path, {"x": x})
    y, y_want = got["y"], want[0]
    assert np.array_equal(np.isnan(y), np.isnan(y_want))
    np.testing.assert_array_equal(y[~np.isnan(y)].view(np.uint32), y_want[~np.isnan(y_want)].view(np.uint32))
    if with_codes:
        codes, codes_want = got["q"], want[1]
        np.testing.assert_array_equal(codes.view(np.uint8), codes_want.view(np.uint8))
    if fp8 and saturate == 0:
        assert np.isnan(y).sum() + np.isinf(y).sum() > 1  # overflow really gave NaN / infinity


@pytest.mark.parametrize("qtype,opset", [(TensorProto.FLOAT8E4M3FN, 19), (TensorProto.INT8, 13), (TensorProto.UINT8, 10)])
def test_a_kept_pair_compiles_and_rounds_as_onnxruntime(tmp_path, qtype, opset):
    # A pair alone, its result the graph's output, over NaN, infinities, signed zeros, ties
    # and overflow: the NPU rounds as the two nodes do (fp8: x / s at scale 1, times s, NaN
    # kept; integers: round(x / s) + z clamped, - z, times s, NaN giving 0) and never stores
    # the codes between.
    pair = tmp_path / "pair.onnx"
    qdq_pair(pair, qtype, opset, 1 if qtype == TensorProto.FLOAT8E4M3FN else None, with_codes=False)
    r = run_npucc("compile", pair, "-o", tmp_path / "pair.npub")
    assert r.returncode == 0, r.stderr
    fp8 = qtype == TensorProto.FLOAT8E4M3FN
    # onnxruntime leaves an integer code for NaN to its cast; the interpreter's is z.
    x = pair_input(fp8)
    got, _ = npucc_run(tmp_path, tmp_path / "pair.npub", {"x": x})
    want = ort_run(pair, {"x": x})[0]
    assert np.isnan(x).sum() == fp8 and np.isinf(x).sum() == 2
    assert np.array_equal(np.isnan(got["y"]), np.isnan(want))
    np.testing.assert_array_equal(got["y"][~np.isnan(want)].view(np.uint32), want[~np.isnan(want)].view(np.uint32))
    x = pair_input(True)
    got, _ = npucc_run(tmp_path, tmp_path / "pair.npub", {"x": x})
    interpreted, _ = npucc_run(tmp_path, pair, {"x": x})
    np.testing.assert_array_equal(got["y"].view(np.uint32), interpreted["y"].view(np.uint32))


def test_fp8_models_compile_and_their_bundles_compute_as_the_interpreter(tmp_path):
    # A model from fp8 quantization-aware training: its layers round their inputs with the
    # model's own scales (the input's 0.013 is not amax / 448 in float32 for the amaxes
    # around 448 x 0.013), and
    # the pair before MaxPool stays a pair.
    model = tmp_path / "fp8.onnx"
    qdq_model(model, "fp8")
    r = run_npucc("compile", model, "-o", tmp_path / "m.npub", "--input-shape", "x=1,3,8,8")
    assert r.returncode == 0, r.stderr
    s = F32(0.013)
    assert all(F32(a / F32(448)) != s for a in [np.nextafter(F32(s * F32(448)), F32(d)) for d in (0, 1e9)] + [s * F32(448)])
    got, _ = npucc_run(tmp_path, tmp_path / "m.npub", feeds())
    want, _ = npucc_run(tmp_path, model, feeds())
    np.testing.assert_array_equal(got["y"].view(np.uint32), want["y"].view(np.uint32))
    assert_close(got["y"], ort_run(model, feeds())[0])


def blocked_pair_model(path):
    """x [2, 6] -> QuantizeLinear / DequantizeLinear to int8, scales and zero points per block
    of 4 along axis 1 (the last block short) -> y."""
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="blocked", axis=1, block_size=4),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq", axis=1, block_size=4)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6])],
                              [numpy_helper.from_array(np.array([[0.5, 0.25], [0.125, 2.0]], F32), "s"),
                               numpy_helper.from_array(np.array([[0, 3], [-2, 1]], np.int8), "z")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), path)


def test_a_blocked_activation_pair_runs_as_onnxruntime_and_the_compile_names_it(tmp_path):
    path = tmp_path / "blocked.onnx"
    blocked_pair_model(path)
    x = np.array([[0.3, -1.7, 2.5, 300.0, -0.6, 0.2], [1.1, -0.07, 0.1875, -400.0, 3.3, -5.0]], F32)
    got, _ = npucc_run(tmp_path, path, {"x": x})
    np.testing.assert_array_equal(got["y"].view(np.uint32), ort_run(path, {"x": x})[0].view(np.uint32))
    r = run_npucc("compile", path, "-o", tmp_path / "m.npub")
    assert r.returncode == 1
    assert 'QuantizeLinear "blocked"' in r.stderr, r.stderr
    assert not (tmp_path / "m.npub").exists()


FOUR_BIT = {"int4": ml_dtypes.int4, "uint4": ml_dtypes.uint4}


def blocked_weight_model(path, kind, axis, block, raw=True):
    """x [2, 40] -> MatMul by a [40, 8] weight stored as `kind` codes and dequantized per
    block of `block` along `axis` -> y; the dequantized weight is output "w" too. fp4: E2M1
    codes with E4M3 block scales, themselves dequantized by a float32 scale (NVFP4's two
    levels); int4 and uint4 with zero points per block; int8 and fp8 without."""
    rng = np.random.default_rng(17)
    shape = (40, 8)
    blocks = list(shape)
    blocks[axis] = -(-shape[axis] // block)
    if kind == "fp4":
        values = rng.choice(np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], F32), size=shape) * rng.choice([-1, 1], size=shape)
        codes = values.astype(ml_dtypes.float4_e2m1fn)
    elif kind == "fp8":
        codes = (rng.standard_normal(shape) * 40).astype(E4M3)
    elif kind == "int8":
        codes = rng.integers(-128, 128, size=shape).astype(np.int8)
    else:
        low, high = (-8, 8) if kind == "int4" else (0, 16)
        codes = rng.integers(low, high, size=shape).astype(FOUR_BIT[kind])
    if raw:
        weight = numpy_helper.from_array(codes, "codes")
    else:
        # int32_data: a byte of two 4-bit codes per entry (onnx's own packing).
        weight = helper.make_tensor("codes", TensorProto.FLOAT4E2M1 if kind == "fp4" else
                                    {"int4": TensorProto.INT4, "uint4": TensorProto.UINT4}[kind],
                                    list(shape), codes.astype(F32).flatten().tolist())
        assert len(weight.int32_data) == 160 and not weight.raw_data
    inits, nodes, dq = [weight], [], ["codes", "scale"]
    if kind == "fp4":
        inits += [numpy_helper.from_array(rng.uniform(0.5, 3, blocks).astype(E4M3), "block_scale"),
                  numpy_helper.from_array(np.array(0.0123, F32), "tensor_scale")]
        nodes.append(helper.make_node("DequantizeLinear", ["block_scale", "tensor_scale"], ["scale"]))
    else:
        inits.append(numpy_helper.from_array(rng.uniform(0.01, 0.03, blocks).astype(F32), "scale"))
    if kind in FOUR_BIT:
        low, high = (-8, 8) if kind == "int4" else (0, 16)
        inits.append(numpy_helper.from_array(rng.integers(low, high, size=blocks).astype(FOUR_BIT[kind]), "zero"))
        dq.append("zero")
    nodes += [helper.make_node("DequantizeLinear", dq, ["w"], name="weight", axis=axis, block_size=block),
              helper.make_node("MatMul", ["x", "w"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 40])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8]),
                               helper.make_tensor_value_info("w", TensorProto.FLOAT, list(shape))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    model.ir_version = 11
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return model


@pytest.mark.parametrize("kind", ["fp4", "int4", "uint4", "int8", "fp8"])
@pytest.mark.parametrize("axis,block", [(0, 16), (1, 4), (0, 32)])
def test_blocked_weights_dequantize_bit_for_bit(tmp_path, kind, axis, block):
    # 4-bit codes (two per byte in the file, the last block of 40 along axis 0 short) and
    # blocked scales: the interpreter's weights are the ONNX reference's bit for bit
    # (onnxruntime's too, for the integer types it runs), its product within float32 sums.
    from onnx.reference import ReferenceEvaluator
    path = tmp_path / "blocked.onnx"
    model = blocked_weight_model(path, kind, axis, block)
    x = np.random.default_rng(2).standard_normal((2, 40)).astype(F32)
    y, w = ReferenceEvaluator(model).run(None, {"x": x})
    got, _ = npucc_run(tmp_path, path, {"x": x})
    np.testing.assert_array_equal(got["w"].view(np.uint32), w.view(np.uint32))
    assert_close(got["y"], y)
    if kind in ("int4", "uint4", "int8"):
        np.testing.assert_array_equal(got["w"].view(np.uint32), ort_run(path, {"x": x})[1].view(np.uint32))


@pytest.mark.parametrize("kind", ["fp4", "int4", "uint4"])
def test_four_bit_codes_in_int32_data_read_as_in_raw_data(tmp_path, kind):
    x = np.random.default_rng(3).standard_normal((2, 40)).astype(F32)
    outputs = []
    for raw in (True, False):
        blocked_weight_model(tmp_path / "m.onnx", kind, 0, 16, raw=raw)
        got, _ = npucc_run(tmp_path, tmp_path / "m.onnx", {"x": x})
        outputs.append(got["w"])
    np.testing.assert_array_equal(outputs[0].view(np.uint32), outputs[1].view(np.uint32))


@pytest.mark.parametrize("kind,axis,block", [("fp4", 1, 4), ("int4", 0, 16)])
def test_blocked_weights_compile_requantized_with_one_warning(tmp_path, kind, axis, block):
    # fp4 codes in blocks of 4 along N, not NVFP4's 16 along the reduction.
    path = tmp_path / "blocked.onnx"
    blocked_weight_model(path, kind, axis, block)
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(4).standard_normal((4, 2, 40)).astype(F32))
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(5).standard_normal((2, 40)).astype(F32))
    sim, fq = simulated_and_interpreted(path, tmp_path / "x.npz", tmp_path, "nvfp4", "none", tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
    r = run_npucc("compile", path, "-o", tmp_path / "w.npub", "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    # One warning, for the weight; none for the fp8 block scales it reads.
    name = "fp4 e2m1" if kind == "fp4" else "int4"
    assert r.stderr.count("warning:") == 1 and "npucc: 1 warning" in r.stderr, r.stderr
    assert (f'DequantizeLinear "weight": {name} weight in blocks of {block} along axis {axis} dequantized exactly; '
            "npucc rounds it again with scales of its own, not the model's") in r.stderr


def nvfp4_weight_model(path, op):
    """An NVFP4 weight as quantization tools export it: FLOAT4E2M1 codes, E4M3 block scales
    dequantized by a float32 tensor scale, the codes dequantized in blocks of 16 along the
    reduction (40 long: the last block short), read by `op`: MatMul [40, 8] (axis 0), Gemm
    with transB [8, 40] (axis -1), a 1x1 Conv [8, 40, 1, 1] (axis 1), or "Linear": a
    Linear layer's [8, 40] weight (axis -1) through a Transpose into a MatMul. Some blocks' largest
    code is not 6, one block is all zeros. Returns the model and the dequantized weight."""
    rng = np.random.default_rng(23)
    rows, k = 8, 40
    codes = rng.choice(np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], F32), size=(rows, k)) * rng.choice([-1, 1], size=(rows, k))
    codes[1, 16:32] = 0
    codes[2, :16] = np.minimum(np.abs(codes[2, :16]), 0.5)
    scales = rng.uniform(0.01, 3, (rows, 3)).astype(E4M3)
    if op == "MatMul":
        codes, scales, axis, shape = codes.T, scales.T, 0, [k, rows]
    elif op in ("Gemm", "Linear"):
        axis, shape = -1, [rows, k]
    else:
        axis, shape = 1, [rows, k, 1, 1]
        codes, scales = codes.reshape(shape), scales.reshape(rows, 3, 1, 1)
    inits = [numpy_helper.from_array(codes.astype(ml_dtypes.float4_e2m1fn), "codes"),
             numpy_helper.from_array(scales, "block_scale"),
             numpy_helper.from_array(np.array(0.0071, F32), "tensor_scale")]
    nodes = [helper.make_node("DequantizeLinear", ["block_scale", "tensor_scale"], ["scale"]),
             helper.make_node("DequantizeLinear", ["codes", "scale"], ["w"], name="weight", axis=axis, block_size=16)]
    if op == "Conv":
        nodes.append(helper.make_node("Conv", ["x", "w"], ["y"], name="layer"))
        x_shape, y_shape = [1, k, 2, 2], [1, rows, 2, 2]
    elif op == "Linear":
        nodes += [helper.make_node("Transpose", ["w"], ["w_t"], perm=[1, 0]),
                  helper.make_node("MatMul", ["x", "w_t"], ["y"], name="layer")]
        x_shape, y_shape = [2, k], [2, rows]
    else:
        nodes.append(helper.make_node(op, ["x", "w"], ["y"], name="layer", **({"transB": 1} if op == "Gemm" else {})))
        x_shape, y_shape = [2, k], [2, rows]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    model.ir_version = 11
    onnx.checker.check_model(model)
    onnx.save(model, path)
    from onnx.reference import ReferenceEvaluator
    weight = ReferenceEvaluator(helper.make_model(
        helper.make_graph(nodes[:2], "w", [], [helper.make_tensor_value_info("w", TensorProto.FLOAT, shape)], inits),
        opset_imports=[helper.make_opsetid("", 23)])).run(None, {})[0]
    return model, weight, x_shape


@pytest.mark.parametrize("op", ["MatMul", "Gemm", "Conv", "Linear"])
def test_nvfp4_weights_are_kept_exactly_at_every_precision(tmp_path, op):
    # NVFP4's own two levels map onto npucc's nvfp4 weights: the layer keeps the model's
    # values (the packed codes and scales give them back bit for bit) whatever --precision
    # says, with no warning; the bundle computes what the interpreter does.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    import npub
    path = tmp_path / "nvfp4.onnx"
    _, weight, x_shape = nvfp4_weight_model(path, op)
    assert np.abs(weight).max() > 0 and (weight == 0).sum() >= 16
    r = run_npucc("dump-ir", path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert 'npucc.weight_format="nvfp4", npucc.weight_scale=[0.0071]' in r.stdout, r.stdout
    rng = np.random.default_rng(6)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal([4] + x_shape).astype(F32))
    np.savez(tmp_path / "x.npz", x=rng.standard_normal(x_shape).astype(F32))
    for precision in ["fp16", "fp8", "nvfp4"]:
        sim, fq = simulated_and_interpreted(path, tmp_path / "x.npz", tmp_path, precision, "none", tmp_path / "calib.npz")
        assert_same_bits(sim, fq, ["y"])
        r = run_npucc("inspect", tmp_path / "m.npub")
        kind = "MatMul" if op == "Linear" else op
        assert re.search(r"layer\s+" + kind + r"\s+nvfp4\s+dense", r.stdout), r.stdout
        decoded = npub.decode_weights(str(tmp_path / "m.npub"))["layer"]
        want = weight.T if op == "Linear" else weight
        np.testing.assert_array_equal(decoded.view(np.uint32), want.view(np.uint32))


def test_layers_the_model_fixed_are_not_reassigned_or_pruned(tmp_path):
    path = tmp_path / "fp8.onnx"
    qdq_model(path, "fp8")
    plain, _ = npucc_run(tmp_path, path, feeds())
    np.savez(tmp_path / "calib.npz", x=feeds()["x"])
    for extra in [["--precision", "auto", "--budget", "nvfp4+2:4"], ["--precision", "nvfp4", "--prune", "sparsegpt"]]:
        r = run_npucc("run", path, "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "q.npz",
                      "--calib", tmp_path / "calib.npz", *extra)
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(tmp_path / "q.npz")["y"], plain["y"])
        if extra[1] == "auto":
            assert "conv=" not in r.stdout and "fc=" not in r.stdout, r.stdout


def shared_codes_model(path, qtype, outputs):
    """x -> Conv -> Relu -> QuantizeLinear -> three DequantizeLinears of the same codes (the
    scale and zero point stored twice under other names for one of them) -> `outputs` of
    them graph outputs, the others read by a second Conv -> y."""
    rng = np.random.default_rng(11)
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(F32), "w1"),
        numpy_helper.from_array(rng.standard_normal((8, 8, 3, 3)).astype(F32), "w2"),
        numpy_helper.from_array(np.array(0.05, F32), "s"),
        numpy_helper.from_array(np.array(0.05, F32), "s_again"),
    ]
    inits += [helper.make_tensor("z", qtype, [], [0]), helper.make_tensor("z_again", qtype, [], [0])]
    names = ["feat", "feat_b", "d"]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("QuantizeLinear", ["r1", "s", "z"], ["q1"]),
        helper.make_node("DequantizeLinear", ["q1", "s", "z"], [names[0]]),
        helper.make_node("DequantizeLinear", ["q1", "s_again", "z_again"], [names[1]]),
        helper.make_node("DequantizeLinear", ["q1", "s", "z"], [names[2]]),
    ]
    read = names[outputs:] or [names[0]]
    summed = read[0]
    if len(read) > 1:
        nodes.append(helper.make_node("Sum", read, ["summed"]))
        summed = "summed"
    nodes.append(helper.make_node("Conv", [summed, "w2"], ["y"], pads=[1, 1, 1, 1]))
    value = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 8, 16, 16])
    graph = helper.make_graph(
        nodes, "shared_codes", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [value("y")] + [value(n) for n in names[:outputs]], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.mark.parametrize("qtype", [TensorProto.FLOAT8E4M3FN, TensorProto.INT8])
@pytest.mark.parametrize("outputs", [0, 1, 2])
def test_codes_dequantized_twice_are_one_tensor_to_every_reader(tmp_path, qtype, outputs):
    # A rounded feature map returned as a graph output and read again: the dequantizations
    # of the same codes are one value, which the NPU rounds once, whichever are outputs.
    model = tmp_path / "shared.onnx"
    shared_codes_model(model, qtype, outputs)
    x = np.random.default_rng(3).standard_normal((1, 3, 16, 16)).astype(F32)
    got, stderr = npucc_run(tmp_path, model, {"x": x})
    want = ort_run(model, {"x": x})
    assert len(got) == 1 + outputs
    if qtype == TensorProto.INT8 and outputs == 0:
        # Read by the layer alone, an int8 pair goes (the NPU has no int8), once for the three.
        assert stderr.count("activation \"r1\" dequantized") == 1, stderr
    else:
        for name, w in zip(["y", "feat", "feat_b"], want):
            assert_close(got[name], w)
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(4).standard_normal((4, 3, 16, 16)).astype(F32))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(model, tmp_path / "in.npz", tmp_path, precision, "none", tmp_path / "calib.npz")
        assert sorted(sim.files) == sorted(fq.files) == sorted(["y", "feat", "feat_b"][: 1 + outputs])
        assert_same_bits(sim, fq, sim.files)


def fp4_activation_chain(x, g):
    """TRT_FP4DynamicQuantize (domain trt) of x by g, blocks of 16 along the last axis, and
    the two DequantizeLinears back, in numpy and ml_dtypes: the values the chain computes."""
    *lead, n = x.shape
    blocks = x.reshape(*lead, n // 16, 16)
    scale_codes = ((np.abs(blocks).max(axis=-1, keepdims=True) / F32(6)) / g).astype(E4M3)
    scales = scale_codes.astype(F32) * g
    with np.errstate(divide="ignore", invalid="ignore"):
        codes = np.where(scales > 0, blocks / scales, 0).astype(ml_dtypes.float4_e2m1fn)
    return (codes.astype(F32) * scales).reshape(x.shape)


def fp4_activation_model(path, g, head):
    """x [2, 48] -> TRT_FP4DynamicQuantize by g -> DequantizeLinear of the scale codes by g
    -> DequantizeLinear of the codes in blocks of 16 -> `head`: "matmul" (MatMul by an
    NVFP4 weight [48, 8], as NVIDIA's tools export NVFP4 layers) or "output" (the values
    themselves the graph's output) -> y."""
    rng = np.random.default_rng(29)
    inits = [numpy_helper.from_array(np.array(g, F32), "g")]
    nodes = [
        helper.make_node("TRT_FP4DynamicQuantize", ["x", "g"], ["x_codes", "x_scale_codes"], name="quantize",
                         domain="trt", axis=-1, block_size=16, scale_type=17),
        helper.make_node("DequantizeLinear", ["x_scale_codes", "g"], ["x_scales"]),
        helper.make_node("DequantizeLinear", ["x_codes", "x_scales"], ["xq"], axis=-1, block_size=16),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8 if head == "matmul" else 48])]
    if head == "identity":
        # The identity as an NVFP4 weight: codes 1, block scales 128, tensor scale 2^-7.
        inits += [numpy_helper.from_array(np.eye(48, dtype=F32).astype(ml_dtypes.float4_e2m1fn), "w_codes"),
                  numpy_helper.from_array(np.full((3, 48), 128, F32).astype(E4M3), "w_scale_codes"),
                  numpy_helper.from_array(np.array(2 ** -7, F32), "w_g")]
        nodes += [helper.make_node("DequantizeLinear", ["w_scale_codes", "w_g"], ["w_scales"]),
                  helper.make_node("DequantizeLinear", ["w_codes", "w_scales"], ["w"], axis=0, block_size=16),
                  helper.make_node("MatMul", ["xq", "w"], ["y"], name="layer")]
    elif head == "matmul":
        codes = rng.choice(np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], F32), size=(48, 8)) * rng.choice([-1, 1], size=(48, 8))
        inits += [numpy_helper.from_array(codes.astype(ml_dtypes.float4_e2m1fn), "w_codes"),
                  numpy_helper.from_array(rng.uniform(0.5, 3, (3, 8)).astype(E4M3), "w_scale_codes"),
                  numpy_helper.from_array(np.array(0.0125, F32), "w_g")]
        nodes += [helper.make_node("DequantizeLinear", ["w_scale_codes", "w_g"], ["w_scales"]),
                  helper.make_node("DequantizeLinear", ["w_codes", "w_scales"], ["w"], axis=0, block_size=16),
                  helper.make_node("MatMul", ["xq", "w"], ["y"], name="layer")]
    else:
        nodes.append(helper.make_node("Identity", ["xq"], ["y"]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 48])], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23), helper.make_opsetid("trt", 1)])
    model.ir_version = 11
    onnx.save(model, path)


def fp4_input():
    x = np.random.default_rng(31).standard_normal((2, 48)).astype(F32) * 3
    x[0, 16:32] = 0  # a block of zeros: scale code 0
    x[1, :16] *= 1e-4  # a block whose scale is subnormal in E4M3
    return x


def test_tensorrt_fp4_activation_quantizer_runs_as_nvidia_defines_it(tmp_path):
    path = tmp_path / "fp4_act.onnx"
    g = F32(0.0031)
    fp4_activation_model(path, g, "output")
    x = fp4_input()
    got, _ = npucc_run(tmp_path, path, {"x": x})
    np.testing.assert_array_equal(got["y"].view(np.uint32), fp4_activation_chain(x, g).view(np.uint32))
    # Not read by a layer, the chain stays, and the NPU has no lowering for the op.
    r = run_npucc("compile", path, "-o", tmp_path / "m.npub")
    assert r.returncode == 1 and 'TRT_FP4DynamicQuantize "quantize"' in r.stderr, r.stderr
    assert not (tmp_path / "m.npub").exists()


@pytest.mark.parametrize("g", [0.0029296875, 0.0031])
def test_tensorrt_nvfp4_activations_round_exactly_as_the_op(tmp_path, g):
    # Through an NVFP4 identity (every product exact), the layer's output is its rounded
    # input: the interpreter's and the bundle's equal the op's bit for bit, with the
    # model's tensor scale (which for 0.0031 no range gives as amax / 2688).
    path = tmp_path / "identity.onnx"
    g = F32(g)
    fp4_activation_model(path, g, "identity")
    x = fp4_input()
    want = fp4_activation_chain(x, g) + F32(0)  # a sum of products gives +0 for the op's -0
    got, _ = npucc_run(tmp_path, path, {"x": x})
    np.testing.assert_array_equal(got["y"].view(np.uint32), want.view(np.uint32))
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(8).standard_normal((4, 2, 48)).astype(F32))
    sim, _ = simulated_and_interpreted(path, tmp_path / "x.npz", tmp_path, "fp16", "none", tmp_path / "calib.npz")
    np.testing.assert_array_equal(sim["y"].view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("g", [0.0029296875, 0.0031])
def test_tensorrt_nvfp4_layers_become_npucc_nvfp4_layers(tmp_path, g):
    # NVFP4 weights and activations as NVIDIA's quantization tools export a layer: the layer
    # carries nvfp4 with the model's tensor scales, computes what the exported chain
    # computes, and compiles to a bundle that computes what the interpreter does. 0.0031 is
    # amax / 2688 of no float32 amax: the layer keeps g itself (`quant`'s scale flag on the
    # NPU), not a range.
    path = tmp_path / "nvfp4_layer.onnx"
    g = F32(g)
    fp4_activation_model(path, g, "matmul")
    r = run_npucc("dump-ir", path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    layer = node_line(r.stdout, "MatMul").strip()
    assert "TRT_FP4DynamicQuantize" not in r.stdout and "DequantizeLinear" not in r.stdout, r.stdout
    assert layer.startswith("%y: f32[2,8] = MatMul(%x, "), layer
    assert 'npucc.activation_format="nvfp4"' in layer
    assert attribute(layer, "npucc.activation_scale")[0] == g
    x = fp4_input()
    got, _ = npucc_run(tmp_path, path, {"x": x})
    from onnx.reference import ReferenceEvaluator
    model = onnx.load(path)
    w = ReferenceEvaluator(helper.make_model(
        helper.make_graph(list(model.graph.node)[3:5], "w", [], [helper.make_tensor_value_info("w", TensorProto.FLOAT, [48, 8])],
                          list(model.graph.initializer)), opset_imports=[helper.make_opsetid("", 23)])).run(None, {})[0]
    assert_close(got["y"], fp4_activation_chain(x, g) @ w)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(8).standard_normal((4, 2, 48)).astype(F32))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(path, tmp_path / "x.npz", tmp_path, precision, "none", tmp_path / "calib.npz")
        assert_same_bits(sim, fq, ["y"])
        np.testing.assert_array_equal(fq["y"].view(np.uint32), got["y"].view(np.uint32))
    # Exported as a QDQ model, onnxruntime rounds with the same tensor scale.
    r = run_npucc("export", path, "-o", tmp_path / "qdq.onnx", "--qdq", "--precision", "nvfp4", "--calib",
                  tmp_path / "calib.npz")
    assert r.returncode == 0, r.stderr
    assert_close(ort_run(tmp_path / "qdq.onnx", {"x": x})[0], got["y"])


@pytest.mark.parametrize("op", ["Gemm", "Conv"])
def test_tensorrt_nvfp4_activations_of_gemm_and_conv(tmp_path, op):
    # The same chain before a Gemm (blocks along its input's last axis) and a Conv (blocks
    # along the channels, axis 1): the layer rounds as the chain does.
    rng = np.random.default_rng(37)
    g = F32(0.0029296875)
    if op == "Gemm":
        x_shape, axis, w = [2, 48], -1, rng.standard_normal((8, 48)).astype(F32)
        layer = helper.make_node("Gemm", ["xq", "w"], ["y"], name="layer", transB=1)
        y_shape = [2, 8]
    else:
        x_shape, axis, w = [1, 32, 3, 3], 1, rng.standard_normal((4, 32, 3, 3)).astype(F32)
        layer = helper.make_node("Conv", ["xq", "w"], ["y"], name="layer", pads=[1, 1, 1, 1])
        y_shape = [1, 4, 3, 3]
    nodes = [
        helper.make_node("TRT_FP4DynamicQuantize", ["x", "g"], ["x_codes", "x_scale_codes"], name="quantize",
                         domain="trt", axis=axis, block_size=16, scale_type=17),
        helper.make_node("DequantizeLinear", ["x_scale_codes", "g"], ["x_scales"]),
        helper.make_node("DequantizeLinear", ["x_codes", "x_scales"], ["xq"], axis=axis, block_size=16),
        layer,
    ]
    inits = [numpy_helper.from_array(np.array(g, F32), "g"), numpy_helper.from_array(w, "w")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23), helper.make_opsetid("trt", 1)])
    model.ir_version = 11
    path = tmp_path / "layer.onnx"
    onnx.save(model, path)
    r = run_npucc("dump-ir", path)
    assert r.returncode == 0 and "TRT_FP4DynamicQuantize" not in r.stdout, r.stdout + r.stderr
    assert 'npucc.activation_format="nvfp4"' in node_line(r.stdout, op)
    x = (rng.standard_normal(x_shape) * 2).astype(F32)
    got, _ = npucc_run(tmp_path, path, {"x": x})
    # What the chain gives, through the float layer alone (onnxruntime).
    moved = np.moveaxis(x, 1, -1) if op == "Conv" else x
    rounded = fp4_activation_chain(moved, g)
    rounded = np.moveaxis(rounded, -1, 1) if op == "Conv" else rounded
    plain = helper.make_model(helper.make_graph(
        [layer], "plain", [helper.make_tensor_value_info("xq", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], [inits[1]]),
        opset_imports=[helper.make_opsetid("", 21)])
    onnx.save(plain, tmp_path / "plain.onnx")
    assert_close(got["y"], ort_run(tmp_path / "plain.onnx", {"xq": rounded})[0])
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal([4] + x_shape).astype(F32))
    sim, fq = simulated_and_interpreted(path, tmp_path / "x.npz", tmp_path, "nvfp4", "none", tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])


def four_bit_weight_model(path, weight, scale, **attributes):
    """x [2, 4] -> MatMul by DequantizeLinear(weight, scale) -> y [2, 3]."""
    graph = helper.make_graph(
        [helper.make_node("DequantizeLinear", ["w", "s"], ["wd"], **attributes), helper.make_node("MatMul", ["x", "wd"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [weight, numpy_helper.from_array(scale, "s")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)]), path)


def short_raw_int4():
    w = numpy_helper.from_array(np.zeros((4, 3), ml_dtypes.int4), "w")
    w.raw_data = w.raw_data[:-1]
    return w


def short_int32_fp4():
    w = helper.make_tensor("w", TensorProto.FLOAT4E2M1, [4, 3], [0.5] * 12)
    del w.int32_data[-1]
    return w


@pytest.mark.parametrize("weight,scale,attributes,message", [
    (short_raw_int4, np.array(0.1, F32), {}, 'initializer "w": raw_data has 5 bytes but INT4 [4, 3] needs 6'),
    (short_int32_fp4, np.array(0.1, F32), {},
     'initializer "w": int32_data holds 5 entries but FLOAT4E2M1 [4, 3] needs 6 (two elements each)'),
    (lambda: numpy_helper.from_array(np.zeros((4, 3), np.int8), "w"), np.ones((3, 3), F32), {"axis": 0, "block_size": 2},
     "the scale [3,3] does not give one value per block of 2 along axis 0 of the input [4,3]"),
])
def test_bad_four_bit_and_blocked_weights_are_refused_by_name(tmp_path, weight, scale, attributes, message):
    path = tmp_path / "bad.onnx"
    four_bit_weight_model(path, weight(), scale, **attributes)
    r = run_npucc("compile", path, "-o", tmp_path / "m.npub")
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "m.npub").exists()
