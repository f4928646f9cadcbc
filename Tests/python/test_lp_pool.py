"""LpPool and GlobalLpPool, imported as (Σ |x|^p)^(1/p) over each window (an AveragePool of
|x|^p counting its padding, times the window's size) or over the planes: p 1, 2 and 3,
strides, pads, auto_pad and opset 1's float p compute as onnxruntime computes them; after a
convolution the bundle runs bit for bit as the fake-quant interpreter runs the model;
ceil_mode is refused by node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(1818)
SHAPE = [1, 4, 7, 6]


def pool_model(path, op="LpPool", opset=18, conv=False, **attributes):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv")] if conv else []
    nodes.append(helper.make_node(op, ["c" if conv else "x"], ["y"], name="pool", **attributes))
    inits = [numpy_helper.from_array((RNG.standard_normal((4, 4, 3, 3)) / 4).astype(np.float32), "w")] if conv else []
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


CASES = {
    "p2": dict(kernel_shape=[3, 3]),
    "p1_strides_pads": dict(kernel_shape=[3, 2], p=1, strides=[2, 2], pads=[1, 0, 1, 1]),
    "p3_same_upper": dict(kernel_shape=[2, 3], p=3, auto_pad="SAME_UPPER"),
    "p2_dilated": dict(kernel_shape=[2, 2], dilations=[2, 2]),
    "global_p2": dict(op="GlobalLpPool"),
    "global_p3": dict(op="GlobalLpPool", p=3),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_lp_pooling_computes_as_onnxruntime(tmp_path, case):
    pool_model(tmp_path / "m.onnx", **CASES[case])
    x = RNG.standard_normal(SHAPE).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-6)


def test_opset_1s_float_p_computes_as_the_integer_p_of_later_opsets(tmp_path):
    """onnxruntime has no LpPool-1: its result is the opset-18 model's."""
    pool_model(tmp_path / "old.onnx", kernel_shape=[2, 2], p=3.0, opset=1)
    pool_model(tmp_path / "new.onnx", kernel_shape=[2, 2], p=3)
    x = RNG.standard_normal(SHAPE).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "old.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "old.npz")
    assert r.returncode == 0, r.stderr
    _, want = interpreted_and_onnxruntime(tmp_path / "new.onnx", {"x": x}, tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "old.npz")["y"], want["y"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["p2", "p1_strides_pads", "global_p2"])
@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_after_a_convolution_the_bundle_runs_as_the_interpreter(tmp_path, case, precision):
    pool_model(tmp_path / "m.onnx", conv=True, **CASES[case])
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal(SHAPE).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal([4] + SHAPE[1:]).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])


def test_ceil_mode_is_refused_by_node(tmp_path):
    pool_model(tmp_path / "m.onnx", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 1
    assert 'node LpPool "pool" (opset 18): ceil_mode 1 is not supported' in r.stderr, r.stderr
