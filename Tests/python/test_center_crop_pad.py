"""CenterCropPad (opset 18), imported as a Pad (negative pads crop): cropping and padding,
odd and even differences, named and negative axes, compute as onnxruntime computes them,
with the target a constant or given as the model runs; after a convolution the bundle runs
bit for bit as the fake-quant interpreter runs the model. EyeLike, a constant once its
input's extents are known, likewise."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(1717)
SHAPE = [1, 4, 7, 6]


def crop_model(path, target, axes=None, given=False, conv=False):
    """x -> (conv 4 -> 4) -> CenterCropPad to `target` (a constant, or with `given` an input)."""
    attributes = {"axes": axes} if axes is not None else {}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv")] if conv else []
    nodes.append(helper.make_node("CenterCropPad", ["c" if conv else "x", "t"], ["y"], name="crop", **attributes))
    inits = [numpy_helper.from_array((RNG.standard_normal((4, 4, 3, 3)) / 4).astype(np.float32), "w")] if conv else []
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)]
    if given:
        inputs.append(helper.make_tensor_value_info("t", TensorProto.INT64, [len(target)]))
    else:
        inits.append(numpy_helper.from_array(np.array(target, np.int64), "t"))
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


CASES = {
    "crop_and_pad": dict(target=[1, 4, 4, 9]),            # rows cropped by 3 (1 before), columns padded by 3 (1 before)
    "even": dict(target=[1, 4, 5, 10]),
    "named_axes": dict(target=[3, 5], axes=[2, 3]),
    "negative_axes": dict(target=[2, 8], axes=[-3, -1]),  # channels cropped, columns padded
}


@pytest.mark.parametrize("given", [False, True], ids=["constant", "given"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_center_crop_pad_as_onnxruntime(tmp_path, case, given):
    crop_model(tmp_path / "m.onnx", given=given, **CASES[case])
    feeds = {"x": RNG.standard_normal(SHAPE).astype(np.float32)}
    if given:
        feeds["t"] = np.array(CASES[case]["target"], np.int64)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", feeds, tmp_path)
    np.testing.assert_array_equal(got["y"], want["y"])


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_after_a_convolution_the_bundle_runs_as_the_interpreter(tmp_path, precision):
    crop_model(tmp_path / "m.onnx", conv=True, **CASES["crop_and_pad"])
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal(SHAPE).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal([4] + SHAPE[1:]).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])


@pytest.mark.parametrize("k,dtype", [(0, None), (2, TensorProto.INT64), (-1, TensorProto.FLOAT)])
def test_eye_like_as_onnxruntime(tmp_path, k, dtype):
    attributes = dict(k=k) | ({"dtype": dtype} if dtype else {})
    graph = helper.make_graph([helper.make_node("EyeLike", ["x"], ["e"], **attributes),
                               helper.make_node("Cast", ["e"], ["y"], to=TensorProto.FLOAT)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "m.onnx")
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": np.zeros((4, 6), np.float32)}, tmp_path)
    np.testing.assert_array_equal(got["y"], want["y"])
    assert got["y"].sum() == (4 if k == 0 else 4 if k == 2 else 3)
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 0 and "EyeLike" not in r.stdout, r.stdout


def test_what_cannot_be_imported_is_refused_by_node(tmp_path):
    """An axis named twice; an EyeLike whose extents are symbolic (fixed by --input-shape)."""
    crop_model(tmp_path / "crop.onnx", target=[3, 5], axes=[2, -2])
    r = run_npucc("dump-ir", tmp_path / "crop.onnx")
    assert r.returncode == 1
    assert 'node CenterCropPad "crop" (opset 18): axes [2, 2] name an axis twice' in r.stderr, r.stderr
    graph = helper.make_graph([helper.make_node("EyeLike", ["x"], ["y"], name="eye")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "eye.onnx")
    r = run_npucc("dump-ir", tmp_path / "eye.onnx")
    assert r.returncode == 1
    assert 'node EyeLike "eye" (opset 18): needs a rank-2 input whose extents are known' in r.stderr, r.stderr
    r = run_npucc("dump-ir", tmp_path / "eye.onnx", "--input-shape", "x=3,6")
    assert r.returncode == 0, r.stderr
