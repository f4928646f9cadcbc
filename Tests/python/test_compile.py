"""`npucc compile`: every sample at every precision and sparsity, byte-identical bundles
across runs and thread counts, damaged bundles refused by section, bits per weight at the
formats' minimum on a ResNet-50-sized model, and the errors a user meets."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_npucc

SAMPLES = ROOT / "samples"
sys.path.insert(0, str(ROOT / "tools"))
import npub  # noqa: E402

SHAPES = {"digits_cnn.onnx": "input=1,1,8,8", "transformer_block.onnx": "x=1,16,64",
          "shape_chain.onnx": "input=1,3,16,16"}
CALIB = {"digits_cnn.onnx": SAMPLES / "digits_calib.npz"}


def calibration(tmp_path, model):
    """The sample's own calibration set, or a few random samples of its input."""
    if model in CALIB:
        return CALIB[model]
    name, dims = SHAPES[model].split("=")
    shape = [int(d) for d in dims.split(",")]
    path = tmp_path / "calib.npz"
    np.savez(path, **{name: np.random.default_rng(0).standard_normal([4] + shape[1:]).astype(np.float32)})
    return path


def compile_bundle(tmp_path, model, *extra, out="m.npub", env=None):
    return run_npucc("compile", SAMPLES / model, "-o", tmp_path / out, "--input-shape", SHAPES[model], *extra, env=env)


@pytest.mark.parametrize("model", sorted(SHAPES))
@pytest.mark.parametrize("precision,sparsity", [("fp16", "none"), ("fp8", "none"), ("nvfp4", "none"),
                                                ("fp16", "2:4"), ("fp8", "2:4"), ("nvfp4", "2:4"), ("auto", "auto")])
def test_every_sample_compiles(tmp_path, model, precision, sparsity):
    r = compile_bundle(tmp_path, model, "--precision", precision, "--sparsity", sparsity,
                       "--calib", calibration(tmp_path, model))
    assert r.returncode == 0, r.stderr
    bundle = npub.verify(tmp_path / "m.npub")
    layers = bundle.metadata["layers"]
    assert layers, model
    for layer in layers:
        assert layer["format"] == precision or precision == "auto"
        assert layer["sparse"] == (sparsity == "2:4" and layer["columns"] % 4 == 0) or sparsity == "auto"
    weights = npub.decode_weights(tmp_path / "m.npub")
    assert sorted(weights) == sorted(layer["name"] for layer in layers)
    inspect = run_npucc("inspect", tmp_path / "m.npub")
    assert inspect.returncode == 0 and "layers:" in inspect.stdout and "WGHT" in inspect.stdout


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_bytes_across_runs_and_thread_counts(tmp_path):
    args = ["--precision", "auto", "--sparsity", "auto", "--calib", CALIB["digits_cnn.onnx"]]
    digests = set()
    for i, threads in enumerate(["1", "2", "2"]):
        env = dict(os.environ, NPUCC_THREADS=threads)
        r = compile_bundle(tmp_path, "digits_cnn.onnx", *args, out=f"{i}.npub", env=env)
        assert r.returncode == 0, r.stderr
        digests.add(sha(tmp_path / f"{i}.npub"))
    assert len(digests) == 1


def test_a_damaged_bundle_is_refused_by_section(tmp_path):
    r = compile_bundle(tmp_path, "digits_cnn.onnx", "--precision", "nvfp4", "--calib", CALIB["digits_cnn.onnx"])
    assert r.returncode == 0, r.stderr
    data = bytearray((tmp_path / "m.npub").read_bytes())
    entries = {e.kind: e for e in npub.verify(tmp_path / "m.npub").entries}
    for kind in ["META", "WGHT"]:
        e = entries[kind]
        for offset in [e.offset, e.offset + e.size // 2, e.offset + e.size - 1]:
            damaged = bytearray(data)
            damaged[offset] ^= 0x10
            (tmp_path / "bad.npub").write_bytes(damaged)
            r = run_npucc("inspect", tmp_path / "bad.npub")
            assert r.returncode == 1 and f"section {kind}" in r.stderr, (kind, offset, r.stderr)
    (tmp_path / "cut.npub").write_bytes(data[:len(data) - 7])
    r = run_npucc("inspect", tmp_path / "cut.npub")
    assert r.returncode == 1 and "WGHT" in r.stderr and "Traceback" not in r.stderr


def test_bits_per_weight_on_a_resnet50_sized_model(tmp_path):
    model = tmp_path / "resnet50.onnx"
    subprocess.run([sys.executable, str(ROOT / "Tests" / "bench" / "make_resnet50.py"), str(model)], check=True)
    np.savez(tmp_path / "calib.npz", input=np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32))
    for sparsity in ["none", "2:4"]:
        r = run_npucc("compile", model, "-o", tmp_path / "r.npub", "--input-shape", "input=1,3,224,224",
                      "--precision", "nvfp4", "--sparsity", sparsity, "--prune", "magnitude",
                      "--calib", tmp_path / "calib.npz")
        assert r.returncode == 0, r.stderr
        layers = npub.verify(tmp_path / "r.npub").metadata["layers"]
        assert len(layers) == 54
        stored = sum(l["bits_per_weight"] * l["rows"] * l["columns"] for l in layers)
        minimum = sum(l["minimum_bits_per_weight"] * l["rows"] * l["columns"] for l in layers)
        assert minimum <= stored <= 1.03 * minimum, (sparsity, stored / minimum)


def test_errors_name_what_is_wrong_and_leave_nothing(tmp_path):
    def refused(message, *args, model="digits_cnn.onnx", shape=True):
        extra = ["--input-shape", SHAPES[model]] if shape else []
        r = run_npucc("compile", SAMPLES / model, "-o", tmp_path / "m.npub", *extra, *args)
        assert r.returncode == 1 and message in r.stderr, r.stderr
        assert not (tmp_path / "m.npub").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".m.npub") or "tmp" in p.name]

    refused("--input-shape input=", shape=False)
    refused("nvfp4 activations need calibrated scales: give --calib", "--precision", "nvfp4")
    refused("auto needs calibration samples (--calib)", "--precision", "auto")
    refused("auto chooses per layer and needs --precision auto", "--sparsity", "auto")
    refused("unknown sparsity \"3:4\"", "--sparsity", "3:4")
    refused("unknown precision \"fp32\"", "--precision", "fp32")
    refused("no assignment fits the budget", "--precision", "auto", "--budget", "0.01", "--calib", CALIB["digits_cnn.onnx"])
    (tmp_path / "t.json").write_text("{}")
    refused("t.json", "--target", tmp_path / "t.json")
    r = run_npucc("compile", SAMPLES / "digits_cnn.onnx", "-o", tmp_path / "m.bin", "--input-shape", SHAPES["digits_cnn.onnx"])
    assert r.returncode == 1 and "must end in .npub" in r.stderr
