"""Models that compute in float16 or bfloat16, as onnxconverter-common's
convert_float_to_float16 writes them (with and without float32 inputs and outputs) and as
mixed-precision training leaves them: npucc reads their weights and values as float32,
exactly, says so once, takes float16 and bfloat16 input arrays (ml_dtypes' bfloat16, which
numpy saves as two raw bytes), and compiles them like float32 models.
A float32 model that only stores a weight as float16, or rounds a value to float16 and
back, is left as it is."""
import zipfile

import ml_dtypes
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(1616)
F16 = TensorProto.FLOAT16


def half_conv_model(path, keep_io_types):
    """x -> Conv 3x3 (float16 weight and bias) -> Relu -> Conv 1x1 -> y, all float16; with
    `keep_io_types`, float32 x and y cast to and from float16 at the edges."""
    w1 = numpy_helper.from_array((RNG.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float16), "w1")
    b1 = numpy_helper.from_array((RNG.standard_normal(8) * 0.1).astype(np.float16), "b1")
    w2 = numpy_helper.from_array((RNG.standard_normal((4, 8, 1, 1)) * 0.3).astype(np.float16), "w2")
    x, y = ("x16", "y16") if keep_io_types else ("x", "y")
    nodes = [helper.make_node("Conv", [x, "w1", "b1"], ["c"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], [y], name="conv2")]
    if keep_io_types:
        nodes = ([helper.make_node("Cast", ["x"], ["x16"], to=F16, name="input_cast")] + nodes
                 + [helper.make_node("Cast", ["y16"], ["y"], to=TensorProto.FLOAT, name="output_cast")])
    io = TensorProto.FLOAT if keep_io_types else F16
    graph = helper.make_graph(nodes, "half", [helper.make_tensor_value_info("x", io, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", io, [1, 4, 8, 8])], [w1, b1, w2])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.mark.parametrize("keep_io_types", [False, True])
def test_a_float16_model_runs_in_float32_and_compiles(tmp_path, keep_io_types):
    half_conv_model(tmp_path / "m.onnx", keep_io_types)
    x = RNG.random((1, 3, 8, 8)).astype(np.float16)
    np.savez(tmp_path / "x.npz", x=x)  # float16 arrays, as onnxruntime takes them, for either form
    feed = x if not keep_io_types else x.astype(np.float32)
    want = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": feed})[0].astype(np.float32)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    warning = "the model computes in float16 (or bfloat16): npucc reads its weights and values as float32, exactly"
    assert r.stderr.count(warning) == 1
    assert ("inputs x and outputs y are float32" in r.stderr) == (not keep_io_types)
    got = np.load(tmp_path / "y.npz")["y"]
    assert got.dtype == np.float32
    # onnxruntime rounds every value to float16 on the way; npucc keeps float32 throughout.
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-3 * np.abs(want).max())
    np.savez(tmp_path / "calib.npz", x=RNG.random((4, 1, 3, 8, 8)).astype(np.float16))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                            tmp_path / "calib.npz")
        assert_same_bits(sim, fq, ["y"])


def test_a_model_that_casts_its_activations_to_float16_computes_in_float32(tmp_path):
    # A mixed-precision export: float32 weights and input, the input cast to float16 and
    # multiplied there (the weight cast too), the result cast back.
    w = (RNG.standard_normal((6, 5)) * 0.5).astype(np.float32)
    nodes = [helper.make_node("Cast", ["x"], ["x16"], to=F16), helper.make_node("Cast", ["w"], ["w16"], to=F16),
             helper.make_node("MatMul", ["x16", "w16"], ["y16"], name="mm"),
             helper.make_node("Cast", ["y16"], ["y"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])],
                              [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    x = RNG.standard_normal((2, 6)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 0 and "computes in float16 (or bfloat16)" in r.stderr, r.stderr
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["y"], x @ w, rtol=1e-5, atol=1e-5)


def test_a_bfloat16_weight_is_widened_exactly(tmp_path):
    # A bfloat16 model (MatMul's operands of one type, as ONNX defines them) given float32
    # values that bfloat16 holds exactly: the product of the widened weight, in float32.
    w = (RNG.standard_normal((6, 5)) * 0.5).astype(ml_dtypes.bfloat16)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [2, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [2, 5])],
                              [helper.make_tensor("w", TensorProto.BFLOAT16, w.shape, w.view(np.uint16).tobytes(),
                                                  raw=True)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    x = RNG.standard_normal((2, 6)).astype(ml_dtypes.bfloat16).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0 and "computes in float16 (or bfloat16)" in r.stderr, r.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["y"], x @ w.astype(np.float32), rtol=1e-6, atol=1e-6)


def test_a_bfloat16_model_takes_bfloat16_arrays_to_run_calibrate_and_simulate(tmp_path):
    """A bfloat16 model's input arrays as ml_dtypes writes them ('<V2' in the .npz): read as
    bfloat16, widened exactly; calibration and the bundle take them too."""
    bf16 = TensorProto.BFLOAT16
    w = (RNG.standard_normal((8, 4)) * 0.5).astype(ml_dtypes.bfloat16)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
                              [helper.make_tensor_value_info("x", bf16, [2, 8])],
                              [helper.make_tensor_value_info("y", bf16, [2, 4])],
                              [helper.make_tensor("w", bf16, w.shape, w.view(np.uint16).tobytes(), raw=True)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    x = RNG.standard_normal((2, 8)).astype(ml_dtypes.bfloat16)
    np.savez(tmp_path / "x.npz", x=x)
    with zipfile.ZipFile(tmp_path / "x.npz") as z:
        assert b"'descr': '<V2'" in z.read("x.npy")[:128]
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0 and "inputs x and outputs y are float32" in r.stderr, r.stderr
    want = x.astype(np.float32) @ w.astype(np.float32)
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["y"], want, rtol=1e-6, atol=1e-6)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 2, 8)).astype(ml_dtypes.bfloat16))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
    # Two raw bytes are all such an array says: one of another width is still refused.
    np.savez(tmp_path / "bad.npz", x=np.zeros((2, 2), "V4"))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "bad.npz", "--outputs", tmp_path / "o.npz")
    assert r.returncode == 1 and "unsupported dtype '|V4' (numeric, bool and bfloat16 arrays only)" in r.stderr, r.stderr
    assert not (tmp_path / "o.npz").exists()


def test_a_float32_model_that_stores_or_rounds_to_float16_is_left_as_it_is(tmp_path):
    # A weight stored as float16 and cast to float32 (as `npucc export` writes fp16 layers),
    # and a value rounded to float16 and back: no warning, and the rounding happens.
    w = (RNG.standard_normal((6, 5)) * 0.5).astype(np.float16)
    nodes = [helper.make_node("Cast", ["w16"], ["w"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["x"], ["x16"], to=F16),
             helper.make_node("Cast", ["x16"], ["xr"], to=TensorProto.FLOAT),
             helper.make_node("MatMul", ["xr", "w"], ["y"], name="mm")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5]),
                               helper.make_tensor_value_info("xr", TensorProto.FLOAT, [2, 6])],
                              [numpy_helper.from_array(w, "w16")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    x = (RNG.standard_normal((2, 6)) * 1.001).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    got = np.load(tmp_path / "y.npz")
    np.testing.assert_array_equal(got["xr"], x.astype(np.float16).astype(np.float32))
    assert not np.array_equal(got["xr"], x)
