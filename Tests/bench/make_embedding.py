"""Writes a BERT-base-sized embedding layer as torch exports it (opset 17), for
docs/BENCHMARKS.md: word (30,522 x 768), position (512 x 768) and token-type (2 x 768)
tables, random weights; input_ids int64 [batch, sequence]; the position ids a registered
buffer sliced to the sequence, the token types a buffer of zeros; LayerNormalization; then
the first attention's query projection (768 x 768 MatMul and bias).

    python Tests/bench/make_embedding.py OUT.onnx IDS.npz [SEQUENCE]
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

VOCAB, POSITIONS, TYPES, WIDTH = 30522, 512, 2, 768


def main(path, ids_path, sequence=128):
    rng = np.random.default_rng(0)
    inits = []

    def const(name, values, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.asarray(values, dtype), name))
        return name

    for name, rows in [("word", VOCAB), ("position", POSITIONS), ("token_type", TYPES)]:
        const(f"{name}_embeddings", rng.standard_normal((rows, WIDTH)) * 0.02)
    const("position_ids", np.arange(POSITIONS)[None, :], np.int64)
    const("token_type_ids", np.zeros((1, POSITIONS)), np.int64)
    nodes = [
        helper.make_node("Gather", ["word_embeddings", "input_ids"], ["words"], name="embeddings.word"),
        helper.make_node("Shape", ["input_ids"], ["shape"]),
        helper.make_node("Gather", ["shape", const("one", 1, np.int64)], ["length"]),
        helper.make_node("Unsqueeze", ["length", const("zero_axis", [0], np.int64)], ["length_1d"]),
    ]
    for name in ["position", "token_type"]:
        nodes += [
            helper.make_node("Slice", [f"{name}_ids", const(f"{name}_start", [0], np.int64), "length_1d",
                                       const(f"{name}_axis", [1], np.int64)], [f"{name}_slice"]),
            helper.make_node("Gather", [f"{name}_embeddings", f"{name}_slice"], [f"{name}s"],
                             name=f"embeddings.{name}"),
        ]
    nodes += [
        helper.make_node("Add", ["words", "token_types"], ["sum1"]),
        helper.make_node("Add", ["sum1", "positions"], ["embedded"]),
        helper.make_node("LayerNormalization", ["embedded", const("gamma", np.ones(WIDTH)), const("beta", np.zeros(WIDTH))],
                         ["hidden"], axis=-1, epsilon=1e-12, name="embeddings.norm"),
        helper.make_node("MatMul", ["hidden", const("wq", rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH))],
                         ["q0"], name="attention.query"),
        helper.make_node("Add", ["q0", const("bq", np.zeros(WIDTH))], ["query"], name="attention.query.bias"),
    ]
    graph = helper.make_graph(nodes, "bert_embeddings",
                              [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
                              [helper.make_tensor_value_info("query", TensorProto.FLOAT, ["batch", "sequence", WIDTH])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    np.savez(ids_path, input_ids=rng.integers(0, VOCAB, (8, sequence)).astype(np.int64))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:]))
