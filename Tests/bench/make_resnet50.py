"""Writes a ResNet-50-shaped ONNX model with random weights (about 100 MB of float32),
the way PyTorch exports it (Conv + BatchNormalization + Relu, opset 13), for `make bench`.

usage: make_resnet50.py OUT.onnx [WIDTH_DIVISOR]   (the batch dimension is symbolic: "N")

WIDTH_DIVISOR (default 1) divides every channel count: the tests use the same topology
(53 BatchNormalization nodes) at a fraction of the size.
"""
import sys

import onnx

from cnn_graph import CNNGraph


def bottleneck(g, x, cin, width, stride):
    cout = width * 4
    y = g.conv_bn(x, cin, width, 1, 1)
    y = g.conv_bn(y, width, width, 3, stride)
    y = g.conv_bn(y, width, cout, 1, 1, activation=None)
    shortcut = x if (stride == 1 and cin == cout) else g.conv_bn(x, cin, cout, 1, stride, activation=None)
    s = g.node("Add", [y, shortcut], "add")
    return g.node("Relu", [s], "relu"), cout


def build(divisor=1):
    g = CNNGraph()
    x = g.conv_bn("input", 3, 64 // divisor, 7, 2)
    x = g.node("MaxPool", [x], "pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64 // divisor
    for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for b in range(blocks):
            x, cin = bottleneck(g, x, cin, width // divisor, stride if b == 0 else 1)
    g.classifier(x, 2048 // divisor)
    return g.model("resnet50")


if __name__ == "__main__":
    onnx.save(build(int(sys.argv[2]) if len(sys.argv) > 2 else 1), sys.argv[1])
