"""3-D convolutions (video, volumes), imported as the 2-D convolutions they sum over the
kernel's depth: with depth padding, strides, dilations, groups and a bias, the interpreter
computes them as onnxruntime does, and a small volume network runs on the simulator bit for
bit as the fake-quant interpreter runs it; an unknown depth, and an output_padding not below
its stride on any axis, are refused by node. Pools whose windows slide over depth, rows and
columns (S3D's and R(2+1)D's MaxPool3d, AvgPool3d) run as the pool over each depth's plane,
then along depth: as onnxruntime computes them, and bit for bit on the simulator."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(3333)
CASES = {
    "plain": dict(kernel=(3, 3, 3), pads=[1, 1, 1, 1, 1, 1]),
    "strided": dict(kernel=(3, 3, 3), strides=[2, 1, 2], pads=[1, 0, 1, 1, 0, 1]),
    "dilated": dict(kernel=(2, 3, 3), dilations=[2, 1, 1], pads=[0, 1, 1, 1, 1, 1]),
    "grouped_bias": dict(kernel=(3, 1, 1), group=2, bias=True, pads=[2, 0, 0, 0, 0, 0]),
    "pointwise": dict(kernel=(1, 1, 1)),
}

TRANSPOSED = {
    "stride2_pads_output_padding": dict(kernel=(3, 3, 3), strides=[2, 2, 2], pads=[1, 1, 1, 1, 1, 1],
                                        output_padding=[1, 0, 1]),
    "dilated": dict(kernel=(2, 3, 2), dilations=[2, 1, 1], pads=[0, 1, 0, 1, 0, 0]),
    "grouped_bias_stride3": dict(kernel=(2, 1, 1), strides=[3, 1, 1], group=2, bias=True),
    "depth_pads_crop_all_but_one": dict(kernel=(3, 2, 2), strides=[1, 2, 2], pads=[2, 0, 0, 2, 0, 0]),
}


def volume_model(path, shape, out_channels, kernel, group=1, bias=False, symbolic=False, op="Conv", **attributes):
    """x of `shape` -> `op` (Conv, weight [M, C/g, k...]; ConvTranspose, [C, M/g, k...]) -> y."""
    c = shape[1]
    weight = (out_channels, c // group) if op == "Conv" else (c, out_channels // group)
    inits = [numpy_helper.from_array((RNG.standard_normal(weight + kernel) / 4).astype(np.float32), "w")]
    inputs = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(RNG.standard_normal(out_channels).astype(np.float32), "b"))
        inputs.append("b")
    node = helper.make_node(op, inputs, ["y"], group=group, name="volume", **attributes)
    dims = list(shape) if not symbolic else [shape[0], shape[1], "D", shape[3], shape[4]]
    graph = helper.make_graph([node], "v", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.mark.parametrize("op,case", [("Conv", c) for c in sorted(CASES)] + [("ConvTranspose", c) for c in sorted(TRANSPOSED)])
def test_a_volume_convolution_computes_as_onnxruntime(tmp_path, op, case):
    shape = (2, 4, 6, 5, 7) if op == "Conv" else (2, 4, 3, 5, 4)
    volume_model(tmp_path / "m.onnx", shape, 6, op=op, **(CASES if op == "Conv" else TRANSPOSED)[case])
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": RNG.standard_normal(shape).astype(np.float32)},
                                            tmp_path)
    assert got["y"].shape == want["y"].shape
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["Conv", "ConvTranspose"])
@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_volume_convolution_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision, op):
    if op == "Conv":
        shape, attributes = (1, 4, 5, 6, 6), dict(kernel=(3, 3, 3), pads=[1, 1, 1, 1, 1, 1], strides=[1, 2, 2])
    else:
        shape, attributes = (1, 4, 3, 4, 4), TRANSPOSED["stride2_pads_output_padding"]
    volume_model(tmp_path / "m.onnx", shape, 8, op=op, bias=True, **attributes)
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal(shape).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4,) + shape).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])


def test_an_unknown_depth_is_refused_by_node(tmp_path):
    volume_model(tmp_path / "m.onnx", (1, 4, 5, 6, 6), 8, (3, 3, 3), symbolic=True)
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 1
    assert 'node Conv "volume" (opset 13)' in r.stderr and "needs its input's depth known" in r.stderr, r.stderr


@pytest.mark.parametrize("output_padding,refused", [([2, 0, 0], True), ([0, 0, 2], True), ([1, 1, 1], False)])
def test_a_volume_transposed_convolutions_output_padding_not_below_its_stride_is_refused(tmp_path, output_padding,
                                                                                        refused):
    volume_model(tmp_path / "m.onnx", (1, 4, 3, 4, 4), 6, op="ConvTranspose", kernel=(3, 3, 3), strides=[2, 2, 2],
                 pads=[1, 1, 1, 1, 1, 1], output_padding=output_padding)
    x = RNG.standard_normal((1, 4, 3, 4, 4)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    try:
        ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})
        theirs_refused = False
    except Exception:
        theirs_refused = True
    assert theirs_refused == refused
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    if refused:
        axis = 0 if output_padding[0] else 2
        assert r.returncode == 1 and 'ConvTranspose "volume"' in r.stderr, r.stderr
        assert f"output_padding 2 at spatial axis {axis} is not in 0 ..< the stride 2" in r.stderr, r.stderr
        assert not (tmp_path / "y.npz").exists()
    else:
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("size", [(4, 6, 6), (4, 48, 48)])
def test_a_video_networks_global_pools_run_as_the_interpreter_and_onnxruntime_run_them(tmp_path, size):
    """r3d_18, mc3_18 and r(2+1)d end in AdaptiveAvgPool3d(1): a GlobalAveragePool over the
    depth, rows and columns, here with a GlobalMaxPool beside it, after a 3-D convolution. Each
    is the global pool of the one row those axes make (4x48x48 is more than a tile holds: it
    runs chunk by chunk); the bundle gives the interpreter's bits, the interpreter
    onnxruntime's values."""
    w = numpy_helper.from_array((RNG.standard_normal((4, 3, 3, 3, 3)) / 4).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1] * 6, name="volume"),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["mean"], name="mean"),
             helper.make_node("GlobalMaxPool", ["c"], ["max"], name="max")]
    shape = [1, 3, *size]
    graph = helper.make_graph(nodes, "video", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, [1, 4, 1, 1, 1]) for o in ["mean", "max"]],
                              [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    x = RNG.standard_normal(shape).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    for name in ["mean", "max"]:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal([4] + shape).astype(np.float32))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                            tmp_path / "calib.npz")
        assert_same_bits(sim, fq, ["mean", "max"])


POOLS = {
    "max_k133": ("MaxPool", dict(kernel_shape=[1, 3, 3], strides=[1, 2, 2], pads=[0, 1, 1, 0, 1, 1])),
    "max_ceil_dilated": ("MaxPool", dict(kernel_shape=[2, 3, 3], strides=[2, 2, 2], dilations=[2, 1, 1],
                                         pads=[1, 1, 0, 0, 1, 1], ceil_mode=1)),
    "average": ("AveragePool", dict(kernel_shape=[3, 3, 3], strides=[1, 2, 2], pads=[1, 1, 1, 1, 1, 1])),
    "average_counting_pads": ("AveragePool", dict(kernel_shape=[2, 2, 2], strides=[2, 2, 2], pads=[1, 0, 1, 1, 0, 1],
                                                  count_include_pad=1)),
    "average_ceil": ("AveragePool", dict(kernel_shape=[3, 2, 2], strides=[2, 2, 2], ceil_mode=1)),
}


def pool_model(path, shape):
    """x -> 3-D Conv -> each case's pool, each a graph output."""
    w = numpy_helper.from_array((RNG.standard_normal((4, shape[1], 3, 3, 3)) / 4).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1] * 6, name="volume")]
    nodes += [helper.make_node(op, ["c"], [name], name=name, **attributes) for name, (op, attributes) in POOLS.items()]
    graph = helper.make_graph(nodes, "pools", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in POOLS], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_pools_sliding_over_three_axes_run_as_onnxruntime_and_on_the_simulator(tmp_path):
    shape = [1, 3, 5, 9, 10]
    pool_model(tmp_path / "m.onnx", shape)
    x = RNG.standard_normal(shape).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    for name in POOLS:
        assert got[name].shape == want[name].shape, name
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-6, err_msg=name)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal([4] + shape).astype(np.float32))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                            tmp_path / "calib.npz")
        assert_same_bits(sim, fq, list(POOLS))
