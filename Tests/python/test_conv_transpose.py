"""ConvTranspose as exporters write upsampling decoders (stride 2, padding, output_padding,
groups, dilation, with and without bias, BatchNormalization and Relu after it, auto_pad and
output_shape): compiled at every precision and sparsity, the bundle runs on the simulator
bit for bit as the fake-quant interpreter runs the model, at fp16 it stays within fp16
rounding of onnxruntime, and tools/npub.py decodes each layer's weights back to the ONNX
layout [C, M/group, kh, kw], equal to the fake-quant IR's weights (after BatchNormalization
folding and SparseGPT) and to the weights quantized independently in numpy along the
reduction axis of the convolution ConvTranspose equals. An output_padding not below its
stride is refused by node, as onnxruntime and ONNX's reference refuse it."""
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT, run_npucc, simulated_and_interpreted
from test_precision import e4m3, nvfp4_rows

sys.path.insert(0, str(ROOT / "tools"))
import npub  # noqa: E402

F32 = np.float32
CONFIGS = [("fp16", "none"), ("fp8", "none"), ("nvfp4", "none"), ("fp16", "2:4"), ("fp8", "2:4"), ("nvfp4", "2:4")]
SHAPE = (1, 8, 5, 5)


def save(path, nodes, inits, output, opset=13, shape=SHAPE):
    graph = helper.make_graph(nodes, "decoder", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], inits)
    model = onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]))
    onnx.checker.check_model(model)
    onnx.save(model, path)


def weight(rng, name, *shape):
    fan_in = shape[0] * int(np.prod(shape[2:]))
    return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(F32), name)


def batch_norm(rng, name, channels, x, y):
    inits = [numpy_helper.from_array(v.astype(F32), f"{name}.{k}") for k, v in
             [("scale", 1 + 0.2 * rng.standard_normal(channels)), ("bias", 0.1 * rng.standard_normal(channels)),
              ("mean", 0.1 * rng.standard_normal(channels)), ("var", 0.5 + rng.random(channels))]]
    node = helper.make_node("BatchNormalization", [x] + [i.name for i in inits], [y], name=name)
    return node, inits


def decoder_model(path):
    """8 x 5 x 5 -> 16 x 10 x 10 (k4, stride 2, pads 1, bias; BN, Relu) -> 8 x 20 x 20 (2 groups,
    k3, stride 2, pads 1, output_padding 1, no bias; BN, Relu) -> 4 x 20 x 20 (k3, dilation 2,
    pads 2, bias). Reduction lengths 128, 72 and 72: every layer prunes 2:4."""
    rng = np.random.default_rng(21)
    inits = [weight(rng, "w1", 8, 16, 4, 4), weight(rng, "w2", 16, 4, 3, 3), weight(rng, "w3", 8, 4, 3, 3),
             numpy_helper.from_array((0.1 * rng.standard_normal(16)).astype(F32), "b1"),
             numpy_helper.from_array((0.1 * rng.standard_normal(4)).astype(F32), "b3")]
    bn1, i1 = batch_norm(rng, "bn1", 16, "t1", "n1")
    bn2, i2 = batch_norm(rng, "bn2", 8, "t2", "n2")
    nodes = [
        helper.make_node("ConvTranspose", ["x", "w1", "b1"], ["t1"], strides=[2, 2], pads=[1, 1, 1, 1], name="up1"),
        bn1, helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("ConvTranspose", ["r1", "w2"], ["t2"], strides=[2, 2], pads=[1, 1, 1, 1],
                         output_padding=[1, 1], group=2, name="up2"),
        bn2, helper.make_node("Relu", ["n2"], ["r2"]),
        helper.make_node("ConvTranspose", ["r2", "w3", "b3"], ["y"], dilations=[2, 2], pads=[2, 2, 2, 2], name="smooth"),
    ]
    save(path, nodes, inits + i1 + i2, "y")


def padded_model(path):
    """auto_pad SAME_UPPER (stride 2, k3: one pad at the end), then output_shape (stride 2, k4,
    output 17 x 17: pads chosen from it), then a ConvTranspose of stride (1, 2) with uneven pads,
    then one whose pads exceed dilation·(k − 1), cropping its spread input, then one whose
    output_shape (92 x 128) is longer than its products reach (90 x 127, less than a stride
    short): as onnxruntime, no pads and zeros past the end (the bias there)."""
    rng = np.random.default_rng(22)
    inits = [weight(rng, "w1", 8, 8, 3, 3), weight(rng, "w2", 8, 8, 4, 4), weight(rng, "w3", 8, 4, 2, 3),
             weight(rng, "w4", 4, 4, 3, 3), weight(rng, "w5", 4, 4, 3, 3),
             numpy_helper.from_array((0.1 * rng.standard_normal(4)).astype(F32), "b5")]
    nodes = [
        helper.make_node("ConvTranspose", ["x", "w1"], ["t1"], strides=[2, 2], auto_pad="SAME_UPPER", name="same"),
        helper.make_node("Relu", ["t1"], ["r1"]),
        helper.make_node("ConvTranspose", ["r1", "w2"], ["t2"], strides=[2, 2], output_shape=[17, 17], name="shaped"),
        helper.make_node("ConvTranspose", ["t2", "w3"], ["t3"], strides=[1, 2], pads=[0, 1, 1, 0], name="uneven"),
        helper.make_node("ConvTranspose", ["t3", "w4"], ["t4"], strides=[2, 2], pads=[3, 2, 2, 4], name="cropped"),
        helper.make_node("ConvTranspose", ["t4", "w5", "b5"], ["y"], strides=[3, 2], output_shape=[92, 128],
                         name="longer"),
    ]
    save(path, nodes, inits, "y")


MODELS = {"decoder": decoder_model, "padded": padded_model}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conv_transpose")
    rng = np.random.default_rng(23)
    for name, make in MODELS.items():
        make(folder / f"{name}.onnx")
    np.savez(folder / "x.npz", x=rng.standard_normal(SHAPE).astype(F32))
    np.savez(folder / "calib.npz", x=rng.standard_normal((8,) + SHAPE[1:]).astype(F32))
    return folder


def test_the_interpreter_runs_transposed_convolutions_as_onnxruntime_does(data, tmp_path):
    for name in MODELS:
        r = run_npucc("run", data / f"{name}.onnx", "--inputs", data / "x.npz", "--outputs", tmp_path / "ref.npz")
        assert r.returncode == 0, r.stderr
        session = ort.InferenceSession(str(data / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        want = session.run(None, {"x": np.load(data / "x.npz")["x"]})[0]
        np.testing.assert_allclose(np.load(tmp_path / "ref.npz")["y"], want, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("precision,sparsity", CONFIGS + [("auto", "auto")])
def test_transposed_convolutions_run_on_the_simulator_as_the_interpreter_runs_them(data, tmp_path, model, precision,
                                                                                   sparsity):
    sim, fq = simulated_and_interpreted(data / f"{model}.onnx", data / "x.npz", tmp_path, precision, sparsity,
                                        data / "calib.npz")
    assert sim["y"].shape == fq["y"].shape
    np.testing.assert_array_equal(sim["y"], fq["y"])
    bundle = npub.verify(tmp_path / "m.npub")
    layers = [layer for layer in bundle.metadata["layers"] if layer["op"] == "ConvTranspose"]
    assert len(layers) == (3 if model == "decoder" else 5)
    if sparsity == "2:4" and model == "decoder":
        assert all(layer["sparse"] for layer in layers)


def test_at_fp16_a_decoder_stays_within_fp16_rounding_of_onnxruntime(data, tmp_path):
    r = run_npucc("compile", data / "decoder.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", data / "x.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    session = ort.InferenceSession(str(data / "decoder.onnx"), providers=["CPUExecutionProvider"])
    want = session.run(None, {"x": np.load(data / "x.npz")["x"]})[0]
    got = np.load(tmp_path / "sim.npz")["y"]
    # Three layers, each rounding its input and weights to fp16 (unit roundoff 2^-11).
    assert np.abs(got - want).max() <= 1e-2 * np.abs(want).max()
    assert not np.array_equal(got, want)


def convolution_matrix(w, groups):
    """ConvTranspose's [C, M/G, kh, kw] as the equivalent convolution's [M, C/G·kh·kw]: the
    kernel flipped, input and output channels swapped within each group."""
    c, mg = w.shape[:2]
    flipped = w[:, :, ::-1, ::-1].reshape(groups, c // groups, mg, -1)
    return np.ascontiguousarray(flipped.transpose(0, 2, 1, 3)).reshape(groups * mg, -1)


def quantized(matrix, precision):
    if precision == "fp16":
        return matrix.astype(np.float16).astype(F32)
    if precision == "fp8":
        scale = (np.abs(matrix).max(1) / F32(448)).astype(F32)
        return np.stack([e4m3(row / s) * s for row, s in zip(matrix, scale)])
    return nvfp4_rows(matrix, np.abs(matrix).max() / F32(6 * 448))


def pruned(matrix):
    """2 of each 4 consecutive reduction elements kept, the largest by magnitude."""
    groups = matrix.reshape(matrix.shape[0], -1, 4).copy()
    order = np.argsort(np.abs(groups), axis=2, kind="stable")
    np.put_along_axis(groups, order[:, :, :2], 0, axis=2)
    return groups.reshape(matrix.shape)


@pytest.mark.parametrize("precision", ["fp16", "fp8", "nvfp4"])
@pytest.mark.parametrize("sparsity", ["none", "2:4"])
def test_npub_decodes_the_weights_quantized_along_the_flipped_kernel(tmp_path, precision, sparsity):
    rng = np.random.default_rng(24)
    # Groups of 2, 8 input channels each, kernel 3 x 3: reduction 72, four nvfp4 blocks that
    # cross channels, so the order along it decides the scales.
    w = (rng.standard_normal((16, 5, 3, 3)) * rng.uniform(0.1, 4, (16, 1, 1, 1))).astype(F32)
    save(tmp_path / "m.onnx", [helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], group=2,
                                                name="up")], [numpy_helper.from_array(w, "w")], "y", shape=(1, 16, 4, 4))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 16, 4, 4)).astype(F32))
    flags = ["--precision", precision, "--calib", tmp_path / "calib.npz", "--sparsity", sparsity]
    if sparsity != "none":
        flags += ["--prune", "magnitude"]
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", *flags)
    assert r.returncode == 0, r.stderr
    decoded = npub.decode_weights(tmp_path / "m.npub")["up"]
    matrix = convolution_matrix(w, 2)
    if sparsity != "none":
        matrix = pruned(matrix)
    want = quantized(matrix, precision)
    # Back to the ONNX layout: the inverse permutation of convolution_matrix.
    assert decoded.shape == w.shape
    np.testing.assert_array_equal(convolution_matrix(decoded, 2), want)
    inspect = run_npucc("inspect", tmp_path / "m.npub")
    assert inspect.returncode == 0, inspect.stderr
    assert any(line.split()[:2] == ["up", "ConvTranspose"] for line in inspect.stdout.splitlines()), inspect.stdout


@pytest.mark.parametrize("pruning", ["wanda", "magnitude"])
def test_bias_correction_and_other_pruning_run_as_the_interpreter_runs_them(data, tmp_path, pruning):
    sim, fq = simulated_and_interpreted(data / "decoder.onnx", data / "x.npz", tmp_path, "nvfp4", "2:4",
                                        data / "calib.npz", prune=pruning, extra=["--bias-correction"])
    np.testing.assert_array_equal(sim["y"], fq["y"])
    r = run_npucc("run", data / "decoder.onnx", "--inputs", data / "x.npz", "--outputs", tmp_path / "plain.npz",
                  "--precision", "nvfp4", "--calib", data / "calib.npz", "--prune", pruning)
    assert r.returncode == 0, r.stderr
    # The correction really changes the biases (of the layers whose input means it can use).
    assert not np.array_equal(np.load(tmp_path / "plain.npz")["y"], fq["y"])


def tiny_model(path):
    """Two ConvTransposes of 16 weights each (so the IR prints them whole), each followed by
    BatchNormalization: 2 -> 2 channels (k2, stride 2, bias), Relu, then 2 groups of 1 -> 2
    (k2, stride 2, uneven pads)."""
    rng = np.random.default_rng(26)
    inits = [weight(rng, "wa", 2, 2, 2, 2), weight(rng, "wb", 2, 2, 2, 2),
             numpy_helper.from_array((0.1 * rng.standard_normal(2)).astype(F32), "ba")]
    bn1, i1 = batch_norm(rng, "bn1", 2, "t1", "n1")
    bn2, i2 = batch_norm(rng, "bn2", 4, "t2", "y")
    nodes = [helper.make_node("ConvTranspose", ["x", "wa", "ba"], ["t1"], strides=[2, 2], name="up1"), bn1,
             helper.make_node("Relu", ["n1"], ["r1"]),
             helper.make_node("ConvTranspose", ["r1", "wb"], ["t2"], strides=[2, 2], pads=[1, 0, 0, 1], group=2,
                              name="up2"), bn2]
    save(path, nodes, inits + i1 + i2, "y", shape=(1, 2, 5, 5))


def quantized_weights(ir, layer):
    """The weight the last `quantize` IR dump gives node `layer`, in its ONNX layout."""
    dump = ir.split("// IR after quantize")[-1].split("// IR after")[0]
    node = next(line for line in dump.splitlines() if f'name="{layer}"' in line)
    name = node.split("(")[1].split(",")[1].strip().lstrip("%")
    const = next(line for line in dump.splitlines() if line.strip().startswith(f"const %{name}:"))
    shape = [int(d) for d in const.split("f32[")[1].split("]")[0].split(",")]
    values = const.split("=", 1)[1].replace("[", " ").replace("]", " ").split(",")
    return np.array([float(v) for v in values], F32).reshape(shape)


@pytest.mark.parametrize("precision,sparsity", CONFIGS)
def test_npub_decodes_the_fake_quant_weights_after_folding_and_sparsegpt(tmp_path, precision, sparsity):
    tiny_model(tmp_path / "tiny.onnx")
    rng = np.random.default_rng(27)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((6, 2, 5, 5)).astype(F32))
    np.savez(tmp_path / "x.npz", x=rng.standard_normal((1, 2, 5, 5)).astype(F32))
    r = run_npucc("compile", tmp_path / "tiny.onnx", "-o", tmp_path / "m.npub", "--precision", precision,
                  "--calib", tmp_path / "calib.npz", "--sparsity", sparsity,
                  *(["--prune", "sparsegpt"] if sparsity != "none" else []),
                  "--print-ir-after-all")
    assert r.returncode == 0, r.stderr
    decoded = npub.decode_weights(tmp_path / "m.npub")
    for layer in ["up1", "up2"]:
        want = quantized_weights(r.stdout, layer)
        assert decoded[layer].shape == want.shape == (2, 2, 2, 2)
        np.testing.assert_array_equal(decoded[layer], want, err_msg=layer)
        if sparsity == "2:4":
            assert (convolution_matrix(want, 1 if layer == "up1" else 2).reshape(-1, 4) != 0).sum(1).max() <= 2
    sim, fq = simulated_and_interpreted(tmp_path / "tiny.onnx", tmp_path / "x.npz", tmp_path, precision, sparsity,
                                        tmp_path / "calib.npz")
    np.testing.assert_array_equal(sim["y"], fq["y"])


@pytest.mark.parametrize("strides,dilations,output_padding,refused", [
    ([1, 1], [2, 2], [1, 0], True),
    ([2, 2], [1, 1], [0, 2], True),
    ([2, 2], [1, 1], [1, 1], False),
])
def test_an_output_padding_not_below_its_stride_is_refused_by_node(tmp_path, strides, dilations, output_padding, refused):
    rng = np.random.default_rng(5)
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up", kernel_shape=[3, 3], strides=strides,
                            dilations=dilations, output_padding=output_padding)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight(rng, "w", 8, 4, 3, 3)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    x = rng.standard_normal(SHAPE).astype(F32)
    np.savez(tmp_path / "x.npz", x=x)
    try:
        theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    except Exception:
        theirs = None
    assert (theirs is None) == refused
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    if refused:
        axis = 0 if output_padding[0] else 1
        assert r.returncode == 1 and (f'node ConvTranspose "up" (opset 13): output_padding {output_padding[axis]} at '
                                      f"spatial axis {axis} is not in 0 ..< the stride {strides[axis]}") in r.stderr, r.stderr
        assert not (tmp_path / "y.npz").exists()
    else:
        assert r.returncode == 0, r.stderr
        np.testing.assert_allclose(np.load(tmp_path / "y.npz")["y"], theirs, rtol=0, atol=1e-5)
