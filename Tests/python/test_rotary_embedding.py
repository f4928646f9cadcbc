"""RotaryEmbedding (opset 23): 4-D and 3-D inputs, the whole head or its first dimensions,
halves or interleaved pairs, caches looked up by position ids or given per position: the
interpreter computes it as onnxruntime does, and a projection rotated by a position table
(the position ids an input) runs on the simulator bit for bit as the interpreter runs it."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, simulated_and_interpreted

RNG = np.random.default_rng(2323)
B, S, H, D, POSITIONS = 2, 5, 3, 8, 16


def caches(half):
    angles = np.arange(POSITIONS)[:, None] / 10000 ** (np.arange(half) / half)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


@pytest.mark.parametrize("three_d", [False, True], ids=["4d", "3d"])
@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("dimension", [0, 4])
@pytest.mark.parametrize("ids", [True, False], ids=["position_ids", "per_position"])
def test_rotary_embedding_as_onnxruntime(tmp_path, three_d, interleaved, dimension, ids):
    half = (dimension or D) // 2
    cos, sin = caches(half)
    shape = [B, S, H * D] if three_d else [B, H, S, D]
    feeds = {"x": RNG.standard_normal(shape).astype(np.float32)}
    positions = RNG.integers(0, POSITIONS, (B, S)).astype(np.int64)
    if not ids:
        cos, sin = cos[positions], sin[positions]
    inits = [numpy_helper.from_array(cos, "cos"), numpy_helper.from_array(sin, "sin")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)]
    if ids:
        inputs.append(helper.make_tensor_value_info("ids", TensorProto.INT64, [B, S]))
        feeds["ids"] = positions
    attributes = dict(interleaved=interleaved, rotary_embedding_dim=dimension, **({"num_heads": H} if three_d else {}))
    node = helper.make_node("RotaryEmbedding", ["x", "cos", "sin"] + (["ids"] if ids else []), ["y"], name="rope",
                            **attributes)
    graph = helper.make_graph([node], "rope", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)]), tmp_path / "m.onnx")
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", feeds, tmp_path)
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_rotated_projection_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    cos, sin = caches(D // 2)
    inits = [numpy_helper.from_array((RNG.standard_normal((H * D, H * D)) / 5).astype(np.float32), "w"),
             numpy_helper.from_array(cos, "cos"), numpy_helper.from_array(sin, "sin")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["q"], name="q_proj"),
             helper.make_node("RotaryEmbedding", ["q", "cos", "sin", "ids"], ["y"], num_heads=H, name="rope")]
    graph = helper.make_graph(nodes, "rope", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, S, H * D]),
                                              helper.make_tensor_value_info("ids", TensorProto.INT64, [1, S])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, S, H * D])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)]), tmp_path / "m.onnx")
    ids = np.arange(3, 3 + S, dtype=np.int64)[None]
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((1, S, H * D)).astype(np.float32), ids=ids)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 1, S, H * D)).astype(np.float32),
             ids=np.repeat(ids[None], 4, axis=0))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
