"""Operators ONNX defines as functions of others (Celu, ThresholdedRelu, Shrink, IsNaN,
IsInf, Hardmax, MeanVarianceNormalization, and Xor), imported as the ops their function bodies name:
the interpreter computes them as onnxruntime does, on inputs holding NaN and infinities, and
after a convolution the bundle runs bit for bit as the fake-quant interpreter runs the model
(MeanVarianceNormalization's axes [0, 2, 3] reduce as [2, 3] for a batch of one)."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(3131)
SHAPE = [2, 3, 4, 5]
CASES = {
    "celu": ("Celu", dict(alpha=0.5)),
    "thresholded": ("ThresholdedRelu", dict(alpha=0.3)),
    "shrink": ("Shrink", dict(lambd=0.4, bias=0.1)),
    "isnan": ("IsNaN", {}),
    "isinf": ("IsInf", {}),
    "isinf_negative": ("IsInf", dict(detect_positive=0)),
    "hardmax": ("Hardmax", {}),
    "hardmax_channels": ("Hardmax", dict(axis=1)),
    "mvn": ("MeanVarianceNormalization", {}),
    "mvn_planes": ("MeanVarianceNormalization", dict(axes=[2, 3])),
}
BOOLEAN = {"IsNaN", "IsInf"}


def model(path, conv, names, shape=SHAPE):
    """x (or a 3x3 Conv of it) into each case's op, each op's output a graph output (a bool
    one selects between 0 and x, so that every output is float32)."""
    inits = [numpy_helper.from_array((RNG.standard_normal((3, 3, 3, 3)) / 3).astype(np.float32), "w"),
             numpy_helper.from_array(np.float32(0), "zero")]
    source = "c" if conv else "x"
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv")] if conv else []
    for name in names:
        op, attributes = CASES[name]
        if op in BOOLEAN and conv:
            nodes += [helper.make_node(op, [source], [name + "_b"], name=name, **attributes),
                      helper.make_node("Where", [name + "_b", "zero", source], [name])]
        else:
            nodes.append(helper.make_node(op, [source], [name], name=name, **attributes))
    outputs = [helper.make_tensor_value_info(n, TensorProto.BOOL if CASES[n][0] in BOOLEAN and not conv
                                             else TensorProto.FLOAT, shape) for n in names]
    graph = helper.make_graph(nodes, "functions", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)], outputs,
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_computes_as_onnxruntime(tmp_path, name):
    model(tmp_path / "m.onnx", False, [name])
    x = RNG.standard_normal(SHAPE).astype(np.float32)
    if name.startswith("hardmax"):
        # NaN left out: onnxruntime's Hardmax gives its row no 1 at all, the
        # interpreter's ArgMax takes the NaN as numpy's does; ONNX leaves it undefined.
        x.flat[:3] = [np.inf, -np.inf, 0.4]
    elif not name.startswith("mvn"):
        x.flat[:4] = [np.nan, np.inf, -np.inf, 0.4]
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    assert got[name].dtype == want[name].dtype
    np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_after_a_convolution_they_run_on_the_simulator_as_the_interpreter_runs_them(tmp_path, precision):
    names = sorted(CASES)
    shape = [1] + SHAPE[1:]
    model(tmp_path / "m.onnx", True, names, shape)
    x = (2 * RNG.standard_normal(shape)).astype(np.float32)
    x.flat[:3] = [np.nan, np.inf, -np.inf]
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal([4] + shape).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, names)


def test_xor_of_two_masks_as_onnxruntime_and_on_the_simulator(tmp_path):
    """Xor(x > 0, y < 0.5) broadcast against a [5] mask, selecting between x and 0, as RT-DETR's
    mask logic writes it."""
    nodes = [helper.make_node("Greater", ["x", "zero"], ["p"]), helper.make_node("Less", ["y", "half"], ["q"]),
             helper.make_node("Xor", ["p", "q"], ["r"], name="xor"),
             helper.make_node("Where", ["r", "x", "zero"], ["out"]),
             helper.make_node("Cast", ["r"], ["flags"], to=TensorProto.FLOAT)]
    inits = [numpy_helper.from_array(np.float32(0), "zero"), numpy_helper.from_array(np.float32(0.5), "half")]
    graph = helper.make_graph(nodes, "xor", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5]),
                                             helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [2, 3, 5]),
                               helper.make_tensor_value_info("flags", TensorProto.FLOAT, [2, 3, 5])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    x, y = RNG.standard_normal((2, 3, 5)).astype(np.float32), np.array([0, 1, 0.25, 0.75, 0.5], np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x, "y": y}, tmp_path)
    np.testing.assert_array_equal(got["flags"], want["flags"])
    np.testing.assert_array_equal(got["flags"], np.logical_xor(x > 0, y < 0.5))
    assert 0 < got["flags"].sum() < got["flags"].size
    np.savez(tmp_path / "in.npz", x=x, y=y)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((2, 2, 3, 5)).astype(np.float32),
             y=RNG.standard_normal((2, 5)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "in.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["out", "flags"])


@pytest.mark.parametrize("axis", [None, 1, 2, -1, 0])
def test_hardmax_before_opset_13_takes_the_flattened_axes_from_axis(tmp_path, axis):
    """Opset 11's Hardmax: one 1 per row of the input flattened at `axis` (default 1)."""
    attributes = {} if axis is None else {"axis": axis}
    graph = helper.make_graph([helper.make_node("Hardmax", ["x"], ["y"], name="hard", **attributes)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), tmp_path / "m.onnx")
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_array_equal(got["y"], want["y"])
    start = 1 if axis is None else axis % 3
    assert got["y"].reshape(int(np.prod(x.shape[:start])), -1).sum(axis=1).tolist() == [1] * int(np.prod(x.shape[:start]))


@pytest.mark.parametrize("op,inputs,attributes", [
    ("Celu", ["x"], dict(alpha=0.5, beta=2.0)),
    ("GroupNormalization", ["x", "s", "b"], dict(num_groups=3, groups=3)),
    ("Einsum", ["x"], dict(equation="abcd->abdc", mode=1)),
    ("LSTM", ["x", "w", "r"], dict(hidden_size=2, peepholes=1)),
])
def test_an_attribute_the_operator_does_not_define_is_refused_by_node(tmp_path, op, inputs, attributes):
    """Ops imported as the ops they are made of would otherwise leave such an attribute out."""
    inits = [numpy_helper.from_array(np.ones(3, np.float32), "s"), numpy_helper.from_array(np.zeros(3, np.float32), "b"),
             numpy_helper.from_array(np.ones((1, 8, 5), np.float32), "w"),
             numpy_helper.from_array(np.ones((1, 8, 2), np.float32), "r")]
    graph = helper.make_graph([helper.make_node(op, inputs, ["y"], name="n", **attributes)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4, 5] if op != "LSTM"
                                                             else [2, 3, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [i for i in inits if i.name in inputs])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "m.onnx")
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    unknown = [k for k in attributes if k in ("beta", "groups", "mode", "peepholes")][0]
    assert r.returncode == 1
    assert f'node {op} "n" (opset 18): {op} has no attribute "{unknown}"' in r.stderr, r.stderr
