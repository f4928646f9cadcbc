"""Writes a BERT-base-sized encoder as older exporters wrote it (opset 11), for
docs/BENCHMARKS.md: a word-embedding Gather (30,522 x 768) plus a position table, then
LAYERS blocks of self-attention (12 heads, heads split and merged by Shape / Gather /
Unsqueeze / Concat / Reshape chains, scalars in Constant nodes) and a 3,072-wide GELU
feed-forward, each LayerNorm spelled out as ReduceMean / Sub / Pow / Sqrt / Div. Random
weights; input_ids int64 [batch, seq] with the sequence 128. Also writes CALIB.npz (8
sequences of random ids) and ONE.npz (the first of them).

    python Tests/bench/make_encoder.py OUT.onnx CALIB.npz ONE.npz [LAYERS]
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DIM, HEADS, HIDDEN, VOCAB, SEQ = 768, 12, 3072, 30522, 128


def encoder(layers, rng):
    inits, nodes, count = [], [], [0]

    def name(prefix):
        count[0] += 1
        return f"{prefix}_{count[0]}"

    def weight(label, *shape, scale=0.02):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), label))
        return label

    def constant(value, dtype=np.int64):
        out = name("const")
        nodes.append(helper.make_node("Constant", [], [out], value=numpy_helper.from_array(np.array(value, dtype))))
        return out

    def node(op, inputs, **attrs):
        out = name(op)
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def layer_norm(x, label):
        gamma, beta = weight(label + ".weight", DIM, scale=0.1), weight(label + ".bias", DIM, scale=0.1)
        centred = node("Sub", [x, node("ReduceMean", [x], axes=[-1])])
        variance = node("ReduceMean", [node("Pow", [centred, constant(2.0, np.float32)])], axes=[-1])
        scaled = node("Div", [centred, node("Sqrt", [node("Add", [variance, constant(1e-12, np.float32)])])])
        return node("Add", [node("Mul", [scaled, gamma]), beta])

    def linear(x, label, fan_in, fan_out):
        return node("Add", [node("MatMul", [x, weight(label + ".weight", fan_in, fan_out)]), weight(label + ".bias", fan_out)])

    def leading(x):
        """The batch and sequence extents of x, as a [2] int64 tensor."""
        shape = node("Shape", [x])
        return [node("Unsqueeze", [node("Gather", [shape, constant(i)], axis=0)], axes=[0]) for i in (0, 1)]

    def split_heads(x):
        shape = node("Concat", leading(x) + [constant([HEADS]), constant([DIM // HEADS])], axis=0)
        return node("Transpose", [node("Reshape", [x, shape])], perm=[0, 2, 1, 3])

    words = node("Gather", [weight("word_embeddings", VOCAB, DIM), "input_ids"], axis=0)
    x = layer_norm(node("Add", [words, weight("position_embeddings", SEQ, DIM)]), "embeddings.norm")
    for i in range(layers):
        q, k, v = (split_heads(linear(x, f"layer{i}.{p}", DIM, DIM)) for p in ("query", "key", "value"))
        keys = node("Transpose", [k], perm=[0, 1, 3, 2])
        scores = node("Div", [node("MatMul", [q, keys]), constant(np.sqrt(DIM // HEADS), np.float32)])
        context = node("Transpose", [node("MatMul", [node("Softmax", [scores], axis=3), v])], perm=[0, 2, 1, 3])
        context = node("Reshape", [context, node("Concat", leading(context) + [constant([DIM])], axis=0)])
        x = layer_norm(node("Add", [linear(context, f"layer{i}.output", DIM, DIM), x]), f"layer{i}.norm1")
        h = linear(x, f"layer{i}.fc1", DIM, HIDDEN)
        erf = node("Erf", [node("Div", [h, constant(np.sqrt(2.0), np.float32)])])
        gelu = node("Mul", [node("Mul", [h, node("Add", [erf, constant(1.0, np.float32)])]), constant(0.5, np.float32)])
        x = layer_norm(node("Add", [linear(gelu, f"layer{i}.fc2", HIDDEN, DIM), x]), f"layer{i}.norm2")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    graph = helper.make_graph(
        nodes, "encoder", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", DIM])], inits)
    model = helper.make_model(graph, producer_name="npucc-bench", opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    onnx.checker.check_model(model)
    return model


def main():
    out, calib, one = sys.argv[1:4]
    layers = int(sys.argv[4]) if len(sys.argv) > 4 else 12
    rng = np.random.default_rng(0)
    onnx.save(encoder(layers, rng), out)
    ids = rng.integers(0, VOCAB, (8, SEQ)).astype(np.int64)
    np.savez(calib, input_ids=ids)
    np.savez(one, input_ids=ids[:1])


if __name__ == "__main__":
    main()
