"""Grouped and depthwise convolutions, as MobileNet- and ResNeXt-style exporters write them:
compiled at every precision and sparsity, the bundle runs on the simulator exactly as the
fake-quant interpreter runs the model, and at fp16 it stays within fp16 rounding of
onnxruntime's float32 output."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_npucc

CONFIGS = [("fp16", "none"), ("fp8", "none"), ("nvfp4", "none"), ("fp16", "2:4"), ("fp8", "2:4"), ("nvfp4", "2:4"),
           ("auto", "auto")]


def grouped_model(path):
    """3 -> 24 (3x3) -> depthwise 24 (3x3, stride 2) -> 40 (1x1) -> 4 groups of 10 -> 15 channels
    (3x3) -> global pool -> 10 logits. Group widths that are not multiples of the MAC array's
    20 columns, nor of nvfp4's 16-element blocks."""
    rng = np.random.default_rng(5)

    def weight(name, *shape):
        fan_in = int(np.prod(shape[1:]))
        return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name)

    inits = [weight("w0", 24, 3, 3, 3), weight("w1", 24, 1, 3, 3), weight("w2", 40, 24, 1, 1),
             weight("w3", 60, 10, 3, 3), weight("fc", 10, 60)]
    inits += [numpy_helper.from_array((0.1 * rng.standard_normal(n)).astype(np.float32), f"b{i}")
              for i, n in enumerate([24, 24, 40, 60, 10])]
    nodes = [
        helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1], name="stem"),
        helper.make_node("Relu", ["c0"], ["r0"]),
        helper.make_node("Conv", ["r0", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2], group=24,
                         name="depthwise"),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="pointwise"),
        helper.make_node("Relu", ["c2"], ["r2"]),
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
