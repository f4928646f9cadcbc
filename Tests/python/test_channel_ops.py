"""Per-channel ops of CNNs as exporters write them: a BatchNormalization that no layer before it
can take (DenseNet's, after a Concat), PRelu with a slope per channel, GlobalMaxPool (and global
pools over planes larger than a tile's SRAM, an EfficientNet's 112x112), Round,
InstanceNormalization, GroupNormalization (opsets 18 and 21) and LRN across channels.
The bundle runs bit for bit as the fake-quant interpreter runs the model (at fp16, nvfp4 and
nvfp4 with 2:4; opset 11 and 13), on inputs holding NaN, infinities and signed zeros, and the
interpreter runs the model as onnxruntime does."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted, special_inputs

SHAPE = (1, 4, 6, 6)
OUTPUTS = ["normalized", "pooled", "rounded"]


def channel_model(path, opset):
    """Conv 4 -> 4, Concat with the input, BatchNormalization, PRelu, Conv 8 -> 8,
    GlobalMaxPool; Round of the normalized values times 4."""
    rng = np.random.default_rng(3)
    c = lambda name, value: numpy_helper.from_array(np.asarray(value, np.float32), name)
    inits = [c("w1", rng.standard_normal((4, 4, 3, 3)) / 4), c("w2", rng.standard_normal((8, 8, 3, 3)) / 6),
             c("gamma", 1 + rng.standard_normal(8) / 4), c("beta", rng.standard_normal(8) / 4),
             c("mean", rng.standard_normal(8) / 4), c("var", 0.5 + rng.random(8)),
             c("slope", rng.standard_normal((8, 1, 1)) / 4), c("four", 4.0)]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("Concat", ["x", "c1"], ["cat"], axis=1, name="concat"),
             helper.make_node("BatchNormalization", ["cat", "gamma", "beta", "mean", "var"], ["normalized"],
                              epsilon=1e-3, name="norm"),
             helper.make_node("PRelu", ["normalized", "slope"], ["activated"], name="prelu"),
             helper.make_node("Conv", ["activated", "w2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
             helper.make_node("GlobalMaxPool", ["c2"], ["pooled"], name="pool"),
             helper.make_node("Mul", ["normalized", "four"], ["scaled"], name="scale"),
             helper.make_node("Round", ["scaled"], ["rounded"], name="round")]
    shapes = {"normalized": [1, 8, 6, 6], "pooled": [1, 8, 1, 1], "rounded": [1, 8, 6, 6]}
    graph = helper.make_graph(nodes, "channels", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, shapes[o]) for o in OUTPUTS], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return special_inputs(tmp_path_factory.mktemp("channels"), SHAPE, 4, 2, [np.nan, np.inf, -np.inf, 0.0, -0.0, 0.125])


@pytest.mark.parametrize("opset,precision,sparsity", [(13, "fp16", "none"), (11, "nvfp4", "none"), (13, "nvfp4", "2:4")])
def test_channel_ops_run_on_the_simulator_as_the_interpreter_runs_them(data, tmp_path, opset, precision, sparsity):
    channel_model(tmp_path / "m.onnx", opset)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", data / "x.npz", tmp_path, precision, sparsity,
                                        data / "calib.npz")
    assert_same_bits(sim, fq, OUTPUTS)
    # At fp16 the input's NaN reaches every channel of the second convolution, and wins its
    # maximum (the quantizers of nvfp4 take no NaN through).
    assert np.isnan(fq["pooled"]).all() == (precision == "fp16")


@pytest.mark.parametrize("opset", [11, 13])
def test_the_interpreter_runs_the_channel_ops_as_onnxruntime_does(tmp_path, opset):
    channel_model(tmp_path / "m.onnx", opset)
    x = np.random.default_rng(8).standard_normal(SHAPE).astype(np.float32)
    x.flat[:3] = [0.0, -0.0, 0.125]
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    ours = np.load(tmp_path / "ref.npz")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for name, theirs in zip(OUTPUTS, session.run(None, {"x": x})):
        # BatchNormalization's scale and shift are the same float32 steps; a convolution's
        # sums may be ordered otherwise.
        np.testing.assert_allclose(ours[name], theirs, rtol=1e-5, atol=1e-5, err_msg=name)
    np.testing.assert_array_equal(ours["rounded"], np.round(ours["normalized"] * np.float32(4)))


def instance_norm_model(path, opset, shape):
    """Conv 3 -> 6 channels, InstanceNormalization (a style-transfer network's), Relu."""
    rng = np.random.default_rng(6)
    c = lambda name, value: numpy_helper.from_array(np.asarray(value, np.float32), name)
    inits = [c("w", rng.standard_normal((6, 3, 3, 3)) / 4), c("gamma", 1 + rng.standard_normal(6) / 4),
             c("beta", rng.standard_normal(6) / 4)]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("InstanceNormalization", ["c", "gamma", "beta"], ["n"], epsilon=1e-3, name="norm"),
             helper.make_node("Relu", ["n"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "instance", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3] + shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6] + shape)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


@pytest.mark.parametrize("opset,shape,precision", [(9, [10, 12], "fp16"), (13, [40, 40], "fp16"), (13, [10, 12], "nvfp4")])
def test_instance_normalization_runs_as_the_interpreter_and_onnxruntime_run_it(tmp_path, opset, shape, precision):
    """Two images; [40, 40] planes fit a tile two channels at a time."""
    instance_norm_model(tmp_path / "m.onnx", opset, shape)
    rng = np.random.default_rng(opset)
    x = rng.standard_normal([2, 3] + shape).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal([4, 2, 3] + shape).astype(np.float32))
    fixed = ["--input-shape", "x=" + ",".join(map(str, [2, 3] + shape))]
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz", extra=fixed)
    assert_same_bits(sim, fq, ["y"])
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz", *fixed)
    assert r.returncode == 0, r.stderr
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "ref.npz")["y"], theirs, rtol=1e-5, atol=1e-5)


def lrn_model(path, opset, channels, shape, **attributes):
    """Conv 3 -> `channels`, LRN across channels (AlexNet's), Relu."""
    rng = np.random.default_rng(channels)
    inits = [numpy_helper.from_array((rng.standard_normal((channels, 3, 3, 3)) / 2).astype(np.float32), "w")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("LRN", ["c"], ["n"], name="lrn", **attributes),
             helper.make_node("Relu", ["n"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "lrn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3] + shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, channels] + shape)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


@pytest.mark.parametrize("opset,channels,shape,attributes,precision", [
    (7, 6, [9, 11], dict(size=5, alpha=1e-4, beta=0.75, bias=1.0), "fp16"),
    (13, 16, [32, 32], dict(size=3, alpha=2e-2, beta=0.5, bias=2.0), "fp16"),  # positions in four blocks
    (13, 6, [9, 11], dict(size=3), "nvfp4"),
])
def test_lrn_runs_as_the_interpreter_and_onnxruntime_run_it(tmp_path, opset, channels, shape, attributes, precision):
    lrn_model(tmp_path / "m.onnx", opset, channels, shape, **attributes)
    rng = np.random.default_rng(opset)
    x = rng.standard_normal([2, 3] + shape).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal([4, 2, 3] + shape).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "ref.npz")["y"], theirs, rtol=1e-5, atol=1e-5)


def group_norm_model(path, opset, groups, channels=8, size=(6, 5)):
    """Conv 3 -> `channels`, GroupNormalization in `groups` (scale and bias per group before
    opset 21, per channel from it), Relu; images of `size`."""
    rng = np.random.default_rng(7)
    c = lambda name, value: numpy_helper.from_array(np.asarray(value, np.float32), name)
    per = groups if opset < 21 else channels
    inits = [c("w", rng.standard_normal((channels, 3, 3, 3)) / 4), c("gamma", 1 + rng.standard_normal(per) / 4),
             c("beta", rng.standard_normal(per) / 4)]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("GroupNormalization", ["c", "gamma", "beta"], ["n"], num_groups=groups, epsilon=1e-3,
                              name="norm"),
             helper.make_node("Relu", ["n"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "group", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, *size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", channels, *size])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


@pytest.mark.parametrize("opset,groups,precision,size", [
    (18, 2, "fp16", (6, 5)), (18, 4, "nvfp4", (6, 5)), (21, 2, "fp16", (6, 5)), (21, 8, "nvfp4", (6, 5)),
    (18, 1, "nvfp4", (40, 40)), (21, 2, "fp16", (48, 32))])
def test_group_normalization_runs_as_the_interpreter_and_onnxruntime_run_it(tmp_path, opset, groups, precision, size):
    """Imported as InstanceNormalization over [N, G, -1] (and from opset 21 a per-channel
    Mul and Add): two images, the batch symbolic for onnxruntime and the interpreter. One
    group over 40x40 images (PoolFormer's normalization: 12,800 values a group) and two
    over 48x32 are more than a tile holds: they run in pieces over three passes, the last
    spread over the tiles, its reads of each plane's factors ordered before the plane's last
    piece overwrites them (`inspect --check-sync`)."""
    group_norm_model(tmp_path / "m.onnx", opset, groups, size=size)
    rng = np.random.default_rng(opset + groups)
    x = rng.standard_normal([2, 3, *size]).astype(np.float32)
    x[1, 0, 3, :] = np.nan if size[0] > 6 else x[1, 0, 3, :]
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal([4, 2, 3, *size]).astype(np.float32))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "ref.npz")["y"], theirs, rtol=1e-5, atol=1e-5)
    fixed = ["--input-shape", f"x=2,3,{size[0]},{size[1]}"]
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz", extra=fixed)
    assert_same_bits(sim, fq, ["y"])
    r = run_npucc("inspect", tmp_path / "m.npub", "--check-sync")
    assert r.returncode == 0, r.stderr


def large_planes_run(tmp_path, rng, outputs):
    """Runs m.onnx (input x, [1, 3, 112, 112]: channel 1 all -0, one NaN in channel 2) on the
    simulator and the interpreter at fp16 and nvfp4, asserting the same bits for `outputs`;
    returns x and the interpreter's nvfp4 outputs."""
    x = rng.standard_normal((1, 3, 112, 112)).astype(np.float32) * 3
    x[0, 1] = -0.0
    x[0, 2, 100, 7] = np.nan
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 1, 3, 112, 112)).astype(np.float32))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                            tmp_path / "calib.npz")
        assert_same_bits(sim, fq, outputs)
    return x, fq


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_a_global_pool_over_a_plane_larger_than_a_tile(tmp_path, op):
    """An EfficientNet's squeeze-and-excitation pools 112x112 planes (49 KiB each, more than a
    tile's SRAM): each plane runs chunk after chunk with the running sum (or maximum) carried,
    bit for bit as the interpreter's one pass, which agrees with onnxruntime; a plane of
    negative zeros averages to +0 as the interpreter's sum from +0 does, and a NaN wins the
    maximum."""
    rng = np.random.default_rng(23)
    w = numpy_helper.from_array((rng.standard_normal((4, 3, 3, 3)) / 4).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node(op, ["r"], ["y"], name="pool"),
             helper.make_node(op, ["x"], ["z"], name="pool_input")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 112, 112])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 1, 1]),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3, 1, 1])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    x, fq = large_planes_run(tmp_path, rng, ["y", "z"])
    z = fq["z"].reshape(3)
    assert np.signbit(z[1]) == (op == "GlobalMaxPool") and z[1] == 0 and np.isnan(z[2])
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[1].reshape(3)
    np.testing.assert_allclose(z[0], theirs[0], rtol=1e-5)


def test_reductions_over_rows_longer_than_a_tile(tmp_path):
    """timm's squeeze-and-excitation means a 112x112 plane with ReduceMean (49 KiB, more than a
    tile's SRAM); so do sums, maxima, minima and products over whole planes, and a minimum over
    a long axis whose elements are not contiguous (rows gathered 3 apart). Each row reduces in
    pieces with the running Double carried between them, bit for bit as the interpreter's one
    pass, which agrees with onnxruntime; a plane of negative zeros sums to +0 and a NaN wins
    the maximum."""
    rng = np.random.default_rng(29)
    inits = [numpy_helper.from_array((rng.standard_normal((4, 3, 3, 3)) / 4).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([2, 3], np.int64), "plane"),
             numpy_helper.from_array(np.array([1], np.int64), "long"),
             numpy_helper.from_array(np.array([1, 3, 112 * 112], np.int64), "flat"),
             numpy_helper.from_array(np.array(1e-3, np.float32), "small"),
             numpy_helper.from_array(np.array(1, np.float32), "one")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("ReduceMean", ["r", "plane"], ["mean"], keepdims=1, name="mean"),
             helper.make_node("ReduceSum", ["x", "plane"], ["sum"], keepdims=0, name="sum"),
             helper.make_node("ReduceMax", ["x", "plane"], ["max"], keepdims=1, name="max"),
             helper.make_node("Mul", ["x", "small"], ["xs"]), helper.make_node("Add", ["xs", "one"], ["near_one"]),
             helper.make_node("ReduceProd", ["near_one", "plane"], ["prod"], keepdims=1, name="prod"),
             helper.make_node("Reshape", ["x", "flat"], ["xf"]),
             helper.make_node("Transpose", ["xf"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("ReduceMin", ["xt", "long"], ["min"], keepdims=0, name="min")]
    outputs = {"mean": [1, 4, 1, 1], "sum": [1, 3], "max": [1, 3, 1, 1], "prod": [1, 3, 1, 1], "min": [1, 3]}
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 112, 112])],
                              [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in outputs.items()], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "m.onnx")
    x, fq = large_planes_run(tmp_path, rng, list(outputs))
    assert fq["sum"][0, 1] == 0 and not np.signbit(fq["sum"][0, 1]) and np.isnan(fq["max"][0, 2, 0, 0])
    clean = x.copy()
    clean[0, 2, 100, 7] = 0
    np.savez(tmp_path / "clean.npz", x=clean)
    r = run_npucc("run", str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "clean.npz"), "--outputs",
                  str(tmp_path / "ref.npz"))
    assert r.returncode == 0, r.stderr
    ours = np.load(tmp_path / "ref.npz")
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": clean})
    for name, value in zip(outputs, theirs):
        np.testing.assert_allclose(ours[name], value, rtol=1e-5, atol=1e-5, err_msg=name)
