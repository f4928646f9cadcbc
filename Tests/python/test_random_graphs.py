"""Seeded random graphs of three families, each compiled at every precision and sparsity:
the interpreter runs them as onnxruntime does, and every bundle gives the fake-quant
interpreter's bits on the simulator.

- convolution stacks: 1x1, 3x3 and 5x5 kernels with strides 1 and 2, dilations 1 and 2,
  symmetric and asymmetric pads, one or two groups and depthwise ones (with a channel
  multiplier), BatchNormalization, max and average pools, residual adds, Relu, Clip,
  Sigmoid, Tanh and LeakyRelu, a batch of 1 or 2, ending in a pooled Gemm classifier;
- transformer blocks: per-head Q, K and V from MatMul and Add, Reshape and Transpose into
  heads, scaled scores with or without a causal mask, Softmax, LayerNormalization or its
  ReduceMean form, GELU as torch exports it, ReLU or SiLU in the MLP, residual adds;
- encoder-decoder cells: a strided convolution, upsampling by Resize (its opset 11 and 13
  forms) or ConvTranspose, Concat with the skip, Split with gating, Pad (constant, reflect,
  edge) and Slice, at opsets 11, 13 and 17.

The seeds are fixed: the graphs are the same on every run. Each family's generator draws
the structure and the values from its seed alone."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, simulated_and_interpreted

CONFIGS = [(precision, sparsity) for precision in ("fp16", "fp8", "nvfp4") for sparsity in ("none", "2:4")]


class Graph:
    """Nodes and initializers of a graph being drawn, each value named in order."""

    def __init__(self, rng):
        self.rng, self.nodes, self.inits, self.count = rng, [], [], 0

    def constant(self, values, dtype=np.float32):
        self.count += 1
        name = f"c{self.count}"
        self.inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    def weight(self, shape, fan_in):
        return self.constant(self.rng.standard_normal(shape) / np.sqrt(fan_in))

    def node(self, op, inputs, outputs=1, **attributes):
        self.count += 1
        names = [f"v{self.count}_{j}" for j in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, name=f"{op.lower()}{self.count}", **attributes))
        return names[0] if outputs == 1 else names

    def save(self, path, x_shape, opset, samples):
        """Writes the model (its last node's output renamed y) and x.npz with one input and
        calib.npz with four more, next to it."""
        self.nodes[-1].output[0] = "y"
        graph = helper.make_graph(
            self.nodes, "random", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 7
        onnx.save(model, path)
        values = samples.standard_normal([5] + x_shape).astype(np.float32)
        np.savez(path.parent / "x.npz", x=values[0])
        np.savez(path.parent / "calib.npz", x=values[1:])


def convolution_stack(path, seed):
    rng = np.random.default_rng(seed)
    g = Graph(rng)
    batch, channels, side = int(rng.choice([1, 1, 2])), int(rng.integers(3, 24)), int(rng.integers(6, 24))
    x, shape, kept = "x", [batch, channels, side, side], None
    for _ in range(int(rng.integers(2, 7))):
        c, h, w = shape[1:]
        kind = rng.choice(["conv", "conv", "conv", "depthwise", "pool", "activation", "residual", "batchnorm"])
        if kind in ("conv", "depthwise"):
            k = int(rng.choice([1, 3, 3, 5]))
            stride = int(rng.choice([1, 1, 2]))
            dilation = int(rng.choice([1, 1, 2])) if k > 1 else 1
            pads = ([int(rng.integers(0, k)) for _ in range(4)] if rng.random() < 0.3
                    else [(k - 1) * dilation // 2] * 4)
            if kind == "depthwise":
                group, out = c, c * int(rng.choice([1, 2]))
            else:
                group = int(rng.choice([1, 1, 1, 2])) if c % 2 == 0 else 1
                out = max(group, int(rng.integers(4, 48)) // group * group)
            span = (k - 1) * dilation + 1
            oh, ow = (h + pads[0] + pads[2] - span) // stride + 1, (w + pads[1] + pads[3] - span) // stride + 1
            if oh < 1 or ow < 1:
                continue
            inputs = [x, g.weight((out, c // group, k, k), c // group * k * k)]
            if rng.random() < 0.7:
                inputs.append(g.constant(rng.standard_normal(out) * 0.1))
            x = g.node("Conv", inputs, kernel_shape=[k, k], strides=[stride] * 2, dilations=[dilation] * 2, pads=pads,
                       group=group)
            shape = [batch, out, oh, ow]
            activation = rng.choice(["Relu", "LeakyRelu", "Sigmoid", "Clip", None, None])
            if activation == "Clip":
                x = g.node("Clip", [x, g.constant(0.0), g.constant(6.0)])
            elif activation:
                x = g.node(activation, [x])
        elif kind == "batchnorm":
            x = g.node("BatchNormalization", [x, g.constant(rng.uniform(0.5, 1.5, c)), g.constant(rng.standard_normal(c) * .1),
                                              g.constant(rng.standard_normal(c) * .1), g.constant(rng.uniform(0.5, 1.5, c))])
        elif kind == "pool" and min(h, w) >= 3:
            x = g.node(str(rng.choice(["MaxPool", "AveragePool"])), [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)
            shape = [batch, c, (h - 1) // 2 + 1, (w - 1) // 2 + 1]
        elif kind == "activation":
            x = g.node(str(rng.choice(["Relu", "Tanh", "LeakyRelu"])), [x])
        elif kind == "residual" and kept and kept[1] == shape:
            x = g.node("Add", [x, kept[0]])
        if rng.random() < 0.4:
            kept = (x, list(shape))
    flat = g.node("Flatten", [g.node("GlobalAveragePool", [x])])
    g.node("Gemm", [flat, g.weight((10, shape[1]), shape[1]), g.constant(np.zeros(10))], transB=1)
    g.save(path, [batch, channels, side, side], 13, rng)


def transformer_blocks(path, seed):
    rng = np.random.default_rng(seed)
    g = Graph(rng)
    batch, sequence = int(rng.choice([1, 1, 2])), int(rng.integers(1, 20))
    heads, head = int(rng.choice([1, 2, 4])), int(rng.choice([4, 8, 12, 16, 32]))
    width = heads * head

    def linear(x, n_in, n_out):
        return g.node("Add", [g.node("MatMul", [x, g.weight((n_in, n_out), n_in)]), g.constant(rng.standard_normal(n_out) * .1)])

    def layer_norm(x):
        scale, bias = g.constant(rng.uniform(0.5, 1.5, width)), g.constant(rng.standard_normal(width) * .1)
        if rng.random() < 0.5:
            return g.node("LayerNormalization", [x, scale, bias], axis=-1, epsilon=1e-5)
        centred = g.node("Sub", [x, g.node("ReduceMean", [x], axes=[-1])])
        variance = g.node("ReduceMean", [g.node("Pow", [centred, g.constant(2.0)])], axes=[-1])
        normed = g.node("Div", [centred, g.node("Sqrt", [g.node("Add", [variance, g.constant(1e-5)])])])
        return g.node("Add", [g.node("Mul", [normed, scale]), bias])

    def split_heads(x):
        return g.node("Transpose", [g.node("Reshape", [x, g.constant([batch, sequence, heads, head], np.int64)])],
                      perm=[0, 2, 1, 3])

    x = "x"
    for _ in range(int(rng.integers(1, 3))):
        a = layer_norm(x) if rng.random() < 0.7 else x
        q, k, v = (split_heads(linear(a, width, width)) for _ in range(3))
        scores = g.node("Mul", [g.node("MatMul", [q, g.node("Transpose", [k], perm=[0, 1, 3, 2])]),
                                g.constant(1 / np.sqrt(head))])
        if rng.random() < 0.5:
            scores = g.node("Add", [scores, g.constant(np.triu(np.full((sequence, sequence), -1e4), 1))])
        attended = g.node("MatMul", [g.node("Softmax", [scores], axis=-1), v])
        merged = g.node("Reshape", [g.node("Transpose", [attended], perm=[0, 2, 1, 3]),
                                    g.constant([batch, sequence, width], np.int64)])
        x = g.node("Add", [x, linear(merged, width, width)])
        m = layer_norm(x) if rng.random() < 0.7 else x
        hidden_width = int(rng.choice([2, 4])) * width
        hidden = linear(m, width, hidden_width)
        activation = rng.choice(["gelu", "relu", "silu"])
        if activation == "gelu":
            erf = g.node("Erf", [g.node("Div", [hidden, g.constant(1.4142135381698608)])])
            hidden = g.node("Mul", [g.node("Mul", [hidden, g.node("Add", [erf, g.constant(1.0)])]), g.constant(0.5)])
        elif activation == "relu":
            hidden = g.node("Relu", [hidden])
        else:
            hidden = g.node("Mul", [hidden, g.node("Sigmoid", [hidden])])
        x = g.node("Add", [x, linear(hidden, hidden_width, width)])
    g.save(path, [batch, sequence, width], 17, rng)


def encoder_decoder(path, seed):
    rng = np.random.default_rng(seed)
    g = Graph(rng)
    channels, side, opset = int(rng.integers(2, 12)), int(rng.choice([8, 12, 16])), int(rng.choice([11, 13, 17]))

    def conv(x, n_in, n_out, k=3, stride=1):
        return g.node("Relu", [g.node("Conv", [x, g.weight((n_out, n_in, k, k), n_in * k * k),
                                               g.constant(rng.standard_normal(n_out) * .1)],
                                      kernel_shape=[k, k], strides=[stride] * 2, pads=[k // 2] * 4)])

    skip = conv("x", channels, 8)
    down = conv(skip, 8, 16, 3, 2)
    if rng.random() < 0.5:
        scales = g.constant([1, 1, 2, 2])
        inputs = [down, "", scales] if opset >= 13 else [down, g.constant([]), scales]
        up = conv(g.node("Resize", inputs, mode="nearest"), 16, 8, 1)
    else:
        up = g.node("ConvTranspose", [down, g.weight((16, 8, 2, 2), 64), g.constant(rng.standard_normal(8) * .1)],
                    kernel_shape=[2, 2], strides=[2, 2])
    x = g.node("Concat", [skip, up], axis=1)
    if rng.random() < 0.5:
        if opset >= 13:
            a, b = g.node("Split", [x, g.constant([8, 8], np.int64)], outputs=2, axis=1)
        else:
            a, b = g.node("Split", [x], outputs=2, axis=1, split=[8, 8])
        x = g.node("Concat", [g.node("Mul", [a, g.node("Sigmoid", [b])]), b], axis=1)
    if rng.random() < 0.5:
        x = g.node("Pad", [x, g.constant([0, 0, 1, 1, 0, 0, 1, 1], np.int64)],
                   mode=str(rng.choice(["constant", "reflect", "edge"])))
        # Keeps the top row and the right column of the padding: their values are the mode's.
        x = g.node("Slice", [x, g.constant([0, 1], np.int64), g.constant([-1, 1000], np.int64), g.constant([2, 3], np.int64)])
    g.node("Conv", [conv(x, 16, 4), g.weight((3, 4, 1, 1), 4)], kernel_shape=[1, 1])
    g.save(path, [1, channels, side, side], opset, rng)


FAMILIES = {"convolutions": convolution_stack, "transformer": transformer_blocks, "encoder_decoder": encoder_decoder}
CASES = ([("convolutions", seed) for seed in range(16)] + [("transformer", seed) for seed in range(8)]
         + [("encoder_decoder", seed) for seed in [*range(12), 21]])


def features(model):
    """What of the families' variety `model` holds: its ops, its convolutions' kernels,
    strides, dilations, pads and groups, its pads' modes, its batch and its opset."""
    weights = {t.name: t for t in model.graph.initializer}
    found = {f"batch {model.graph.input[0].type.tensor_type.shape.dim[0].dim_value}",
             f"opset {model.opset_import[0].version}"}
    for node in model.graph.node:
        found.add(node.op_type)
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Pad":
            found.add(f"Pad {attributes.get('mode', b'constant').decode()}")
        if node.op_type == "Add" and node.input[1] in weights and len(weights[node.input[1]].dims) == 2:
            found.add("causal mask")
        if node.op_type != "Conv":
            continue
        found.add(f"{attributes['kernel_shape'][0]}x{attributes['kernel_shape'][1]}")
        found |= {f"stride {attributes.get('strides', [1])[0]}", f"dilation {attributes.get('dilations', [1])[0]}"}
        if len(set(attributes.get("pads", [0]))) > 1:
            found.add("asymmetric pads")
        group, weight = attributes.get("group", 1), weights[node.input[1]].dims
        if group > 1 and weight[1] == 1:
            found.add("depthwise" if weight[0] == group else "depthwise with a multiplier")
        elif group > 1:
            found.add("groups")
    return found


def test_the_seeds_draw_what_the_families_promise(tmp_path):
    """The cases' graphs hold every kind of node and convolution the docstring names."""
    drawn = set()
    for family, seed in CASES:
        path = tmp_path / f"{family}_{seed}" / "model.onnx"
        path.parent.mkdir()
        FAMILIES[family](path, seed)
        drawn |= features(onnx.load(str(path)))
    promised = {
        "1x1", "3x3", "5x5", "stride 2", "dilation 2", "asymmetric pads", "groups", "depthwise",
        "depthwise with a multiplier", "BatchNormalization", "MaxPool", "AveragePool", "Relu", "Clip", "Sigmoid",
        "Tanh", "LeakyRelu", "batch 1", "batch 2", "Gemm", "MatMul", "Softmax", "LayerNormalization", "ReduceMean",
        "Erf", "causal mask", "Resize", "ConvTranspose", "Concat", "Split", "Pad constant", "Pad reflect", "Pad edge",
        "Slice", "opset 11", "opset 13", "opset 17",
    }
    assert promised <= drawn, sorted(promised - drawn)


@pytest.mark.parametrize("family,seed", CASES)
def test_a_random_graph_runs_as_onnxruntime_and_its_bundles_give_the_interpreters_bits(tmp_path, family, seed):
    path = tmp_path / "model.onnx"
    FAMILIES[family](path, seed)
    x = dict(np.load(tmp_path / "x.npz"))
    ours, theirs = interpreted_and_onnxruntime(path, x, tmp_path)
    np.testing.assert_allclose(ours["y"], theirs["y"], rtol=0, atol=1e-5 * max(1.0, float(np.abs(theirs["y"]).max())))
    for precision, sparsity in CONFIGS:
        folder = tmp_path / f"{precision}_{sparsity.replace(':', '')}"
        folder.mkdir()
        simulated, interpreted = simulated_and_interpreted(
            path, tmp_path / "x.npz", folder, precision, sparsity, tmp_path / "calib.npz")
        assert_same_bits(simulated, interpreted, ["y"])
