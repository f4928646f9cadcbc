"""fold-batchnorm, and fuse-activation after it, leave outputs unchanged (1e-5 relative to
the output's scale) on every sample and on a ResNet-50-style network with its 53
BatchNormalization nodes. A BatchNormalization in training mode over a convolution's
weights (NF-ResNet's and BiT's weight standardization) folds into the weights, as
onnxruntime computes it; one over activations is refused by name."""
import subprocess
import sys

import numpy as np
import onnx
import pytest

from onnx import TensorProto, helper, numpy_helper

from conftest import (ROOT, assert_compile_refuses, assert_same_bits, interpreted_and_onnxruntime, run_npucc,
                      simulated_and_interpreted)

SAMPLES = ROOT / "samples"


def outputs(tmp_path, model, feeds, passes):
    np.savez(tmp_path / "in.npz", **feeds)
    out = tmp_path / f"out-{passes or 'none'}.npz"
    r = run_npucc("run", model, "--inputs", tmp_path / "in.npz", "--outputs", out, "--passes", passes)
    assert r.returncode == 0, r.stderr
    return dict(np.load(out))


def assert_unchanged(tmp_path, model, feeds):
    before = outputs(tmp_path, model, feeds, "")
    for passes in ["fold-batchnorm,eliminate-dead-code", "fold-batchnorm,fuse-activation,eliminate-dead-code"]:
        after = outputs(tmp_path, model, feeds, passes)
        for name, want in before.items():
            scale = max(1.0, float(np.abs(want).max()))
            assert np.abs(after[name] - want).max() <= 1e-5 * scale, (passes, name)


@pytest.mark.parametrize("model,name,shape", [("digits_cnn.onnx", "input", (4, 1, 8, 8)),
                                              ("transformer_block.onnx", "x", (2, 16, 64)),
                                              ("shape_chain.onnx", "input", (2, 3, 16, 16))])
def test_samples_unchanged(tmp_path, model, name, shape):
    feeds = {name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    assert_unchanged(tmp_path, SAMPLES / model, feeds)


def test_resnet50_style_network(tmp_path):
    model = tmp_path / "resnet50_small.onnx"
    subprocess.run([sys.executable, str(ROOT / "Tests" / "bench" / "make_resnet50.py"), str(model), "8"], check=True)
    r = run_npucc("opt", model, "--passes", "fold-batchnorm,fuse-activation,eliminate-dead-code", "--stats")
    assert r.returncode == 0, r.stderr
    assert "fold-batchnorm: folded 53" in r.stderr
    # The Relus after the stem and inside each bottleneck (2 per block); those after the
    # residual Add follow no matrix op.
    assert "fuse-activation: fused Relu 33" in r.stderr
    assert "Relu(" in r.stdout
    assert "BatchNormalization(" not in r.stdout
    feeds = {"input": np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)}
    assert_unchanged(tmp_path, model, feeds)


def standardized_conv_model(path, activations=False):
    """Conv whose weight [8, 4, 3, 3] is standardized per output channel as timm's
    ScaledStdConv2d exports it: Reshape to [1, 8, 36], BatchNormalization with training_mode
    = 1 (momentum 0, zero mean and unit variance in, the gain as scale; its running-statistics
    outputs named but unused), Reshape back. With `activations`, a second BatchNormalization
    in training mode normalizes the convolution's output by its own statistics."""
    rng = np.random.default_rng(31)
    inits = [numpy_helper.from_array((rng.standard_normal((8, 4, 3, 3)) * 0.3 + 0.05).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([1, 8, 36], np.int64), "flat"),
             numpy_helper.from_array(np.array([8, 4, 3, 3], np.int64), "kernel"),
             numpy_helper.from_array((rng.random(8) + 0.5).astype(np.float32), "gain"),
             numpy_helper.from_array(np.zeros(8, np.float32), "zeros"),
             numpy_helper.from_array(np.ones(8, np.float32), "ones")]
    nodes = [helper.make_node("Reshape", ["w", "flat"], ["wf"]),
             helper.make_node("BatchNormalization", ["wf", "gain", "zeros", "zeros", "ones"], ["ws", "rm", "rv"],
                              epsilon=1e-5, momentum=0.0, training_mode=1, name="standardize"),
             helper.make_node("Reshape", ["ws", "kernel"], ["wk"]),
             helper.make_node("Conv", ["x", "wk"], ["c" if activations else "y"], pads=[1, 1, 1, 1], name="conv")]
    if activations:
        nodes.append(helper.make_node("BatchNormalization", ["c", "ones", "zeros", "zeros", "ones"], ["y", "m", "v"],
                                      training_mode=1, name="batch_statistics"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 6, 6])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)]), path)


def test_weight_standardization_in_training_mode_folds_into_the_weights(tmp_path):
    standardized_conv_model(tmp_path / "m.onnx")
    x = np.random.default_rng(32).standard_normal((1, 4, 6, 6)).astype(np.float32)
    ours, theirs = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_allclose(ours["y"], theirs["y"], rtol=1e-5, atol=1e-5 * np.abs(theirs["y"]).max())
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(33).standard_normal((4, 1, 4, 6, 6)).astype(np.float32))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                            tmp_path / "calib.npz")
        assert_same_bits(sim, fq, ["y"])
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 0 and "BatchNormalization" not in r.stdout, r.stdout


def test_batch_statistics_of_activations_are_refused_by_name(tmp_path):
    standardized_conv_model(tmp_path / "m.onnx", activations=True)
    x = np.random.default_rng(34).standard_normal((1, 4, 6, 6)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    # The interpreter normalizes by the batch's statistics as ONNX's reference does
    # (onnxruntime's kernel uses the mean and variance inputs here).
    from onnx.reference import ReferenceEvaluator
    spec = ReferenceEvaluator(str(tmp_path / "m.onnx")).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["y"], spec, rtol=1e-5, atol=1e-5)
    assert_compile_refuses(tmp_path / "m.onnx", tmp_path,
                           'BatchNormalization "batch_statistics" (opset 15): cannot lower a BatchNormalization in training mode')
