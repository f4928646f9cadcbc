"""Writes a ResNet-50-shaped ONNX model with random weights (about 100 MB of float32),
the way PyTorch exports it (Conv + BatchNormalization + Relu, opset 13), for `make bench`.

usage: make_resnet50.py OUT.onnx [WIDTH_DIVISOR]   (the batch dimension is symbolic: "N")

WIDTH_DIVISOR (default 1) divides every channel count: the tests use the same topology
(53 BatchNormalization nodes) at a fraction of the size.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)
nodes, inits = [], []
counter = [0]


def name(prefix):
    counter[0] += 1
    return f"{prefix}_{counter[0]}"


def const(prefix, array):
    n = name(prefix)
    inits.append(numpy_helper.from_array(array.astype(np.float32), n))
    return n


DIV = int(sys.argv[2]) if len(sys.argv) > 2 else 1


def conv_bn(x, cin, cout, k, stride, relu=True):
    w = const("w", rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k)))
    y = name("conv")
    nodes.append(helper.make_node("Conv", [x, w], [y], kernel_shape=[k, k], strides=[stride, stride],
                                  pads=[k // 2] * 4))
    scale = const("bn_scale", rng.uniform(0.5, 1.0, cout))
    bias = const("bn_bias", rng.standard_normal(cout) * 0.1)
    mean = const("bn_mean", rng.standard_normal(cout) * 0.1)
    var = const("bn_var", rng.uniform(0.5, 1.5, cout))
    z = name("bn")
    nodes.append(helper.make_node("BatchNormalization", [y, scale, bias, mean, var], [z], epsilon=1e-5))
    if not relu:
        return z
    r = name("relu")
    nodes.append(helper.make_node("Relu", [z], [r]))
    return r


def bottleneck(x, cin, width, stride):
    cout = width * 4
    y = conv_bn(x, cin, width, 1, 1)
    y = conv_bn(y, width, width, 3, stride)
    y = conv_bn(y, width, cout, 1, 1, relu=False)
    shortcut = x if (stride == 1 and cin == cout) else conv_bn(x, cin, cout, 1, stride, relu=False)
    s = name("add")
    nodes.append(helper.make_node("Add", [y, shortcut], [s]))
    r = name("relu")
    nodes.append(helper.make_node("Relu", [s], [r]))
    return r, cout


def build():
    x = conv_bn("input", 3, 64 // DIV, 7, 2)
    p = name("pool")
    nodes.append(helper.make_node("MaxPool", [x], [p], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = p, 64 // DIV
    for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for b in range(blocks):
            x, cin = bottleneck(x, cin, width // DIV, stride if b == 0 else 1)
    g = name("gap")
    nodes.append(helper.make_node("GlobalAveragePool", [x], [g]))
    f = name("flat")
    nodes.append(helper.make_node("Flatten", [g], [f], axis=1))
    w = const("fc_w", rng.standard_normal((1000, 2048 // DIV)) * 0.01)
    b = const("fc_b", np.zeros(1000))
    nodes.append(helper.make_node("Gemm", [f, w, b], ["logits"], transB=1))
    graph = helper.make_graph(
        nodes, "resnet50",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])], inits)
    model = helper.make_model(graph, producer_name="npucc-bench", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


if __name__ == "__main__":
    onnx.save(build(), sys.argv[1])
