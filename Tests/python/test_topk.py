"""TopK with a constant K, as a mixture of experts' router and a classifier's top five write
it: largest and smallest, along the last and an inner axis, ties to the lower index, K as an
attribute before opset 10. The interpreter computes values and indices as onnxruntime does;
a router (MatMul, TopK, Softmax over the chosen logits) runs on the simulator bit for bit as
the fake-quant interpreter runs it; a computed K and one too large are refused by node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(2424)


def topk_model(path, shape, k, opset=13, **attributes):
    inits = [] if opset < 10 else [numpy_helper.from_array(np.array([k], np.int64), "k")]
    node = helper.make_node("TopK", ["x"] + ([] if opset < 10 else ["k"]), ["v", "i"], name="top",
                            **({"k": k} if opset < 10 else {}), **attributes)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("v", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("i", TensorProto.INT64, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


@pytest.mark.parametrize("k,opset,attributes", [
    (5, 13, {}), (3, 13, {"largest": 0}), (2, 13, {"axis": 1}), (4, 11, {"axis": -2, "largest": 0}), (1, 9, {}),
])
def test_values_and_indices_as_onnxruntime(tmp_path, k, opset, attributes):
    # Rounded to halves, so ties occur and are broken by index.
    x = (np.round(RNG.standard_normal((2, 6, 10)) * 2) / 2).astype(np.float32)
    topk_model(tmp_path / "m.onnx", [2, 6, 10], k, opset, **attributes)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_array_equal(got["v"], want["v"])
    np.testing.assert_array_equal(got["i"], want["i"])


def router_model(path, experts=8, k=2):
    """x [1, 6, 16] -> router MatMul 16 x 8 -> TopK 2 -> Softmax over the chosen logits; the
    chosen experts' indices as a second output."""
    inits = [numpy_helper.from_array((RNG.standard_normal((16, experts)) / 4).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([k], np.int64), "k")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["logits"], name="router"),
             helper.make_node("TopK", ["logits", "k"], ["chosen", "experts"], name="top"),
             helper.make_node("Softmax", ["chosen"], ["weights"], axis=-1)]
    graph = helper.make_graph(nodes, "router", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 16])],
                              [helper.make_tensor_value_info("weights", TensorProto.FLOAT, [1, 6, k]),
                               helper.make_tensor_value_info("experts", TensorProto.INT64, [1, 6, k])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_router_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    router_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((1, 6, 16)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 1, 6, 16)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["weights"])
    np.testing.assert_array_equal(sim["experts"], fq["experts"])
    assert (fq["experts"][..., 0] != fq["experts"][..., 1]).all()


@pytest.mark.parametrize("k,message", [(65, "K 65 is not supported"), (None, "must be a constant")])
def test_a_computed_or_too_large_k_is_refused_by_node(tmp_path, k, message):
    if k is None:
        nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Slice", ["s", "one", "two"], ["k"]),
                 helper.make_node("TopK", ["x", "k"], ["v", "i"], name="top")]
        inits = [numpy_helper.from_array(np.array([1], np.int64), "one"),
                 numpy_helper.from_array(np.array([2], np.int64), "two")]
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                                  [helper.make_tensor_value_info("v", TensorProto.FLOAT, None)], inits)
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    else:
        topk_model(tmp_path / "m.onnx", [2, 100], k)
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 1
    assert 'node TopK "top" (opset 13)' in r.stderr and message in r.stderr, r.stderr
