"""A MatMul of two activations (both rounded to fp16 on the tile) multiplies each output tile
with one `mma` over all of K when two tiles of each operand fit a tile's SRAM, and over runs of
K accumulated in the array when they do not; a tile's consecutive output tiles keep the
operand tile they share instead of loading it again. The bundle computes what the fake-quant
interpreter computes, bit for bit, with the batch axes broadcast as numpy does."""
import numpy as np
import pytest
from onnx import TensorProto, helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted


def save(path, a, b):
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"], name="product")], "product",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, a),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, b)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())


def simulate(tmp_path, a, b):
    save(tmp_path / "m.onnx", a, b)
    rng = np.random.default_rng(41)
    feeds = {"a": rng.standard_normal(a).astype(np.float32) * 3, "b": rng.standard_normal(b).astype(np.float32)}
    feeds["a"].flat[:4] = [np.inf, -np.inf, np.nan, 7e4]
    np.savez(tmp_path / "x.npz", **feeds)
    simulated, interpreted = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16",
                                                       "none", None)
    assert_same_bits(simulated, interpreted, ["y"])
    listing = run_npucc("disasm", tmp_path / "m.npub").stdout
    head, code = listing.split(".code\n")
    shapes = {line.split(":")[0]: line.split()[5] for line in head.splitlines()
              if line.startswith("d") and " sram " in line}
    return shapes, code.splitlines()


@pytest.mark.parametrize("a,b", [([2, 20, 1000], [1, 1000, 45]), ([3, 1, 700], [3, 700, 30])])
def test_a_long_reduction_runs_in_parts_accumulated_in_the_array(tmp_path, a, b):
    _, code = simulate(tmp_path, a, b)
    products = [line for line in code if line.startswith("mma ")]
    assert any("accumulate=1" in line for line in products), products[:3]


def test_consecutive_output_tiles_keep_the_operand_tile_they_share(tmp_path):
    """32 heads of [64, 16] x [16, 64]: 2 row tiles of 32 by 4 column tiles of 20 a head, 256
    output tiles over the 64 tiles, 4 each along a row tile: A's [32, 16] tiles are loaded 64
    times (once per head and row tile), B's [16, 20] and [16, 4] ones 256 times."""
    shapes, code = simulate(tmp_path, [32, 64, 16], [32, 16, 64])
    loads = [shapes.get(line.split("dst=")[1].split(",")[0]) for line in code if line.startswith("dma ")]
    assert loads.count("[32,16]") == 64, loads.count("[32,16]")
    assert loads.count("[16,20]") + loads.count("[16,4]") == 256
    assert sum(line.startswith("mma ") for line in code) == 256
