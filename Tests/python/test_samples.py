"""Every sample through `npucc run` on random inputs (batch 1 and 3 where the batch is
symbolic) matches onnxruntime to 1e-4 of the output's scale; the digits CNN keeps its
accuracy on the held-out set."""
import numpy as np
import onnxruntime as ort
import pytest

from conftest import ROOT, run_npucc

SAMPLES = ROOT / "samples"
CASES = [("digits_cnn.onnx", "input", (1, 8, 8)), ("transformer_block.onnx", "x", (16, 64)),
         ("shape_chain.onnx", "input", (3, 16, 16))]


@pytest.mark.parametrize("model,name,rest", CASES)
@pytest.mark.parametrize("batch", [1, 3])
def test_sample_matches_onnxruntime(tmp_path, model, name, rest, batch):
    x = np.random.default_rng(batch).standard_normal((batch, *rest)).astype(np.float32)
    np.savez(tmp_path / "in.npz", **{name: x})
    r = run_npucc("run", SAMPLES / model, "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "out.npz")
    session = ort.InferenceSession(str(SAMPLES / model), providers=["CPUExecutionProvider"])
    for output, want in zip(session.get_outputs(), session.run(None, {name: x})):
        have = got[output.name]
        assert have.shape == want.shape
        scale = max(1.0, float(np.abs(want).max()))
        assert np.abs(have - want).max() <= 1e-4 * scale, f"{model} {output.name}: max error {np.abs(have - want).max()}"


def test_digits_accuracy(tmp_path):
    r = run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", SAMPLES / "digits_test.npz",
                  "--outputs", tmp_path / "out.npz", "--labels", SAMPLES / "digits_test_labels.npy")
    assert r.returncode == 0, r.stderr
    logits = np.load(tmp_path / "out.npz")["logits"]
    labels = np.load(SAMPLES / "digits_test_labels.npy")
    accuracy = (logits.argmax(1) == labels).mean()
    assert accuracy >= 0.95
    assert f"top-1 accuracy: {100 * accuracy:.2f}%" in r.stdout


def test_input_shape_fixes_the_batch_and_folds_the_chain():
    r = run_npucc("dump-ir", SAMPLES / "shape_chain.onnx", "--input-shape", "input=2,3,16,16")
    assert r.returncode == 0, r.stderr
    assert "Shape(" not in r.stdout and "Gather(" not in r.stdout and "Concat(" not in r.stdout
    assert "const %flat_shape: i64[2] = [2, -1]" in r.stdout
    assert "%flat: f32[2,512] = Reshape(" in r.stdout
    raw = run_npucc("dump-ir", SAMPLES / "shape_chain.onnx", "--raw")
    assert "ConstantOfShape(" in raw.stdout and "Identity(" in raw.stdout
