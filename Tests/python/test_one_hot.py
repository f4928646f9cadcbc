"""OneHot (opsets 9 and 11), imported as a comparison with 0 ..< depth along the new axis:
every axis, negative indices taken from the end, indices outside [-depth, depth) all off,
float indices truncated and a float or one-element depth, as onnxruntime computes them; a
one-hot token embedding compiles and runs on the simulator bit for bit as the interpreter
runs it; malformed values or an axis out of range are refused by node."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(1111)


def one_hot_model(path, index_type, shape, axis, depth, values, opset=11):
    node = helper.make_node("OneHot", ["i", "depth", "values"], ["y"], name="onehot",
                            **({} if axis is None else {"axis": axis}))
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("i", index_type, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(depth, "depth"), numpy_helper.from_array(values, "values")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


@pytest.mark.parametrize("axis", [None, 0, 1, 2, -2, -3])
@pytest.mark.parametrize("index_type", ["int64", "float32"])
def test_one_hot_computes_as_onnxruntime(tmp_path, axis, index_type):
    depth = 5
    indices = np.array([[0, 4, -1, -5], [5, -6, 2, 3], [1, 7, -3, 0]])
    if index_type == "float32":
        indices = (indices + 0.6 * np.sign(indices)).astype(np.float32)  # truncated toward zero
        depth_tensor, kind = np.array([depth], np.float32), TensorProto.FLOAT  # a one-element float depth
    else:
        depth_tensor, kind = np.array(depth, np.int64), TensorProto.INT64
    one_hot_model(tmp_path / "m.onnx", kind, list(indices.shape), axis, depth_tensor,
                  np.array([-0.5, 2.0], np.float32), opset=9 if axis == 1 else 11)
    np.savez(tmp_path / "in.npz", i=indices)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "out.npz")["y"]
    want = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"i": indices})[0]
    np.testing.assert_array_equal(got, want)
    # Out of range ([1, 0] is 5, [1, 1] is -6, [2, 1] is 7): no class on.
    last = got if axis in (None, 2, -1) else np.moveaxis(got, {0: 0, 1: 1, -2: 1, -3: 0}[axis], -1)
    assert (last[1, 0] == -0.5).all() and (last[1, 1] == -0.5).all() and (last[2, 1] == -0.5).all()


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_one_hot_embedding_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    """Token ids -> OneHot(depth 32) -> MatMul with an embedding table [32, 16] -> y."""
    w = RNG.standard_normal((32, 16)).astype(np.float32)
    nodes = [helper.make_node("OneHot", ["ids", "depth", "values"], ["hot"], name="onehot"),
             helper.make_node("MatMul", ["hot", "w"], ["y"], name="embed")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 16])],
                              [numpy_helper.from_array(np.array(32, np.int64), "depth"),
                               numpy_helper.from_array(np.array([0, 1], np.float32), "values"),
                               numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    ids = np.array([[3, 31, 0, -1, 17, 3]], np.int64)
    np.savez(tmp_path / "x.npz", ids=ids)
    np.savez(tmp_path / "calib.npz", ids=RNG.integers(0, 32, (4, 1, 6)))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
    if precision == "fp16":
        np.testing.assert_allclose(sim["y"][0], w[ids[0] % 32], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("values,axis,message", [
    (np.array([0, 1, 2], np.float32), -1, "values has 3 elements; it is [off, on]"),
    (np.array([0, 1], np.float32), 3, "axis 3 is outside [-3, 2] for indices of rank 2"),
])
def test_malformed_values_or_an_axis_out_of_range_are_refused_by_node(tmp_path, values, axis, message):
    one_hot_model(tmp_path / "m.onnx", TensorProto.INT64, [2, 3], axis, np.array(4, np.int64), values)
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 1 and 'node OneHot "onehot" (opset 11)' in r.stderr and message in r.stderr, r.stderr
