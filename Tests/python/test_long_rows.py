"""LayerNormalization, Softmax and LogSoftmax over rows longer than a tile's SRAM holds (a
language model's hidden size of 6,144, a classifier's 21,843 classes, a softmax over an axis
before the last): each row runs in pieces over three passes with what the one-pass op
computes carried between them (the third spread over the tiles), bit for bit as the
interpreter's one pass, which agrees with onnxruntime; a row holding a NaN or an infinity
gives the interpreter's NaNs, and a row of one repeated value normalizes to the bias."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

HIDDEN, CLASSES, BINS = 6144, 21843, 9000
OUTPUTS = {"normalized": [4, HIDDEN], "unbiased": [4, HIDDEN], "probabilities": [2, CLASSES],
           "log_bins": [1, BINS, 3]}


def long_rows_model(path):
    """A MatMul 64 -> 6144 (a layer to quantize) into LayerNormalization with a bias, and the
    input straight into one without; Softmax of the class logits; LogSoftmax over axis 1 of
    [1, 9000, 3], its rows gathered 3 apart."""
    rng = np.random.default_rng(41)
    c = lambda name, value: numpy_helper.from_array(np.asarray(value, np.float32), name)
    inits = [c("w", rng.standard_normal((64, HIDDEN)) / 8), c("scale", 1 + rng.standard_normal(HIDDEN) / 4),
             c("bias", rng.standard_normal(HIDDEN) / 4), c("scale2", rng.standard_normal(HIDDEN))]
    nodes = [helper.make_node("MatMul", ["t", "w"], ["h"], name="up"),
             helper.make_node("LayerNormalization", ["h", "scale", "bias"], ["normalized"], epsilon=1e-5, name="ln"),
             helper.make_node("LayerNormalization", ["x", "scale2"], ["unbiased"], epsilon=1e-3, name="ln_x"),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1, name="classes"),
             helper.make_node("LogSoftmax", ["bins"], ["log_bins"], axis=1, name="bins_softmax")]
    inputs = [helper.make_tensor_value_info("t", TensorProto.FLOAT, [4, 64]),
              helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, HIDDEN]),
              helper.make_tensor_value_info("logits", TensorProto.FLOAT, [2, CLASSES]),
              helper.make_tensor_value_info("bins", TensorProto.FLOAT, [1, BINS, 3])]
    graph = helper.make_graph(nodes, "long_rows", inputs,
                              [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in OUTPUTS.items()],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def feeds(rng, special):
    """Normal inputs; with `special`, row 1 of x a NaN, row 2 one repeated value, row 3 an
    infinity, a NaN among the second row of logits and -0 heading the first, and the bins'
    column 2 all -inf."""
    f = {"t": rng.standard_normal((4, 64)), "x": rng.standard_normal((4, HIDDEN)) * 3,
         "logits": rng.standard_normal((2, CLASSES)) * 4, "bins": rng.standard_normal((1, BINS, 3)) * 2}
    f = {k: v.astype(np.float32) for k, v in f.items()}
    if special:
        f["x"][1, 5000] = np.nan
        f["x"][2] = 0.75
        f["x"][3, 17] = np.inf
        f["logits"][1, 12345] = np.nan
        f["logits"][0, 0] = -0.0
        f["bins"][0, :, 2] = -np.inf
    return f


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long_rows")
    long_rows_model(folder / "m.onnx")
    rng = np.random.default_rng(43)
    np.savez(folder / "x.npz", **feeds(rng, special=True))
    calib = [feeds(rng, special=False) for _ in range(2)]
    np.savez(folder / "calib.npz", **{k: np.stack([c[k] for c in calib]) for k in calib[0]})
    return folder


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_long_rows_run_on_the_simulator_as_the_interpreter_runs_them(model, tmp_path, precision):
    sim, fq = simulated_and_interpreted(model / "m.onnx", model / "x.npz", tmp_path, precision, "none",
                                        model / "calib.npz")
    assert_same_bits(sim, fq, OUTPUTS)
    # The third pass, spread over the tiles, reads each row's carried values from the end of
    # its output before the row's last piece overwrites them: the program orders both.
    r = run_npucc("inspect", tmp_path / "m.npub", "--check-sync")
    assert r.returncode == 0, r.stderr
    unbiased = fq["unbiased"]
    assert np.isnan(unbiased[1]).all() and np.isnan(unbiased[3]).all() and not np.isnan(unbiased[0]).any()
    assert (unbiased[2] == 0).all()
    assert np.isnan(fq["probabilities"][1]).all() and np.isclose(fq["probabilities"][0].sum(), 1, atol=1e-4)
    assert np.isnan(fq["log_bins"][0, :, 2]).all() and not np.isnan(fq["log_bins"][0, :, :2]).any()


def test_the_interpreter_runs_long_rows_as_onnxruntime_does(model, tmp_path):
    clean = feeds(np.random.default_rng(47), special=False)
    np.savez(tmp_path / "clean.npz", **clean)
    r = run_npucc("run", model / "m.onnx", "--inputs", tmp_path / "clean.npz", "--outputs", tmp_path / "ours.npz")
    assert r.returncode == 0, r.stderr
    ours = np.load(tmp_path / "ours.npz")
    session = ort.InferenceSession(str(model / "m.onnx"), providers=["CPUExecutionProvider"])
    for name, theirs in zip(OUTPUTS, session.run(list(OUTPUTS), clean)):
        np.testing.assert_allclose(ours[name], theirs, rtol=1e-5, atol=2e-6, err_msg=name)

