"""The onnx wheel's "light" models: nine real ImageNet networks (AlexNet, DenseNet-121,
Inception v1 and v2, ResNet-50, ShuffleNet, SqueezeNet, VGG-19, ZFNet-512) as Caffe2's
exporter wrote them at opset 9, each weight replaced by a ConstantOfShape of its shape.

Every one runs on the interpreter as onnxruntime runs it; some compile, and their bundles
give the fake-quant interpreter's bits. VGG-19's and ZFNet-512's first fully connected
weights (103 and 151 million elements) are larger than constant folding makes of a
broadcast, yet must fold: a layer's weights are packed from constants."""
import pathlib

import numpy as np
import onnx
import pytest

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

LIGHT = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
          "squeezenet", "vgg19", "zfnet512"]


def model_path(name):
    return LIGHT / f"light_{name}.onnx"


def image_input(model):
    """The one graph input that is not an initializer, and random images of its shape."""
    inits = {t.name for t in model.graph.initializer}
    (x,) = [i for i in model.graph.input if i.name not in inits]
    shape = [d.dim_value for d in x.type.tensor_type.shape.dim]
    return x.name, shape


@pytest.mark.parametrize("name", MODELS)
def test_the_interpreter_gives_onnxruntimes_logits(name, tmp_path):
    """The logits (what a final Softmax reads: its outputs tie, every class's weights being
    the same, so that a last-bit difference moves them) match onnxruntime's to 1e-5 of their
    largest."""
    import onnxruntime as ort
    model = onnx.load(str(model_path(name)))
    assert model.opset_import[0].version == 9
    last = model.graph.node[-1]
    logits = last.input[0] if last.op_type == "Softmax" else last.output[0]
    x_name, shape = image_input(model)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.savez(tmp_path / "x.npz", **{x_name: x})
    r = run_npucc("run", model_path(name), "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz",
                  "--graph-outputs", logits)
    assert r.returncode == 0, r.stderr
    ours = np.load(tmp_path / "y.npz")[logits]
    if logits not in [o.name for o in model.graph.output]:
        model.graph.output.append(onnx.helper.make_tensor_value_info(logits, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    theirs = session.run([logits], {x_name: x})[0]
    assert ours.shape == theirs.shape
    assert np.all(np.isfinite(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * np.abs(theirs).max())


@pytest.mark.parametrize("name,precision,sparsity", [
    ("zfnet512", "fp16", "none"),
    ("squeezenet", "nvfp4", "2:4"),
    ("shufflenet", "fp8", "2:4"),
])
def test_bundles_give_the_fake_quant_interpreters_bits(name, precision, sparsity, tmp_path):
    """ZFNet-512's fc6 weight (4096 x 18432, 75 million elements from a ConstantOfShape) is
    packed as one of its three Gemm layers."""
    model = onnx.load(str(model_path(name)), load_external_data=False)
    x_name, shape = image_input(model)
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "x.npz", **{x_name: rng.standard_normal(shape).astype(np.float32)})
    np.savez(tmp_path / "calib.npz", **{x_name: rng.standard_normal([4] + shape[1:]).astype(np.float32)})
    sim, fq = simulated_and_interpreted(model_path(name), tmp_path / "x.npz", tmp_path, precision, sparsity,
                                        tmp_path / "calib.npz", prune="magnitude")
    assert_same_bits(sim, fq, [o.name for o in model.graph.output])
    if name == "zfnet512":
        r = run_npucc("inspect", tmp_path / "m.npub")
        assert r.returncode == 0, r.stderr
        gemms = [line.split() for line in r.stdout.splitlines() if " Gemm " in line]
        assert [g[4] for g in gemms] == ["75,497,472", "4,194,304", "1,024,000"], r.stdout
