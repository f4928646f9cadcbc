"""Unique in the interpreter: `npucc run` gives onnxruntime's distinct values or slices, first
places, inverse places and counts, sorted and in order of appearance; compile refuses it by
node, as what it keeps is known only from the values."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from conftest import interpreted_and_onnxruntime, run_npucc

RNG = np.random.default_rng(0)
OUTPUTS = ["y", "indices", "inverse", "counts"]


def model(path, dtype, shape, axis, ordered):
    attributes = {"sorted": ordered} if axis is None else {"sorted": ordered, "axis": axis}
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    rank = 1 if axis is None else len(shape)
    m = h.make_model(h.make_graph(
        [h.make_node("Unique", ["x"], OUTPUTS, name="unique", **attributes)], "g",
        [h.make_tensor_value_info("x", elem, list(shape))],
        [h.make_tensor_value_info("y", elem, [None] * rank)]
        + [h.make_tensor_value_info(name, T.INT64, [None]) for name in OUTPUTS[1:]]),
        opset_imports=[h.make_opsetid("", 11)])
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(path))


@pytest.mark.parametrize("ordered", [1, 0])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_unique_gives_what_onnxruntime_gives(tmp_path, dtype, axis, ordered):
    # Few distinct values, so that elements and slices repeat; -0 beside +0 among the floats.
    x = RNG.integers(-2, 3, (6, 4, 3)).astype(dtype)
    x[1] = x[4]
    x[:, 2] = x[:, 0]
    if dtype == np.float32:
        x[0, 0, 0], x[3, 3, 2] = -0.0, 0.0
    model(tmp_path / "u.onnx", dtype, x.shape, axis, ordered)
    got, want = interpreted_and_onnxruntime(tmp_path / "u.onnx", {"x": x}, tmp_path)
    for name in OUTPUTS:
        assert got[name].dtype == want[name].dtype and got[name].shape == want[name].shape, name
        assert got[name].tobytes() == want[name].tobytes(), name
    assert len(want["y"]) < x.size


def test_compile_refuses_unique_by_node(tmp_path):
    model(tmp_path / "u.onnx", np.float32, (4, 3), None, 1)
    r = run_npucc("compile", tmp_path / "u.onnx", "-o", tmp_path / "u.npub")
    assert r.returncode == 1 and not (tmp_path / "u.npub").exists()
    assert ('node Unique "unique" (opset 11): value "y" has no static type: how many distinct values it finds '
            "depends on the values it reads") in r.stderr, r.stderr
