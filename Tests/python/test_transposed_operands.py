"""A Transpose that only products of two activations read (attention's heads split out of
[B, T, H, D], and Kᵀ) is read in place by them, with the permuted strides: no layer of its own
in the profile, its result never stored, and the bundle computes what the fake-quant
interpreter computes, bit for bit. A Transpose something else also reads, or that the graph
outputs, stays a copy of its own."""
import json

import numpy as np
import pytest
from onnx import TensorProto, helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

B, T, H, D = 2, 12, 3, 8


def save(path, extra_reader):
    """q, k: [B, T, H, D] -> heads [B, H, T, D] and [B, H, D, T] -> scores = q·kᵀ [B, H, T, T];
    with `extra_reader`, kᵀ is also a graph output ("also an output") or added to itself
    ("also an Add")."""
    nodes = [
        helper.make_node("Transpose", ["q"], ["qh"], perm=[0, 2, 1, 3], name="q_heads"),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 3, 1], name="k_heads_t"),
        helper.make_node("MatMul", ["qh", "kt"], ["scores"], name="scores"),
    ]
    outputs = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [B, H, T, T])]
    if extra_reader == "also an output":
        outputs.append(helper.make_tensor_value_info("kt", TensorProto.FLOAT, [B, H, D, T]))
    elif extra_reader == "also an Add":
        nodes.append(helper.make_node("Add", ["kt", "kt"], ["twice"], name="twice"))
        outputs.append(helper.make_tensor_value_info("twice", TensorProto.FLOAT, [B, H, D, T]))
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [B, T, H, D]) for n in ["q", "k"]]
    graph = helper.make_graph(nodes, "heads", inputs, outputs)
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    return [o.name for o in outputs]


@pytest.mark.parametrize("extra_reader", [None, "also an output", "also an Add"])
def test_transposed_operands_are_read_in_place(tmp_path, extra_reader):
    model = tmp_path / "m.onnx"
    names = save(model, extra_reader)
    rng = np.random.default_rng(11)
    feeds = {n: rng.standard_normal((B, T, H, D)).astype(np.float32) * 4 for n in ["q", "k"]}
    feeds["q"][0, 1, 2, :3] = [np.inf, -np.inf, np.nan]
    np.savez(tmp_path / "x.npz", **feeds)
    simulated, interpreted = simulated_and_interpreted(model, tmp_path / "x.npz", tmp_path, "fp16", "none", None)
    assert_same_bits(simulated, interpreted, names)
    r = run_npucc("profile", tmp_path / "m.npub", "--json")
    assert r.returncode == 0, r.stderr
    layers = [layer["name"] for layer in json.loads(r.stdout)["layers"]]
    expected = {None: ["scores"], "also an output": ["k_heads_t", "scores"],
                "also an Add": ["k_heads_t", "scores", "twice"]}[extra_reader]
    assert layers == expected, layers
