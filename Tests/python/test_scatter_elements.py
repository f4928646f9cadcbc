"""ScatterElements (torch's scatter, scatter_add and scatter_reduce) and opset 9's Scatter,
imported as a ScatterND of the data read as one column: along any axis, with negative
indices and fewer indices than the data holds along another axis, every reduction, the
interpreter computes them as onnxruntime does; with constant indices (constants scattered
into a layer's output) the bundle runs bit for bit as the fake-quant interpreter runs the
model (with a reduction, a `scatter` combining each update with the value there); an index
outside the axis is refused when the model runs."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(2020)


def scatter_model(path, shape, index_shape, axis, reduction=None, op="ScatterElements", opset=18):
    attributes = dict(axis=axis) | ({"reduction": reduction} if reduction else {})
    graph = helper.make_graph([helper.make_node(op, ["x", "i", "u"], ["y"], name="scatter", **attributes)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape)),
                               helper.make_tensor_value_info("i", TensorProto.INT64, index_shape),
                               helper.make_tensor_value_info("u", TensorProto.FLOAT, index_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def distinct_indices(shape, index_shape, axis):
    """Indices along `axis` distinct within each line (no two updates meet, as reduction none
    needs), half of them counted from the end."""
    n = shape[axis]
    lines = np.moveaxis(np.zeros(index_shape, np.int64), axis, -1)
    for position in np.ndindex(lines.shape[:-1]):
        chosen = RNG.permutation(n)[:lines.shape[-1]]
        lines[position] = np.where(RNG.random(len(chosen)) < 0.5, chosen - n, chosen)
    return np.moveaxis(lines, -1, axis)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("op,reduction,opset", [("ScatterElements", None, 18), ("ScatterElements", "add", 18),
                                                ("ScatterElements", "mul", 18), ("ScatterElements", "max", 18),
                                                ("ScatterElements", "min", 18), ("Scatter", None, 9)])
def test_scatter_elements_along_each_axis_as_onnxruntime(tmp_path, axis, op, reduction, opset):
    shape, index_shape = (3, 4, 5), [3, 4, 5]
    index_shape[axis] -= 1  # fewer indices than the axis holds
    index_shape[(axis + 1) % 3] -= 1  # and fewer positions than the data along another axis
    if reduction:  # indices repeated: the updates meeting at an element reduce in order
        indices = RNG.integers(-shape[axis], shape[axis], index_shape).astype(np.int64)
    else:
        indices = distinct_indices(shape, index_shape, axis)
    scatter_model(tmp_path / "m.onnx", shape, index_shape, axis, reduction, op, opset)
    feeds = {"x": RNG.standard_normal(shape).astype(np.float32), "i": indices,
             "u": RNG.standard_normal(index_shape).astype(np.float32)}
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", feeds, tmp_path)
    if reduction in ("add", "mul"):  # repeated updates summed or multiplied in order, as onnxruntime does
        np.testing.assert_allclose(got["y"], want["y"], rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got["y"], want["y"])
    assert not np.array_equal(got["y"], feeds["x"])


def one_hot_model(path, reduction="none"):
    """x [2, 6] -> MatMul 6x5 -> scatter of constants at constant class indices along the last
    axis (set, or with reduction add the class scores nudged), then a second layer."""
    inits = [numpy_helper.from_array((RNG.standard_normal((6, 5)) / 2).astype(np.float32), "w"),
             numpy_helper.from_array((RNG.standard_normal((5, 4)) / 2).astype(np.float32), "w2"),
             numpy_helper.from_array(np.array([[1, -1], [3, 0]], np.int64), "classes"),
             numpy_helper.from_array(np.array([[1.0, 0.5], [2.0, -1.0]], np.float32), "ones")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="proj"),
             helper.make_node("ScatterElements", ["m", "classes", "ones"], ["s"], axis=1, reduction=reduction,
                              name="nudge"),
             helper.make_node("MatMul", ["s", "w2"], ["y"], name="head")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


@pytest.mark.parametrize("reduction", ["none", "add"])
def test_constant_indices_after_a_layer_as_onnxruntime(tmp_path, reduction):
    one_hot_model(tmp_path / "m.onnx", reduction)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": RNG.standard_normal((2, 6)).astype(np.float32)},
                                            tmp_path)
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reduction", ["none", "add"])
@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_constant_indices_compile_to_the_interpreters_bits(tmp_path, precision, reduction):
    one_hot_model(tmp_path / "m.onnx", reduction)
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((2, 6)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 6)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz", extra=["--input-shape", "x=2,6"])
    assert_same_bits(sim, fq, ["y"])


def test_an_index_outside_the_axis_is_refused_when_the_model_runs(tmp_path):
    scatter_model(tmp_path / "m.onnx", (3, 4), [3, 2], 1)
    np.savez(tmp_path / "in.npz", x=np.ones((3, 4), np.float32), i=np.array([[0, 1], [2, 4], [3, -5]], np.int64),
             u=np.ones((3, 2), np.float32))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1
    assert "scatter/ScatterElements" in r.stderr, r.stderr
    assert not (tmp_path / "out.npz").exists()
