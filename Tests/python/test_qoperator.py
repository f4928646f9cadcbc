"""Operator-form quantized models (onnxruntime's quantize_static with QuantFormat.QOperator:
QLinearConv, QLinearMatMul, com.microsoft's QLinearAdd, QLinearMul, QLinearSigmoid,
QLinearLeakyRelu, QLinearConcat, QLinearAveragePool, QLinearGlobalAveragePool, QLinearSoftmax,
QGemm, and 8-bit codes through MaxPool, Pad, Slice, Resize, Gather, Reshape, Transpose,
Flatten and ArgMax): imported as float ops between Q/DQ pairs, the codes of every tensor
against onnxruntime's integer kernels, compiled bundles against the fake-quant interpreter,
and the errors for what is not read."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted
from test_qdq import npucc_run

F32 = np.float32
N = helper.make_node


def weight(rng, name, shape, s=0.3):
    return numpy_helper.from_array((rng.standard_normal(shape) * s).astype(F32), name)


def residual_model(rng):
    """Conv, MaxPool, a residual Add, Sigmoid times its input, LeakyRelu, Concat, AveragePool,
    GlobalAveragePool, Flatten, MatMul, Add of a constant, Gemm: x [1, 3, 16, 16] -> y [1, 5]."""
    inits = [weight(rng, "w1", [8, 3, 3, 3]), weight(rng, "b1", [8], 0.1), weight(rng, "w2", [8, 8, 3, 3], 0.2),
             weight(rng, "b2", [8], 0.1), weight(rng, "w3", [8, 8, 1, 1]), weight(rng, "w4", [16, 16, 3, 3], 0.15),
             weight(rng, "fc", [16, 10]), weight(rng, "fcb", [10], 0.1), weight(rng, "g", [10, 5]),
             weight(rng, "gb", [5], 0.1)]
    nodes = [N("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]), N("Relu", ["c1"], ["r1"]),
             N("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             N("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]), N("Add", ["c2", "p1"], ["a2"]),
             N("Relu", ["a2"], ["r2"]), N("Conv", ["r2", "w3"], ["c3"]), N("Sigmoid", ["c3"], ["s3"]),
             N("Mul", ["c3", "s3"], ["m3"]), N("LeakyRelu", ["r2"], ["l2"], alpha=0.1),
             N("Concat", ["m3", "l2"], ["cat"], axis=1), N("Conv", ["cat", "w4"], ["c4"], pads=[1, 1, 1, 1]),
             N("AveragePool", ["c4"], ["ap"], kernel_shape=[2, 2], strides=[2, 2]),
             N("GlobalAveragePool", ["ap"], ["gap"]), N("Flatten", ["gap"], ["f"]), N("MatMul", ["f", "fc"], ["mm"]),
             N("Add", ["mm", "fcb"], ["h"]), N("Gemm", ["h", "g", "gb"], ["y"])]
    graph = helper.make_graph(nodes, "residual", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    return graph, 13


def moving_model(rng, opset):
    """Codes through MaxPool, Pad, Slice, nearest Resize, Gather, Reshape, Transpose and ArgMax,
    with a Softmax (opset 12's default axis, or -1) and a MatMul whose Relu the quantizer drops:
    x [1, 3, 8, 8] -> c2, ga, r (float) and am (int64)."""
    def i64(name, v):
        return numpy_helper.from_array(np.array(v, np.int64), name)
    inits = [weight(rng, "w1", [8, 3, 3, 3]), weight(rng, "b1", [8], 0.1), weight(rng, "w2", [6, 6, 1, 1]),
             i64("shape", [1, 8, 64]), i64("pads", [0, 0, 1, 1, 0, 0, 1, 1]), i64("starts", [1]), i64("ends", [7]),
             i64("axes", [1]), i64("idx", [0, 2, 3]), weight(rng, "fc", [8, 6]),
             numpy_helper.from_array(np.array([1, 1, 2, 2], F32), "scales"), numpy_helper.from_array(np.array([], F32), "roi")]
    softmax = N("Softmax", ["t"], ["sm"]) if opset < 13 else N("Softmax", ["t"], ["sm"], axis=-1)
    nodes = [N("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             N("MaxPool", ["c1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]), N("Pad", ["p1", "pads"], ["pd"]),
             N("Slice", ["pd", "starts", "ends", "axes"], ["sl"]),
             N("Resize", ["sl", "roi", "scales"], ["rs"], mode="nearest"), N("Conv", ["rs", "w2"], ["c2"]),
             N("Gather", ["c1", "idx"], ["ga"], axis=1), N("Reshape", ["c1", "shape"], ["rh"]),
             N("Transpose", ["rh"], ["t"], perm=[0, 2, 1]), softmax, N("MatMul", ["sm", "fc"], ["mm"]),
             N("Relu", ["mm"], ["r"]), N("ArgMax", ["c2"], ["am"], axis=1, keepdims=0)]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ["c2", "ga", "r"]]
    outputs.append(helper.make_tensor_value_info("am", TensorProto.INT64, None))
    graph = helper.make_graph(nodes, "moving", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              outputs, inits)
    return graph, opset


class Samples(CalibrationDataReader):
    def __init__(self, shape, seed):
        rng = np.random.default_rng(seed)
        self.samples = iter([{"x": rng.standard_normal(shape).astype(F32)} for _ in range(8)])

    def get_next(self):
        return next(self.samples, None)


def quantized(folder, graph, opset, per_channel, activations):
    """The float model quantized by onnxruntime into operator form; returns its path."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, folder / "float.onnx")
    shape = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    path = folder / "qop.onnx"
    # uint8 activations by int8 weights: 7-bit weights, else onnxruntime's AVX2 kernels on a CPU
    # without VNNI saturate a pair of products in 16 bits (onnxruntime's own advice for U8S8).
    quantize_static(str(folder / "float.onnx"), str(path), Samples(shape, 2), quant_format=QuantFormat.QOperator,
                    per_channel=per_channel, activation_type=activations, weight_type=QuantType.QInt8,
                    reduce_range=activations == QuantType.QUInt8)
    return path


CASES = {
    "residual-per-tensor-uint8": (residual_model, None, False, QuantType.QUInt8),
    "residual-per-channel-int8": (residual_model, None, True, QuantType.QInt8),
    "residual-per-channel-uint8": (residual_model, None, True, QuantType.QUInt8),
    "moving-opset12": (moving_model, 12, True, QuantType.QUInt8),
    "moving-opset13": (moving_model, 13, True, QuantType.QUInt8),
}


def case_model(tmp_path, case):
    build, opset, per_channel, activations = CASES[case]
    rng = np.random.default_rng(0)
    graph, opset = build(rng) if opset is None else build(rng, opset)
    return quantized(tmp_path, graph, opset, per_channel, activations)


def onnxruntime_outputs(path, feeds):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def with_codes_as_outputs(path, element_type):
    """The model with every tensor of codes also a graph output: npucc then keeps each pair
    (its codes are read outside the pair) and computes every code as the Q/DQ nodes define it.
    Codes: what QuantizeLinear and the quantized ops give, and what moves them (onnx's shape
    inference does not type com.microsoft ops)."""
    model = onnx.load(str(path))
    codes = []
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear" or n.op_type.startswith("QLinear") or n.op_type == "QGemm" or (
                n.op_type not in ("DequantizeLinear", "ArgMax") and n.input[0] in codes):
            codes += [o for o in n.output if o]
    for c in codes:
        model.graph.output.append(helper.make_tensor_value_info(c, element_type, None))
    out = path.with_name("codes.onnx")
    onnx.save(model, out)
    return out, codes


def grid_input(path, shape, seed):
    """Input values on the grid of the model's input codes, so its first QuantizeLinear is exact."""
    model = onnx.load(str(path))
    quantize = next(n for n in model.graph.node if n.op_type == "QuantizeLinear")
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    s, z = init[quantize.input[1]], init[quantize.input[2]]
    info = np.iinfo(z.dtype)
    codes = np.clip(np.round(np.random.default_rng(seed).standard_normal(shape) * 1.5 / s) + z, info.min, info.max)
    return {"x": ((codes - z.astype(F32)) * s).astype(F32)}


@pytest.mark.parametrize("case", list(CASES))
def test_every_code_is_onnxruntimes(tmp_path, case):
    path = case_model(tmp_path, case)
    ops = [(n.domain, n.op_type) for n in onnx.load(str(path)).graph.node]
    assert ("", "QLinearConv") in ops
    element_type = TensorProto.UINT8 if CASES[case][3] == QuantType.QUInt8 else TensorProto.INT8
    codes_model, codes = with_codes_as_outputs(path, element_type)
    assert len(codes) >= 10
    shape = [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    compared = differing = 0
    for seed in range(3):
        feeds = grid_input(path, shape, seed)
        want = onnxruntime_outputs(codes_model, feeds)
        got, _ = npucc_run(tmp_path, codes_model, feeds)
        assert sorted(got) == sorted(want)
        for name, w in want.items():
            g = got[name]
            assert g.dtype == w.dtype and g.shape == w.shape, name
            if name in codes:
                # onnxruntime sums integer products and scales once; npucc sums the float
                # products of the dequantized values: a code may round the other way where the
                # exact value lies within float32 rounding of a half step.
                d = np.abs(g.astype(np.int32) - w.astype(np.int32))
                assert d.max() <= 1, name
                compared += d.size
                differing += int((d > 0).sum())
            elif w.dtype == np.int64:
                np.testing.assert_array_equal(g, w)
    assert compared > 10000 and differing <= compared // 1000, (differing, compared)


def test_the_float_model_npucc_reads_and_its_warnings(tmp_path):
    """Without the codes as outputs, each pair is a removed integer pair: one warning per
    tensor, a clamp to its codes' range, and the weights dequantized exactly."""
    path = case_model(tmp_path, "residual-per-channel-int8")
    r = run_npucc("dump-ir", path)
    assert r.returncode == 0, r.stderr
    assert "QLinear" not in r.stdout and "QGemm" not in r.stdout
    for op in ["Conv", "MatMul", "Gemm", "Add", "Mul", "Sigmoid", "LeakyRelu", "Concat", "AveragePool",
               "GlobalAveragePool", "MaxPool", "Flatten"]:
        assert f"= {op}(" in r.stdout, op
    # Four convolutions, the MatMul's and the Gemm's weights; the activations' pairs (the
    # output's stays, a graph output).
    weights = [l for l in r.stderr.splitlines() if "int8 weight dequantized" in l]
    assert len(weights) == 6, r.stderr
    assert any('QLinearConv_dequantize_weight"' in l for l in weights)
    assert r.stderr.splitlines()[-1].startswith("npucc: ") and r.stderr.splitlines()[-1].endswith(" warnings")
    # The first convolution's weight is onnxruntime's codes times their scale per channel.
    model = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    conv = next(n for n in model.graph.node if n.op_type == "QLinearConv")
    codes, scale = init[conv.input[3]].astype(F32), init[conv.input[4]].astype(F32)
    r = run_npucc("dump-ir", path, "--constants")
    line = next(l for l in r.stdout.splitlines() if "const %" in l and "dequantize_weight" in l and "[8,3,3,3]" in l)
    values = np.frombuffer(bytes.fromhex(line.split("= 0x")[1]), "<f4")
    np.testing.assert_array_equal(values, (codes * scale.reshape(8, 1, 1, 1)).ravel())


@pytest.mark.parametrize("case,precision,sparsity", [
    ("residual-per-channel-uint8", "fp16", "none"), ("residual-per-tensor-uint8", "nvfp4", "2:4"),
    ("moving-opset12", "fp8", "none")])
def test_bundles_compute_as_the_fake_quant_interpreter(tmp_path, case, precision, sparsity):
    path = case_model(tmp_path, case)
    shape = [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(4)
    np.savez(tmp_path / "x.npz", x=rng.standard_normal(shape).astype(F32))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal([8] + shape[1:]).astype(F32))
    sim, fq = simulated_and_interpreted(path, tmp_path / "x.npz", tmp_path, precision, sparsity, tmp_path / "calib.npz")
    assert_same_bits(sim, fq, list(fq.keys()))


def qgemm_model(path, alpha, trans_b):
    """x [3, 6] -> QuantizeLinear -> QGemm (alpha, transB, an int32 bias) -> its codes and
    their DequantizeLinear."""
    rng = np.random.default_rng(8)
    b = rng.integers(-10, 11, (4, 6) if trans_b else (6, 4)).astype(np.int8)
    inits = [numpy_helper.from_array(v, n) for n, v in [
        ("xs", np.array(0.05, F32)), ("xz", np.array(3, np.uint8)), ("b", b),
        ("bs", np.array([0.01, 0.02, 0.015, 0.03], F32)), ("bz", np.zeros(4, np.int8)),
        ("c", rng.integers(-400, 400, 4).astype(np.int32)), ("ys", np.array(0.03, F32)), ("yz", np.array(128, np.uint8))]]
    nodes = [N("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             N("QGemm", ["xq", "xs", "xz", "b", "bs", "bz", "c", "ys", "yz"], ["yq"], domain="com.microsoft",
               alpha=alpha, transB=trans_b),
             N("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    graph = helper.make_graph(nodes, "qgemm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4]),
                               helper.make_tensor_value_info("yq", TensorProto.UINT8, [3, 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)]),
              path)


@pytest.mark.parametrize("alpha,trans_b", [(1.0, 0), (2.0, 1), (0.5, 0)])
def test_qgemm_scales_its_bias_by_alpha(tmp_path, alpha, trans_b):
    qgemm_model(tmp_path / "m.onnx", alpha, trans_b)
    x = {"x": ((np.random.default_rng(9).integers(0, 60, (3, 6)) - 3) * F32(0.05)).astype(F32)}
    want = onnxruntime_outputs(tmp_path / "m.onnx", x)
    got, _ = npucc_run(tmp_path, tmp_path / "m.onnx", x)
    assert len(np.unique(want["yq"])) > 8 and 0 < want["yq"].min() and want["yq"].max() < 255
    np.testing.assert_array_equal(got["yq"], want["yq"])
    np.testing.assert_array_equal(got["y"], want["y"])


def refused(tmp_path, nodes, inits, message, outputs=None):
    graph = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, n) for n, v in inits.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)]),
              tmp_path / "bad.onnx")
    r = run_npucc("compile", tmp_path / "bad.onnx", "-o", tmp_path / "bad.npub", "--precision", "fp16")
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "bad.npub").exists()


PARAMETERS = {"s": np.array(0.1, F32), "z": np.array(128, np.uint8), "t": np.array(0.2, F32)}


def test_channels_last_pools_are_refused_by_name(tmp_path):
    nodes = [N("QuantizeLinear", ["x", "s", "z"], ["q"]),
             N("QLinearGlobalAveragePool", ["q", "s", "z", "t", "z"], ["p"], domain="com.microsoft", name="gap",
               channels_last=1),
             N("DequantizeLinear", ["p", "t", "z"], ["y"])]
    refused(tmp_path, nodes, PARAMETERS, 'node QLinearGlobalAveragePool "gap" (opset 13): channels_last layouts are not supported')


def test_a_concat_of_codes_of_two_scales_is_refused_by_name(tmp_path):
    nodes = [N("QuantizeLinear", ["x", "s", "z"], ["a"]), N("QuantizeLinear", ["x", "t", "z"], ["b"]),
             N("Concat", ["a", "b"], ["c"], axis=1, name="join"), N("DequantizeLinear", ["c", "s", "z"], ["y"])]
    refused(tmp_path, nodes, PARAMETERS,
            'node Concat "join" (opset 13): input 1 ("b") holds codes of another scale or zero point than input 0\'s')


def test_other_microsoft_ops_are_refused_with_the_domain(tmp_path):
    nodes = [N("QuantizeLinear", ["x", "s", "z"], ["q"]),
             N("QLinearReduceMean", ["q", "s", "z", "t", "z"], ["m"], domain="com.microsoft", name="mean", axes=[1]),
             N("DequantizeLinear", ["m", "t", "z"], ["y"])]
    refused(tmp_path, nodes, PARAMETERS, 'node QLinearReduceMean "mean": operator domain "com.microsoft" is not supported')
