"""Writes a MobileNetV2-shaped ONNX model with random weights (about 14 MB of float32), the
way PyTorch exports it (Conv + BatchNormalization + Clip(0, 6), depthwise 3x3 convolutions
of one channel per group, opset 13), for measuring grouped convolutions in the cycle model.

usage: make_mobilenetv2.py OUT.onnx [SAMPLES.npz COUNT] [--kernel K]   (the batch dimension is symbolic: "N")

With SAMPLES.npz, also writes COUNT random inputs there under the input's name, "input".
With --kernel K, the depthwise convolutions are KxK (5: as EfficientNet's and MnasNet's
wider stages have them).
"""
import argparse

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
    parser = argparse.ArgumentParser(description="Writes a MobileNetV2-shaped ONNX model with random weights.")
    parser.add_argument("out", help="the model file to write")
    parser.add_argument("samples", nargs="?", help="an .npz to write COUNT random inputs to, under \"input\"")
    parser.add_argument("count", nargs="?", type=int, help="how many inputs SAMPLES holds")
    parser.add_argument("--kernel", type=int, default=3, help="the depthwise convolutions' kernel size (default 3)")
    args = parser.parse_args()
    if (args.samples is None) != (args.count is None):
        parser.error("SAMPLES.npz and COUNT go together")
    graph, model = build(args.kernel)
    onnx.save(model, args.out)
    if args.samples is not None:
        samples = graph.rng.standard_normal((args.count, 3, 224, 224)).astype(np.float32)
        np.savez(args.samples, input=samples)
