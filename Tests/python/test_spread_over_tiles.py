"""Vector-unit work dealt over the tiles: pools, reductions, CumSum, TopK, LRN, instance
normalization and Resize take blocks no larger than spread them over every tile, and no
smaller than a vector pass's 256 values where those fit. The bundle runs bit for bit as the
fake-quant interpreter runs the model."""
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(64)


def model(path, node, shape, initializers=()):
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in initializers])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


def vector_tiles(bundle):
    """The tiles whose vector units run the program's `vopp` steps."""
    program = run_npucc("disasm", bundle).stdout
    descriptors = dict(line.split(": ", 1) for line in program.splitlines() if re.match(r"d\d+: ", line))
    return {descriptors[re.search(r"dst=(d\d+)", line).group(1)].split()[1]
            for line in program.splitlines() if line.startswith("vopp ")}


CASES = {
    "global_average_pool": (helper.make_node("GlobalAveragePool", ["x"], ["y"]), [1, 2048, 7, 7], [], 64),
    "global_average_pool_small": (helper.make_node("GlobalAveragePool", ["x"], ["y"]), [1, 64, 4, 4], [], 4),
    "reduce_mean": (helper.make_node("ReduceMean", ["x", "axes"], ["y"]), [1, 256, 7, 7],
                    [("axes", np.array([2, 3], np.int64))], 43),
    "cumsum": (helper.make_node("CumSum", ["x", "axis"], ["y"]), [1, 64, 256], [("axis", np.array(-1, np.int64))], 64),
}


@pytest.mark.parametrize("case", list(CASES))
def test_vector_work_is_dealt_to_as_many_tiles_as_it_fills(tmp_path, case):
    node, shape, initializers, tiles = CASES[case]
    model(tmp_path / "m.onnx", node, shape, initializers)
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal(shape).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none", None)
    assert_same_bits(sim, fq, ["y"])
    assert len(vector_tiles(tmp_path / "m.npub")) == tiles
