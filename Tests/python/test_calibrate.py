"""`npucc calibrate`: minmax ranges equal what onnxruntime's activations span over the
calibration set, every method gives a range within it, and bad calibration data is a
clear error. NaNs in the data are warned about; where they reach a layer's input, what needs
that layer's statistics (the sensitivity analysis, SparseGPT, Wanda, bias correction) refuses
the sample by number, and fixed-precision rounding, which needs only ranges, goes on."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT, run_npucc

SAMPLES = ROOT / "samples"


def calibrate(*args):
    r = run_npucc("calibrate", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_minmax_matches_onnxruntime_activation_ranges(tmp_path):
    out = json.loads(calibrate(SAMPLES / "digits_cnn.onnx", "--calib", SAMPLES / "digits_calib.npz",
                               "--method", "minmax", "--json"))
    assert out["samples"] == 256
    ranges = {a["name"]: a for a in out["activations"]}
    model = onnx.load(str(SAMPLES / "digits_cnn.onnx"))
    names = [o for n in model.graph.node for o in n.output]
    del model.graph.output[:]
    model.graph.output.extend([onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.load(SAMPLES / "digits_calib.npz")["input"]
    values = session.run(None, {"input": x})
    for name, v in zip(names, values):
        assert ranges[name]["min"] == pytest.approx(float(v.min()), rel=1e-5, abs=1e-5), name
        assert ranges[name]["max"] == pytest.approx(float(v.max()), rel=1e-5, abs=1e-5), name
        assert ranges[name]["fp8_scale"] == pytest.approx(ranges[name]["amax"] / 448, rel=1e-6)


@pytest.mark.parametrize("method", ["percentile", "percentile:99.9", "entropy", "mse"])
def test_methods_clip_within_the_observed_range(method):
    out = json.loads(calibrate(SAMPLES / "digits_cnn.onnx", "--calib", SAMPLES / "digits_calib.npz",
                               "--method", method, "--json"))
    for a in out["activations"]:
        assert 0 <= a["amax"] <= max(abs(a["min"]), abs(a["max"])) * (1 + 1e-6), a


def test_table_output_names_every_activation():
    text = calibrate(SAMPLES / "digits_cnn.onnx", "--calib", SAMPLES / "digits_calib.npz", "--method", "minmax")
    assert text.splitlines()[0] == "calibration: 256 samples, method minmax"
    for name in ["input", "conv1_out", "bn1_out", "logits"]:
        assert any(line.startswith(name + " ") for line in text.splitlines()), name


def test_the_header_counts_the_runs_and_the_rows_they_hold(tmp_path):
    """Eight rows run two at a time are four samples of the model's batch-2 input: the header
    and the JSON say both."""
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
        [numpy_helper.from_array(rng.standard_normal((16, 8)).astype(np.float32), "W")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((8, 16)).astype(np.float32))
    runs = {batch: json.loads(calibrate(tmp_path / "m.onnx", "--calib", tmp_path / "calib.npz", "--input-shape",
                                        f"x={batch},16", "--method", "minmax", "--json")) for batch in (1, 2)}
    assert [(r["samples"], r["rows_per_sample"]) for r in runs.values()] == [(8, 1), (4, 2)]
    assert runs[1]["activations"] == runs[2]["activations"]
    text = calibrate(tmp_path / "m.onnx", "--calib", tmp_path / "calib.npz", "--input-shape", "x=2,16")
    assert text.splitlines()[0] == "calibration: 4 samples (8 rows in batches of 2), method percentile"



def expect_error(tmp_path, arrays, phrase, method="minmax"):
    path = tmp_path / "calib.npz"
    np.savez(path, **arrays)
    r = run_npucc("calibrate", SAMPLES / "digits_cnn.onnx", "--calib", path, "--method", method)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("npucc: error: ") and phrase in r.stderr, r.stderr


def test_bad_calibration_data(tmp_path):
    expect_error(tmp_path, {"image": np.zeros((4, 1, 8, 8), np.float32)}, "not a graph input")
    expect_error(tmp_path, {}, "no calibration array for graph input \"input\"")
    expect_error(tmp_path, {"input": np.zeros((0, 1, 8, 8), np.float32)}, "the calibration set is empty")
    expect_error(tmp_path, {"input": np.zeros((4, 1, 9, 8), np.float32)}, "axis 2")
    expect_error(tmp_path, {"input": np.zeros((4, 8, 8), np.float32)}, "stacked on a new first axis")
    expect_error(tmp_path, {"input": np.zeros((4, 1, 8, 8), np.float64)}, "f64")
    expect_error(tmp_path, {"input": np.zeros((4, 1, 8, 8), np.float32)}, "unknown calibration method", method="kl")


def test_an_own_rank_array_for_a_fixed_batch_is_split_into_whole_batches(tmp_path):
    """Rows of the input's own rank, and samples of batch 1 stacked on a new axis (the file a
    batch-1 compile takes), are grouped into the fixed batch of 2 alike."""
    x = np.load(SAMPLES / "digits_calib.npz")["input"][:8]
    np.savez(tmp_path / "rows.npz", input=x)
    np.savez(tmp_path / "stacked.npz", input=x.reshape(4, 2, *x.shape[1:]))
    np.savez(tmp_path / "singles.npz", input=x.reshape(8, 1, *x.shape[1:]))
    fixed = ["--input-shape", "input=2," + ",".join(map(str, x.shape[1:])), "--method", "minmax", "--json"]
    rows = json.loads(calibrate(SAMPLES / "digits_cnn.onnx", "--calib", tmp_path / "rows.npz", *fixed))
    stacked = json.loads(calibrate(SAMPLES / "digits_cnn.onnx", "--calib", tmp_path / "stacked.npz", *fixed))
    singles = json.loads(calibrate(SAMPLES / "digits_cnn.onnx", "--calib", tmp_path / "singles.npz", *fixed))
    assert rows["samples"] == stacked["samples"] == singles["samples"] == 4
    assert (rows["rows_per_sample"], stacked["rows_per_sample"], singles["rows_per_sample"]) == (2, 1, 2)
    assert rows["activations"] == stacked["activations"] == singles["activations"]
    batch1 = json.loads(calibrate(SAMPLES / "digits_cnn.onnx", "--calib", tmp_path / "singles.npz", "--method", "minmax",
                                  "--json"))
    assert (batch1["samples"], batch1["rows_per_sample"]) == (8, 1)
    assert batch1["activations"] == rows["activations"]
    for name, odd in [("odd.npz", x[:7]), ("odd_singles.npz", x[:7].reshape(7, 1, *x.shape[1:]))]:
        np.savez(tmp_path / name, input=odd)
        r = run_npucc("calibrate", SAMPLES / "digits_cnn.onnx", "--calib", tmp_path / name, *fixed)
        assert r.returncode == 1 and '"input" has 7 rows, not whole batches of 2' in r.stderr, r.stderr



def nan_calibration(tmp_path):
    """The digits samples with three NaNs in sample 2 and an infinity in sample 5."""
    x = np.load(SAMPLES / "digits_calib.npz")["input"][:8].copy()
    x[2, 0, 0, :3] = np.nan
    x[5, 0, 1, 1] = np.inf
    np.savez(tmp_path / "nan.npz", input=x)
    return tmp_path / "nan.npz"


@pytest.mark.parametrize("flags, purpose", [
    (["--precision", "auto"], "the sensitivity analysis"),
    (["--precision", "nvfp4", "--sparsity", "2:4"], "sparsegpt pruning"),
    (["--precision", "fp8", "--sparsity", "2:4", "--prune", "wanda"], "wanda pruning"),
    (["--precision", "fp8", "--bias-correction"], "bias correction"),
])
def test_nans_that_reach_a_layer_are_refused_where_its_statistics_are_needed(tmp_path, flags, purpose):
    calib = nan_calibration(tmp_path)
    r = run_npucc("compile", SAMPLES / "digits_cnn.onnx", "-o", tmp_path / "m.npub", "--input-shape", "input=1,1,8,8",
                  "--calib", calib, *flags)
    # The refusal alone: the warning about the NaNs comes only when calibration goes on.
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (f'nan.npz: sample 2 gives "input" (the input of "conv1") 3 NaN or infinite values: {purpose}'
            in r.stderr), r.stderr
    assert not (tmp_path / "m.npub").exists()


def test_nans_are_left_out_of_the_ranges_of_a_fixed_precision(tmp_path):
    # fp8 alone needs only each layer input's range: the NaN and the infinity are left out, as
    # the same samples without them give the same bundle.
    calib = nan_calibration(tmp_path)
    clean = np.load(calib)["input"].copy()
    clean[2, 0, 0, :3] = 0
    clean[5, 0, 1, 1] = 0
    np.savez(tmp_path / "clean.npz", input=clean)
    for name, data in [("nan", calib), ("clean", tmp_path / "clean.npz")]:
        r = run_npucc("compile", SAMPLES / "digits_cnn.onnx", "-o", tmp_path / f"{name}.npub", "--input-shape",
                      "input=1,1,8,8", "--calib", data, "--precision", "fp8")
        assert r.returncode == 0, r.stderr
        assert ('array "input" holds 3 NaN of its 512 values' in r.stderr) == (name == "nan"), r.stderr
    assert (tmp_path / "nan.npub").read_bytes().replace(b"nan.npz", b"cln.npz") == \
        (tmp_path / "clean.npub").read_bytes().replace(b"clean.npz", b"cln.npz")


def test_nans_a_model_replaces_before_its_layers_are_no_obstacle(tmp_path):
    # x -> Where(IsNaN(x), 0, x) -> Conv: the layer never sees them, so the analysis runs.
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w")
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    nodes = [helper.make_node("IsNaN", ["input"], ["missing"]),
             helper.make_node("Where", ["missing", "zero", "input"], ["filled"]),
             helper.make_node("Conv", ["filled", "w"], ["y"], name="conv")]
    graph = helper.make_graph(nodes, "fill", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], [w, zero])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "fill.onnx")
    x = np.load(SAMPLES / "digits_calib.npz")["input"][:8].copy()
    x[2, 0, 0, :3] = np.nan
    np.savez(tmp_path / "nan.npz", input=x)
    r = run_npucc("compile", tmp_path / "fill.onnx", "-o", tmp_path / "m.npub", "--calib", tmp_path / "nan.npz",
                  "--precision", "auto", "--sparsity", "2:4")
    assert r.returncode == 0, r.stderr
    assert "holds 3 NaN" in r.stderr and "cannot use them" not in r.stderr, r.stderr



@pytest.mark.parametrize("method", ["percentile", "entropy", "mse"])
def test_the_ranges_are_the_same_whatever_the_order_of_the_samples(tmp_path, method):
    """The histogram methods read bins whose range follows from the largest |x| alone, not
    from the first sample's: the samples reversed give every activation the same amax."""
    x = np.load(SAMPLES / "digits_calib.npz")["input"]
    np.savez(tmp_path / "reversed.npz", input=x[::-1])
    amax = [{a["name"]: a["amax"] for a in json.loads(calibrate(
        SAMPLES / "digits_cnn.onnx", "--calib", calib, "--method", method, "--json"))["activations"]}
        for calib in [SAMPLES / "digits_calib.npz", tmp_path / "reversed.npz"]]
    assert amax[0] == amax[1]


@pytest.mark.parametrize("method,phrase", [
    ("entropy:foo", '"entropy:foo": entropy takes no parameter'),
    ("percentile:0", '"percentile:0": the percentile P of percentile:P is a number above 0 and at most 100'),
    ("kl", 'unknown calibration method "kl"'),
])
def test_a_method_with_a_parameter_it_does_not_take_or_out_of_range_is_refused(tmp_path, method, phrase):
    for command in [["calibrate", SAMPLES / "digits_cnn.onnx", "--calib", SAMPLES / "digits_calib.npz", "--method", method],
                    ["run", SAMPLES / "digits_cnn.onnx", "--inputs", SAMPLES / "digits_test.npz", "--outputs", tmp_path / "y.npz",
                     "--precision", "fp8", "--calib", SAMPLES / "digits_calib.npz", "--calib-method", method]]:
        r = run_npucc(*command)
        assert r.returncode == 1 and phrase in r.stderr, r.stderr
