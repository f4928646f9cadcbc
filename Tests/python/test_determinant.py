"""Det in the interpreter: `npucc run` gives each square matrix's determinant as onnxruntime
does and as numpy's float64 LU rounds it, batched or not, for singular and permuted matrices,
a matrix with a NaN, and a float16 model; non-square matrices are refused by node, and compile
refuses Det by node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from conftest import interpreted, interpreted_and_onnxruntime, run_npucc

RNG = np.random.default_rng(0)


def model(path, shape, dtype=T.FLOAT, opset=11):
    m = h.make_model(h.make_graph(
        [h.make_node("Det", ["x"], ["y"], name="det")], "g",
        [h.make_tensor_value_info("x", dtype, list(shape))],
        [h.make_tensor_value_info("y", dtype, list(shape[:-2]))]),
        opset_imports=[h.make_opsetid("", opset)])
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(path))


def matrices(shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    flat = x.reshape(-1, shape[-1], shape[-1])
    if len(flat) > 1:
        flat[1] = flat[0][::-1]  # the same rows in another order: the sign follows the swaps
    if len(flat) > 2:
        flat[2, -1] = 2 * flat[2, 0]  # singular
    return x


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 3), (5, 5), (4, 6, 6), (2, 3, 4, 4), (3, 9, 9)])
def test_determinants_as_onnxruntime_and_numpy_compute_them(tmp_path, shape):
    model(tmp_path / "d.onnx", shape)
    x = matrices(shape)
    got, theirs = interpreted_and_onnxruntime(tmp_path / "d.onnx", {"x": x}, tmp_path)
    exact = np.linalg.det(x.astype(np.float64))
    assert got["y"].dtype == np.float32 and got["y"].shape == exact.shape
    # The float64 elimination rounded once: within a few float64 units of numpy's LU, so
    # equal after rounding to float32 but where the two round a tie differently.
    scale = np.abs(x.astype(np.float64)).max(axis=(-2, -1)) ** shape[-1]
    np.testing.assert_allclose(got["y"], exact, rtol=1e-6, atol=1e-12 * scale.max())
    # onnxruntime eliminates in float32.
    np.testing.assert_allclose(got["y"], theirs["y"], rtol=1e-4, atol=1e-5 * scale.max())
    if len(x.reshape(-1, shape[-1], shape[-1])) > 2:
        flat = got["y"].reshape(-1)
        assert flat[1] == (flat[0] if shape[-1] % 4 in (0, 1) else -flat[0])
        assert abs(flat[2]) <= 1e-5 * scale.max()


def test_a_nan_gives_nan_and_the_empty_matrix_gives_one(tmp_path):
    model(tmp_path / "d.onnx", (2, 3, 3))
    x = matrices((2, 3, 3))
    x[1, 2, 1] = np.nan
    got = interpreted(tmp_path / "d.onnx", {"x": x}, tmp_path)["y"]
    assert np.isfinite(got[0]) and np.isnan(got[1])
    model(tmp_path / "e.onnx", (2, 0, 0))
    got = interpreted(tmp_path / "e.onnx", {"x": np.zeros((2, 0, 0), np.float32)}, tmp_path)["y"]
    np.testing.assert_array_equal(got, [1, 1])


def test_a_float16_models_determinants_are_those_of_its_values(tmp_path):
    # A float16 model is read as float32 (its values exactly): the determinants of the
    # float16 matrices, rounded to float32.
    model(tmp_path / "d.onnx", (3, 4, 4), T.FLOAT16, opset=22)
    x = matrices((3, 4, 4)).astype(np.float16)
    got = interpreted(tmp_path / "d.onnx", {"x": x}, tmp_path)["y"]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.linalg.det(x.astype(np.float64)), rtol=1e-6, atol=1e-12)


def test_matrices_that_are_not_square_are_refused_by_node(tmp_path):
    m = h.make_model(h.make_graph(
        [h.make_node("Det", ["x"], ["y"], name="det")], "g",
        [h.make_tensor_value_info("x", T.FLOAT, [2, 3, 4])], [h.make_tensor_value_info("y", T.FLOAT, [2])]),
        opset_imports=[h.make_opsetid("", 11)])
    onnx.save(m, str(tmp_path / "d.onnx"))
    np.savez(tmp_path / "in.npz", x=np.zeros((2, 3, 4), np.float32))
    r = run_npucc("run", tmp_path / "d.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1 and not (tmp_path / "out.npz").exists()
    assert 'node Det "det" (opset 11): input [2,3,4] holds 3 x 4 matrices: Det takes square ones' in r.stderr, r.stderr


def test_compile_refuses_det_by_node(tmp_path):
    model(tmp_path / "d.onnx", (4, 4))
    r = run_npucc("compile", tmp_path / "d.onnx", "-o", tmp_path / "d.npub", "--precision", "fp16")
    assert r.returncode == 1 and not (tmp_path / "d.npub").exists()
    assert 'node Det "det" (opset 11): cannot lower Det' in r.stderr, r.stderr
