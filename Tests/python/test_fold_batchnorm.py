"""fold-batchnorm, and fuse-activation after it, leave outputs unchanged (1e-5 relative to
the output's scale) on every sample and on a ResNet-50-style network with its 53
BatchNormalization nodes."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_npucc

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
