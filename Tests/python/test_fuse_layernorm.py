"""A layer normalization spelled out in element-wise ops (as torch.onnx writes nn.LayerNorm
before opset 17) compiles to one LayerNormalization layer: the fused graph computes what
onnxruntime computes of the spelled-out one to float32 rounding, and the bundle what the
fake-quant interpreter computes, bit for bit."""
import json

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_npucc, simulated_and_interpreted


def layer_norm(nodes, inits, x, y, prefix, square="Pow", affine=True):
    """Appends torch.onnx's opset-11 spelling of nn.LayerNorm(x) over the last axis."""
    n = helper.make_node
    nodes += [
        n("ReduceMean", [x], [f"{prefix}_mean"], axes=[-1], name=f"{prefix}_mean"),
        n("Sub", [x, f"{prefix}_mean"], [f"{prefix}_d"], name=f"{prefix}_sub"),
        n("Pow", [f"{prefix}_d", f"{prefix}_two"], [f"{prefix}_p"], name=f"{prefix}_pow") if square == "Pow"
        else n("Mul", [f"{prefix}_d", f"{prefix}_d"], [f"{prefix}_p"], name=f"{prefix}_square"),
        n("ReduceMean", [f"{prefix}_p"], [f"{prefix}_v"], axes=[-1], name=f"{prefix}_var"),
        n("Add", [f"{prefix}_v", f"{prefix}_eps"], [f"{prefix}_e"], name=f"{prefix}_add_eps"),
        n("Sqrt", [f"{prefix}_e"], [f"{prefix}_s"], name=f"{prefix}_sqrt"),
        n("Div", [f"{prefix}_d", f"{prefix}_s"], [f"{prefix}_n" if affine else y], name=f"{prefix}_div"),
    ]
    rng = np.random.default_rng(51)
    inits += [numpy_helper.from_array(np.array(2.0, np.float32), f"{prefix}_two"),
              numpy_helper.from_array(np.array(1e-5, np.float32), f"{prefix}_eps")]
    if affine:
        width = 64
        inits += [numpy_helper.from_array((1 + rng.standard_normal(width) / 4).astype(np.float32), f"{prefix}_gamma"),
                  numpy_helper.from_array((rng.standard_normal(width) / 4).astype(np.float32), f"{prefix}_beta")]
        nodes += [n("Mul", [f"{prefix}_n", f"{prefix}_gamma"], [f"{prefix}_g"], name=f"{prefix}_scale"),
                  n("Add", [f"{prefix}_g", f"{prefix}_beta"], [y], name=f"{prefix}_shift")]


def save(path):
    """x [1, 32, 64] -> LayerNorm -> MatMul -> Relu -> LayerNorm (Mul(d, d), no affine)."""
    nodes, inits = [], []
    layer_norm(nodes, inits, "x", "h", "ln1")
    rng = np.random.default_rng(52)
    inits.append(numpy_helper.from_array((rng.standard_normal((64, 64)) / 8).astype(np.float32), "w"))
    nodes += [helper.make_node("MatMul", ["h", "w"], ["fc"], name="fc"),
              helper.make_node("Relu", ["fc"], ["r"], name="relu")]
    layer_norm(nodes, inits, "r", "y", "ln2", square="Mul", affine=False)
    graph = helper.make_graph(nodes, "layernorms", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32, 64])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    path.write_bytes(model.SerializeToString())


@pytest.fixture
def model(tmp_path):
    save(tmp_path / "m.onnx")
    rng = np.random.default_rng(53)
    np.savez(tmp_path / "x.npz", x=(rng.standard_normal((1, 32, 64)) * 3 + 1).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=(rng.standard_normal((4, 1, 32, 64)) * 3 + 1).astype(np.float32))
    return tmp_path


def test_the_fused_normalizations_compute_what_onnxruntime_computes_of_the_spelled_out_ones(model):
    r = run_npucc("run", model / "m.onnx", "--inputs", model / "x.npz", "--outputs", model / "fused.npz",
                  "--passes", "fuse-layernorm,eliminate-dead-code")
    assert r.returncode == 0, r.stderr
    fused = np.load(model / "fused.npz")["y"]
    session = ort.InferenceSession(str(model / "m.onnx"), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {"x": np.load(model / "x.npz")["x"]})
    np.testing.assert_allclose(fused, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("precision,sparsity", [("fp16", "none"), ("nvfp4", "2:4")])
def test_each_spelled_out_normalization_is_one_layer_of_the_bundle(model, precision, sparsity):
    sim, fq = simulated_and_interpreted(model / "m.onnx", model / "x.npz", model, precision, sparsity,
                                        model / "calib.npz", prune="magnitude")
    np.testing.assert_array_equal(sim["y"].view(np.uint32), fq["y"].view(np.uint32))
    r = run_npucc("profile", model / "m.npub", "--json")
    assert r.returncode == 0, r.stderr
    layers = [(layer["name"], layer["op"]) for layer in json.loads(r.stdout)["layers"]]
    assert layers == [("ln1_shift", "LayerNormalization"), ("fc", "MatMul"), ("ln2_div", "LayerNormalization")], layers
