"""BitCast (opset 26): the interpreter reads the input's bytes as the other type exactly as
onnxruntime does (numpy's view of them for a bool, which onnxruntime does not cast), for pairs
of equal widths; after a
convolution, float32 to int32 and back compile to copies that run bit for bit as the
interpreter; pairs of widths that differ, and bytes other than 0 and 1 cast to bool, are refused
by node, and pairs the NPU does not hold fail the compile by name."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(2626)
PAIRS = [(np.float32, np.int32), (np.int32, np.float32), (np.float32, np.uint32), (np.float64, np.int64),
         (np.int64, np.float64), (np.uint16, np.float16), (np.int8, np.uint8), (np.bool_, np.uint8)]


def bitcast_model(path, source, target, shape):
    types = [helper.np_dtype_to_tensor_dtype(np.dtype(t)) for t in (source, target)]
    node = helper.make_node("BitCast", ["x"], ["y"], to=types[1], name="bits")
    graph = helper.make_graph([node], "bitcast", [helper.make_tensor_value_info("x", types[0], shape)],
                              [helper.make_tensor_value_info("y", types[1], shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26)])
    onnx.save(model, path)


@pytest.mark.parametrize("source,target", PAIRS, ids=[f"{np.dtype(s).name}-{np.dtype(t).name}" for s, t in PAIRS])
def test_the_interpreter_reads_the_bytes_as_onnxruntime_does(tmp_path, source, target):
    shape = [3, 7]
    if source == np.bool_:
        x = RNG.integers(0, 2, shape).astype(bool)
    elif np.dtype(source).kind == "f":
        # Every kind of value: signed zeros, infinities, a NaN, subnormals, numbers.
        x = (RNG.standard_normal(shape) * 10 ** RNG.uniform(-5, 5, shape)).astype(source)
        x.flat[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, np.finfo(source).smallest_subnormal]
    else:
        info = np.iinfo(source)
        x = RNG.integers(info.min, info.max, shape, dtype=source, endpoint=True)
    bitcast_model(tmp_path / "m.onnx", source, target, shape)
    if source == np.bool_:
        # onnxruntime 1.32 has no BitCast of bool: numpy's view of the same bytes.
        np.savez(tmp_path / "x.npz", x=x)
        r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
        assert r.returncode == 0, r.stderr
        got, want = dict(np.load(tmp_path / "y.npz")), {"y": x.view(target)}
    else:
        got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    assert got["y"].dtype == np.dtype(target) == want["y"].dtype
    assert got["y"].tobytes() == want["y"].tobytes() == x.tobytes()


def test_float32_to_int32_and_back_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path):
    rng = np.random.default_rng(27)
    inits = [numpy_helper.from_array((rng.standard_normal((4, 3, 3, 3)) / 3).astype(np.float32), "w")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("BitCast", ["c"], ["bits"], to=TensorProto.INT32, name="to_bits"),
             helper.make_node("BitCast", ["bits"], ["back"], to=TensorProto.FLOAT, name="from_bits")]
    graph = helper.make_graph(nodes, "bits", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                              [helper.make_tensor_value_info(n, t, None)
                               for n, t in [("c", TensorProto.FLOAT), ("bits", TensorProto.INT32),
                                            ("back", TensorProto.FLOAT)]], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26)]), tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=rng.standard_normal((1, 3, 6, 6)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 3, 6, 6)).astype(np.float32))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                            tmp_path / "calib.npz")
        assert_same_bits(sim, fq, ["c", "bits", "back"])
        assert sim["bits"].dtype == np.int32 and sim["bits"].tobytes() == sim["c"].tobytes() == sim["back"].tobytes()


def test_widths_that_differ_are_refused_by_node_and_types_the_npu_lacks_by_name(tmp_path):
    node = helper.make_node("BitCast", ["x"], ["y"], to=TensorProto.INT64, name="wide")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [2, 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26)]), tmp_path / "wide.onnx")
    np.savez(tmp_path / "x.npz", x=np.ones((2, 3), np.float32))
    r = run_npucc("run", tmp_path / "wide.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 1 and 'BitCast "wide"' in r.stderr and "f32 to i64" in r.stderr, r.stderr
    assert not (tmp_path / "y.npz").exists()
    # A byte other than 0 or 1 is no bool.
    bitcast_model(tmp_path / "bool.onnx", np.uint8, np.bool_, [2, 3])
    np.savez(tmp_path / "b.npz", x=np.array([[0, 1, 1], [0, 2, 1]], np.uint8))
    r = run_npucc("run", tmp_path / "bool.onnx", "--inputs", tmp_path / "b.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 1 and "BitCast to bool of a byte 2 (at 4)" in r.stderr, r.stderr
    assert not (tmp_path / "y.npz").exists()
    bitcast_model(tmp_path / "u32.onnx", np.float32, np.uint32, [2, 3])
    r = run_npucc("compile", tmp_path / "u32.onnx", "-o", tmp_path / "m.npub")
    assert r.returncode == 1 and 'BitCast "bits"' in r.stderr and "cannot lower BitCast of f32 to u32" in r.stderr, r.stderr
    assert not (tmp_path / "m.npub").exists()
