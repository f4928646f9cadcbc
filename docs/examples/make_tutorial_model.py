"""Makes the tutorial's model and data (deterministic; see docs/tutorial.md).

  tiny_resnet.onnx          a small residual CNN as a PyTorch export writes it: opset 13, a
                            symbolic batch dimension "N", Conv/BatchNormalization/Relu blocks,
                            a residual Add, GlobalAveragePool, Flatten and Gemm (transB=1), the
                            weights in initializers except one, which a Constant node holds;
  tiny_resnet_calib.npz     128 calibration images under the input's name, "input";
  tiny_resnet_test.npz      256 other images; tiny_resnet_test_labels.npy the class each was
                            drawn from (the script prints the fp32 model's accuracy on them,
                            run by onnxruntime).

The weights are random (seeded); each BatchNormalization's statistics are those of its input
on the calibration images, as training leaves them, so activations are of a trained network's
scale. The images are smooth random fields in [0, 1].

usage: python docs/examples/make_tutorial_model.py [OUT_DIR]   (default: the current folder)
"""
import base64
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1] if len(sys.argv) > 1 else "."
rng = np.random.default_rng(2026)


def fields(n):
    """Smooth random 3x32x32 fields in [0, 1], each channel its own gain: white noise box-blurred."""
    x = rng.random((n, 3, 40, 40), dtype=np.float32)
    k = 9
    c = np.cumsum(np.cumsum(x, axis=2), axis=3)
    c = np.pad(c, ((0, 0), (0, 0), (1, 0), (1, 0)))
    s = c[:, :, k:, k:] - c[:, :, :-k, k:] - c[:, :, k:, :-k] + c[:, :, :-k, :-k]
    s = s[:, :, :32, :32]
    lo, hi = s.min(axis=(2, 3), keepdims=True), s.max(axis=(2, 3), keepdims=True)
    gain = rng.uniform(0.2, 1.0, (n, 3, 1, 1))
    return ((s - lo) / (hi - lo) * gain).astype(np.float32)


ANGLES = np.pi * np.arange(10) / 10
PERIODS = np.array([4.0, 6.0, 9.0, 5.0, 7.0, 4.5, 8.0, 5.5, 6.5, 10.0])
COLOURS = rng.uniform(0.3, 1.0, (10, 3))


def images(n):
    """n images of 10 classes: each class a stripe pattern of its own angle, period and colour,
    at a random phase, over a random field; returns (images, labels)."""
    labels = rng.integers(0, 10, n)
    y, x = np.mgrid[0:32, 0:32].astype(np.float64)
    angle, period = ANGLES[labels][:, None, None], PERIODS[labels][:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period + phase)
    colours = COLOURS[labels][:, :, None, None]
    return (0.5 * stripes[:, None] * colours + 0.5 * fields(n)).astype(np.float32), labels


def conv(x, w, b, stride, pad):
    """Conv2d in numpy (NCHW, OIHW), for the BatchNormalization statistics."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    cols = np.empty((n, c, k, k, oh, ow), np.float32)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
    y = np.einsum("nckloq,dckl->ndoq", cols, w, optimize=True)
    return y + b[None, :, None, None]


calib, _ = images(128)
train, train_labels = images(1024)
test, test_labels = images(256)

nodes, inits = [], []


def tensor(name, a):
    inits.append(numpy_helper.from_array(a.astype(np.float32), name))


def conv_bn(x_name, x, prefix, cin, cout, stride, relu=True, weight_in_constant=False):
    """Conv (He-initialised) + BatchNormalization (statistics of x) [+ Relu]; returns (name, value)."""
    w = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))).astype(np.float32)
    b = (rng.standard_normal(cout) * 0.05).astype(np.float32)
    if weight_in_constant:
        nodes.append(helper.make_node("Constant", [], [prefix + ".weight"], name=prefix + ".weight_const",
                                      value=numpy_helper.from_array(w, prefix + ".weight")))
    else:
        tensor(prefix + ".weight", w)
    tensor(prefix + ".bias", b)
    nodes.append(helper.make_node("Conv", [x_name, prefix + ".weight", prefix + ".bias"], [prefix + "_out"],
                                  name=prefix, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride]))
    y = conv(x, w, b, stride, 1)
    mean, var = y.mean(axis=(0, 2, 3)), y.var(axis=(0, 2, 3))
    gamma = rng.uniform(0.8, 1.2, cout).astype(np.float32)
    beta = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    for suffix, a in (("scale", gamma), ("B", beta), ("mean", mean), ("var", var)):
        tensor(prefix + "_bn." + suffix, a)
    nodes.append(helper.make_node("BatchNormalization",
                                  [prefix + "_out"] + [prefix + "_bn." + s for s in ("scale", "B", "mean", "var")],
                                  [prefix + "_bn_out"], name=prefix + "_bn", epsilon=1e-5))
    y = (y - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    y = y * gamma[None, :, None, None] + beta[None, :, None, None]
    if not relu:
        return prefix + "_bn_out", y
    nodes.append(helper.make_node("Relu", [prefix + "_bn_out"], [prefix + "_relu_out"], name=prefix + "_relu"))
    return prefix + "_relu_out", np.maximum(y, 0)


h, v = conv_bn("input", calib, "stem", 3, 16, 1)
a, va = conv_bn(h, v, "block1.conv1", 16, 16, 1)
a, va = conv_bn(a, va, "block1.conv2", 16, 16, 1, relu=False, weight_in_constant=True)
nodes.append(helper.make_node("Add", [a, h], ["block1_add_out"], name="block1.add"))
nodes.append(helper.make_node("Relu", ["block1_add_out"], ["block1_out"], name="block1.relu"))
v = np.maximum(va + v, 0)
d, vd = conv_bn("block1_out", v, "down", 16, 32, 2)
nodes.append(helper.make_node("GlobalAveragePool", [d], ["pool_out"], name="pool"))
nodes.append(helper.make_node("Flatten", ["pool_out"], ["flat"], name="flatten", axis=1))


def make_model(outputs):
    graph = helper.make_graph(
        nodes, "tiny_resnet", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
        outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="pytorch",
                              producer_version="2.1.0")
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    return model


# The classifier: ridge regression of one-hot labels (+-4) on the pooled features of 1024
# training images, the features standing in for what training would have learnt.
body = make_model([helper.make_tensor_value_info("flat", TensorProto.FLOAT, ["N", 32])])
session = ort.InferenceSession(body.SerializeToString(), providers=["CPUExecutionProvider"])
features = session.run(None, {"input": train})[0].astype(np.float64)
design = np.hstack([features, np.ones((len(features), 1))])
gram = design.T @ design
ridge = 1e-2
solution = np.linalg.solve(gram + ridge * np.trace(gram) / 33 * np.eye(33), design.T @ (np.eye(10)[train_labels] * 8 - 4))
# onnxruntime's kernels differ from CPU to CPU in the last bits of the features (AVX-512 or
# AVX2 sums), and so would the fit's last bits, and the tutorial's figures with them: the
# model carries the fit as it came out once, stored below (float32, little-endian: the
# 10 x 32 weight, then the 10 biases), after checking that this run's fit is the same but
# for those bits.
FIT = np.frombuffer(base64.b64decode(
    "JvYfQChz9b8q7SzA5ipGQE842j+nLo8/UxgEwA6pxD95oVW/tpJnQGhYFcCWluA/A92Sv058BEDfOqI/lQO/Piw+Vr8rcC9A"
    "KM68vnaLssDYozvAb0HBv14UQUD7cb0/RZxjQJ19/j12JzS/RpgwwPAwPj9EkALAAX52QDiDOsCK+3a+/IShP3F/W0Di5MY/"
    "h8RXQLT8/z8NGLNAcTCIwM9uVb52qofA97AwwKKq0r8TuoJATZkJwP9Tnj+TQJg/+/wevmPs+j7vjqw+x8Tivhe1iD97/KC+"
    "ZN6yvp5bR8CGfcjAg3nxvv/yPMBr/DvAlnd1P+EwpcD1G0lAgvqwPyd9cb+f2aE+lbgPwBmFpkC9oaO+CTyZwCFtDcBcP9m/"
    "X7zNv/tNhkBVyOe/7F67P21CDUApffK/phNWwI9LkT9X+aU+jXiMP72LSz8PKnVA0a+cPnaIJD+QtVU/ZwYfQETZWr+nRHc/"
    "MvMnwItQ7L9aQV6/JzesQAFFtj/zyXg+7Nb/P+zHnb+GXURASrZvPzIT6L9/urM+HYMOQIVYHkDeTZW+H2j8v8wANT8wDtQ/"
    "ikr3PwsXvzx92L2/YVaePnjkN78AaWrA+zImQLwQGkC4pDXANoxnwNAWaT8VgCfAnnzuP314gL4Qew1Aptc+QBtIkz9Vog9A"
    "kJtrv9UANcBNnzXAF7zavgp5rMC+6Ty/nwVaPj35oT/xvpBAEEszPznV478xGYS/tMMSQDKnVUAFCIbAQgU+QNI1DMDdCRLA"
    "TtU3Pi4ruT8hbEDAsS+fQAHnyD+Roj1AM/cMQK8vGMAy1mo/14VewBFxUr4Pn1XAOMzkvqpjdb/ycZjADl1aP6yoJD/zgI6+"
    "vqODQLmegb5HjRlAwMeTvqTBnMCz0fM/M/cUvkHHIMCkGiZAjWrfvxLzir7K41s/Oh26P2MyXMDIqA4/iL0kwDxFVz9uWnrA"
    "VmVlv02HaECay04//xouv0bRUz0LzUm/xD6yQMbhqj/qfaI/AG8wwBYN6L5A8iHAyhmlvNiJpz8dAEVA7JkNwOv+TMB4rfw/"
    "ROWFwF+qW0CryixAid0sQCuwUL9La+A+dtqxv2zPI8DDyrK/4BjjP3SqkMAhcgc9qGGywL/ZQsBPTnFAaTJKv0ATp7+vkZg/"
    "OfX7v63ANT/CWGM/CDxWPlZDRkBb02o+q7NywBVKJcAswTA/ADnVvoudUL8rEyU//2yMP2j/sj8fKW4/ChW3vo63HMC2r1O/"
    "L+hswJ45YsDyYDq/vCA/v99xOUCkL3dA91OEvxGfXsDy+h7AN+yYQAGsdD8OnOu/EbyiwFjez79xXFc/jlaNQKIpRcDbSkBA"
    "1kDEv3Q8Sj/tGPY/MfqFQELEzD3C6T9AhiLxvyQap8CQtj7AbhtOwJX/TD9AZyHAMtwNP5VzAUAZfiJAfHqxvgaYzT5xwyw/"
    "LPD4vd3zxb4ep7M/Aw8YQIfzlL346K2/xrmSv/rqRsCZO68/sLGVv3xjdEC2nfK+F/CUPo0iKr5X0eW/TQRNv/4aOD7JHBa/"
    "poWFv9oENMCHEpa/91erwEI4HcAjmtS+HYqEvmzBe78HjVE/NC8vwH79tz/OpiPAu35IP/jm/j/lq1c//hNpwM/po0A4IhxA"
    "qGNhQLu+078ptK2/Kg69P7TpLcC4u3BAyocbwJ9fn7/YRjY/8ssEQCMNjr8dBTBAsSrUv1tNuz8JE4zAS0qZPjMkxsBK77rA"
    "JhYkP8ocfcBk6BFAB0AOwEq+Cr9gZrm/"
), "<f4")
fitted = np.concatenate([solution[:32].T.ravel(), solution[32]]).astype(np.float32)
assert np.allclose(fitted, FIT, rtol=1e-4, atol=1e-6), "the classifier's fit is not the stored one"
tensor("fc.weight", FIT[:320].reshape(10, 32))
tensor("fc.bias", FIT[320:])
nodes.append(helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1))
model = make_model([helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])])

os.makedirs(OUT, exist_ok=True)
path = os.path.join(OUT, "tiny_resnet.onnx")
onnx.save(model, path)
np.savez(os.path.join(OUT, "tiny_resnet_calib.npz"), input=calib)
np.savez(os.path.join(OUT, "tiny_resnet_test.npz"), input=test)
np.save(os.path.join(OUT, "tiny_resnet_test_labels.npy"), test_labels.astype(np.int64))
logits = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": test})[0]
print("%s: %d nodes, %d initializers; fp32 top-1 accuracy on the %d test images (onnxruntime): %.2f%%"
      % (path, len(nodes), len(inits), len(test), 100 * np.mean(logits.argmax(axis=1) == test_labels)))
