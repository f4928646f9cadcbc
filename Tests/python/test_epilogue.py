"""A matrix layer's epilogue takes over the nodes right after it: the bias a MatMul export
adds as a separate Add of a constant, a residual Add of another activation (a ResNet block's
end, with or without a downsampling convolution) and the Relu after it. The bundle runs bit
for bit as the fake-quant interpreter runs the graph as written, the absorbed nodes are no
layers of their own in the profile, and the activations they leave between are never stored.
What does not qualify (a Relu that does not directly follow, a constant that is not one value
per channel, a value the graph also outputs) stays a layer of its own."""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_npucc, simulated_and_interpreted

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import npub  # noqa: E402


def save(path, nodes, inits, inputs, outputs, opset=13):
    graph = helper.make_graph(nodes, "epilogue", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def residual_blocks(path):
    """Two ResNet blocks on [1, 8, 6, 6]: an identity block (conv, relu, conv, add x, relu),
    then a downsampling one (conv stride 2, relu, conv; conv 1x1 stride 2 of the block's
    input; add; relu), then a conv whose output is both a graph output and added (no fusion),
    and an Add whose Relu comes two nodes later (no Relu fusion)."""
    rng = np.random.default_rng(3)

    def w(name, shape):
        return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32),
                                       name)

    def b(name, n):
        return numpy_helper.from_array((rng.standard_normal(n) / 10).astype(np.float32), name)

    inits = [w("w1", (8, 8, 3, 3)), b("b1", 8), w("w2", (8, 8, 3, 3)), b("b2", 8), w("w3", (16, 8, 3, 3)),
             b("b3", 16), w("w4", (16, 16, 3, 3)), b("b4", 16), w("wd", (16, 8, 1, 1)), b("bd", 16),
             w("w5", (16, 16, 1, 1)), b("b5", 16), w("w6", (16, 16, 1, 1))]
    conv = helper.make_node
    nodes = [conv("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="c1"),
             conv("Relu", ["c1"], ["r1"], name="r1"),
             conv("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="c2"),
             conv("Add", ["c2", "x"], ["a1"], name="a1"),
             conv("Relu", ["a1"], ["block1"], name="block1"),
             conv("Conv", ["block1", "w3", "b3"], ["c3"], pads=[1, 1, 1, 1], strides=[2, 2], name="c3"),
             conv("Relu", ["c3"], ["r3"], name="r3"),
             conv("Conv", ["r3", "w4", "b4"], ["c4"], pads=[1, 1, 1, 1], name="c4"),
             conv("Conv", ["block1", "wd", "bd"], ["down"], strides=[2, 2], name="down"),
             conv("Add", ["c4", "down"], ["a2"], name="a2"),
             conv("Relu", ["a2"], ["block2"], name="block2"),
             conv("Conv", ["block2", "w5", "b5"], ["c5"], name="c5"),
             conv("Add", ["block2", "c5"], ["a3"], name="a3"),
             conv("Conv", ["a3", "w6"], ["c6"], name="c6"),
             conv("Add", ["c6", "block2"], ["a4"], name="a4"),
             conv("Mul", ["a3", "a3"], ["square"], name="square"),
             conv("Relu", ["a4"], ["late"], name="late"),
             conv("Add", ["late", "square"], ["y"], name="y")]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 16, 3, 3]) for n in ("y", "c5")]
    save(path, nodes, inits, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 6, 6])], outputs)


def projections(path):
    """A transformer's projection as torch exports it: MatMul, Add of the bias, Add of the
    residual; then a MatMul whose Add adds a [4, 8] constant (not one value per channel)."""
    rng = np.random.default_rng(5)
    inits = [numpy_helper.from_array((rng.standard_normal((8, 8)) / 3).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(8).astype(np.float32) / 10, "bias"),
             numpy_helper.from_array((rng.standard_normal((8, 8)) / 3).astype(np.float32), "v"),
             numpy_helper.from_array(rng.standard_normal((4, 8)).astype(np.float32), "table")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"], name="mm"),
             helper.make_node("Add", ["bias", "mm"], ["biased"], name="biased"),
             helper.make_node("Add", ["x", "biased"], ["h"], name="h"),
             helper.make_node("MatMul", ["h", "v"], ["mm2"], name="mm2"),
             helper.make_node("Add", ["mm2", "table"], ["y"], name="y")]
    save(path, nodes, inits, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
         [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8])])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("epilogue")
    residual_blocks(folder / "blocks.onnx")
    projections(folder / "proj.onnx")
    rng = np.random.default_rng(9)
    np.savez(folder / "blocks.npz", x=rng.standard_normal((1, 8, 6, 6)).astype(np.float32))
    np.savez(folder / "proj.npz", x=rng.standard_normal((1, 4, 8)).astype(np.float32))
    return folder


def layers(bundle):
    """The bundle's layer table by name (in program order), each with its profile as "profile"."""
    r = run_npucc("profile", bundle, "--json")
    assert r.returncode == 0, r.stderr
    profile = {layer["name"]: layer for layer in json.loads(r.stdout)["layers"]}
    table = npub.verify(bundle).metadata["program"]["layers"]
    assert [layer["name"] for layer in table] == list(profile)
    return {layer["name"]: dict(layer, profile=profile[layer["name"]]) for layer in table}


@pytest.mark.parametrize("precision,sparsity", [("fp16", "none"), ("nvfp4", "none"), ("nvfp4", "2:4")])
def test_residual_blocks_run_bit_for_bit_with_their_adds_in_the_convolutions(models, tmp_path, precision, sparsity):
    data = models / "blocks.npz"
    sim, fq = simulated_and_interpreted(models / "blocks.onnx", data, tmp_path, precision, sparsity, data,
                                        prune="magnitude")
    for name in ("y", "c5"):
        np.testing.assert_array_equal(sim[name].view(np.uint32), fq[name].view(np.uint32), err_msg=name)
    table = layers(tmp_path / "m.npub")
    # a1 and block1 run in c2's epilogue, a2 and block2 in down's (the Add's later operand);
    # c5 is a graph output, so a3 stays; late comes two nodes after a4, so only a4 joins c6;
    # square, which only y reads, runs in y's pass (an element-wise chain).
    assert list(table) == ["c1", "c2", "c3", "c4", "down", "c5", "a3", "c6", "late", "y"]
    # c2 reads x beside its own input, both [1, 8, 6, 6] floats, and writes block1 in L3.
    assert table["c2"]["input_bytes"] == 2 * 4 * 8 * 6 * 6
    assert table["c2"]["on_chip_bytes"] == 3 * 4 * 8 * 6 * 6 - 4 * 8 * 6 * 6  # x is the graph's input, in DRAM
    assert table["down"]["input_bytes"] == 4 * 8 * 6 * 6 + 4 * 16 * 3 * 3


@pytest.mark.parametrize("precision", ["fp16", "fp8"])
def test_nan_and_infinities_through_the_products_give_the_interpreters_bits(models, tmp_path, precision):
    """NaN of both signs and infinities in the input: products of infinity and zero, sums of
    infinities of both signs and NaN operands meet in the convolutions' sums and the residual
    Adds; every NaN element carries the interpreter's sign and payload. fp8 rounds NaN to
    NaN (infinities to +-448 times the scale), so it spreads as at fp16."""
    x = np.load(models / "blocks.npz")["x"].copy()
    x.flat[[0, 5, 40, 77, 100, 200]] = [np.nan, np.inf, -np.inf, np.inf, -np.nan, -np.inf]
    np.savez(tmp_path / "x.npz", x=x)
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.random.default_rng(4).standard_normal((4, 8, 6, 6)).astype(np.float32))
    sim, fq = simulated_and_interpreted(models / "blocks.onnx", tmp_path / "x.npz", tmp_path, precision, "none", calib)
    for name in ("y", "c5"):
        assert np.isnan(fq[name]).all(), name  # two blocks of 3x3 windows spread them everywhere
        np.testing.assert_array_equal(sim[name].view(np.uint32), fq[name].view(np.uint32), err_msg=name)


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_bias_add_and_a_residual_run_in_the_products_epilogue(models, tmp_path, precision):
    data = models / "proj.npz"
    sim, fq = simulated_and_interpreted(models / "proj.onnx", data, tmp_path, precision, "none", data)
    np.testing.assert_array_equal(sim["y"].view(np.uint32), fq["y"].view(np.uint32))
    table = layers(tmp_path / "m.npub")
    # The [4, 8] table is not a bias: y stays an Add of its own.
    assert list(table) == ["mm", "mm2", "y"]
    # mm's bias (8 floats) counts with its weights; it reads x twice (product and residual).
    assert table["mm"]["weight_bytes"] == table["mm2"]["weight_bytes"] + 4 * 8
    assert table["mm"]["input_bytes"] == 2 * 4 * 4 * 8
    # The plan has room for the residual beside the accumulators: it is loaded before the
    # product, not after it into the activation buffers.
    r = run_npucc("disasm", tmp_path / "m.npub")
    assert r.returncode == 0, r.stderr
    code = r.stdout.split(".code\n")[1].splitlines()
    mm = code[table["mm"]["first"]:table["mm"]["first"] + table["mm"]["count"]]
    loads = {line.split()[1][len("dst="):-1]: k for k, line in enumerate(mm) if line.startswith("dma ")}
    added = [loads[b] for line in mm if line.startswith("vop op=add")
             for b in [line.split("b=")[1].split(",")[0]] if b in loads]
    first_product = next(k for k, line in enumerate(mm) if line.startswith("mma "))
    assert added and all(k < first_product for k in added)


def clipped_blocks(path):
    """Residual blocks ending in a Clip, as an int8 model's removed pair leaves them, on
    [1, 8, 6, 6]: conv(x) + r clipped to both bounds, a block clipped only from above (the
    lower bound omitted), both results graph outputs, and one whose Add the graph also outputs (so
    its Clip stays a layer of its own)."""
    rng = np.random.default_rng(11)
    inits = [numpy_helper.from_array((rng.standard_normal((8, 8, 3, 3)) / 8).astype(np.float32), f"w{k}")
             for k in range(3)]
    inits += [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in [("lo", 0.0), ("hi", 1.5), ("top", 0.7)]]
    node = helper.make_node
    nodes = [node("Conv", ["x", "w0"], ["c0"], pads=[1, 1, 1, 1], name="c0"), node("Add", ["c0", "r"], ["a0"], name="a0"),
             node("Clip", ["a0", "lo", "hi"], ["b0"], name="b0"),
             node("Conv", ["b0", "w1"], ["c1"], pads=[1, 1, 1, 1], name="c1"), node("Add", ["b0", "c1"], ["a1"], name="a1"),
             node("Clip", ["a1", "", "top"], ["b1"], name="b1"),
             node("Conv", ["b1", "w2"], ["c2"], pads=[1, 1, 1, 1], name="c2"), node("Add", ["c2", "b1"], ["a2"], name="a2"),
             node("Clip", ["a2", "lo", "hi"], ["y"], name="y")]
    value = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 8, 6, 6]) for n in ("x", "r", "y", "a2", "b0", "b1")]
    save(path, nodes, inits, value[:2], value[2:])


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_clip_after_the_residual_runs_in_the_epilogue(tmp_path, precision):
    clipped_blocks(tmp_path / "clip.onnx")
    rng = np.random.default_rng(12)
    x, r = (rng.standard_normal((2, 1, 8, 6, 6)) * 2).astype(np.float32)
    r.flat[:2] = [-0.0, 1e-40]
    np.savez(tmp_path / "x.npz", x=x, r=r)
    np.savez(tmp_path / "calib.npz", **{k: rng.standard_normal((4, 8, 6, 6)).astype(np.float32) for k in "xr"})
    sim, fq = simulated_and_interpreted(tmp_path / "clip.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    for name in ("y", "a2", "b0", "b1"):
        np.testing.assert_array_equal(sim[name].view(np.uint32), fq[name].view(np.uint32), err_msg=name)
    assert (fq["b0"] == 0).any() and (fq["b0"] == 1.5).any() and (fq["b1"] == 0.7).any() and (fq["b1"] < 0).any()
    # b0 and b1 join their convolutions with their Adds; a2 is a graph output, so it joins c2
    # and y stays a layer.
    table = layers(tmp_path / "m.npub")
    assert list(table) == ["c0", "c1", "c2", "y"]
    # NaN and infinities in the residual go through the Clip as the interpreter's do.
    r.flat[:3] = [np.nan, np.inf, -np.inf]
    np.savez(tmp_path / "x.npz", x=x, r=r)
    assert run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "sim.npz").returncode == 0
    assert run_npucc("run", tmp_path / "clip.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "fq.npz",
                     "--precision", precision, "--calib", tmp_path / "calib.npz").returncode == 0
    sim, fq = np.load(tmp_path / "sim.npz"), np.load(tmp_path / "fq.npz")
    assert np.isnan(fq["b0"].flat[0]) and fq["b0"].flat[1] == 1.5 and fq["b0"].flat[2] == 0
    np.testing.assert_array_equal(sim["b0"].view(np.uint32), fq["b0"].view(np.uint32))
