"""A MatMul whose fp8 or nvfp4 activations its tiles would each read as float32 and round, once
per group of output columns, rounds its input once into an image of codes (a byte each, and
for nvfp4 a float32 scale per block of 16 along K) that its tiles load and multiply coded.
The bundle computes bit for bit what the fake-quant interpreter does; a product too small for
the pass to pay, or whose K is no whole number of nvfp4 blocks, rounds on its tiles as
before; products of one input (a transformer's projections) share one image; an image the
global buffer has no room for goes to DRAM."""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_npucc, simulated_and_interpreted

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import npub  # noqa: E402


def weights(rng, name, shape):
    return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32), name)


def mlp(path, k=256):
    """x [1, 128, k]: a product, its bias and Relu (large enough, its input read from DRAM,
    to round it into codes), a product back and the residual Add; s [1, 4, k]: a small
    product (too small to)."""
    rng = np.random.default_rng(31)
    inits = [weights(rng, "w1", (k, 512)), weights(rng, "w2", (512, k)), weights(rng, "w3", (k, 64)),
             numpy_helper.from_array((rng.standard_normal(512) / 10).astype(np.float32), "b1")]
    n = helper.make_node
    nodes = [
        n("MatMul", ["x", "w1"], ["fc1"], name="fc1"),
        n("Add", ["fc1", "b1"], ["fc1_b"], name="fc1_b"),
        n("Relu", ["fc1_b"], ["h"], name="h"),
        n("MatMul", ["h", "w2"], ["fc2"], name="fc2"),
        n("Add", ["fc2", "x"], ["y"], name="y"),
        n("MatMul", ["s", "w3"], ["z"], name="small"),
    ]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 128, k]),
                       helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, 4, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 128, k]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, 64])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def inputs(folder, k=256, head=()):
    rng = np.random.default_rng(32)
    x = rng.standard_normal((1, 128, k)).astype(np.float32)
    x.flat[:len(head)] = head
    np.savez(folder / "x.npz", x=x, s=rng.standard_normal((1, 4, k)).astype(np.float32))
    np.savez(folder / "calib.npz", x=rng.standard_normal((4, 1, 128, k)).astype(np.float32),
             s=rng.standard_normal((4, 1, 4, k)).astype(np.float32))


def projections(path):
    """x [1, 128, 256] times three weights, the three products added."""
    rng = np.random.default_rng(33)
    n = helper.make_node
    nodes = [n("MatMul", ["x", f"w{p}"], [p], name=p) for p in "qkv"] + [
        n("Add", ["q", "k"], ["qk"], name="qk"), n("Add", ["qk", "v"], ["y"], name="y")]
    graph = helper.make_graph(
        nodes, "projections", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 128, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 128, 256])],
        [weights(rng, f"w{p}", (256, 256)) for p in "qkv"])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def layer_code(bundle):
    """Per layer, its lines of `npucc disasm`'s code."""
    code = run_npucc("disasm", bundle).stdout.split(".code\n")[1].splitlines()
    return {layer["name"]: code[layer["first"]:layer["first"] + layer["count"]]
            for layer in npub.verify(bundle).metadata["program"]["layers"]}


def coded_products(bundle):
    """Per layer with `mma`s, whether they all multiply coded activations (u8), which
    `npucc disasm` lists as the act operand's descriptor."""
    head = run_npucc("disasm", bundle).stdout.split(".code\n")[0]
    elements = {line.split(":")[0]: line.split()[3] for line in head.splitlines() if line.startswith("d")}
    coded = {}
    for name, lines in layer_code(bundle).items():
        acts = [line.split("act=")[1].split(",")[0] for line in lines if line.startswith("mma ")]
        if acts:
            kinds = {elements[a] for a in acts}
            assert len(kinds) == 1, (name, kinds)
            coded[name] = kinds == {"u8"}
    return coded


@pytest.mark.parametrize("precision,sparsity", [("fp8", "none"), ("fp8", "2:4"), ("nvfp4", "none"),
                                                ("nvfp4", "2:4")])
def test_large_products_multiply_their_input_coded_bit_for_bit(tmp_path, precision, sparsity):
    mlp(tmp_path / "m.onnx")
    inputs(tmp_path)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, sparsity,
                                        tmp_path / "calib.npz", prune="magnitude")
    for name in ["y", "z"]:
        np.testing.assert_array_equal(sim[name].view(np.uint32), fq[name].view(np.uint32), err_msg=name)
    coded = coded_products(tmp_path / "m.npub")
    assert coded["fc1"] and not coded["small"], coded
    r = run_npucc("inspect", tmp_path / "m.npub", "--check-sync")
    assert r.returncode == 0, r.stderr


def test_special_values_round_into_codes_as_on_the_tiles(tmp_path):
    mlp(tmp_path / "m.onnx")
    inputs(tmp_path, head=[np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 60.0, -60.0, 1e30])
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "nvfp4", "none",
                                        tmp_path / "calib.npz")
    for name in ["y", "z"]:
        np.testing.assert_array_equal(sim[name].view(np.uint32), fq[name].view(np.uint32), err_msg=name)
    assert np.isnan(sim["y"]).any()
    assert coded_products(tmp_path / "m.npub")["fc1"]


@pytest.mark.parametrize("precision", ["fp8", "nvfp4"])
def test_products_of_one_input_share_its_image(tmp_path, precision):
    projections(tmp_path / "m.onnx")
    rng = np.random.default_rng(34)
    np.savez(tmp_path / "x.npz", x=rng.standard_normal((1, 128, 256)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 1, 128, 256)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    np.testing.assert_array_equal(sim["y"].view(np.uint32), fq["y"].view(np.uint32))
    assert coded_products(tmp_path / "m.npub") == {"q": True, "k": True, "v": True}
    # The first rounds x into codes; the others round nothing.
    rounds = {name: sum(line.startswith("quant ") for line in lines)
              for name, lines in layer_code(tmp_path / "m.npub").items()}
    assert rounds["q"] > 0 and rounds["k"] == rounds["v"] == 0, rounds
    r = run_npucc("inspect", tmp_path / "m.npub", "--check-sync")
    assert r.returncode == 0, r.stderr


def test_a_reduction_of_part_of_an_nvfp4_block_rounds_on_the_tiles(tmp_path):
    """K = 200 is 12 blocks of 16 and 8 values: no image of codes, the same numbers."""
    mlp(tmp_path / "m.onnx", k=200)
    inputs(tmp_path, k=200)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "nvfp4", "none",
                                        tmp_path / "calib.npz")
    for name in ["y", "z"]:
        np.testing.assert_array_equal(sim[name].view(np.uint32), fq[name].view(np.uint32), err_msg=name)
    coded = coded_products(tmp_path / "m.npub")
    assert not coded["fc1"] and not coded["small"], coded


def test_an_image_the_global_buffer_cannot_hold_goes_to_dram(tmp_path):
    """With a global buffer (and clusters' buffers) of 64 KiB, an image of 160 KiB (K = 1,024)
    lives in DRAM."""
    target = json.loads((ROOT / "Sources" / "Target" / "Resources" / "npu-seed.json").read_text())
    for memory in target["memories"]:
        if memory["name"] in ["l2", "l3"]:
            memory["size_bytes"] = 64 * 1024
    (tmp_path / "small-l3.json").write_text(json.dumps(target))
    mlp(tmp_path / "m.onnx", k=1024)
    inputs(tmp_path, k=1024)
    flags = ["--precision", "nvfp4", "--calib", tmp_path / "calib.npz"]
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--target", tmp_path / "small-l3.json",
                  *flags)
    assert r.returncode == 0, r.stderr
    for source, out in [(tmp_path / "m.npub", "sim.npz"), (tmp_path / "m.onnx", "fq.npz")]:
        r = run_npucc("run", source, "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / out,
                      *(flags if out == "fq.npz" else []))
        assert r.returncode == 0, r.stderr
    sim, fq = np.load(tmp_path / "sim.npz"), np.load(tmp_path / "fq.npz")
    for name in ["y", "z"]:
        np.testing.assert_array_equal(sim[name].view(np.uint32), fq[name].view(np.uint32), err_msg=name)
    assert coded_products(tmp_path / "m.npub")["fc1"]
    listing = run_npucc("disasm", tmp_path / "m.npub").stdout
    assert any(" dram u8 " in line for line in listing.split(".code\n")[0].splitlines()), "no image of codes in DRAM"


def test_a_models_own_fp8_scale_multiplies_the_codes(tmp_path):
    """An fp8 QDQ model's activation pair (scale 0.013, not amax / 448) before a large product:
    the pass rounds x / 0.013 at scale 1 and the tiles multiply the codes by 0.013, as the
    interpreter's e4m3(x / s) · s."""
    e4m3 = onnx.helper.tensor_dtype_to_np_dtype(TensorProto.FLOAT8E4M3FN)
    rng = np.random.default_rng(35)
    w = rng.standard_normal((256, 512)).astype(np.float32) / 16
    s_w = np.float32(np.abs(w).max() / 448)
    n = helper.make_node
    nodes = [n("QuantizeLinear", ["x", "x_s", "z"], ["x_q"], name="x_quant"),
             n("DequantizeLinear", ["x_q", "x_s", "z"], ["x_dq"], name="x_dequant"),
             n("DequantizeLinear", ["w_q", "w_s"], ["w"], name="w_dequant"),
             n("MatMul", ["x_dq", "w"], ["y"], name="fc")]
    inits = [numpy_helper.from_array(np.array(0, e4m3), "z"), numpy_helper.from_array(np.float32(0.013), "x_s"),
             numpy_helper.from_array((w / s_w).astype(e4m3), "w_q"), numpy_helper.from_array(np.array(s_w), "w_s")]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 128, 256])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 128, 512])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]), tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=(rng.standard_normal((1, 128, 256)) * 2).astype(np.float32))
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub")
    assert r.returncode == 0, r.stderr
    for source, out in [(tmp_path / "m.npub", "sim.npz"), (tmp_path / "m.onnx", "fq.npz")]:
        r = run_npucc("run", source, "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / out)
        assert r.returncode == 0, r.stderr
    sim, fq = np.load(tmp_path / "sim.npz"), np.load(tmp_path / "fq.npz")
    np.testing.assert_array_equal(sim["y"].view(np.uint32), fq["y"].view(np.uint32))
    assert coded_products(tmp_path / "m.npub") == {"fc": True}
