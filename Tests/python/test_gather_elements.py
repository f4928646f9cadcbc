"""GatherElements (torch.gather) along any axis, with negative indices and with indices
smaller than the data along other axes; the values at an ArgMax (`x.gather(-1,
x.argmax(-1, keepdim=True))`) computed on the NPU: the interpreter computes them as
onnxruntime does, and the bundle runs bit for bit as the fake-quant interpreter runs the
model."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, simulated_and_interpreted

RNG = np.random.default_rng(1919)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements_along_each_axis_as_onnxruntime(tmp_path, axis):
    shape, index_shape = (3, 4, 5), [3, 4, 5]
    index_shape[axis] = 6  # more indices than the axis holds, each repeated or counted from the end
    n = shape[axis]
    index_shape[(axis + 1) % 3] -= 1  # fewer positions than the data along another axis
    indices = RNG.integers(-n, n, index_shape).astype(np.int64)
    graph = helper.make_graph([helper.make_node("GatherElements", ["x", "i"], ["y"], axis=axis)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape)),
                               helper.make_tensor_value_info("i", TensorProto.INT64, index_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, index_shape)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    feeds = {"x": RNG.standard_normal(shape).astype(np.float32), "i": indices}
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", feeds, tmp_path)
    np.testing.assert_array_equal(got["y"], want["y"])


def argmax_model(path, product=False):
    """x [2, 6, 8] -> MatMul 8x8 -> the value at each row's ArgMax, by GatherElements (and,
    with `product`, the product itself as a second output)."""
    w = numpy_helper.from_array((RNG.standard_normal((8, 8)) / 3).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="proj"),
             helper.make_node("ArgMax", ["m"], ["at"], axis=-1, keepdims=1),
             helper.make_node("GatherElements", ["m", "at"], ["y"], axis=-1, name="pick")]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6, 1])]
    if product:
        outputs.append(helper.make_tensor_value_info("m", TensorProto.FLOAT, [2, 6, 8]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6, 8])],
                              outputs, [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_the_values_at_an_argmax_as_onnxruntime(tmp_path):
    # Each picks the largest of its own row of products; the products agree with onnxruntime's
    # to float32 rounding (their last bit depends on the BLAS kernels' order of summation).
    argmax_model(tmp_path / "m.onnx", product=True)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": RNG.standard_normal((2, 6, 8)).astype(np.float32)},
                                            tmp_path)
    np.testing.assert_allclose(got["m"], want["m"], rtol=1e-6, atol=1e-6)
    for outputs in (got, want):
        m = outputs["m"]
        np.testing.assert_array_equal(outputs["y"], np.take_along_axis(m, m.argmax(-1)[..., None], -1))
    gaps = np.sort(want["m"], -1)
    assert (gaps[..., -1] - gaps[..., -2]).min() > 1e-4  # one clear largest, so both pick it
    np.testing.assert_array_equal(got["m"].argmax(-1), want["m"].argmax(-1))


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_the_values_at_an_argmax_run_on_the_simulator_as_the_interpreter_runs_them(tmp_path, precision):
    argmax_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((2, 6, 8)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 2, 6, 8)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
