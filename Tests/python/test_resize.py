"""Resize as exporters write it. Nearest (PyTorch's Upsample: asymmetric and floor; ONNX's
defaults: half_pixel and round_prefer_floor; sizes instead of scales; downsampling by a
fraction) lowers to copies, and the interpreter's equals onnxruntime's exactly. Bilinear over
the last two axes (half_pixel, align_corners, pytorch_half_pixel, half_pixel_symmetric; up and
down) runs on the
vector unit, within float32 rounding of onnxruntime. Either way the bundle runs bit for bit as
the fake-quant interpreter runs the model, at rank 4 and at ranks 2, 3 and 5 (a 1-D signal
upsampled along its last axis, a volume's planes), and so does a linear Resize over other
axes (the channels, a bare signal, a volume's depth: trilinear), within float32 rounding of a
float64 N-linear reference; one whose changed axes span more than three is refused by node.
Opset 18's `axes` (scales or sizes for the named axes alone) and keep_aspect_ratio_policy give
onnxruntime's results; antialias (linear and cubic) stretches the filter as onnxruntime does,
runs on the vector unit where each output reads at most 4 inputs along an axis and is
imported as products otherwise, bit for bit on the simulator either way; nearest antialias is
refused by node. Bicubic of the last two axes (every coordinate mode, cubic_coeff_a,
exclude_outside) is interpreted as onnxruntime computes it, folds on constants, and runs on the
vector unit bit for bit as the interpreter runs it; one that changes another axis is refused by
node. A plane too large for a tile (28x28 to 224x224, a 6,000-sample signal) runs in windows,
bit for bit as whole planes run. A coordinate mode that is misspelt, or a crop without its roi
or sampling outside the input, is refused by node."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_compile_refuses, assert_same_bits, run_npucc, simulated_and_interpreted

CASES = {
    "upsample_asymmetric_floor": dict(scales=[1, 1, 2, 2], coordinate_transformation_mode="asymmetric",
                                      nearest_mode="floor"),
    "upsample_half_pixel": dict(scales=[1, 1, 3, 2]),
    "sizes_align_corners": dict(sizes=[1, 6, 7, 9], coordinate_transformation_mode="align_corners",
                                nearest_mode="round_prefer_ceil"),
    "downsample_fraction": dict(scales=[1, 1, 0.6, 0.75], coordinate_transformation_mode="pytorch_half_pixel",
                                nearest_mode="ceil"),
    # tf2onnx's half-pixel nearest rounding up: the channels (scale 1) keep their indices, as
    # onnxruntime keeps them, though (c + 0.5) rounds up to c + 1.
    "tf_half_pixel_for_nn_ceil": dict(scales=[1, 1, 2, 0.5], coordinate_transformation_mode="tf_half_pixel_for_nn",
                                      nearest_mode="ceil"),
    "tf_half_pixel_for_nn_round_prefer_ceil": dict(scales=[1, 1, 1.5, 2],
                                                   coordinate_transformation_mode="tf_half_pixel_for_nn",
                                                   nearest_mode="round_prefer_ceil"),
    "bilinear_half_pixel": dict(scales=[1, 1, 2, 2], mode="linear"),
    "bilinear_align_corners": dict(sizes=[1, 6, 9, 13], mode="linear", coordinate_transformation_mode="align_corners"),
    "bilinear_down_pytorch": dict(scales=[1, 1, 0.6, 0.75], mode="linear",
                                  coordinate_transformation_mode="pytorch_half_pixel"),
    # Opset 19's half_pixel_symmetric: extents that round down (3.5 -> 3, 4.2 -> 4, 8.5 -> 8)
    # move the sampling towards the centre.
    "bilinear_half_pixel_symmetric_down": dict(scales=[1, 1, 0.7, 0.7], mode="linear", opset=19,
                                               coordinate_transformation_mode="half_pixel_symmetric"),
    "bilinear_half_pixel_symmetric_up": dict(scales=[1, 1, 1.7, 2.5], mode="linear", opset=19,
                                             coordinate_transformation_mode="half_pixel_symmetric"),
}


def resize_model(path, scales=None, sizes=None, mode="nearest", conv=True, opset=13, **attributes):
    """Conv 3 -> 6 channels (or none), Resize, Relu; opset 13 (unless told) with the roi and
    scales inputs present."""
    rng = np.random.default_rng(2)
    inits = [numpy_helper.from_array((rng.standard_normal((6, 3, 3, 3)) / 5).astype(np.float32), "w"),
             numpy_helper.from_array(np.zeros(0, np.float32), "roi"),
             numpy_helper.from_array(np.asarray(scales or [], np.float32), "scales")]
    inputs = ["c", "roi", "scales"]
    if sizes is not None:
        inits.append(numpy_helper.from_array(np.asarray(sizes, np.int64), "sizes"))
        inputs.append("sizes")
    if not conv:
        inputs[0] = "x"
        if sizes is not None:
            inits[-1] = numpy_helper.from_array(np.asarray([1, 3] + sizes[2:], np.int64), "sizes")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv")] if conv else []
    nodes += [helper.make_node("Resize", inputs, ["r"], mode=mode, name="resize", **attributes),
             helper.make_node("Relu", ["r"], ["y"])]
    graph = helper.make_graph(nodes, "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "C", "H", "W"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.mark.parametrize("attributes,roi,message", [
    (dict(coordinate_transformation_mode="half_pixel_symetric"), [],
     'coordinate_transformation_mode "half_pixel_symetric" is not one of'),
    (dict(coordinate_transformation_mode="tf_crop_and_resize"), [],
     "tf_crop_and_resize needs a roi of 8 values"),
    (dict(coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=10.0),
     [0, 0, 0.4, 0.6, 1, 1, 1.2, 0.8], "extrapolation_value is not supported"),
])
def test_a_coordinate_mode_that_is_not_computed_is_refused_by_node(tmp_path, attributes, roi, message):
    """A misspelt mode, a crop without its roi and samples outside the input fail by node
    rather than fall back to another transformation."""
    inits = [numpy_helper.from_array(np.asarray(roi, np.float32), "roi"),
             numpy_helper.from_array(np.asarray([1, 1, 2, 2], np.float32), "scales")]
    graph = helper.make_graph(
        [helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode="linear", name="resize", **attributes)],
        "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]), tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=np.ones((1, 3, 5, 6), np.float32))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 1
    assert 'node Resize "resize" (opset 19)' in r.stderr and message in r.stderr, r.stderr
    assert not (tmp_path / "y.npz").exists()


@pytest.mark.parametrize("case", sorted(CASES))
def test_resize_runs_as_the_interpreter_and_onnxruntime_run_it(tmp_path, case):
    resize_model(tmp_path / "m.onnx", **CASES[case])
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 3, 5, 6)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 3, 5, 6)).astype(np.float32))
    # The interpreter's Resize alone against onnxruntime's: nearest copies the same elements;
    # bilinear sums up to four products, so it agrees to a few float32 roundings.
    resize_model(tmp_path / "alone.onnx", conv=False, **CASES[case])
    r = run_npucc("run", tmp_path / "alone.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    session = ort.InferenceSession(str(tmp_path / "alone.onnx"), providers=["CPUExecutionProvider"])
    ours, theirs = np.load(tmp_path / "ref.npz")["y"], session.run(None, {"x": x})[0]
    if CASES[case].get("mode") == "linear":
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=8 * np.finfo(np.float32).eps * np.abs(x).max())
        assert not np.array_equal(ours, np.repeat(np.repeat(x, 2, axis=2), 2, axis=3)[..., :ours.shape[2], :ours.shape[3]])
    else:
        np.testing.assert_array_equal(ours, theirs)
    for precision in ["fp16", "nvfp4"]:
        flags = ["--precision", precision, "--calib", tmp_path / "calib.npz"]
        r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", *flags)
        assert r.returncode == 0, r.stderr
        r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "sim.npz")
        assert r.returncode == 0, r.stderr
        r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "fq.npz", *flags)
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(tmp_path / "sim.npz")["y"], np.load(tmp_path / "fq.npz")["y"])


def linear_resize_model(path, shape, scales, transform, opset):
    """x times 2, then a linear Resize by `scales`: opset 11 with an roi of 2 x rank zeros, 13
    with an empty one."""
    rank = len(shape)
    nodes = [helper.make_node("Mul", ["x", "two"], ["m"], name="scale"),
             helper.make_node("Resize", ["m", "roi", "scales"], ["y"], mode="linear", name="resize",
                              coordinate_transformation_mode=transform)]
    inits = [numpy_helper.from_array(np.array(2.0, np.float32), "two"),
             numpy_helper.from_array(np.zeros(2 * rank if opset < 13 else 0, np.float32), "roi"),
             numpy_helper.from_array(np.asarray(scales, np.float32), "scales")]
    graph = helper.make_graph(nodes, "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * rank)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def linear_reference(x, scales, transform):
    """N-linear resize in float64, one axis at a time (half_pixel or align_corners)."""
    y = x.astype(np.float64)
    for axis, scale in enumerate(scales):
        n = y.shape[axis]
        m = int(np.floor(n * scale))
        o = np.arange(m, dtype=np.float64)
        if n == 1 or (scale == 1 and transform != "align_corners"):
            continue
        if transform == "align_corners":
            s = o * (n - 1) / (m - 1) if m > 1 else np.zeros(m)
        else:
            s = (o + 0.5) / np.float32(scale) - 0.5
        s = np.clip(s, 0, n - 1)
        i0 = np.floor(s).astype(int)
        i1 = np.minimum(i0 + 1, n - 1)
        f = (s - i0).reshape([-1 if d == axis else 1 for d in range(y.ndim)])
        y = np.take(y, i0, axis=axis) * (1 - f) + np.take(y, i1, axis=axis) * f
    return y


@pytest.mark.parametrize("shape,scales,transform", [
    ([1, 6, 5, 6], [1, 2, 1, 1], "half_pixel"),            # over the channels
    ([1, 4, 5, 6], [1, 1.5, 2, 0.5], "align_corners"),     # channels and both spatial axes
    ([7], [2.5], "half_pixel"),                            # a bare signal
    ([2, 3, 4, 5, 2], [1, 1, 2, 1.5, 1], "half_pixel"),    # a volume's depth and rows, its last axis left alone
    ([1, 2, 3, 4, 5], [1, 1, 2, 2, 1.6], "align_corners"),  # trilinear
])
def test_linear_resize_over_other_axes_runs_on_the_vector_unit(tmp_path, shape, scales, transform):
    """Symbolic dimensions fixed by --input-shape, opset 11 (roi and scales inputs)."""
    rank = len(shape)
    linear_resize_model(tmp_path / "m.onnx", ["N"] + shape[1:], scales, transform, opset=11)
    x = np.random.default_rng(rank).standard_normal(shape).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    fixed = ["--input-shape", "x=" + ",".join(map(str, shape))]
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz", *fixed)
    assert r.returncode == 0, r.stderr
    ours = np.load(tmp_path / "ref.npz")["y"]
    theirs = linear_reference(2 * x, scales, transform)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=32 * np.finfo(np.float32).eps * np.abs(x).max())
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16", *fixed)
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "sim.npz")["y"].view(np.uint32), ours.view(np.uint32))


def test_a_linear_resize_over_more_than_three_axes_is_refused_by_node(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode="linear", name="resize")], "resize",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 1, 1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 1, 1, 6])],
        [numpy_helper.from_array(np.zeros(0, np.float32), "roi"),
         numpy_helper.from_array(np.asarray([2, 1, 1, 2], np.float32), "scales")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 1
    assert ('node Resize "resize" (opset 13): cannot lower a linear Resize of [2, 1, 1, 3] to [4, 1, 1, 6] yet (the axes it '
            'changes span more than three)') in r.stderr
    assert not (tmp_path / "m.npub").exists()


@pytest.mark.parametrize("shape,scales,transform", [
    ([2, 4, 10], [1, 1, 2.5], "half_pixel"),            # a 1-D signal upsampled along its last axis
    ([2, 4, 10], [1, 2, 1], "align_corners"),           # a 3-D input's last two axes, one of them left alone
    ([5, 7], [1.5, 0.5], "pytorch_half_pixel"),          # a bare plane
    ([1, 2, 3, 4, 5], [1, 1, 1, 2, 1.6], "half_pixel"),  # a volume's planes
])
def test_linear_resize_of_the_last_two_axes_at_other_ranks(tmp_path, shape, scales, transform):
    rank = len(shape)
    linear_resize_model(tmp_path / "m.onnx", shape, scales, transform, opset=13)
    x = np.random.default_rng(rank).standard_normal(shape).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=x[None])
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    ours = np.load(tmp_path / "ref.npz")["y"]
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=16 * np.finfo(np.float32).eps * np.abs(x).max())
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "sim.npz")["y"].view(np.uint32), ours.view(np.uint32))



AXES_CASES = {
    "nearest_scales_last_two": dict(axes=[2, 3], scales=[2.0, 1.5]),
    "linear_sizes_reversed": dict(axes=[3, 2], sizes=[9, 7], mode="linear"),
    "nearest_not_larger": dict(axes=[2, 3], sizes=[10, 20], keep_aspect_ratio_policy="not_larger"),
    "linear_not_smaller": dict(axes=[2, 3], sizes=[10, 20], mode="linear", keep_aspect_ratio_policy="not_smaller"),
    "linear_last_axis_upsampled_antialias": dict(axes=[-1], scales=[2.0], mode="linear", antialias=1),
}


def axes_model(path, conv, axes, scales=None, sizes=None, **attributes):
    """(Conv 3 -> 6 channels or none), Resize of opset 19 over `axes`, Relu."""
    rng = np.random.default_rng(5)
    inits = [numpy_helper.from_array((rng.standard_normal((6, 3, 3, 3)) / 5).astype(np.float32), "w")]
    inputs = ["c" if conv else "x", "", ""]
    if sizes is not None:
        inits.append(numpy_helper.from_array(np.asarray(sizes, np.int64), "sizes"))
        inputs.append("sizes")
    else:
        inits.append(numpy_helper.from_array(np.asarray(scales, np.float32), "scales"))
        inputs[2] = "scales"
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv")] if conv else []
    nodes += [helper.make_node("Resize", inputs, ["r"], axes=axes, name="resize", **attributes),
              helper.make_node("Relu", ["r"], ["y"])]
    graph = helper.make_graph(nodes, "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]), path)


@pytest.mark.parametrize("case", sorted(AXES_CASES))
def test_resize_over_named_axes_runs_as_onnxruntime_and_the_interpreter_run_it(tmp_path, case):
    """Opset 18's `axes` (scales and sizes for those axes alone, in their order) and
    keep_aspect_ratio_policy; antialias where it changes nothing (upsampling)."""
    attributes = AXES_CASES[case]
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 3, 5, 6)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    axes_model(tmp_path / "alone.onnx", False, **attributes)
    r = run_npucc("run", tmp_path / "alone.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    ours = np.load(tmp_path / "ref.npz")["y"]
    theirs = ort.InferenceSession(str(tmp_path / "alone.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert ours.shape == theirs.shape
    if attributes.get("mode") == "linear":
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=8 * np.finfo(np.float32).eps * np.abs(x).max())
    else:
        np.testing.assert_array_equal(ours, theirs)
    axes_model(tmp_path / "m.onnx", True, **attributes)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 3, 5, 6)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])


ANTIALIAS = {
    # A linear shrink by 1/2 or less reads at most 4 inputs per output along an axis: the
    # vector unit's resize, as a Resize.
    "linear_0.6": dict(mode="linear", scales=[0.6, 0.6]),
    "linear_half_pytorch": dict(mode="linear", scales=[0.5, 0.75], coordinate_transformation_mode="pytorch_half_pixel"),
    # More: imported as a product per axis.
    "linear_sizes_quarter": dict(mode="linear", sizes=[3, 4]),
    "cubic_0.8": dict(mode="cubic", scales=[0.8, 0.7]),
    "cubic_exclude_align_corners": dict(mode="cubic", sizes=[5, 4], exclude_outside=1,
                                        coordinate_transformation_mode="align_corners"),
}
IMAGE = (1, 3, 12, 15)


def antialias_model(path, conv, scales=None, sizes=None, given=False, **attributes):
    """(Conv 3 -> 6 channels or none), an antialiased Resize of the last two axes (opset 19),
    Relu; the scales or sizes a constant, or (`given`) a graph input."""
    rng = np.random.default_rng(21)
    inits = [numpy_helper.from_array((rng.standard_normal((6, 3, 3, 3)) / 5).astype(np.float32), "w")]
    name, value = ("sizes", np.asarray(sizes, np.int64)) if sizes is not None else ("scales", np.asarray(scales, np.float32))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(IMAGE))]
    if given:
        inputs.append(helper.make_tensor_value_info(name, TensorProto.INT64 if sizes else TensorProto.FLOAT, [2]))
    else:
        inits.append(numpy_helper.from_array(value, name))
    operands = ["c" if conv else "x", "", "", ""]
    operands[3 if sizes is not None else 2] = name
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv")] if conv else []
    nodes += [helper.make_node("Resize", operands, ["r"], axes=[2, 3], antialias=1, name="resize", **attributes),
              helper.make_node("Relu", ["r"], ["y"])]
    graph = helper.make_graph(nodes, "resize", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]), path)
    return {name: value} if given else {}


@pytest.mark.parametrize("given", [False, True], ids=["constant", "given"])
@pytest.mark.parametrize("case", sorted(ANTIALIAS))
def test_an_antialiased_downscale_computes_as_onnxruntime(tmp_path, case, given):
    """Antialias (torchvision's resize of a tensor) stretches the filter by 1 / scale: each
    output reads up to 14 inputs along an axis here, weighted as onnxruntime weighs them;
    the same whether the scales are constants (products, for more than 4 taps) or given."""
    x = np.random.default_rng(22).standard_normal(IMAGE).astype(np.float32)
    feeds = {"x": x, **antialias_model(tmp_path / "m.onnx", False, given=given, **ANTIALIAS[case])}
    np.savez(tmp_path / "x.npz", **feeds)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    ours = np.load(tmp_path / "y.npz")["y"]
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=32 * np.finfo(np.float32).eps * np.abs(x).max())
    # Not the plain resize: the filter is wider.
    plain = {k: v for k, v in ANTIALIAS[case].items()}
    antialias_model(tmp_path / "plain.onnx", False, given=given, **plain)
    model = onnx.load(tmp_path / "plain.onnx")
    model.graph.node[0].attribute.pop([a.name for a in model.graph.node[0].attribute].index("antialias"))
    onnx.save(model, tmp_path / "plain.onnx")
    unfiltered = ort.InferenceSession(str(tmp_path / "plain.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert np.abs(unfiltered - ours).max() > 1e-2


@pytest.mark.parametrize("case", sorted(ANTIALIAS))
def test_an_antialiased_downscale_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, case):
    """At most 4 taps: the vector unit's resize; more: products of activations. Either way
    the bundle gives the interpreter's bits."""
    antialias_model(tmp_path / "m.onnx", True, **ANTIALIAS[case])
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 0, r.stderr
    products = "resize/Resize_axis" in r.stdout
    assert products == (case not in ("linear_0.6", "linear_half_pytorch")), r.stdout
    rng = np.random.default_rng(23)
    np.savez(tmp_path / "x.npz", x=rng.standard_normal(IMAGE).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4,) + IMAGE).astype(np.float32))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                            tmp_path / "calib.npz")
        assert_same_bits(sim, fq, ["y"])


def test_an_antialiased_downscale_of_more_taps_than_the_vector_unit_reads_and_scales_computed_is_refused_by_compile(
        tmp_path):
    """Scales computed by a node (a Concat of constants) are not known as the model is read,
    so the Resize stays one: it runs, and compile refuses it by node, saying how to help."""
    nodes = [helper.make_node("Concat", ["a", "b"], ["scales"], axis=0),
             helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear", antialias=1, axes=[2, 3],
                              name="resize")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(IMAGE))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.array([0.3], np.float32), n) for n in "ab"])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]), tmp_path / "m.onnx")
    x = np.random.default_rng(24).standard_normal(IMAGE).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["y"], theirs, rtol=0,
                               atol=32 * np.finfo(np.float32).eps * np.abs(x).max())
    assert_compile_refuses(tmp_path / "m.onnx", tmp_path, 'node Resize "resize" (opset 19): cannot lower an antialiased '
                           "Resize of [1, 3, 12, 15] to [1, 3, 3, 4] whose outputs each read up to 7 inputs")


def test_an_antialiased_nearest_resize_is_refused_by_node(tmp_path):
    antialias_model(tmp_path / "m.onnx", False, scales=[0.5, 0.5], mode="nearest")
    np.savez(tmp_path / "x.npz", x=np.ones(IMAGE, np.float32))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 1
    assert 'Resize "resize"' in r.stderr and "antialias applies to linear and cubic resizes, not nearest" in r.stderr
    assert not (tmp_path / "y.npz").exists()


CUBIC = {
    "half_pixel_up": dict(scales=[1, 1, 2, 2]),
    "align_corners_sizes": dict(sizes=[1, 6, 9, 13], coordinate_transformation_mode="align_corners"),
    "pytorch_half_pixel_down": dict(scales=[1, 1, 0.6, 0.75], coordinate_transformation_mode="pytorch_half_pixel"),
    "asymmetric_a_minus_half": dict(scales=[1, 1, 3, 2], coordinate_transformation_mode="asymmetric",
                                    cubic_coeff_a=-0.5),
    "exclude_outside": dict(scales=[1, 1, 2, 3], exclude_outside=1),
    "exclude_outside_down": dict(scales=[1, 1, 0.5, 0.8], exclude_outside=1, cubic_coeff_a=-0.5),
}


@pytest.mark.parametrize("case", sorted(CUBIC))
def test_cubic_resize_is_interpreted_as_onnxruntime_computes_it(tmp_path, case):
    """Bicubic (PyTorch's `interpolate(mode="bicubic")`, and a ViT's positional embedding
    resampled at export): up to sixteen products per output, so it agrees to a few float32
    roundings of the largest input."""
    resize_model(tmp_path / "m.onnx", conv=False, mode="cubic", **CUBIC[case])
    x = np.random.default_rng(11).standard_normal((1, 3, 5, 6)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    ours = np.load(tmp_path / "y.npz")["y"]
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=32 * np.finfo(np.float32).eps * np.abs(x).max())


@pytest.mark.parametrize("case", sorted(CUBIC))
def test_cubic_resize_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, case):
    resize_model(tmp_path / "m.onnx", mode="cubic", **CUBIC[case])
    rng = np.random.default_rng(13)
    np.savez(tmp_path / "x.npz", x=rng.standard_normal((1, 3, 5, 6)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 3, 5, 6)).astype(np.float32))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                            tmp_path / "calib.npz")
        assert_same_bits(sim, fq, ["y"])


def test_a_cubic_resize_of_a_constant_folds_and_one_over_the_channels_is_refused_by_node(tmp_path):
    rng = np.random.default_rng(12)
    table = numpy_helper.from_array(rng.standard_normal((1, 4, 3, 3)).astype(np.float32), "table")
    scales = numpy_helper.from_array(np.asarray([1, 1, 2, 2], np.float32), "scales")
    nodes = [helper.make_node("Resize", ["table", "", "scales"], ["pos"], mode="cubic"),
             helper.make_node("Add", ["x", "pos"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [table, scales])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "pos.onnx")
    r = run_npucc("dump-ir", tmp_path / "pos.onnx")
    assert r.returncode == 0 and "Resize" not in r.stdout, r.stdout + r.stderr
    x = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("compile", tmp_path / "pos.onnx", "-o", tmp_path / "pos.npub", "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "pos.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    theirs = ort.InferenceSession(str(tmp_path / "pos.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["y"], theirs, rtol=0, atol=1e-5 * np.abs(theirs).max())

    resize_model(tmp_path / "m.onnx", mode="cubic", scales=[1, 2, 2, 2])
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 1
    assert 'node Resize "resize"' in r.stderr and "cannot lower a cubic Resize of [1, 6, 5, 6]" in r.stderr, r.stderr
    assert "it changes an axis before the last two" in r.stderr
    assert not (tmp_path / "m.npub").exists()


LARGE = {
    # A segmentation head's upsampling to the image: 28x28 to 224x224, bilinear and bicubic.
    "bilinear_to_224": ([1, 2, 28, 28], dict(sizes=[1, 2, 224, 224], mode="linear")),
    "bilinear_align_corners_to_224": ([1, 2, 28, 28], dict(sizes=[1, 2, 224, 224], mode="linear",
                                                           coordinate_transformation_mode="align_corners")),
    "bicubic_112_to_224": ([1, 1, 112, 112], dict(scales=[1, 1, 2, 2], mode="cubic")),
    "bicubic_down_exclude_outside": ([1, 1, 150, 140], dict(scales=[1, 1, 0.6, 0.7], mode="cubic",
                                                            exclude_outside=1)),
    # A 1-D signal of 6,000 samples upsampled 2x: even one output row is wider than a tile.
    "linear_signal_6000": ([1, 1, 6000], dict(scales=[1, 1, 2], mode="linear")),
}


@pytest.mark.parametrize("case", sorted(LARGE))
def test_a_plane_larger_than_a_tile_resizes_window_by_window(tmp_path, case):
    """A plane whose input and output do not fit a tile's SRAM together runs in windows of
    output rows and columns: bit for bit as the interpreter runs it, which agrees with
    onnxruntime to float32 rounding."""
    shape, attributes = LARGE[case]
    rank = len(shape)
    inputs = ["x", "roi", "scales"] + (["sizes"] if "sizes" in attributes else [])
    inits = [numpy_helper.from_array(np.zeros(0, np.float32), "roi"),
             numpy_helper.from_array(np.asarray(attributes.pop("scales", []), np.float32), "scales")]
    if "sizes" in attributes:
        inits.append(numpy_helper.from_array(np.asarray(attributes.pop("sizes"), np.int64), "sizes"))
    graph = helper.make_graph([helper.make_node("Resize", inputs, ["y"], name="resize", **attributes)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * rank)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    rng = np.random.default_rng(17)
    x = rng.standard_normal(shape).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal([4] + shape).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert fq["y"].shape == theirs.shape
    np.testing.assert_allclose(fq["y"], theirs, rtol=0, atol=32 * np.finfo(np.float32).eps * np.abs(x).max())
    r = run_npucc("disasm", tmp_path / "m.npub")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("vopp ") > shape[1]  # more than one step a plane


def test_tf_crop_and_resize_gives_onnxruntimes_extent_and_lowers(tmp_path):
    """tf_crop_and_resize with a roi: the output is floor(extent x scale) as onnxruntime and
    ONNX's reference give it (not the roi's share of it), its samples onnxruntime's, and the
    bundle, sized by that extent, runs as the fake-quant interpreter."""
    rng = np.random.default_rng(12)
    inits = [numpy_helper.from_array((rng.standard_normal((4, 3, 3, 3)) / 5).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([0, 0, 0.1, 0.2, 1, 1, 0.9, 0.8], np.float32), "roi"),
             numpy_helper.from_array(np.array([1, 1, 2, 1.5], np.float32), "scales")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Resize", ["c", "roi", "scales"], ["y"], mode="linear", name="crop",
                              coordinate_transformation_mode="tf_crop_and_resize")]
    graph = helper.make_graph(nodes, "crop", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), tmp_path / "m.onnx")
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 1, 3, 8, 8)).astype(np.float32))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    ours = np.load(tmp_path / "ref.npz")["y"]
    assert ours.shape == theirs.shape == (1, 4, 16, 12)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
