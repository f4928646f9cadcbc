"""Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh and Atanh: after a convolution the
bundle runs bit for bit as the fake-quant interpreter runs the model (the vector unit's and the
interpreter's functions are one code), on values inside and outside each inverse function's
domain; the interpreter agrees with onnxruntime to 1e-6; and a rotary position table computed
from constants (Range, Mul, Sin, Cos), as exporters write it, folds into constants."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

FUNCTIONS = ["Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"]
SHAPE = (1, 3, 5, 6)


def trig_model(path, opset, conv=True):
    """Each function of the Conv's output c (or of the input x), into a graph output."""
    rng = np.random.default_rng(21)
    w = numpy_helper.from_array((rng.standard_normal((3, 3, 3, 3)) / 3).astype(np.float32), "w")
    c = "c" if conv else "x"
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv")] if conv else []
    nodes += [helper.make_node(f, [c], [f.lower()], name=f.lower()) for f in FUNCTIONS]
    graph = helper.make_graph(nodes, "trig", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                              [helper.make_tensor_value_info(f.lower(), TensorProto.FLOAT, SHAPE) for f in FUNCTIONS],
                              [w] if conv else [])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def test_the_interpreter_computes_the_functions_as_onnxruntime_does(tmp_path):
    trig_model(tmp_path / "alone.onnx", 13, conv=False)
    rng = np.random.default_rng(22)
    # Inside every domain: |x| < 1 for Asin, Acos and Atanh; Acosh is NaN there, as in onnxruntime.
    x = rng.uniform(-0.95, 0.95, SHAPE).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "alone.onnx", {"x": x}, tmp_path)
    for f in FUNCTIONS:
        np.testing.assert_allclose(got[f.lower()], want[f.lower()], rtol=1e-6, atol=1e-7, equal_nan=True, err_msg=f)
    assert np.isnan(got["acosh"]).all()
    got, want = interpreted_and_onnxruntime(tmp_path / "alone.onnx", {"x": (1 + 3 * np.abs(x)).astype(np.float32)}, tmp_path)
    np.testing.assert_allclose(got["acosh"], want["acosh"], rtol=1e-6)


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_the_functions_run_on_the_simulator_as_the_interpreter_runs_them(tmp_path, precision):
    trig_model(tmp_path / "m.onnx", 13)
    rng = np.random.default_rng(23)
    np.savez(tmp_path / "x.npz", x=(2 * rng.standard_normal(SHAPE)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4,) + SHAPE[1:]).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, [f.lower() for f in FUNCTIONS])
    # The values reach outside the inverse functions' domains: NaN there, bit for bit.
    assert np.isnan(fq["asin"]).any() and not np.isnan(fq["asin"]).all()


def test_a_rotary_table_of_constants_folds_away(tmp_path):
    """positions = Range(0, 8) as float, angles = positions x inverse frequencies, then
    x * Cos(angles) + x * Sin(angles): nothing but the products is left to run."""
    rng = np.random.default_rng(24)
    inits = [numpy_helper.from_array(np.array(0, np.int64), "start"), numpy_helper.from_array(np.array(8, np.int64), "limit"),
             numpy_helper.from_array(np.array(1, np.int64), "delta"),
             numpy_helper.from_array((1.0 / 10000 ** (np.arange(0, 16, 2) / 16)).astype(np.float32), "inv_freq"),
             numpy_helper.from_array(np.array([8, 1], np.int64), "column")]
    nodes = [helper.make_node("Range", ["start", "limit", "delta"], ["pos"]),
             helper.make_node("Cast", ["pos"], ["posf"], to=TensorProto.FLOAT),
             helper.make_node("Reshape", ["posf", "column"], ["pos2"]),
             helper.make_node("Mul", ["pos2", "inv_freq"], ["angles"]),
             helper.make_node("Cos", ["angles"], ["cos"]), helper.make_node("Sin", ["angles"], ["sin"]),
             helper.make_node("Mul", ["x", "cos"], ["xc"]), helper.make_node("Mul", ["x", "sin"], ["xs"]),
             helper.make_node("Add", ["xc", "xs"], ["y"])]
    graph = helper.make_graph(nodes, "rope", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "rope.onnx")
    r = run_npucc("dump-ir", tmp_path / "rope.onnx")
    assert r.returncode == 0, r.stderr
    ops = [line.split("=", 1)[1].split("(")[0].strip() for line in r.stdout.splitlines() if line.strip().startswith("%")]
    assert ops == ["Mul", "Mul", "Add"], r.stdout
    x = rng.standard_normal((1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "rope.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    want = ort.InferenceSession(str(tmp_path / "rope.onnx")).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["y"], want, rtol=1e-6, atol=1e-6)
    r = run_npucc("compile", tmp_path / "rope.onnx", "-o", tmp_path / "rope.npub")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "rope.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "sim.npz")["y"], np.load(tmp_path / "y.npz")["y"])
