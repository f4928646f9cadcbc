"""Shared fixtures for the Python-side tests: where the npucc binary and samples are."""
import os
import pathlib
import subprocess
import zlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def npucc_path():
    path = os.environ.get("NPUCC") or str(ROOT / ".build" / "release" / "npucc")
    if not os.path.exists(path):
        pytest.fail(f"npucc binary not found at {path}: run `make build` or set NPUCC")
    return path


@pytest.fixture(autouse=True)
def own_random_values(request):
    """A test module's shared generator (`RNG`), reseeded for each test from the test's own
    name: what a test draws does not depend on which tests ran before it (a -k selection, a
    single test or another order draws the same values)."""
    module = request.module
    if isinstance(getattr(module, "RNG", None), np.random.Generator):
        module.RNG = np.random.default_rng(zlib.crc32(f"{module.__name__}::{request.node.name}".encode()))


@pytest.fixture(scope="session")
def npucc():
    return npucc_path()


def run_npucc(*args, timeout=120, env=None):
    return subprocess.run([npucc_path(), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def simulated_and_interpreted(model, inputs, folder, precision, sparsity, calib, prune="sparsegpt", extra=()):
    """Compiles `model` at `precision` and `sparsity` (2:4 pruned by `prune`, SparseGPT unless
    told), runs the bundle on the simulator and the model on the fake-quant interpreter with the
    same flags (and `extra`), both on `inputs`; returns the two sets of outputs (npz files loaded).
    Without `calib`, no calibration is given (enough at fp16)."""
    flags = ["--precision", precision, *(["--calib", calib] if calib else []), *extra]
    pruning = ["--prune", prune] if sparsity != "none" else []
    r = run_npucc("compile", model, "-o", folder / "m.npub", *flags, *pruning, "--sparsity", sparsity)
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", folder / "m.npub", "--inputs", inputs, "--outputs", folder / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", model, "--inputs", inputs, "--outputs", folder / "fq.npz", *flags, *pruning)
    assert r.returncode == 0, r.stderr
    return np.load(folder / "sim.npz"), np.load(folder / "fq.npz")


def simulated_and_interpreted_on_normal_values(model, shape, folder, precision, rng, name="x"):
    """`simulated_and_interpreted` at `precision`, dense, on one standard normal input of
    `shape` named `name`, calibrated on four more."""
    np.savez(folder / "x.npz", **{name: rng.standard_normal(shape).astype(np.float32)})
    np.savez(folder / "calib.npz", **{name: rng.standard_normal([4] + list(shape)).astype(np.float32)})
    return simulated_and_interpreted(model, folder / "x.npz", folder, precision, "none", folder / "calib.npz")


def assert_compile_refuses(model, folder, message):
    """Compiling `model` at fp16 fails with `message` on stderr and writes no bundle."""
    r = run_npucc("compile", model, "-o", folder / "m.npub", "--precision", "fp16")
    assert r.returncode == 1
    assert message in r.stderr
    assert not (folder / "m.npub").exists()


def special_inputs(folder, shape, seed, scale, head):
    """Writes folder/x.npz (normal values times `scale`, the first ones replaced by `head`:
    NaN, infinities, signed zeros, denormals) and folder/calib.npz (four normal samples of
    batch 1); returns `folder`."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * scale
    x.flat[:len(head)] = head
    np.savez(folder / "x.npz", x=x)
    np.savez(folder / "calib.npz", x=np.random.default_rng(seed + 1).standard_normal((4,) + tuple(shape[1:])).astype(np.float32))
    return folder


def interpreted(model, inputs, folder):
    """Runs `model` on `inputs` (arrays by input name) with `npucc run`; returns its outputs by
    name."""
    np.savez(folder / "inputs.npz", **inputs)
    r = run_npucc("run", model, "--inputs", folder / "inputs.npz", "--outputs", folder / "interpreted.npz")
    assert r.returncode == 0, r.stderr
    return dict(np.load(folder / "interpreted.npz"))


def interpreted_and_onnxruntime(model, inputs, folder):
    """Runs `model` on `inputs` (arrays by input name) with `npucc run` and with onnxruntime;
    returns the two sets of outputs, each by output name."""
    import onnxruntime as ort
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    theirs = dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs)))
    return interpreted(model, inputs, folder), theirs


def assert_same_bits(got, expected, names):
    """Each output in `names` of `got` has `expected`'s float32 bit patterns (NaN payloads and
    the sign of zero count)."""
    for name in names:
        np.testing.assert_array_equal(got[name].view(np.uint32), expected[name].view(np.uint32), err_msg=name)
