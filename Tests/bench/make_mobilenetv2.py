"""Writes a MobileNetV2-shaped ONNX model with random weights (about 14 MB of float32), the
way PyTorch exports it (Conv + BatchNormalization + Clip(0, 6), depthwise 3x3 convolutions
of one channel per group, opset 13), for measuring grouped convolutions in the cycle model.

usage: make_mobilenetv2.py OUT.onnx [SAMPLES.npz COUNT] [--kernel K]   (the batch dimension is symbolic: "N")

With SAMPLES.npz, also writes COUNT random inputs there under the input's name, "input".
With --kernel K, the depthwise convolutions are KxK (5: as EfficientNet's and MnasNet's
wider stages have them).
"""
import sys

import numpy as np
import onnx

from cnn_graph import CNNGraph


def inverted_residual(g, x, cin, cout, stride, expand, kernel):
    hidden = cin * expand
    y = g.conv_bn(x, cin, hidden, 1, 1, activation="relu6") if expand != 1 else x
    y = g.conv_bn(y, hidden, hidden, kernel, stride, groups=hidden, activation="relu6")
    y = g.conv_bn(y, hidden, cout, 1, 1, activation=None)
    return g.node("Add", [x, y], "add") if stride == 1 and cin == cout else y


def build(kernel=3):
    g = CNNGraph()
    x, cin = g.conv_bn("input", 3, 32, 3, 2, activation="relu6"), 32
    for expand, cout, repeats, stride in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                          (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for r in range(repeats):
            x, cin = inverted_residual(g, x, cin, cout, stride if r == 0 else 1, expand, kernel), cout
    x = g.conv_bn(x, cin, 1280, 1, 1, activation="relu6")
    g.classifier(x, 1280)
    return g, g.model("mobilenetv2")


if __name__ == "__main__":
    args = sys.argv[1:]
    kernel = 3
    if "--kernel" in args:
        at = args.index("--kernel")
        kernel = int(args[at + 1])
        del args[at:at + 2]
    graph, model = build(kernel)
    onnx.save(model, args[0])
    if len(args) > 2:
        samples = graph.rng.standard_normal((int(args[2]), 3, 224, 224)).astype(np.float32)
        np.savez(args[1], input=samples)
