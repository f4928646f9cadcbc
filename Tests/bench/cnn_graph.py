"""The pieces the CNN generators of `Tests/bench` share: a graph under construction with
random weights, Conv + BatchNormalization (+ an activation) as PyTorch exports it, and
the classifier head (GlobalAveragePool, Flatten, a 1,000-way Gemm)."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class CNNGraph:
    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits = [], []
        self.count = 0

    def name(self, prefix):
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix, array):
        n = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), n))
        return n

    def node(self, op, inputs, prefix, **attrs):
        out = self.name(prefix)
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv_bn(self, x, cin, cout, k, stride, groups=1, activation="relu"):
        """Conv (He-initialised, `k // 2` padding) + BatchNormalization, then Relu, Clip(0, 6)
        ("relu6") or nothing (None)."""
        rng = self.rng
        fan_in = cin // groups * k * k
        w = self.const("w", rng.standard_normal((cout, cin // groups, k, k)) * np.sqrt(2.0 / fan_in))
        attrs = dict(kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4)
        if groups != 1:
            attrs["group"] = groups
        y = self.node("Conv", [x, w], "conv", **attrs)
        scale = self.const("bn_scale", rng.uniform(0.5, 1.0, cout))
        bias = self.const("bn_bias", rng.standard_normal(cout) * 0.1)
        mean = self.const("bn_mean", rng.standard_normal(cout) * 0.1)
        var = self.const("bn_var", rng.uniform(0.5, 1.5, cout))
        z = self.node("BatchNormalization", [y, scale, bias, mean, var], "bn", epsilon=1e-5)
        if activation == "relu":
            return self.node("Relu", [z], "relu")
        if activation == "relu6":
            return self.node("Clip", [z, self.const("lo", 0.0), self.const("hi", 6.0)], "clip")
        return z

    def classifier(self, x, channels):
        """GlobalAveragePool, Flatten and a 1,000-way Gemm into the output "logits"."""
        g = self.node("GlobalAveragePool", [x], "gap")
        f = self.node("Flatten", [g], "flat", axis=1)
        w = self.const("fc_w", self.rng.standard_normal((1000, channels)) * 0.01)
        b = self.const("fc_b", np.zeros(1000))
        self.nodes.append(helper.make_node("Gemm", [f, w, b], ["logits"], transB=1))

    def model(self, graph_name):
        """The model: input "input" f32[N, 3, 224, 224], output "logits" f32[N, 1000], opset 13."""
        graph = helper.make_graph(
            self.nodes, graph_name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])], self.inits)
        model = helper.make_model(graph, producer_name="npucc-bench", opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        return model
