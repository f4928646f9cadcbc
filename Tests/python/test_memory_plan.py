"""Where activations and a convolution's scratch live on the NPU: on a target whose L3 cannot
hold the activations beside a scratch kept for the whole program, the scratch takes L3 only
around its convolution, fewer activations go to DRAM, and the simulator still computes what
the fake-quant interpreter computes, bit for bit."""
import json

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc

C, H, W = 16, 32, 32
IMAGE = 4 * C * H * W  # 64 KiB of float32 per activation


def chain_model(path, rng):
    """x -> 3x3 Conv (its padded image needs scratch) + Relu -> a -> 1x1 Conv -> b -> 1x1 Conv
    -> c -> 1x1 Conv -> d -> 1x1 Conv, + b -> y: three images live while conv4 runs (b, c
    and d), the scratch and two (a and b) around conv1 and conv2."""
    def weight(name, k):
        return numpy_helper.from_array((rng.standard_normal((C, C, k, k)) / (C * k)).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a0"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["a0"], ["a"]),
        helper.make_node("Conv", ["a", "w2"], ["b"], name="conv2"),
        helper.make_node("Conv", ["b", "w3"], ["c"], name="conv3"),
        helper.make_node("Conv", ["c", "w4"], ["d"], name="conv4"),
        helper.make_node("Conv", ["d", "w5"], ["e"], name="conv5"),
        helper.make_node("Add", ["e", "b"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, H, W])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, C, H, W])],
        [weight("w1", 3)] + [weight(f"w{i}", 1) for i in range(2, 6)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())


def test_scratch_takes_l3_only_around_its_convolution(tmp_path):
    rng = np.random.default_rng(7)
    model = tmp_path / "chain.onnx"
    chain_model(model, rng)
    np.savez(tmp_path / "x.npz", x=rng.standard_normal((1, C, H, W)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, C, H, W)).astype(np.float32))
    # L3 of three images and a quarter: with conv1's scratch (its padded image) kept for
    # the whole program, what is left holds two (L2 shrinks with it: memories grow from the
    # tiles outwards).
    target = json.loads(run_npucc("target", "--json").stdout)
    sizes = {"l2": 2 * IMAGE, "l3": 3 * IMAGE + IMAGE // 4}
    for m in target["memories"]:
        m["size_bytes"] = sizes.get(m["name"], m["size_bytes"])
    (tmp_path / "t.json").write_text(json.dumps(target))
    flags = ["--precision", "fp16", "--calib", tmp_path / "calib.npz"]
    r = run_npucc("compile", model, "-o", tmp_path / "m.npub", "--target", tmp_path / "t.json", *flags)
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", model, "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "fq.npz", *flags)
    assert r.returncode == 0, r.stderr
    assert_same_bits(np.load(tmp_path / "sim.npz"), np.load(tmp_path / "fq.npz"), ["y"])

    r = run_npucc("profile", tmp_path / "m.npub", "--json")
    assert r.returncode == 0, r.stderr
    layers = {l["name"]: l for l in json.loads(r.stdout)["layers"]}
    dram = {name: layers[name]["bytes"]["dram"] for name in ["conv1", "conv2", "conv3", "conv4", "conv5"]}
    # The scratch takes L3 around conv1 alone: b, c and d all stay in L3 while conv4 runs,
    # and only x and y (the graph's ends) move through DRAM. With it reserved for the whole
    # program, d would go to DRAM and back.
    assert dram["conv4"] < IMAGE // 4, dram
    assert dram["conv5"] < IMAGE + IMAGE // 4, dram
