"""GatherND as exporters write advanced indexing: a text encoder's pooled token
(`x[arange(B), ids.argmax(-1)]`), index tuples as long as the data's rank, negative indices.
The interpreter computes it as onnxruntime does, the pooling block runs on the simulator bit
for bit as the interpreter runs it; batch_dims (tf.gather_nd's, through tf2onnx) gathers each
batch position from its own part of the data as onnxruntime does, and one as deep as the
indices is refused by node."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(1111)
B, S, H = 2, 7, 16


def pooled_model(path):
    """x [B, S, H] (a float input) and ids [B, S] (int64): the row of each sequence's largest
    id, as torch exports `x[torch.arange(B), ids.argmax(-1)]`, then a projection."""
    inits = [numpy_helper.from_array(np.array(0, np.int64), "start"),
             numpy_helper.from_array(np.array(B, np.int64), "limit"),
             numpy_helper.from_array(np.array(1, np.int64), "delta"),
             numpy_helper.from_array(np.array([1], np.int64), "one"),
             numpy_helper.from_array((RNG.standard_normal((H, 8)) / 4).astype(np.float32), "w")]
    nodes = [helper.make_node("Range", ["start", "limit", "delta"], ["batch"]),
             helper.make_node("Unsqueeze", ["batch", "one"], ["batch2"]),
             helper.make_node("ArgMax", ["ids"], ["eos"], axis=-1, keepdims=1),
             helper.make_node("Concat", ["batch2", "eos"], ["tuples"], axis=1),
             helper.make_node("GatherND", ["x", "tuples"], ["pooled"], name="pool"),
             helper.make_node("MatMul", ["pooled", "w"], ["y"], name="proj")]
    graph = helper.make_graph(nodes, "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [B, S, H]),
                                              helper.make_tensor_value_info("ids", TensorProto.INT64, [B, S])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [B, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def feeds():
    return {"x": RNG.standard_normal((B, S, H)).astype(np.float32),
            "ids": RNG.permuted(np.tile(np.arange(S, dtype=np.int64), (B, 1)), axis=1)}


def test_the_pooled_token_is_gathered_as_onnxruntime_gathers_it(tmp_path):
    pooled_model(tmp_path / "m.onnx")
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", feeds(), tmp_path)
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_the_pooling_block_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    pooled_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", **feeds())
    calib = [feeds() for _ in range(4)]
    np.savez(tmp_path / "calib.npz", x=np.stack([c["x"] for c in calib]), ids=np.stack([c["ids"] for c in calib]))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "in.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz", extra=["--input-shape", f"x={B},{S},{H}", "--input-shape",
                                                                       f"ids={B},{S}"])
    assert_same_bits(sim, fq, ["y"])


def test_full_tuples_and_negative_indices_as_onnxruntime(tmp_path):
    """Tuples of length 3 into a rank-3 tensor (scalars out) and of length 1 with negative
    indices (rows counted from the end)."""
    data = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    inits = [numpy_helper.from_array(np.array([[[0, 1, 2], [2, 3, 4]], [[1, 0, 0], [2, -1, -5]]], np.int64), "full"),
             numpy_helper.from_array(np.array([[-1], [0], [-3]], np.int64), "rows")]
    nodes = [helper.make_node("GatherND", ["x", "full"], ["a"]), helper.make_node("GatherND", ["x", "rows"], ["b"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4, 5])],
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 2]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, [3, 4, 5])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": data}, tmp_path)
    for name in ["a", "b"]:
        np.testing.assert_array_equal(got[name], want[name])


@pytest.mark.parametrize("data_shape,index_shape,batch_dims", [
    ([2, 3], [2, 1], 1),              # each batch's own element
    ([2, 5, 4], [2, 3, 1], 1),        # three rows per batch (tf.gather_nd with batch_dims=1)
    ([2, 3, 4, 5], [2, 3, 2, 1], 2),  # two batch axes
    ([2, 3, 4, 5], [2, 6, 2], 1),     # tuples of two after the batch
])
def test_batch_dims_gather_as_onnxruntime(tmp_path, data_shape, index_shape, batch_dims):
    """Each batch position gathers from its own part of the data; negative indices too."""
    node = helper.make_node("GatherND", ["x", "i"], ["y"], batch_dims=batch_dims, name="pick")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, data_shape),
                                            helper.make_tensor_value_info("i", TensorProto.INT64, index_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    addressed = data_shape[batch_dims:batch_dims + index_shape[-1]]
    indices = np.stack([RNG.integers(-n, n, index_shape[:-1]) for n in addressed], axis=-1)
    x = RNG.standard_normal(data_shape).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x, "i": indices}, tmp_path)
    assert got["y"].shape == want["y"].shape
    np.testing.assert_array_equal(got["y"], want["y"])


def test_batch_dims_as_deep_as_the_indices_is_refused_by_node(tmp_path):
    node = helper.make_node("GatherND", ["x", "i"], ["y"], batch_dims=2, name="pick")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                                            helper.make_tensor_value_info("i", TensorProto.INT64, [2, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 1
    assert 'node GatherND "pick" (opset 13)' in r.stderr and "batch_dims 2 is not below the indices' rank 2" in r.stderr
