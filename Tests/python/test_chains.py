"""Element-wise nodes each of whose results only the next one reads run as one pass on the
vector unit, lowered at the chain's last node: GELU as torch exports it (Div, Erf, Add, Mul,
Mul) on the graph's input, and a chain whose first input no other node reads while another
layer's output is made before the chain ends. The bundle runs bit for bit as the fake-quant
interpreter runs the graph as written; each chain is one layer of the profile, named by its
last node, reading only the chain's inputs; the values between its nodes are never stored.
A chain that reads nothing but a matrix layer's result (SiLU after a product, Sigmoid and
Mul) runs in that layer's epilogue instead (test_epilogue_tail.py)."""
import json
import re
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_npucc, simulated_and_interpreted

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import npub  # noqa: E402


def chains_model(path):
    rng = np.random.default_rng(11)

    def w(name, shape):
        return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32), name)

    def scalar(name, value):
        return numpy_helper.from_array(np.array(value, dtype=np.float32), name)

    inits = [w("w1", (64, 64)), w("w4", (64, 64)),
             scalar("sqrt2", 1.4142135381698608), scalar("one", 1.0), scalar("half", 0.5), scalar("three", 3.0)]
    n = helper.make_node
    nodes = [
        # GELU of the input, before a product.
        n("Div", ["x", "sqrt2"], ["gelu_div"], name="gelu_div"),
        n("Erf", ["gelu_div"], ["gelu_erf"], name="gelu_erf"),
        n("Add", ["gelu_erf", "one"], ["gelu_add"], name="gelu_add"),
        n("Mul", ["x", "gelu_add"], ["gelu_mul"], name="gelu_mul"),
        n("Mul", ["gelu_mul", "half"], ["gelu"], name="gelu"),
        # SiLU after the product: its epilogue's.
        n("MatMul", ["gelu", "w1"], ["fc1"], name="fc1"),
        n("Sigmoid", ["fc1"], ["sig"], name="sig"),
        n("Mul", ["fc1", "sig"], ["silu"], name="silu"),
        # h is read by tanh alone; m is made before the chain ends, and must not take h's place.
        n("Softmax", ["silu"], ["h"], axis=-1, name="h"),
        n("Tanh", ["h"], ["t"], name="t"),
        n("MatMul", ["silu", "w4"], ["m"], name="m"),
        n("Mul", ["t", "three"], ["s"], name="s"),
        n("Sub", ["m", "s"], ["y"], name="y"),
    ]
    graph = helper.make_graph(nodes, "chains", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 64])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chains")
    chains_model(folder / "chains.onnx")
    rng = np.random.default_rng(12)
    np.savez(folder / "x.npz", x=rng.standard_normal((1, 8, 64)).astype(np.float32))
    np.savez(folder / "calib.npz", x=rng.standard_normal((4, 8, 64)).astype(np.float32))
    return folder


@pytest.mark.parametrize("precision", ["fp16", "fp8", "nvfp4"])
def test_chains_run_as_one_pass_bit_for_bit(model, tmp_path, precision):
    sim, fq = simulated_and_interpreted(model / "chains.onnx", model / "x.npz", tmp_path, precision, "none",
                                        model / "calib.npz")
    np.testing.assert_array_equal(sim["y"].view(np.uint32), fq["y"].view(np.uint32))
    bundle = tmp_path / "m.npub"
    r = run_npucc("profile", bundle, "--json")
    assert r.returncode == 0, r.stderr
    profiled = [layer["name"] for layer in json.loads(r.stdout)["layers"]]
    table = {layer["name"]: layer for layer in npub.verify(bundle).metadata["program"]["layers"]}
    assert list(table) == profiled == ["gelu", "fc1", "h", "m", "y"]
    # Each chain reads its inputs once: GELU the input, y the Softmax's output and the product's.
    values = 4 * 8 * 64
    assert table["gelu"]["input_bytes"] == values
    assert table["y"]["input_bytes"] == 2 * values
    assert table["gelu"]["output_bytes"] == values
    r = run_npucc("inspect", bundle, "--check-sync")
    assert r.returncode == 0, r.stderr
    # A small pass is spread over the tiles: GELU's 512 values, at least 256 a block, on two.
    assert tiles_of(bundle, table["gelu"]) == 2


def tiles_of(bundle, layer):
    """The tiles whose SRAM the layer's instructions touch."""
    r = run_npucc("disasm", bundle)
    assert r.returncode == 0, r.stderr
    head, code = r.stdout.split(".code\n")
    place = {line.split(":")[0]: line.split()[2] for line in head.splitlines()[1:] if " sram " in line}
    lines = code.splitlines()
    touched = set()
    for line in lines[layer["first"]:layer["first"] + layer["count"]]:
        touched.update(place[d] for d in re.findall(r"=(d\d+)", line) if d in place)
    return len(touched)


def test_a_value_between_a_chains_nodes_that_the_graph_outputs_ends_it(model, tmp_path):
    m = onnx.load(model / "chains.onnx")
    m.graph.output.append(helper.make_tensor_value_info("gelu_erf", TensorProto.FLOAT, [1, 8, 64]))
    onnx.save(m, tmp_path / "out.onnx")
    sim, fq = simulated_and_interpreted(tmp_path / "out.onnx", model / "x.npz", tmp_path, "fp16", "none",
                                        model / "calib.npz")
    for name in ("y", "gelu_erf"):
        np.testing.assert_array_equal(sim[name].view(np.uint32), fq[name].view(np.uint32), err_msg=name)
    table = [layer["name"] for layer in npub.verify(tmp_path / "m.npub").metadata["program"]["layers"]]
    # gelu_div and gelu_erf are one chain (its result a graph output), the rest of GELU another.
    assert table == ["gelu_erf", "gelu", "fc1", "h", "m", "y"]
