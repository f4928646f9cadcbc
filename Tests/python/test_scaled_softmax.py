"""A Div or Mul by a scalar constant that only a Softmax or LogSoftmax over the last axis reads
(attention's scores over the square root of the head size) runs in the row op's blocks: no
layer of its own in the profile, the scaled scores never stored, and the bundle computes what
the fake-quant interpreter computes, bit for bit, infinities and NaN included. A scale that
something else also reads, or a Softmax over another axis, stays a layer of its own."""
import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

SHAPE = [2, 4, 16, 16]


def save(path, nodes, outputs, scale):
    graph = helper.make_graph(
        nodes, "scaled", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, SHAPE) for o in outputs],
        [numpy_helper.from_array(np.array(scale, dtype=np.float32), "c")])
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())


def compiled(tmp_path, model):
    """Runs `model`'s bundle and the interpreter on the same input; returns both outputs and
    the profile's layers by name."""
    x = np.random.default_rng(5).standard_normal(SHAPE).astype(np.float32) * 8
    x[0, 0, 0, :3] = [np.inf, -np.inf, 1.0]
    x[0, 0, 1, 5] = np.nan
    x[1, 3, 2, :] = -np.inf
    np.savez(tmp_path / "x.npz", x=x)
    simulated, interpreted = simulated_and_interpreted(model, tmp_path / "x.npz", tmp_path, "fp16", "none", None)
    r = run_npucc("profile", tmp_path / "m.npub", "--json")
    assert r.returncode == 0, r.stderr
    return simulated, interpreted, {layer["name"]: layer for layer in json.loads(r.stdout)["layers"]}


@pytest.mark.parametrize("scale_op,row_op", [("Div", "Softmax"), ("Mul", "LogSoftmax")])
def test_a_scale_only_the_softmax_reads_runs_in_its_blocks(tmp_path, scale_op, row_op):
    model = tmp_path / "m.onnx"
    save(model, [helper.make_node(scale_op, ["x", "c"], ["s"], name="scale"),
                 helper.make_node(row_op, ["s"], ["y"], axis=-1, name="rows")], ["y"], 4.0 if scale_op == "Div" else 0.37)
    simulated, interpreted, layers = compiled(tmp_path, model)
    assert_same_bits(simulated, interpreted, ["y"])
    assert list(layers) == ["rows"], list(layers)
    # The input read once and the output written once: the scaled scores never leave the tiles.
    image = 4 * int(np.prod(SHAPE))
    assert sum(layers["rows"]["bytes"][level] for level in ["l3", "dram"]) == 2 * image, layers["rows"]["bytes"]


@pytest.mark.parametrize("case", ["also an output", "another axis"])
def test_a_scale_read_elsewhere_or_a_softmax_over_another_axis_stays_a_layer(tmp_path, case):
    model = tmp_path / "m.onnx"
    axis = 1 if case == "another axis" else -1
    outputs = ["y", "s"] if case == "also an output" else ["y"]
    save(model, [helper.make_node("Div", ["x", "c"], ["s"], name="scale"),
                 helper.make_node("Softmax", ["s"], ["y"], axis=axis, name="rows")], outputs, 4.0)
    simulated, interpreted, layers = compiled(tmp_path, model)
    assert_same_bits(simulated, interpreted, outputs)
    assert list(layers) == ["scale", "rows"], list(layers)
