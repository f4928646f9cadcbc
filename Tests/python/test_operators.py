"""Each operator, in the configurations exporters produce, as a one-node model through
`npucc run`, against onnxruntime on the same random inputs (rtol 1e-5, atol 1e-5)."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

F = np.float32
rng = np.random.default_rng(0)


def r(*shape, dtype=F):
    return rng.standard_normal(shape).astype(dtype)


# (id, op, inputs: list of (name, array, is_initializer), attributes, opset)
CASES = [
    ("conv_group_dilation", "Conv", [("x", r(2, 4, 9, 8), 0), ("w", r(6, 2, 3, 2), 1), ("b", r(6), 1)],
     dict(group=2, dilations=[2, 1], strides=[1, 2], pads=[1, 0, 2, 1]), 13),
    ("conv_depthwise_same", "Conv", [("x", r(1, 3, 7, 7), 0), ("w", r(3, 1, 3, 3), 1)],
     dict(group=3, auto_pad="SAME_UPPER", strides=[2, 2]), 13),
    ("conv_1x1", "Conv", [("x", r(2, 8, 5, 5), 0), ("w", r(4, 8, 1, 1), 1)], {}, 13),
    ("conv1d", "Conv", [("x", r(2, 3, 11), 0), ("w", r(5, 3, 3), 1)], dict(pads=[1, 2], strides=[2]), 13),
    ("conv3d", "Conv", [("x", r(1, 2, 4, 5, 6), 0), ("w", r(3, 2, 2, 3, 2), 1)], dict(pads=[0, 1, 0, 1, 0, 1]), 13),
    ("convtranspose", "ConvTranspose", [("x", r(1, 4, 5, 5), 0), ("w", r(4, 3, 3, 3), 1), ("b", r(3), 1)],
     dict(strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 0]), 13),
    ("convtranspose_group", "ConvTranspose", [("x", r(2, 4, 3, 4), 0), ("w", r(4, 2, 2, 2), 1)],
     dict(group=2, dilations=[2, 1]), 13),
    ("matmul_batched_broadcast", "MatMul", [("a", r(2, 1, 3, 4), 0), ("b", r(5, 4, 6), 0)], {}, 13),
    ("matmul_vector", "MatMul", [("a", r(4), 0), ("b", r(2, 4, 3), 0)], {}, 13),
    ("gemm_trans", "Gemm", [("a", r(4, 3), 0), ("b", r(5, 4), 0), ("c", r(5), 1)],
     dict(transA=1, transB=1, alpha=0.5, beta=2.0), 13),
    ("maxpool_ceil", "MaxPool", [("x", r(1, 2, 7, 8), 0)], dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1), 13),
    ("maxpool_dilated", "MaxPool", [("x", r(1, 2, 9, 9), 0)], dict(kernel_shape=[2, 2], dilations=[2, 2], pads=[1, 1, 1, 1]), 13),
    ("avgpool_include_pad", "AveragePool", [("x", r(1, 2, 6, 7), 0)],
     dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1, strides=[2, 2]), 13),
    ("avgpool_exclude_pad_ceil", "AveragePool", [("x", r(1, 2, 6, 7), 0)],
     dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], ceil_mode=1, strides=[2, 2]), 13),
    ("global_avg", "GlobalAveragePool", [("x", r(2, 3, 4, 5), 0)], {}, 13),
    ("global_max", "GlobalMaxPool", [("x", r(2, 3, 4, 5), 0)], {}, 13),
    ("batchnorm", "BatchNormalization", [("x", r(2, 3, 4, 4), 0), ("s", r(3), 1), ("b", r(3), 1), ("m", r(3), 1),
                                         ("v", np.abs(r(3)) + 0.5, 1)], dict(epsilon=1e-3), 15),
    ("instancenorm", "InstanceNormalization", [("x", r(2, 3, 4, 5), 0), ("s", r(3), 1), ("b", r(3), 1)], {}, 13),
    ("layernorm", "LayerNormalization", [("x", r(2, 3, 8), 0), ("s", r(8), 1), ("b", r(8), 1)], dict(axis=-1), 17),
    ("layernorm_axis1", "LayerNormalization", [("x", r(2, 3, 4), 0), ("s", r(3, 4), 1)], dict(axis=1), 17),
    ("lrn", "LRN", [("x", r(1, 5, 3, 3), 0)], dict(size=3, alpha=1e-3, beta=0.75, bias=1.5), 13),
    ("softmax_axis1", "Softmax", [("x", r(2, 3, 4), 0)], dict(axis=1), 13),
    ("logsoftmax_v11_axis1", "LogSoftmax", [("x", r(2, 3, 4), 0)], dict(axis=1), 11),
    ("add_broadcast", "Add", [("a", r(2, 3, 4, 5), 0), ("b", r(3, 1, 1), 0)], {}, 13),
    ("sub_broadcast_both", "Sub", [("a", r(2, 1, 4), 0), ("b", r(3, 1), 0)], {}, 13),
    ("div_scalar", "Div", [("a", r(2, 3), 0), ("b", np.array(3.0, F), 1)], {}, 13),
    ("pow", "Pow", [("a", np.abs(r(2, 3)) + 0.1, 0), ("b", r(3), 0)], {}, 13),
    ("prelu", "PRelu", [("x", r(2, 3, 4, 4), 0), ("s", r(3, 1, 1), 1)], {}, 13),
    ("max_variadic", "Max", [("a", r(2, 3), 0), ("b", r(3), 0), ("c", r(1, 3), 0)], {}, 13),
    ("mean_variadic", "Mean", [("a", r(2, 3), 0), ("b", r(3), 0)], {}, 13),
    ("where", "Where", [("c", rng.random((2, 3)) > 0.5, 0), ("a", r(2, 3), 0), ("b", r(3), 0)], {}, 13),
    ("reduceprod_last", "ReduceProd", [("x", r(2, 3, 6), 0)], dict(axes=[-1], keepdims=1), 13),
    ("mod_int", "Mod", [("a", np.array([-7, 7, -7, 7, 0, 9], np.int64), 0), ("b", np.array([2, -2, -2, 3, 5, 4], np.int64), 0)],
     {}, 13),
    ("fmod_int32", "Mod", [("a", np.array([-7, 7, -7, 7, 0, 9], np.int32), 0), ("b", np.array([2, -2, -2, 3, 5, 4], np.int32), 0)],
     dict(fmod=1), 13),
    ("fmod_float", "Mod", [("a", r(3, 4) * 5, 0), ("b", r(4) + 2, 1)], dict(fmod=1), 13),
    ("equal_int", "Equal", [("a", np.array([1, 2, 3], np.int64), 0), ("b", np.array([1, 0, 3], np.int64), 0)], {}, 13),
    ("clip", "Clip", [("x", r(3, 4), 0), ("lo", np.array(-0.5, F), 1), ("hi", np.array(0.7, F), 1)], {}, 13),
    ("clip_v6", "Clip", [("x", r(3, 4), 0)], dict(min=-0.2, max=0.4), 6),
    ("gelu_tanh", "Gelu", [("x", r(3, 4), 0)], dict(approximate="tanh"), 20),
    ("hardswish", "HardSwish", [("x", r(3, 4) * 4, 0)], {}, 14),
    ("selu", "Selu", [("x", r(3, 4), 0)], {}, 13),
    ("softplus", "Softplus", [("x", r(3, 4) * 10, 0)], {}, 13),
    ("erf", "Erf", [("x", r(3, 4), 0)], {}, 13),
    ("transpose", "Transpose", [("x", r(2, 3, 4, 5), 0)], dict(perm=[0, 2, 3, 1]), 13),
    ("slice_negative_step", "Slice", [("x", r(5, 6), 0), ("s", np.array([4, -1], np.int64), 1),
                                      ("e", np.array([0, -7], np.int64), 1), ("a", np.array([0, 1], np.int64), 1),
                                      ("t", np.array([-2, -2], np.int64), 1)], {}, 13),
    ("slice_clamped", "Slice", [("x", r(5, 6), 0), ("s", np.array([-100], np.int64), 1),
                                ("e", np.array([1000], np.int64), 1), ("a", np.array([-1], np.int64), 1)], {}, 13),
    ("gather_negative", "Gather", [("x", r(4, 3), 0), ("i", np.array([[0, -1], [2, 1]], np.int64), 1)], dict(axis=0), 13),
    ("gather_axis1", "Gather", [("x", r(2, 5, 3), 0), ("i", np.array([4, 0], np.int64), 1)], dict(axis=1), 13),
    ("pad_reflect", "Pad", [("x", r(1, 2, 4, 5), 0), ("p", np.array([0, 0, 2, 1, 0, 0, 1, 3], np.int64), 1)],
     dict(mode="reflect"), 13),
    ("pad_edge", "Pad", [("x", r(2, 3), 0), ("p", np.array([1, 2, 2, 1], np.int64), 1)], dict(mode="edge"), 13),
    ("pad_constant", "Pad", [("x", r(2, 3), 0), ("p", np.array([1, 0, 0, 2], np.int64), 1),
                             ("v", np.array(1.5, F), 1)], {}, 13),
    ("resize_linear_half_pixel", "Resize", [("x", r(1, 2, 3, 4), 0), ("roi", np.array([], F), 1),
                                            ("s", np.array([1, 1, 2, 1.5], F), 1)], dict(mode="linear"), 13),
    ("resize_linear_align", "Resize", [("x", r(1, 1, 3, 4), 0), ("roi", np.array([], F), 1), ("s", np.array([], F), 1),
                                       ("z", np.array([1, 1, 5, 7], np.int64), 1)],
     dict(mode="linear", coordinate_transformation_mode="align_corners"), 13),
    ("resize_nearest_asym", "Resize", [("x", r(1, 1, 3, 4), 0), ("roi", np.array([], F), 1),
                                       ("s", np.array([1, 1, 2, 2], F), 1)],
     dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"), 13),
    ("resize_nearest_down", "Resize", [("x", r(1, 1, 6, 8), 0), ("roi", np.array([], F), 1),
                                       ("s", np.array([1, 1, 0.5, 0.75], F), 1)], dict(mode="nearest"), 13),
    ("reduce_mean_keep", "ReduceMean", [("x", r(2, 3, 4), 0)], dict(axes=[1, -1], keepdims=1), 13),
    ("reduce_sum_axes_input", "ReduceSum", [("x", r(2, 3, 4), 0), ("a", np.array([0, 2], np.int64), 1)],
     dict(keepdims=0), 13),
    ("reduce_max_all", "ReduceMax", [("x", r(2, 3, 4), 0)], dict(keepdims=0), 13),
    ("argmax", "ArgMax", [("x", r(3, 5), 0)], dict(axis=1, keepdims=0), 13),
    ("split_uneven", "Split", [("x", r(7, 2), 0), ("s", np.array([3, 4], np.int64), 1)], dict(axis=0), 13),
    ("concat_neg_axis", "Concat", [("a", r(2, 3), 0), ("b", r(2, 1), 0)], dict(axis=-1), 13),
    ("expand", "Expand", [("x", r(3, 1), 0), ("s", np.array([2, 3, 4], np.int64), 1)], {}, 13),
    ("tile", "Tile", [("x", r(2, 3), 0), ("t", np.array([2, 3], np.int64), 1)], {}, 13),
    ("flatten_axis2", "Flatten", [("x", r(2, 3, 4, 5), 0)], dict(axis=2), 13),
    ("squeeze", "Squeeze", [("x", r(1, 3, 1, 2), 0), ("a", np.array([0, 2], np.int64), 1)], {}, 13),
    ("unsqueeze", "Unsqueeze", [("x", r(3, 2), 0), ("a", np.array([0, -1], np.int64), 1)], {}, 13),
    ("cast_float_int", "Cast", [("x", r(3, 4) * 10, 0)], dict(to=TensorProto.INT32), 13),
    ("range", "Range", [("s", np.array(1.0, F), 1), ("l", np.array(7.5, F), 1), ("d", np.array(1.5, F), 1)], {}, 13),
    ("upsample_v9", "Upsample", [("x", r(1, 2, 2, 3), 0), ("s", np.array([1, 1, 2, 3], F), 1)], dict(mode="nearest"), 9),
]

# onnxruntime has no kernels for these opsets: numpy gives the reference.
_A, _B = r(2, 3, 4), r(3)
NUMPY_CASES = [
    ("add_broadcast_v6_axis", "Add", [("a", _A, 0), ("b", _B, 0)], dict(broadcast=1, axis=1), 6,
     [_A + _B[:, None]]),
]


def build(op, inputs, attrs, opset):
    inits = [numpy_helper.from_array(a, n) for n, a, is_init in inputs if is_init]
    feeds = {n: a for n, a, is_init in inputs if not is_init}
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
                    for n, a in feeds.items()]
    outputs = ["y", "y2"] if op == "Split" else ["y"]
    node = helper.make_node(op, [n for n, _, _ in inputs], outputs, **attrs)
    out_type = {"Equal": TensorProto.BOOL, "ArgMax": TensorProto.INT64}.get(op, attrs.get("to", TensorProto.FLOAT))
    if op == "Mod":
        out_type = helper.np_dtype_to_tensor_dtype(inputs[0][1].dtype)
    g = helper.make_graph([node], op.lower(), graph_inputs,
                          [helper.make_tensor_value_info(o, out_type, None) for o in outputs], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    return model, feeds


@pytest.mark.parametrize("case", CASES + NUMPY_CASES, ids=[c[0] for c in CASES + NUMPY_CASES])
def test_operator_matches_reference(tmp_path, case):
    _, op, inputs, attrs, opset = case[:5]
    model, feeds = build(op, inputs, attrs, opset)
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    if len(case) > 5:
        wants = case[5]
    else:
        wants = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    np.savez(tmp_path / "in.npz", **feeds)
    result = run_npucc("run", path, "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert result.returncode == 0, result.stderr
    got = np.load(tmp_path / "out.npz")
    for output, want in zip(model.graph.output, wants):
        have = got[output.name]
        assert have.shape == want.shape and have.dtype == want.dtype
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bias_shape", [[1], [1, 10], [10]])
def test_a_gemm_bias_broadcast_from_one_value_or_a_row_compiles(tmp_path, bias_shape):
    """Gemm's C as older exporters write it: one value for every output, or a row of one per
    column; the bundle computes as the fake-quant interpreter, the interpreter as onnxruntime."""
    rng = np.random.default_rng(99)
    inits = [numpy_helper.from_array(rng.standard_normal((10, 8)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(bias_shape).astype(np.float32), "c")]
    graph = helper.make_graph([helper.make_node("Gemm", ["x", "w", "c"], ["y"], transB=1, name="fc")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 10])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)]), tmp_path / "m.onnx")
    x = rng.standard_normal((2, 8)).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-5)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 2, 8)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
