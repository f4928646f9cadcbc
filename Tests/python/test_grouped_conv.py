"""Grouped and depthwise convolutions, as MobileNet- and ResNeXt-style exporters write them:
compiled at every precision and sparsity, the bundle runs on the simulator exactly as the
fake-quant interpreter runs the model, and at fp16 it stays within fp16 rounding of
onnxruntime's float32 output. Wanda weighs each weight of a grouped convolution by the norm
of the input channel its group reads, and bias correction shifts its biases by the means of
those channels, as for one group."""
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT, run_npucc

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import npub  # noqa: E402

CONFIGS = [("fp16", "none"), ("fp8", "none"), ("nvfp4", "none"), ("fp16", "2:4"), ("fp8", "2:4"), ("nvfp4", "2:4"),
           ("auto", "auto")]


def grouped_model(path):
    """3 -> 24 (3x3) -> depthwise 24 (3x3, stride 2) -> 32 (1x1) -> depthwise 32 (3x3, stride 2,
    padded only below and right, as TensorFlow's SAME exports it) -> depthwise 32 (3x3, dilation
    2) -> 4 groups of 8 -> 15 channels (3x3) -> global pool -> 10 logits. Group widths that are
    not multiples of the MAC array's 20 columns, nor of nvfp4's 16-element blocks, and
    depthwise convolutions whose channels are whole blocks (their windows travel coded)."""
    rng = np.random.default_rng(5)

    def weight(name, *shape):
        fan_in = int(np.prod(shape[1:]))
        return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name)

    inits = [weight("w0", 24, 3, 3, 3), weight("w1", 24, 1, 3, 3), weight("w2", 32, 24, 1, 1),
             weight("w3", 60, 8, 3, 3), weight("fc", 10, 60), weight("w5", 32, 1, 3, 3), weight("w6", 32, 1, 3, 3)]
    inits += [numpy_helper.from_array((0.1 * rng.standard_normal(n)).astype(np.float32), f"b{i}")
              for i, n in enumerate([24, 24, 32, 60, 10, 32, 32])]
    nodes = [
        helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1], name="stem"),
        helper.make_node("Relu", ["c0"], ["r0"]),
        helper.make_node("Conv", ["r0", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2], group=24,
                         name="depthwise"),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="pointwise"),
        helper.make_node("Relu", ["c2"], ["r2a"]),
        helper.make_node("Conv", ["r2a", "w5", "b5"], ["c5"], pads=[0, 0, 1, 1], strides=[2, 2], group=32,
                         name="same_depthwise"),
        helper.make_node("Relu", ["c5"], ["r5"]),
        helper.make_node("Conv", ["r5", "w6", "b6"], ["c6"], pads=[2, 2, 2, 2], dilations=[2, 2], group=32,
                         name="dilated_depthwise"),
        helper.make_node("Relu", ["c6"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], pads=[1, 1, 1, 1], group=4, name="grouped"),
        helper.make_node("Relu", ["c3"], ["r3"]),
        helper.make_node("GlobalAveragePool", ["r3"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "b4"], ["logits"], transB=1, name="classifier"),
    ]
    graph = helper.make_graph(nodes, "grouped", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grouped")
    grouped_model(folder / "grouped.onnx")
    rng = np.random.default_rng(11)
    np.savez(folder / "calib.npz", x=rng.standard_normal((8, 3, 16, 16)).astype(np.float32))
    np.savez(folder / "inputs.npz", x=rng.standard_normal((4, 3, 16, 16)).astype(np.float32))
    return folder


@pytest.mark.parametrize("precision,sparsity", CONFIGS)
def test_grouped_convolutions_run_on_the_simulator_as_the_interpreter_runs_them(model, tmp_path, precision, sparsity):
    flags = ["--precision", precision, "--calib", model / "calib.npz"]
    if precision == "auto":
        flags += ["--budget", "nvfp4+2:4"]
    # `run` prunes 2:4 when given a pruning method, as `compile --sparsity 2:4` does.
    pruning = ["--prune", "sparsegpt"] if sparsity != "none" else []
    r = run_npucc("compile", model / "grouped.onnx", "-o", tmp_path / "g.npub", "--input-shape", "x=1,3,16,16", *flags,
                  *pruning, "--sparsity", sparsity)
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "g.npub", "--inputs", model / "inputs.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", model / "grouped.onnx", "--inputs", model / "inputs.npz", "--outputs", tmp_path / "fq.npz",
                  *flags, *pruning)
    assert r.returncode == 0, r.stderr
    sim, fq = np.load(tmp_path / "sim.npz")["logits"], np.load(tmp_path / "fq.npz")["logits"]
    assert sim.shape == fq.shape == (4, 10)
    np.testing.assert_array_equal(sim, fq)


def test_at_fp16_a_grouped_model_stays_within_fp16_rounding_of_onnxruntime(model, tmp_path):
    r = run_npucc("compile", model / "grouped.onnx", "-o", tmp_path / "g.npub", "--input-shape", "x=1,3,16,16",
                  "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "g.npub", "--inputs", model / "inputs.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    x = np.load(model / "inputs.npz")["x"]
    session = ort.InferenceSession(str(model / "grouped.onnx"), providers=["CPUExecutionProvider"])
    want = np.concatenate([session.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])
    got = np.load(tmp_path / "sim.npz")["logits"]
    # Five layers, each rounding its input and weights to fp16 (unit roundoff 2^-11, about
    # 4.9e-4): a few parts in a thousand of the logits' scale, bounded here by 1e-2.
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= 1e-2 * scale
    assert not np.array_equal(got, want)  # the rounding is really there


def two_groups(path, rng):
    """x [1, 16, 6, 6] -> 1x1 Conv of 2 groups (16 -> 8, a bias): each row reduces over the 8
    channels of its group, so every 2:4 group of four spans four channels."""
    w = (rng.standard_normal((8, 8, 1, 1)) / 3).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array((0.1 * rng.standard_normal(8)).astype(np.float32), "b")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], group=2, name="grouped")]
    graph = helper.make_graph(nodes, "two_groups", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 6, 6])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return w


def channel_scaled_samples(rng, count):
    """Samples whose 16 channels differ in scale by up to 1000x, and in mean: Wanda's mask
    then differs from magnitude's, and rounding shifts the output's mean."""
    scale = np.array([1000, 1, 30, 0.1, 0.3, 100, 3, 10, 1, 300, 0.2, 5, 50, 2, 0.5, 20], np.float32)
    return ((rng.standard_normal((count, 1, 16, 6, 6)) + 1) * scale.reshape(1, 1, 16, 1, 1)).astype(np.float32)


def test_wanda_prunes_a_grouped_convolution_by_its_groups_input_norms(tmp_path):
    rng = np.random.default_rng(11)
    w = two_groups(tmp_path / "m.onnx", rng)
    calib = channel_scaled_samples(rng, 6)
    np.savez(tmp_path / "calib.npz", x=calib)
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16", "--sparsity", "2:4",
                  "--prune", "wanda", "--calib", tmp_path / "calib.npz")
    assert r.returncode == 0, r.stderr
    kept = npub.decode_weights(tmp_path / "m.npub")["grouped"] != 0
    # Wanda's score: |w| times the L2 norm, over every sample and pixel, of the input channel
    # the weight reads (rows 0-3 read channels 0-7, rows 4-7 channels 8-15); two of each four kept.
    norms = np.sqrt((calib.astype(np.float64) ** 2).sum(axis=(0, 1, 3, 4)))
    channel = (np.arange(8)[:, None] // 4) * 8 + np.arange(8)[None, :]
    score = np.abs(w.reshape(8, 8)) * norms[channel]
    order = np.argsort(-score.reshape(8, 2, 4), axis=2, kind="stable")[:, :, :2]
    want = np.zeros((8, 2, 4), bool)
    np.put_along_axis(want, order, True, axis=2)
    np.testing.assert_array_equal(kept.reshape(8, 8), want.reshape(8, 8))
    by_magnitude = np.argsort(-np.abs(w.reshape(8, 2, 4)), axis=2, kind="stable")[:, :, :2]
    magnitude = np.zeros((8, 2, 4), bool)
    np.put_along_axis(magnitude, by_magnitude, True, axis=2)
    assert not np.array_equal(want, magnitude), "the channels' norms should change the choice"


def test_bias_correction_shifts_a_grouped_convolutions_bias_by_its_groups_means(tmp_path):
    rng = np.random.default_rng(12)
    two_groups(tmp_path / "m.onnx", rng)
    np.savez(tmp_path / "calib.npz", x=channel_scaled_samples(rng, 6))
    np.savez(tmp_path / "x.npz", x=channel_scaled_samples(rng, 1)[0])
    outputs = {}
    for name, extra in [("plain", []), ("corrected", ["--bias-correction"])]:
        flags = ["--precision", "nvfp4", "--calib", tmp_path / "calib.npz", *extra]
        r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / f"{name}.npub", *flags)
        assert r.returncode == 0, r.stderr
        r = run_npucc("run", tmp_path / f"{name}.npub", "--inputs", tmp_path / "x.npz", "--outputs",
                      tmp_path / f"{name}.npz")
        assert r.returncode == 0, r.stderr
        r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs",
                      tmp_path / f"{name}_fq.npz", *flags)
        assert r.returncode == 0, r.stderr
        outputs[name] = np.load(tmp_path / f"{name}.npz")["y"]
        np.testing.assert_array_equal(outputs[name], np.load(tmp_path / f"{name}_fq.npz")["y"])
    expected = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, dict(np.load(tmp_path / "x.npz")))[0]
    # Per output channel, the mean error over the image: the correction takes most of it away.
    shift = lambda y: np.abs((y - expected).mean(axis=(0, 2, 3))).mean()  # noqa: E731
    assert shift(outputs["corrected"]) < 0.5 * shift(outputs["plain"]), (shift(outputs["corrected"]),
                                                                          shift(outputs["plain"]))

