"""Element-wise nodes that read nothing but a matrix layer's result (and scalars) run in that
layer's epilogue, on its output tiles while they are still in SRAM: GELU as torch exports it
after a MatMul and its bias Add, SiLU after a product and after a convolution, a lone Tanh,
a Mul by a scalar after a residual block's Relu. The bundle runs bit for bit as the fake-quant
interpreter runs the graph as written, and the fused nodes are no layers of their own.
Element-wise nodes that also read another activation,
or read a value the graph outputs, stay layers of their own."""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_npucc, simulated_and_interpreted, special_inputs

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import npub  # noqa: E402


def scalar(name, value):
    return numpy_helper.from_array(np.array(value, dtype=np.float32), name)


def weights(rng, name, shape):
    fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
    return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name)


def save(path, name, nodes, inits, inputs, outputs):
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def mlp(path):
    """x [1, 16, 64]: a product, its bias and GELU; a product, its bias and SiLU (the Sigmoid
    second); a product and Tanh; a product whose Mul also reads that Tanh (not fused)."""
    rng = np.random.default_rng(21)
    inits = [weights(rng, "w1", (64, 128)), weights(rng, "w2", (128, 64)), weights(rng, "w3", (64, 64)),
             weights(rng, "w4", (64, 64)),
             numpy_helper.from_array((rng.standard_normal(128) / 10).astype(np.float32), "b1"),
             numpy_helper.from_array((rng.standard_normal(64) / 10).astype(np.float32), "b2"),
             scalar("sqrt2", 1.4142135381698608), scalar("one", 1.0), scalar("half", 0.5)]
    n = helper.make_node
    nodes = [
        n("MatMul", ["x", "w1"], ["fc1"], name="fc1"),
        n("Add", ["fc1", "b1"], ["fc1_b"], name="fc1_b"),
        n("Div", ["fc1_b", "sqrt2"], ["gelu_div"], name="gelu_div"),
        n("Erf", ["gelu_div"], ["gelu_erf"], name="gelu_erf"),
        n("Add", ["gelu_erf", "one"], ["gelu_add"], name="gelu_add"),
        n("Mul", ["fc1_b", "gelu_add"], ["gelu_mul"], name="gelu_mul"),
        n("Mul", ["gelu_mul", "half"], ["gelu"], name="gelu"),
        n("MatMul", ["gelu", "w2"], ["fc2"], name="fc2"),
        n("Add", ["fc2", "b2"], ["fc2_b"], name="fc2_b"),
        n("Sigmoid", ["fc2_b"], ["sig"], name="sig"),
        n("Mul", ["sig", "fc2_b"], ["silu"], name="silu"),
        n("MatMul", ["silu", "w3"], ["fc3"], name="fc3"),
        n("Tanh", ["fc3"], ["t"], name="t"),
        n("MatMul", ["t", "w4"], ["fc4"], name="fc4"),
        n("Mul", ["fc4", "t"], ["y"], name="y"),
    ]
    save(path, "mlp", nodes, inits, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 64])],
         [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 64])])


def convolutions(path):
    """x [1, 8, 10, 10]: a convolution and SiLU; a convolution, a residual Add, Relu and a Mul
    by a scalar; a 1x1 convolution whose output the graph returns, and its Sigmoid (not
    fused: the convolution's output must be stored)."""
    rng = np.random.default_rng(22)
    inits = [weights(rng, "w1", (16, 8, 3, 3)), weights(rng, "w2", (16, 16, 3, 3)), weights(rng, "w3", (16, 16, 1, 1)),
             numpy_helper.from_array((rng.standard_normal(16) / 10).astype(np.float32), "b1"),
             numpy_helper.from_array((rng.standard_normal(16) / 10).astype(np.float32), "b2"),
             scalar("half", 0.5)]
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="c1"),
        n("Sigmoid", ["c1"], ["sig"], name="sig"),
        n("Mul", ["c1", "sig"], ["silu"], name="silu"),
        n("Conv", ["silu", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="c2"),
        n("Add", ["c2", "silu"], ["a2"], name="a2"),
        n("Relu", ["a2"], ["r2"], name="r2"),
        n("Mul", ["r2", "half"], ["h2"], name="h2"),
        n("Conv", ["h2", "w3"], ["c3"], name="c3"),
        n("Sigmoid", ["c3"], ["s3"], name="s3"),
    ]
    save(path, "convolutions", nodes, inits,
         [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 10, 10])],
         [helper.make_tensor_value_info("s3", TensorProto.FLOAT, [1, 16, 10, 10]),
          helper.make_tensor_value_info("c3", TensorProto.FLOAT, [1, 16, 10, 10])])


MODELS = {"mlp": (mlp, [1, 16, 64], ["fc1", "fc2", "fc3", "fc4", "y"], ["y"]),
          "convolutions": (convolutions, [1, 8, 10, 10], ["c1", "c2", "c3", "s3"], ["s3", "c3"])}


@pytest.fixture(scope="module", params=list(MODELS))
def model(request, tmp_path_factory):
    make, shape, layers, outputs = MODELS[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    make(folder / "m.onnx")
    rng = np.random.default_rng(23)
    np.savez(folder / "x.npz", x=rng.standard_normal(shape).astype(np.float32))
    np.savez(folder / "calib.npz", x=rng.standard_normal([4] + shape[1:]).astype(np.float32))
    return folder, shape, layers, outputs


@pytest.mark.parametrize("precision,sparsity", [("fp16", "none"), ("fp8", "none"), ("nvfp4", "none"),
                                                ("nvfp4", "2:4")])
def test_the_epilogue_runs_the_tail_bit_for_bit(model, tmp_path, precision, sparsity):
    folder, _, layers, outputs = model
    sim, fq = simulated_and_interpreted(folder / "m.onnx", folder / "x.npz", tmp_path, precision, sparsity,
                                        folder / "calib.npz")
    for name in outputs:
        np.testing.assert_array_equal(sim[name].view(np.uint32), fq[name].view(np.uint32), err_msg=name)
    bundle = tmp_path / "m.npub"
    r = run_npucc("profile", bundle, "--json")
    assert r.returncode == 0, r.stderr
    profiled = [layer["name"] for layer in json.loads(r.stdout)["layers"]]
    table = [layer["name"] for layer in npub.verify(bundle).metadata["program"]["layers"]]
    assert table == profiled == layers
    r = run_npucc("inspect", bundle, "--check-sync")
    assert r.returncode == 0, r.stderr


def test_special_values_run_through_the_tail_bit_for_bit(tmp_path):
    mlp(tmp_path / "m.onnx")
    special_inputs(tmp_path, [1, 16, 64], 24, 3.0,
                   [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 60.0, -60.0, 1e30])
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    np.testing.assert_array_equal(sim["y"].view(np.uint32), fq["y"].view(np.uint32))
    assert np.isnan(sim["y"]).any()
