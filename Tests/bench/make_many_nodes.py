"""Writes a long opset-11 graph for timing the import and the canonicalization, for
docs/BENCHMARKS.md: 3,000 repetitions of a Constant node (64 float32 values) added to the
running value, Relu, and an Unsqueeze and Squeeze with their axes as attributes (15,000
nodes), then a MatMul with a [64, 65536] weight stored in float_data (4M values).
Random values, seed 0.

    python Tests/bench/make_many_nodes.py OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

REPEATS, WIDTH, OUTPUTS = 3000, 64, 65536


def main(path):
    rng = np.random.default_rng(0)
    nodes, x = [], "x"
    for i in range(REPEATS):
        values = rng.standard_normal(WIDTH).astype(np.float32)
        nodes += [
            helper.make_node("Constant", [], [f"c{i}"],
                             value=helper.make_tensor(f"c{i}v", TensorProto.FLOAT, [WIDTH], values.tolist())),
            helper.make_node("Add", [x, f"c{i}"], [f"y{i}"]),
            helper.make_node("Relu", [f"y{i}"], [f"z{i}"]),
            helper.make_node("Unsqueeze", [f"z{i}"], [f"u{i}"], axes=[0]),
            helper.make_node("Squeeze", [f"u{i}"], [f"s{i}"], axes=[0]),
        ]
        x = f"s{i}"
    w = rng.standard_normal((WIDTH, OUTPUTS)).astype(np.float32)
    weight = helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.ravel().tolist())
    nodes.append(helper.make_node("MatMul", [x, "w"], ["out"]))
    graph = helper.make_graph(
        nodes, "many_nodes", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, WIDTH])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, OUTPUTS])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), path)


if __name__ == "__main__":
    main(sys.argv[1])
