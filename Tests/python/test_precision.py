"""`npucc run --precision`: fake-quantized execution against an independent numpy +
ml_dtypes computation of the same rules, and the digits sample's accuracy per precision."""
import json

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT, run_npucc

SAMPLES = ROOT / "samples"
F32 = np.float32


def e4m3(x):
    return np.clip(x, -448, 448).astype(ml_dtypes.float8_e4m3fn).astype(F32)


def nvfp4_rows(x, global_scale):
    """NVFP4 along the last axis with a given per-tensor scale (blocks of 16)."""
    rows, cols = x.shape
    out = np.zeros_like(x)
    for r in range(rows):
        for s in range(0, cols, 16):
            block = x[r, s:s + 16]
            scale = e4m3((np.abs(block).max() / F32(6)) / global_scale) * global_scale
            if scale > 0:
                q = np.clip(block / scale, -6, 6).astype(ml_dtypes.float4_e2m1fn).astype(F32)
                out[r, s:s + 16] = q * scale
    return out


def gemm_model(tmp_path, w, b):
    g = helper.make_graph([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", w.shape[1]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", w.shape[0]])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    path = tmp_path / "gemm.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


@pytest.mark.parametrize("precision", ["fp8", "nvfp4"])
def test_one_gemm_matches_numpy(tmp_path, precision):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((8, 40)).astype(F32)
    b = rng.standard_normal(8).astype(F32)
    x = rng.standard_normal((5, 40)).astype(F32)
    model = gemm_model(tmp_path, w, b)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", model, "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz",
                  "--precision", precision, "--calib", tmp_path / "x.npz", "--calib-method", "minmax")
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "y.npz")["y"]
    amax = np.abs(x).max()
    if precision == "fp8":
        wq = np.stack([e4m3(row / (np.abs(row).max() / F32(448))) * (np.abs(row).max() / F32(448)) for row in w])
        xq = e4m3(x / (amax / F32(448))) * (amax / F32(448))
    else:
        wq = nvfp4_rows(w, np.abs(w).max() / F32(6 * 448))
        xq = nvfp4_rows(x, amax / F32(6 * 448))
    # The NPU's order: products rounded to float32, added in increasing k from +0, then
    # the bias; numpy's float32 arithmetic rounds each step the same way.
    acc = np.zeros((x.shape[0], w.shape[0]), F32)
    for k in range(x.shape[1]):
        acc = acc + xq[:, k:k + 1] * wq[:, k][None, :]
    np.testing.assert_array_equal(got, acc + b)
    np.testing.assert_allclose(got, xq @ wq.T + b, rtol=1e-5, atol=1e-5)
    assert np.abs(got - (x @ w.T + b)).max() > 0  # it really is quantized


def test_a_block_with_the_smallest_scale_compiles_to_its_fake_quantized_weights(tmp_path):
    # Row 0's first block sets the tensor scale g = 1 / (6 * 448); its second block's largest
    # value wants a block scale just above 2^-10 · g, which E4M3 rounds up to its smallest
    # step 2^-9, so that block's largest code is 3, not 6 (a depthwise 7x7 convolution's lone
    # 49th weight does this). The bundle holds exactly the weights the interpreter rounds to.
    g = F32(1 / (6 * 448))
    w = np.full((2, 32), 0.3, F32)
    w[0, 0] = 1
    w[0, 16:] = 0
    w[0, 16], w[0, 17] = 6 * 0.55 * 2 ** -9 * g, -3 * 0.55 * 2 ** -9 * g
    b = np.zeros(2, F32)
    model = gemm_model(tmp_path, w, b)
    x = np.random.default_rng(4).standard_normal((4, 32)).astype(F32)
    np.savez(tmp_path / "x.npz", x=x)
    flags = ["--precision", "nvfp4", "--calib", tmp_path / "x.npz"]
    r = run_npucc("compile", model, "-o", tmp_path / "m.npub", "--input-shape", "x=4,32", *flags)
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", model, "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "fq.npz", "--input-shape",
                  "x=4,32", *flags)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "sim.npz")["y"], np.load(tmp_path / "fq.npz")["y"])
    wq = nvfp4_rows(w, np.abs(w).max() / F32(6 * 448))
    assert wq[0, 16] == 3 * 2 ** -9 * g  # the case itself: a largest code of 3 at the smallest scale


def test_pruned_fp8_conv_follows_the_npu_order(tmp_path):
    rng = np.random.default_rng(5)
    w = rng.standard_normal((6, 8, 3, 3)).astype(F32)
    b = rng.standard_normal(6).astype(F32)
    x = rng.standard_normal((2, 8, 5, 5)).astype(F32)
    g = helper.make_graph([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6, 5, 5])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "conv.onnx")
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "conv.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz",
                  "--precision", "fp8", "--prune", "magnitude", "--calib", tmp_path / "x.npz", "--calib-method", "minmax")
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "y.npz")["y"]
    # 2:4 by magnitude along each output channel's [c, ky, kx] row, then fp8 per channel.
    pruned = w.reshape(6, 18, 4).copy()
    order = np.argsort(np.abs(pruned), axis=2)
    np.put_along_axis(pruned, order[:, :, :2], 0, axis=2)
    pruned = pruned.reshape(6, 72)
    scale = (np.abs(pruned).max(1) / F32(448)).astype(F32)
    wq = np.stack([e4m3(row / s) * s for row, s in zip(pruned, scale)])
    s = np.abs(x).max() / F32(448)
    xq = e4m3(x / s) * s
    padded = np.pad(xq, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([padded[:, c, ky:ky + 5, kx:kx + 5] for c in range(8) for ky in range(3) for kx in range(3)], 1)
    acc = np.zeros((2, 6, 5, 5), F32)
    for k in range(72):
        acc = acc + wq[None, :, k, None, None] * cols[:, k:k + 1]
    np.testing.assert_array_equal(got, acc + b[None, :, None, None])


def accuracy(precision, extra=()):
    r = run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", SAMPLES / "digits_test.npz",
                  "--outputs", ROOT / ".build" / f"digits-{precision}.npz",
                  "--labels", SAMPLES / "digits_test_labels.npy", "--precision", precision,
                  "--calib", SAMPLES / "digits_calib.npz", *extra)
    assert r.returncode == 0, r.stderr
    line = [l for l in r.stdout.splitlines() if l.startswith("top-1 accuracy")][0]
    return float(line.split()[2].rstrip("%"))


def test_digits_accuracy_per_precision():
    (ROOT / ".build").mkdir(exist_ok=True)
    fp32 = accuracy("fp32")
    assert accuracy("fp16") >= fp32 - 0.3
    assert accuracy("fp8") >= fp32 - 0.5
    assert accuracy("nvfp4") >= fp32 - 1.0


def test_a_run_without_calibration_says_its_scales_are_not_a_bundles(tmp_path):
    # Without --calib the interpreter scales each fp8 or nvfp4 activation by its own range as
    # it runs; a compiled bundle's scales are fixed by calibration (compile refuses without).
    for precision in ["fp8", "nvfp4"]:
        r = run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", SAMPLES / "digits_test.npz", "--outputs",
                      tmp_path / "y.npz", "--precision", precision)
        assert r.returncode == 0, r.stderr
        assert f"--precision: {precision} without --calib: each activation is scaled by its own range" in r.stderr
        r = run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", SAMPLES / "digits_test.npz", "--outputs",
                      tmp_path / "y.npz", "--precision", precision, "--calib", SAMPLES / "digits_calib.npz")
        assert r.returncode == 0 and "without --calib" not in r.stderr, r.stderr


def test_unknown_precision_is_an_error(tmp_path):
    r = run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", SAMPLES / "digits_test.npz",
                  "--outputs", tmp_path / "o.npz", "--precision", "int3")
    assert r.returncode == 1 and "unknown precision \"int3\"" in r.stderr
    assert not (tmp_path / "o.npz").exists()


def test_wanda_and_sparsegpt_are_no_worse_than_magnitude():
    (ROOT / ".build").mkdir(exist_ok=True)
    for precision in ["fp32", "nvfp4"]:
        magnitude = accuracy(precision, ["--prune", "magnitude"])
        wanda = accuracy(precision, ["--prune", "wanda"])
        sparsegpt = accuracy(precision, ["--prune", "sparsegpt"])
        assert wanda >= magnitude, (precision, wanda, magnitude)
        assert sparsegpt >= magnitude, (precision, sparsegpt, magnitude)


def analyze(*extra):
    r = run_npucc("analyze", SAMPLES / "digits_cnn.onnx", "--calib", SAMPLES / "digits_calib.npz", "--json", *extra)
    assert r.returncode == 0, r.stderr
    return {l["name"]: l for l in json.loads(r.stdout)["layers"]}


def test_analyze_and_auto_precision():
    layers = analyze()
    assert list(layers) == ["conv1", "conv2", "fc"]
    assert [l["layer"] for l in layers.values()] == ["relu1_out", "relu2_out", "logits"]  # Relus fused
    # conv1's reduction (1x3x3 = 9) is not a multiple of 4: no 2:4 candidates for it.
    assert not layers["conv1"]["prunable"]
    assert [c["candidate"] for c in layers["conv1"]["candidates"]] == ["fp8", "nvfp4"]
    assert [c["candidate"] for c in layers["conv2"]["candidates"]] == [
        "fp8", "nvfp4", "fp16+2:4", "fp8+2:4", "nvfp4+2:4"]
    for layer in layers.values():
        errors = {c["candidate"]: c for c in layer["candidates"]}
        # Fewer bits cost more, on the layer's own output and on the model's.
        assert 0 < errors["fp8"]["layer_error"] < errors["nvfp4"]["layer_error"]
        assert 0 < errors["fp8"]["output_error"] < errors["nvfp4"]["output_error"]
    table = run_npucc("analyze", SAMPLES / "digits_cnn.onnx", "--calib", SAMPLES / "digits_calib.npz")
    assert table.returncode == 0 and "stays dense" in table.stdout
    fp32 = accuracy("fp32")
    assert accuracy("auto", ["--budget", "fp8"]) >= fp32 - 0.5
    assert accuracy("auto", ["--budget", "nvfp4"]) >= fp32 - 1.0


def test_sparsegpt_lowers_the_layer_error_of_2_4():
    wanda, sparsegpt = analyze("--prune", "wanda"), analyze("--prune", "sparsegpt")
    for name in ["conv2", "fc"]:
        w = {c["candidate"]: c for c in wanda[name]["candidates"]}
        s = {c["candidate"]: c for c in sparsegpt[name]["candidates"]}
        assert s["fp16+2:4"]["layer_error"] < w["fp16+2:4"]["layer_error"] / 2, name
        assert s["fp8"] == w["fp8"]  # dense candidates do not depend on the pruning method


def auto(tmp_path, *extra):
    return run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", SAMPLES / "digits_test.npz",
                     "--outputs", tmp_path / "o.npz", "--precision", "auto",
                     "--calib", SAMPLES / "digits_calib.npz", *extra)


def choices(r):
    line = [l for l in r.stdout.splitlines() if l.startswith("precision auto")][0]
    return dict(item.split("=") for item in line.rsplit(": ", 1)[1].split(", "))


def test_budgets_of_size_and_error(tmp_path):
    r = auto(tmp_path, "--budget", "size=nvfp4")
    assert r.returncode == 0, r.stderr
    assert all(not c.startswith("fp16") or c == "fp16+2:4" for c in choices(r).values()), r.stdout
    r = auto(tmp_path, "--budget", "error=0")
    assert r.returncode == 0, r.stderr
    assert set(choices(r).values()) == {"fp16"}
    loose = choices(auto(tmp_path, "--budget", "error=1"))
    assert all(c == "nvfp4+2:4" or (c == "nvfp4" and l == "conv1") for l, c in loose.items()), loose
    r = auto(tmp_path, "--budget", "size=10B")
    assert r.returncode == 1 and "no assignment fits the budget \"size=10B\" (10 bytes of weights)" in r.stderr
    r = auto(tmp_path, "--budget", "speed=3")
    assert r.returncode == 1 and "--budget" in r.stderr and "is not a budget" in r.stderr


def test_rules_constrain_the_assignment(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"layers": "conv1", "min": "fp8"},
                                           {"layers": "fc", "precision": "fp16"},
                                           {"layers": "conv2*", "sparsity": "dense"}]}))
    r = auto(tmp_path, "--budget", "error=1", "--rules", rules)
    assert r.returncode == 0, r.stderr
    assert choices(r) == {"conv1": "fp8", "conv2": "nvfp4", "fc": "fp16"}

    (tmp_path / "o.npz").unlink()

    def refused(rule_text, message):
        rules.write_text(rule_text)
        r = auto(tmp_path, "--rules", rules)
        assert r.returncode == 1 and str(rules) in r.stderr and message in r.stderr, r.stderr
        assert not (tmp_path / "o.npz").exists()

    refused(json.dumps({"rules": [{"layers": "conv9", "min": "fp8"}]}), "rule 1 (\"conv9\") matches no layer")
    refused(json.dumps({"rules": [{"layers": "*", "mni": "fp8"}]}), "unknown field \"mni\"")
    refused(json.dumps({"rules": [{"layers": "*", "min": "fp4"}]}), "rule 1: \"min\": \"fp4\" is not one of")
    refused(json.dumps({"rules": [{"layers": "conv1", "sparsity": "2:4"}]}),
            "leaves layer conv1 no candidate (its reduction length is not a multiple of 4")
    refused(json.dumps({"rules": [{"layers": "fc", "precision": "fp16"}]}) + "}", "not a rules file: The given data was not valid JSON")
    rules.write_text(json.dumps({"rules": [{"layers": "*", "precision": "fp16"}]}))
    r = auto(tmp_path, "--rules", rules, "--budget", "nvfp4")
    assert r.returncode == 1 and "no assignment allowed by the rules fits the budget" in r.stderr


def test_auto_needs_calibration_and_a_feasible_budget(tmp_path):
    r = run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", SAMPLES / "digits_test.npz",
                  "--outputs", tmp_path / "o.npz", "--precision", "auto")
    assert r.returncode == 1 and "auto needs calibration samples" in r.stderr
    r = run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", SAMPLES / "digits_test.npz",
                  "--outputs", tmp_path / "o.npz", "--precision", "auto", "--budget", "0.01",
                  "--calib", SAMPLES / "digits_calib.npz")
    assert r.returncode == 1 and "no assignment fits the budget" in r.stderr
    assert not (tmp_path / "o.npz").exists()


def test_bias_correction_recovers_accuracy():
    (ROOT / ".build").mkdir(exist_ok=True)
    for extra in [[], ["--prune", "wanda"]]:
        plain = accuracy("nvfp4", extra)
        corrected = accuracy("nvfp4", extra + ["--bias-correction"])
        assert corrected >= plain, (extra, corrected, plain)
    assert accuracy("nvfp4", ["--bias-correction"]) >= accuracy("fp32") - 0.5
    assert accuracy("auto", ["--budget", "nvfp4", "--bias-correction"]) >= accuracy("fp32") - 0.5


def ranks(values):
    order = np.argsort(values, kind="stable")
    r = np.empty(len(values))
    r[order] = np.arange(len(values))
    return r


def test_predicted_output_errors_rank_as_the_measured_ones():
    """analyze measures every candidate's output error and predicts it from the layer's own
    output error and the layer's gains (for rounding and for pruning); the prediction must
    order the candidates as the measurement does, and equal it for the gain candidates."""
    for prune in ["wanda", "sparsegpt"]:
        layers = analyze("--prune", prune)
        measured, predicted = [], []
        for layer in layers.values():
            assert layer["gain"] > 0 and (layer["pruning_gain"] > 0) == layer["prunable"]
            own = {c["candidate"]: c["layer_output_error"] for c in layer["candidates"]}
            for c in layer["candidates"]:
                # Rounding's and pruning's errors add, each through its own gain.
                name, e = c["candidate"], own[c["candidate"]]
                pruning = min(own.get("fp16+2:4", 0), e) if name.endswith("2:4") else 0
                expected = layer["pruning_gain"] * pruning + layer["gain"] * (e - pruning)
                assert c["predicted_error"] == pytest.approx(expected, rel=1e-12)
                if name in ("nvfp4", "fp16+2:4"):
                    assert c["predicted_error"] == pytest.approx(c["output_error"], rel=1e-9)
                measured.append(c["output_error"])
                predicted.append(c["predicted_error"])
        rho = np.corrcoef(ranks(measured), ranks(predicted))[0, 1]
        assert rho >= 0.9, (prune, rho)


def test_estimated_predicted_and_measured_errors_choose_alike(tmp_path):
    """The README's automatic configurations choose the same layers all three ways."""
    for extra in [["--budget", "fp8"], ["--budget", "0.3"], ["--budget", "nvfp4"],
                  ["--budget", "nvfp4+2:4", "--prune", "sparsegpt", "--bias-correction"],
                  ["--budget", "nvfp4+2:4", "--prune", "wanda", "--bias-correction"]]:
        runs = {e: auto(tmp_path, *extra, "--output-error", e) for e in ["estimated", "predicted", "measured"]}
        for r in runs.values():
            assert r.returncode == 0, r.stderr
        assert choices(runs["predicted"]) == choices(runs["measured"]), extra
        assert choices(runs["estimated"]) == choices(runs["measured"]), extra
    r = auto(tmp_path, "--output-error", "guessed")
    assert r.returncode == 1 and "--output-error" in r.stderr and "guessed" in r.stderr


def test_run_with_compiles_flags_makes_the_bundles_choice_and_numbers(tmp_path):
    """`npucc run --precision auto` given compile's flags chooses as `compile --sparsity auto`
    does, and the fake-quant interpreter's logits equal the bundle's on the simulator."""
    calib, test = SAMPLES / "digits_calib.npz", SAMPLES / "digits_test.npz"
    r = run_npucc("compile", SAMPLES / "digits_cnn.onnx", "-o", tmp_path / "d.npub", "--input-shape", "input=1,1,8,8",
                  "--precision", "auto", "--sparsity", "auto", "--calib", calib)
    assert r.returncode == 0, r.stderr
    chosen = r.stdout.splitlines()[0]
    r = run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", test, "--outputs", tmp_path / "fq.npz",
                  "--precision", "auto", "--calib", calib, "--sparsity", "auto", "--prune", "sparsegpt",
                  "--analysis-samples", "4")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == chosen
    r = run_npucc("run", tmp_path / "d.npub", "--inputs", test, "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "sim.npz")["logits"], np.load(tmp_path / "fq.npz")["logits"])
    # Dense only, and the option's refusals.
    r = run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", test, "--outputs", tmp_path / "d.npz",
                  "--precision", "auto", "--calib", calib, "--sparsity", "none")
    assert r.returncode == 0 and "+2:4" not in r.stdout.splitlines()[0], r.stderr
    for flags, message in [(["--precision", "nvfp4", "--sparsity", "auto"], "--sparsity: auto chooses per layer"),
                           (["--precision", "nvfp4", "--sparsity", "none", "--prune", "wanda"], "--prune: wanda prunes"),
                           (["--precision", "nvfp4", "--sparsity", "4:8"], "unknown sparsity")]:
        r = run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", test, "--outputs", tmp_path / "x.npz",
                      "--calib", calib, *flags)
        assert r.returncode == 1 and message in r.stderr, (flags, r.stderr)
        assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("flags", [["--precision", "nvfp4", "--sparsity", "2:4", "--calib", str(SAMPLES / "digits_calib.npz")],
                                   ["--precision", "fp16", "--sparsity", "2:4"]],
                         ids=["nvfp4-sparsegpt", "fp16-magnitude"])
def test_run_with_compiles_fixed_precision_flags_gives_the_bundles_numbers(tmp_path, flags):
    """`--sparsity 2:4` at a fixed precision prunes every layer in `run` as in `compile`, by the
    same default method (SparseGPT with --calib, magnitude without), so one set of flags gives
    the bundle and its reference."""
    test = SAMPLES / "digits_test.npz"
    r = run_npucc("compile", SAMPLES / "digits_cnn.onnx", "-o", tmp_path / "d.npub", "--input-shape", "input=1,1,8,8",
                  *flags)
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", test, "--outputs", tmp_path / "fq.npz", *flags)
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "d.npub", "--inputs", test, "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "sim.npz")["logits"], np.load(tmp_path / "fq.npz")["logits"])
    dense = run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", test, "--outputs", tmp_path / "dense.npz",
                      *flags[:2], *flags[4:])
    assert dense.returncode == 0, dense.stderr
    assert not np.array_equal(np.load(tmp_path / "dense.npz")["logits"], np.load(tmp_path / "fq.npz")["logits"])
    # A bundle runs as compiled: the flags that choose how are refused by name.
    r = run_npucc("run", tmp_path / "d.npub", "--inputs", test, "--outputs", tmp_path / "again.npz", *flags[2:4])
    assert r.returncode == 1 and "a bundle runs as it was compiled" in r.stderr and "--sparsity" in r.stderr
    assert not (tmp_path / "again.npz").exists()


def analyzed_both_ways(folder, graph, opset, rng):
    """`graph` (input x [1, 4, 6, 6]) saved at `opset` and analyzed on 8 normal samples with
    estimated and with measured output errors: each way's layers by name, and its stderr."""
    model, calib = folder / "m.onnx", folder / "calib.npz"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), model)
    np.savez(calib, x=rng.standard_normal((8, 1, 4, 6, 6)).astype(F32))
    layers, warnings = {}, {}
    for way in ["estimated", "measured"]:
        r = run_npucc("analyze", model, "--calib", calib, "--json", "--output-error", way)
        assert r.returncode == 0, r.stderr
        layers[way] = {l["name"]: l for l in json.loads(r.stdout)["layers"]}
        warnings[way] = r.stderr
    return layers, warnings


def test_estimated_gains_behind_an_op_without_a_derivative_rule_are_re_run(tmp_path):
    """Conv, LRN, Conv: the first convolution's gains cannot be estimated through LRN, which
    has no derivative rule; they are re-run, the JSON says why and a warning names the op.
    The second convolution's are estimated, and near the measured ones."""
    rng = np.random.default_rng(5)
    w1 = rng.standard_normal((8, 4, 3, 3)).astype(F32) / 6
    w2 = rng.standard_normal((8, 8, 1, 1)).astype(F32) / 3
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("LRN", ["a"], ["r"], size=3, name="lrn"),
             helper.make_node("Conv", ["r", "w2"], ["y"], name="conv2")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 6, 6])],
                          [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    layers, warnings = analyzed_both_ways(tmp_path, g, 13, rng)
    assert "LRN has no derivative rule: the gains of 1 layer before it (conv1) are re-run" in warnings["estimated"]
    estimated, measured = layers["estimated"], layers["measured"]
    assert estimated["conv1"]["gains_rerun_because_of"] == "LRN"
    assert estimated["conv2"].get("gains_rerun_because_of") is None
    assert "gains_rerun_because_of" not in measured["conv1"] or measured["conv1"]["gains_rerun_because_of"] is None
    # conv2's output is the model's (relative squared error): estimated over 288 values with
    # 32 random directions over the 8 samples, its gains are within sampling error of 1.
    for key in ["gain", "pruning_gain"]:
        assert measured["conv2"][key] == pytest.approx(1, rel=1e-3)
        assert 0.5 < estimated["conv2"][key] < 2
    # conv1's gains were re-run, as the measured analysis runs them.
    assert estimated["conv1"]["gain"] == pytest.approx(measured["conv1"]["gain"], rel=1e-4)
    r = run_npucc("analyze", tmp_path / "m.onnx", "--calib", tmp_path / "calib.npz", "--output-error", "guessed")
    assert r.returncode == 1 and "--output-error" in r.stderr and "guessed" in r.stderr and not r.stdout


def test_gains_through_a_group_normalization_are_estimated(tmp_path):
    """Conv, GroupNormalization (imported as InstanceNormalization over the groups), Relu,
    Conv: the cotangents pass the normalization, so conv1's gains are estimated, without a
    warning, and near the measured ones (random directions: within sampling error)."""
    rng = np.random.default_rng(6)
    w1 = rng.standard_normal((8, 4, 3, 3)).astype(F32) / 6
    w2 = rng.standard_normal((8, 8, 1, 1)).astype(F32) / 3
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
             numpy_helper.from_array(np.array([1.5, 0.5], F32), "gamma"),
             numpy_helper.from_array(np.array([0.1, -0.2], F32), "beta")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("GroupNormalization", ["a", "gamma", "beta"], ["n"], num_groups=2, name="gn"),
             helper.make_node("Relu", ["n"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["y"], name="conv2")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 6, 6])], inits)
    layers, warnings = analyzed_both_ways(tmp_path, g, 18, rng)
    assert not any("derivative rule" in w for w in warnings.values()), warnings
    assert layers["estimated"]["conv1"].get("gains_rerun_because_of") is None
    for key in ["gain", "pruning_gain"]:
        measured, estimated = layers["measured"]["conv1"][key], layers["estimated"]["conv1"][key]
        assert measured > 0 and 0.5 * measured < estimated < 2 * measured, (key, measured, estimated)


def test_fp16_layers_whose_range_fp16_cannot_hold_are_warned_about(tmp_path):
    """fp16 has no scale: a weight beyond 65504, an input calibration saw beyond it, and an
    input calibration saw only below fp16's smallest normal (2^-14) are each warned about by
    layer at fp16, and the compile still succeeds; at nvfp4, whose scales follow the range,
    nothing is said."""
    rng = np.random.default_rng(5)
    w1 = (rng.standard_normal((8, 8)) / 4).astype(F32)
    w1[2, 3] = 1e5
    w2 = (rng.standard_normal((8, 8)) / 4).astype(F32)
    w3 = (rng.standard_normal((8, 8)) / 4).astype(F32)
    tiny, huge = (numpy_helper.from_array(np.array(v, F32), n) for v, n in [(1e-7, "tiny"), (1e5, "huge")])
    nodes = [helper.make_node("Gemm", ["x", "w1"], ["a"], transB=1, name="big_weight"),
             helper.make_node("Mul", ["x", "huge"], ["xh"]),
             helper.make_node("Gemm", ["xh", "w2"], ["b"], transB=1, name="big_input"),
             helper.make_node("Mul", ["x", "tiny"], ["xt"]),
             helper.make_node("Gemm", ["xt", "w3"], ["c"], transB=1, name="tiny_input")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 8]) for n in "abc"],
                          [numpy_helper.from_array(w, n) for w, n in [(w1, "w1"), (w2, "w2"), (w3, "w3")]]
                          + [tiny, huge])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 1, 8)).astype(F32))
    for precision in ["fp16", "nvfp4"]:
        r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / f"{precision}.npub", "--precision", precision,
                      "--calib", tmp_path / "calib.npz")
        assert r.returncode == 0, r.stderr
        warnings = [line for line in r.stderr.splitlines() if line.startswith("npucc: warning:")]
        if precision == "nvfp4":
            assert not [w for w in warnings if "fp16" in w], warnings
            continue
        assert any('Gemm "big_weight": 1 weight of "w1" beyond fp16\'s largest finite value 65504' in w
                   for w in warnings), warnings
        assert any('Gemm "big_input" reads "xh", which reached' in w and "round to infinity at fp16" in w
                   for w in warnings), warnings
        assert any('Gemm "tiny_input" reads "xt", which reached at most' in w and "subnormal" in w
                   for w in warnings), warnings
        assert not [w for w in warnings if "w2" in w or "w3" in w or '"a"' in w], warnings


@pytest.mark.parametrize("samples,warned", [(8, True), (80, False)])
def test_sparsegpt_from_fewer_vectors_than_the_reduction_warns(tmp_path, samples, warned):
    """A Gemm of K = 64 pruned by SparseGPT from 8 calibration vectors fits them (its Hessian is
    singular): a warning names the layer; from 80 there is none."""
    rng = np.random.default_rng(77)
    path = gemm_model(tmp_path, rng.standard_normal((8, 64)).astype(F32), np.zeros(8, F32))
    np.savez(tmp_path / "x.npz", x=rng.standard_normal((2, 64)).astype(F32))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((samples, 1, 64)).astype(F32))
    r = run_npucc("run", path, "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz", "--precision", "fp16",
                  "--sparsity", "2:4", "--calib", tmp_path / "calib.npz", "--input-shape", "x=1,64")
    assert r.returncode == 0, r.stderr
    message = f"SparseGPT pruned it from {samples} calibration vectors for a reduction of 64"
    assert (message in r.stderr) == warned, r.stderr
    # Each sample is one row of the Gemm's input: 64 of them make a reduction's worth.
    advice = "give at least 64 calibration samples (each makes 1 vector) or prune it with --prune wanda"
    assert (advice in r.stderr) == warned, r.stderr
