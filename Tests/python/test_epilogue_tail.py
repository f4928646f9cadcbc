"""Element-wise nodes that read nothing but a matrix layer's result (and scalars) run in that
layer's epilogue, on its output tiles while they are still in SRAM: GELU as torch exports it
after a MatMul and its bias Add, SiLU after a product and after a convolution, a lone Tanh,
a Mul by a scalar after a residual block's Relu. The bundle runs bit for bit as the fake-quant
interpreter runs the graph as written, and the fused nodes are no layers of their own.
Element-wise nodes that also read another activation,
or read a value the graph outputs, stay layers of their own. An epilogue as long as its
products (GELU) runs beside the next group of columns' products, in a second set of column
regions."""
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


def gelu_layer(rng, width, channels):
    """A product of `width` channels to `channels` ("fc1", weight "w1"), its bias Add and GELU
    as torch exports it (Div by sqrt 2, Erf, Add 1, Mul, Mul by 0.5) into "gelu": its
    initializers and nodes."""
    inits = [weights(rng, "w1", (width, channels)),
             numpy_helper.from_array((rng.standard_normal(channels) / 10).astype(np.float32), "b1"),
             scalar("sqrt2", 1.4142135381698608), scalar("one", 1.0), scalar("half", 0.5)]
    n = helper.make_node
    return inits, [
        n("MatMul", ["x", "w1"], ["fc1"], name="fc1"),
        n("Add", ["fc1", "b1"], ["fc1_b"], name="fc1_b"),
        n("Div", ["fc1_b", "sqrt2"], ["gelu_div"], name="gelu_div"),
        n("Erf", ["gelu_div"], ["gelu_erf"], name="gelu_erf"),
        n("Add", ["gelu_erf", "one"], ["gelu_add"], name="gelu_add"),
        n("Mul", ["fc1_b", "gelu_add"], ["gelu_mul"], name="gelu_mul"),
        n("Mul", ["gelu_mul", "half"], ["gelu"], name="gelu"),
    ]


def mlp(path):
    """x [1, 16, 64]: a product, its bias and GELU; a product, its bias and SiLU (the Sigmoid
    second); a product and Tanh; a product whose Mul also reads that Tanh (not fused)."""
    rng = np.random.default_rng(21)
    inits, nodes = gelu_layer(rng, 64, 128)
    inits += [weights(rng, "w2", (128, 64)), weights(rng, "w3", (64, 64)), weights(rng, "w4", (64, 64)),
              numpy_helper.from_array((rng.standard_normal(64) / 10).astype(np.float32), "b2")]
    n = helper.make_node
    nodes += [
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


def feed_forward(path):
    """x [1, 64, 256]: a product to 512 channels, its bias and GELU as torch exports it, and a
    product back to 256 (whose epilogue is its bias alone)."""
    rng = np.random.default_rng(25)
    inits, nodes = gelu_layer(rng, 256, 512)
    inits += [weights(rng, "w2", (512, 256)),
              numpy_helper.from_array((rng.standard_normal(256) / 10).astype(np.float32), "b2")]
    n = helper.make_node
    nodes += [
        n("MatMul", ["gelu", "w2"], ["fc2"], name="fc2"),
        n("Add", ["fc2", "b2"], ["y"], name="y"),
    ]
    save(path, "feed_forward", nodes, inits, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 256])],
         [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64, 256])])


@pytest.mark.parametrize("precision,sparsity", [("nvfp4", "none"), ("nvfp4", "2:4")])
def test_a_long_epilogue_runs_beside_the_next_groups_products(tmp_path, precision, sparsity):
    """On two tiles, each computes many groups of columns of the GELU layer, its input
    rounded once into codes: a group's epilogue (a division and an Erf, 4 cycles an element
    each) takes about as long as its products, and runs on the vector unit while the matrix
    unit multiplies the next group, whose accumulators are the other set of column regions.
    The results stay the interpreter's, bit for bit."""
    feed_forward(tmp_path / "m.onnx")
    target = json.loads(run_npucc("target", "--json").stdout)
    target["compute"].update(clusters=1, tiles_per_cluster=2)
    (tmp_path / "two.json").write_text(json.dumps(target))
    rng = np.random.default_rng(26)
    np.savez(tmp_path / "x.npz", x=rng.standard_normal([1, 64, 256]).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal([4, 64, 256]).astype(np.float32))
    flags = ["--precision", precision, "--sparsity", sparsity, "--calib", tmp_path / "calib.npz"]
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--target", tmp_path / "two.json", *flags)
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "fq.npz", *flags)
    assert r.returncode == 0, r.stderr
    sim, fq = np.load(tmp_path / "sim.npz"), np.load(tmp_path / "fq.npz")
    np.testing.assert_array_equal(sim["y"].view(np.uint32), fq["y"].view(np.uint32))
    r = run_npucc("profile", tmp_path / "m.npub", "--target", tmp_path / "two.json", "--trace", tmp_path / "trace.json")
    assert r.returncode == 0, r.stderr
    events = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    units = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    work = [(units[(e["pid"], e["tid"])].split()[0], e["name"], e["ts"], e["ts"] + e["dur"]) for e in events
            if e.get("ph") == "X" and e["pid"] > 0 and e["args"].get("layer") == "fc1" and e["name"] in ("mma", "vop")]
    # Per tile, how long its matrix unit multiplies while its vector unit runs an epilogue
    # (the layer's `vop`s: its bias and tail).
    overlap = 0.0
    for tile in {w[0] for w in work}:
        products = [(a, b) for t, name, a, b in work if t == tile and name == "mma"]
        epilogues = [(a, b) for t, name, a, b in work if t == tile and name == "vop"]
        overlap += sum(max(0.0, min(b, d) - max(a, c)) for a, b in products for c, d in epilogues)
    busy = sum(b - a for _, name, a, b in work if name == "mma")
    # Most of the products run beside an epilogue (one set of column regions: under a fifth).
    assert overlap > 0.5 * busy, (overlap, busy)
    r = run_npucc("inspect", tmp_path / "m.npub", "--check-sync")
    assert r.returncode == 0, r.stderr
