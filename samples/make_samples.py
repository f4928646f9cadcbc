"""Makes npucc's sample models and data (deterministic; rerun to regenerate):

  digits_cnn.onnx        a small CNN (Conv, BatchNormalization, Relu, MaxPool, AveragePool,
                         Gemm) trained here, in numpy, on scikit-learn's bundled digits;
  digits_calib.npz       256 training images for calibration;
  digits_test.npz        the 360 held-out test images; digits_test_labels.npy their labels;
  transformer_block.onnx one pre-LN transformer encoder block (random weights), as PyTorch
                         exports it at opset 17 (Erf-based Gelu); transformer_inputs.npz;
  shape_chain.onnx       exporter-style shape chains, a symbolic batch, weights in Constant
                         nodes and a constant subgraph, initializers listed as inputs,
                         Identity and Dropout, opset 9 attribute forms; shape_chain_inputs.npz.

usage: python samples/make_samples.py [OUT_DIR]   (default: the samples folder)
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- digits CNN, numpy training
def im2col(x, k, pad):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, c, k, k, h, w), x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + h, j:j + w]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * h * w, c * k * k)


def col2im(cols, shape, k, pad):
    n, c, h, w = shape
    cols = cols.reshape(n, h, w, c, k, k).transpose(0, 3, 4, 5, 1, 2)
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), cols.dtype)
    for i in range(k):
        for j in range(k):
            xp[:, :, i:i + h, j:j + w] += cols[:, :, i, j]
    return xp[:, :, pad:pad + h, pad:pad + w]


class CNN:
    """conv3x3(1->16)-BN-ReLU-maxpool2 -> conv3x3(16->32)-BN-ReLU-avgpool2 -> flatten -> dense(128->10)."""

    def __init__(self, rng):
        def he(*shape):
            return (rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))).astype(np.float32)
        self.p = {
            "conv1.weight": he(16, 1, 3, 3), "conv1.bias": np.zeros(16, np.float32),
            "bn1.weight": np.ones(16, np.float32), "bn1.bias": np.zeros(16, np.float32),
            "conv2.weight": he(32, 16, 3, 3), "conv2.bias": np.zeros(32, np.float32),
            "bn2.weight": np.ones(32, np.float32), "bn2.bias": np.zeros(32, np.float32),
            "fc.weight": he(10, 128), "fc.bias": np.zeros(10, np.float32),
        }
        self.stats = {"bn1": [np.zeros(16, np.float32), np.ones(16, np.float32)],
                      "bn2": [np.zeros(32, np.float32), np.ones(32, np.float32)]}

    def conv(self, x, name, cache):
        w, b = self.p[name + ".weight"], self.p[name + ".bias"]
        n, _, h, wd = x.shape
        cols = im2col(x, 3, 1)
        y = (cols @ w.reshape(w.shape[0], -1).T + b).reshape(n, h, wd, -1).transpose(0, 3, 1, 2)
        cache[name] = (x.shape, cols)
        return y

    def conv_back(self, dy, name, cache, grads):
        shape, cols = cache[name]
        w = self.p[name + ".weight"]
        d = dy.transpose(0, 2, 3, 1).reshape(-1, w.shape[0])
        grads[name + ".weight"] = (d.T @ cols).reshape(w.shape)
        grads[name + ".bias"] = d.sum(0)
        return col2im(d @ w.reshape(w.shape[0], -1), shape, 3, 1)

    def bn(self, x, name, cache, train):
        g, b = self.p[name + ".weight"], self.p[name + ".bias"]
        if train:
            mu, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
            s = self.stats[name]
            s[0] = 0.9 * s[0] + 0.1 * mu
            s[1] = 0.9 * s[1] + 0.1 * var * x[:, 0].size / max(x[:, 0].size - 1, 1)
        else:
            mu, var = self.stats[name]
        inv = 1 / np.sqrt(var + 1e-5)
        xhat = (x - mu[None, :, None, None]) * inv[None, :, None, None]
        cache[name] = (xhat, inv)
        return xhat * g[None, :, None, None] + b[None, :, None, None]

    def bn_back(self, dy, name, cache, grads):
        xhat, inv = cache[name]
        g = self.p[name + ".weight"]
        m = dy.shape[0] * dy.shape[2] * dy.shape[3]
        grads[name + ".weight"] = (dy * xhat).sum((0, 2, 3))
        grads[name + ".bias"] = dy.sum((0, 2, 3))
        dxhat = dy * g[None, :, None, None]
        return (inv[None, :, None, None] / m) * (m * dxhat - dxhat.sum((0, 2, 3), keepdims=True)
                                                  - xhat * (dxhat * xhat).sum((0, 2, 3), keepdims=True))

    def forward(self, x, train=False):
        c = {}
        h = np.maximum(self.bn(self.conv(x, "conv1", c), "bn1", c, train), 0)
        c["relu1"] = h > 0
        n = h.shape[0]
        blocks = h.reshape(n, 16, 4, 2, 4, 2)
        pooled = blocks.max((3, 5))
        c["pool1"] = blocks == pooled[:, :, :, None, :, None]
        h = np.maximum(self.bn(self.conv(pooled, "conv2", c), "bn2", c, train), 0)
        c["relu2"] = h > 0
        h = h.reshape(n, 32, 2, 2, 2, 2).mean((3, 5))
        flat = h.reshape(n, 128)
        c["flat"] = flat
        return flat @ self.p["fc.weight"].T + self.p["fc.bias"], c

    def backward(self, dlogits, c):
        g = {}
        g["fc.weight"] = dlogits.T @ c["flat"]
        g["fc.bias"] = dlogits.sum(0)
        n = dlogits.shape[0]
        d = (dlogits @ self.p["fc.weight"]).reshape(n, 32, 2, 1, 2, 1)
        d = np.broadcast_to(d / 4, (n, 32, 2, 2, 2, 2)).reshape(n, 32, 4, 4) * c["relu2"]
        d = self.conv_back(self.bn_back(d, "bn2", c, g), "conv2", c, g)
        mask = c["pool1"]
        d = (d[:, :, :, None, :, None] * mask / mask.sum((3, 5), keepdims=True)).reshape(n, 16, 8, 8) * c["relu1"]
        self.conv_back(self.bn_back(d, "bn1", c, g), "conv1", c, g)
        return g


def train_digits():
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=360, random_state=0, stratify=y)
    rng = np.random.default_rng(0)
    net = CNN(rng)
    m = {k: np.zeros_like(v) for k, v in net.p.items()}
    v = {k: np.zeros_like(v) for k, v in net.p.items()}
    step = 0
    for epoch in range(30):
        order = rng.permutation(len(x_train))
        lr = 2e-3 if epoch < 20 else 5e-4
        for i in range(0, len(order), 32):
            idx = order[i:i + 32]
            logits, cache = net.forward(x_train[idx], train=True)
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(idx)), y_train[idx]] -= 1
            grads = net.backward(p / len(idx), cache)
            step += 1
            for k in net.p:
                m[k] = 0.9 * m[k] + 0.1 * grads[k]
                v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
                mhat, vhat = m[k] / (1 - 0.9 ** step), v[k] / (1 - 0.999 ** step)
                net.p[k] = (net.p[k] - lr * mhat / (np.sqrt(vhat) + 1e-8)).astype(np.float32)
    return net, (x_train, y_train, x_test, y_test)


def export_digits(net):
    p = {k: numpy_helper.from_array(v.astype(np.float32), k) for k, v in net.p.items()}
    for name in ["bn1", "bn2"]:
        p[name + ".running_mean"] = numpy_helper.from_array(net.stats[name][0].astype(np.float32), name + ".running_mean")
        p[name + ".running_var"] = numpy_helper.from_array(net.stats[name][1].astype(np.float32), name + ".running_var")

    def bn(x, name, out):
        return helper.make_node("BatchNormalization", [x, name + ".weight", name + ".bias", name + ".running_mean",
                                                       name + ".running_var"], [out], name=name, epsilon=1e-5)
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["conv1_out"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        bn("conv1_out", "bn1", "bn1_out"),
        helper.make_node("Relu", ["bn1_out"], ["relu1_out"], name="relu1"),
        helper.make_node("MaxPool", ["relu1_out"], ["pool1_out"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool1_out", "conv2.weight", "conv2.bias"], ["conv2_out"], name="conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        bn("conv2_out", "bn2", "bn2_out"),
        helper.make_node("Relu", ["bn2_out"], ["relu2_out"], name="relu2"),
        helper.make_node("AveragePool", ["relu2_out"], ["pool2_out"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool2_out"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(nodes, "digits_cnn",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
                              list(p.values()))
    model = helper.make_model(graph, producer_name="npucc-samples", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# ---------------------------------------------------------------- transformer block
def transformer_block(rng, seq=16, dim=64, heads=4, hidden=128):
    inits, nodes = [], []

    def w(name, *shape, scale=None):
        scale = scale or 1 / np.sqrt(shape[0])
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def c(name, value, dtype=np.int64):
        inits.append(numpy_helper.from_array(np.array(value, dtype), name))
        return name

    def node(op, ins, out, **attrs):
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def linear(x, name, din, dout):
        return node("Add", [node("MatMul", [x, w(name + ".weight", din, dout)], name + "_mm"),
                            w(name + ".bias", dout, scale=0.02)], name + "_out")

    def layer_norm(x, name):
        inits.append(numpy_helper.from_array((1 + 0.1 * rng.standard_normal(dim)).astype(np.float32), name + ".weight"))
        inits.append(numpy_helper.from_array((0.1 * rng.standard_normal(dim)).astype(np.float32), name + ".bias"))
        return node("LayerNormalization", [x, name + ".weight", name + ".bias"], name + "_out", axis=-1, epsilon=1e-5)

    hd = dim // heads
    h = layer_norm("x", "ln1")
    split_heads = c("split_heads", [0, seq, heads, hd])
    merge_heads = c("merge_heads", [0, seq, dim])
    q, k, v = (node("Transpose", [node("Reshape", [linear(h, n, dim, dim), split_heads], n + "_heads")], n + "_t",
                    perm=[0, 2, 1, 3]) for n in ["q", "k", "v"])
    kt = node("Transpose", [k], "k_tt", perm=[0, 1, 3, 2])
    scores = node("Div", [node("MatMul", [q, kt], "scores_raw"), c("sqrt_d", np.sqrt(hd), np.float32)], "scores")
    attn = node("Softmax", [scores], "attn", axis=-1)
    ctx = node("Reshape", [node("Transpose", [node("MatMul", [attn, v], "ctx_heads")], "ctx_t", perm=[0, 2, 1, 3]),
                           merge_heads], "ctx")
    x1 = node("Add", ["x", linear(ctx, "proj", dim, dim)], "residual1")
    h2 = linear(layer_norm(x1, "ln2"), "fc1", dim, hidden)
    erf = node("Erf", [node("Div", [h2, c("sqrt2", np.sqrt(2), np.float32)], "gelu_div")], "gelu_erf")
    gelu = node("Mul", [node("Mul", [h2, node("Add", [erf, c("one", 1, np.float32)], "gelu_add")], "gelu_mul"),
                        c("half", 0.5, np.float32)], "gelu")
    node("Add", [x1, linear(gelu, "fc2", hidden, dim)], "y")
    graph = helper.make_graph(nodes, "transformer_block",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", seq, dim])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", seq, dim])], inits)
    model = helper.make_model(graph, producer_name="npucc-samples", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# ---------------------------------------------------------------- exporter-style shape chains
def shape_chain(rng):
    """Conv -> Relu -> flatten by a Shape/Gather/Unsqueeze/Concat/Reshape chain -> MatMul with a
    weight made by a constant subgraph -> Add a bias from a Constant node, at opset 9 with the
    initializers also listed as graph inputs (IR version 3), as old exporters wrote it."""
    conv_w = numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.2).astype(np.float32), "conv.weight")
    conv_b = numpy_helper.from_array((rng.standard_normal(8) * 0.1).astype(np.float32), "conv.bias")
    base = numpy_helper.from_array((rng.standard_normal((8 * 8 * 8, 10)) * 0.05).astype(np.float32), "fc.base")
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["conv_out"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["conv_out"], ["relu_out"], name="relu"),
        helper.make_node("Dropout", ["relu_out"], ["drop_out"], name="dropout", ratio=0.1),
        helper.make_node("Shape", ["drop_out"], ["shape"], name="shape"),
        helper.make_node("Constant", [], ["zero"], name="const_zero", value=numpy_helper.from_array(np.array(0, np.int64))),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["batch"], ["batch1"], name="unsqueeze", axes=[0]),
        helper.make_node("Constant", [], ["minus_one"], name="const_m1", value=numpy_helper.from_array(np.array([-1], np.int64))),
        helper.make_node("Concat", ["batch1", "minus_one"], ["flat_shape"], name="concat", axis=0),
        helper.make_node("Reshape", ["drop_out", "flat_shape"], ["flat"], name="reshape"),
        # A weight computed from constants: fc.base * 2 + ConstantOfShape(1) (folds to one constant).
        helper.make_node("Constant", [], ["w_shape"], name="const_wshape", value=numpy_helper.from_array(np.array([512, 10], np.int64))),
        helper.make_node("ConstantOfShape", ["w_shape"], ["ones"], name="ones",
                         value=numpy_helper.from_array(np.array([0.01], np.float32))),
        helper.make_node("Constant", [], ["two"], name="const_two", value=numpy_helper.from_array(np.array(2, np.float32))),
        helper.make_node("Mul", ["fc.base", "two"], ["scaled"], name="scale_w"),
        helper.make_node("Add", ["scaled", "ones"], ["fc.weight"], name="make_w"),
        helper.make_node("MatMul", ["flat", "fc.weight"], ["mm"], name="fc"),
        helper.make_node("Constant", [], ["fc.bias"], name="const_bias",
                         value=numpy_helper.from_array((rng.standard_normal(10) * 0.1).astype(np.float32))),
        helper.make_node("Add", ["mm", "fc.bias"], ["pre"], name="bias"),
        helper.make_node("Slice", ["pre"], ["sliced"], name="slice", starts=[0], ends=[8], axes=[1]),
        helper.make_node("Identity", ["sliced"], ["output"], name="identity"),
    ]
    inits = [conv_w, conv_b, base]
    graph = helper.make_graph(
        nodes, "shape_chain",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 16, 16])]
        + [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 8])], inits)
    model = helper.make_model(graph, producer_name="npucc-samples", opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 3
    onnx.checker.check_model(model)
    return model


def main():
    os.makedirs(OUT, exist_ok=True)
    net, (x_train, y_train, x_test, y_test) = train_digits()
    model = export_digits(net)
    onnx.save(model, os.path.join(OUT, "digits_cnn.onnx"))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    accuracy = (session.run(None, {"input": x_test})[0].argmax(1) == y_test).mean()
    print(f"digits_cnn: test accuracy {accuracy:.4f} (onnxruntime, fp32)")
    assert accuracy >= 0.95, accuracy
    np.savez(os.path.join(OUT, "digits_calib.npz"), input=x_train[:256])
    np.savez(os.path.join(OUT, "digits_test.npz"), input=x_test)
    np.save(os.path.join(OUT, "digits_test_labels.npy"), y_test)

    rng = np.random.default_rng(1)
    onnx.save(transformer_block(rng), os.path.join(OUT, "transformer_block.onnx"))
    np.savez(os.path.join(OUT, "transformer_inputs.npz"), x=rng.standard_normal((2, 16, 64)).astype(np.float32))
    onnx.save(shape_chain(rng), os.path.join(OUT, "shape_chain.onnx"))
    np.savez(os.path.join(OUT, "shape_chain_inputs.npz"), input=rng.standard_normal((2, 3, 16, 16)).astype(np.float32))


if __name__ == "__main__":
    main()
