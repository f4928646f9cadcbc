"""`npucc compile --report DIR`: report.json follows schemas/report.schema.json and holds the
same cycles as `npucc profile` and the same choice as the compile's summary; the same compile
writes the same bytes; a fixed precision says plainly what needs the analysis; names from the
model are escaped; a directory that cannot be written is refused before anything is written;
and report.html renders in headless chromium without a console message, every chart drawn."""
import json
import re
import shutil

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from onnx import TensorProto, helper, numpy_helper
import onnx

from conftest import ROOT, run_npucc

SAMPLES = ROOT / "samples"
SCHEMA = json.loads((ROOT / "schemas" / "report.schema.json").read_text())
AUTO = ["--precision", "auto", "--sparsity", "auto", "--calib", SAMPLES / "digits_calib.npz"]


def compile_with_report(tmp_path, model, *flags, name="r"):
    out = tmp_path / f"{name}.npub"
    report = tmp_path / name
    r = run_npucc("compile", model, "-o", out, "--input-shape", "input=1,1,8,8", *flags, "--report", report)
    assert r.returncode == 0, r.stderr
    return out, report, r.stdout


def schema_errors(doc):
    return [e.message for e in Draft202012Validator(SCHEMA).iter_errors(doc)]


def test_schema_is_draft_2020_12():
    Draft202012Validator.check_schema(SCHEMA)


def test_auto_report_matches_the_profile_and_the_choice(tmp_path):
    bundle, report, stdout = compile_with_report(tmp_path, SAMPLES / "digits_cnn.onnx", *AUTO)
    doc = json.loads((report / "report.json").read_text())
    assert schema_errors(doc) == []
    profile = json.loads(run_npucc("profile", bundle, "--json").stdout)
    assert [l["name"] for l in doc["layers"]] == [l["name"] for l in profile["layers"]]
    for mine, theirs in zip(doc["layers"], profile["layers"]):
        assert mine["simulated_cycles"] == theirs["cycles"]
        assert mine["roofline_cycles"] == theirs["roofline_cycles"]
        assert mine["macs"] == theirs["macs"] and mine["bound"] == theirs["bound"]
        assert mine["precision"] + ("+2:4" if mine["sparsity"] == "2:4" else "") == theirs["precision"]
    assert doc["total"]["simulated_cycles"] == profile["total"]["cycles"]
    # The choice the compile printed is the frontier's chosen point and the table's bold candidates.
    summary = re.search(r"predicted error ([0-9.e-]+): (.*)", stdout)
    analysis = doc["analysis"]
    chosen = analysis["frontier"][analysis["chosen"]]
    assert f"{chosen['predicted_error']:.4g}" == summary.group(1)
    printed = dict(kv.split("=") for kv in summary.group(2).split(", "))
    assert chosen["choices"] == printed
    for layer in doc["layers"]:
        if layer["name"] in printed:
            assert [c["candidate"] for c in layer["sensitivity"] if c["chosen"]] == [printed[layer["name"]]]
            assert layer["weight_sqnr_db"] > 0
    errors = [p["predicted_error"] for p in analysis["frontier"]]
    assert errors == sorted(errors, reverse=True) and len(set(errors)) == len(errors)
    # Weights and activations of the three most sensitive layers, each grid within its range.
    assert [(h["layer"], h["kind"]) for h in doc["histograms"]][::2] == [(h["layer"], "weights") for h in doc["histograms"][::2]]
    assert len(doc["histograms"]) == 6
    for h in doc["histograms"]:
        assert all(h["lower"] <= g <= h["upper"] for g in h["grid"]) and sum(h["counts"]) > 0
        if h["format"] == "nvfp4":
            assert 0 < len(h["grid"]) <= 15
    weights = [h for h in doc["histograms"] if h["kind"] == "weights"]
    assert sum(weights[0]["counts"]) == next(l for l in doc["layers"] if l["name"] == weights[0]["layer"])["parameters"] - \
        next(l for l in doc["layers"] if l["name"] == weights[0]["layer"])["output_shapes"][0][1]


def test_a_size_budget_traces_size_and_measured_errors_are_kept(tmp_path):
    _, report, stdout = compile_with_report(tmp_path, SAMPLES / "digits_cnn.onnx", *AUTO, "--budget", "size=0.3",
                                            "--output-error", "measured")
    doc = json.loads((report / "report.json").read_text())
    assert schema_errors(doc) == []
    a = doc["analysis"]
    assert a["cost_kind"] == "size" and a["output_error"] == "measured" and a["budget"] == "size=0.3"
    # The frontier is in weight bits, the fp16 cost in bytes; the choice is the last point within 0.3 of it.
    costs = [p["cost"] for p in a["frontier"]]
    assert costs == sorted(costs) and a["chosen"] == len(costs) - 1
    assert a["frontier"][-1]["weight_bytes"] <= 0.3 * a["fp16_cost"] + 1e-6
    assert f"weights {a['frontier'][-1]['weight_bytes']:.0f} bytes" in stdout
    for layer in doc["layers"]:
        for c in layer.get("sensitivity", [])[1:]:
            assert c["measured_error"] >= 0
    html = (report / "report.html").read_text()
    assert "weight size (KiB)" in html


def test_same_compile_same_bytes(tmp_path):
    _, a, _ = compile_with_report(tmp_path, SAMPLES / "digits_cnn.onnx", *AUTO, name="a")
    _, b, _ = compile_with_report(tmp_path, SAMPLES / "digits_cnn.onnx", *AUTO, name="b")
    for name in ["report.html", "report.json"]:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert sorted(p.name for p in a.iterdir()) == ["report.html", "report.json"]


def test_fixed_precision_says_what_needs_the_analysis(tmp_path):
    _, report, _ = compile_with_report(tmp_path, SAMPLES / "digits_cnn.onnx", "--precision", "fp8", "--calib",
                                       SAMPLES / "digits_calib.npz")
    doc = json.loads((report / "report.json").read_text())
    assert schema_errors(doc) == []
    assert "analysis" not in doc and doc["histograms"] == []
    assert "--precision fp8" in doc["analysis_note"]
    html = (report / "report.html").read_text()
    assert html.count(doc["analysis_note"]) == 3  # sensitivity, precision search, histograms
    assert 'id="plot-precision"' in html and 'id="plot-latency"' in html and 'id="plot-sensitivity"' not in html
    # Weight SQNR needs no analysis: fp8 per channel keeps about 30 dB.
    assert all(25 < l["weight_sqnr_db"] < 40 for l in doc["layers"] if l["precision"] == "fp8")


HOSTILE = "<img src=x onerror=alert(1)>&'\""


def hostile_model(path):
    """One Gemm named with markup, then a Sigmoid: a model whose names must be escaped. The
    Gemm's output is a graph output too, so that the Sigmoid stays a layer of its own."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((16, 64)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(16, np.float32), "b")
    nodes = [helper.make_node("Flatten", ["input"], ["flat"], name="flat"),
             helper.make_node("Gemm", ["flat", "w", "b"], ["y"], name=HOSTILE, transB=1),
             helper.make_node("Sigmoid", ["y"], ["z"], name="</table><script>alert(2)</script>")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 16]),
                           helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])], [w, b])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_names_from_the_model_are_escaped(tmp_path):
    hostile_model(tmp_path / "h.onnx")
    _, report, _ = compile_with_report(tmp_path, tmp_path / "h.onnx", "--precision", "fp16")
    html = (report / "report.html").read_text()
    assert "<img" not in html and "<script" not in html and html.count("</table>") == 1
    assert "&lt;/table&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;&#39;&quot;" in html
    names = [l["name"] for l in json.loads((report / "report.json").read_text())["layers"]]
    assert names == [HOSTILE, "</table><script>alert(2)</script>"]


def test_a_directory_that_cannot_be_written_is_refused_first(tmp_path):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "m.npub"
    r = run_npucc("compile", SAMPLES / "digits_cnn.onnx", "-o", out, "--input-shape", "input=1,1,8,8",
                  "--report", tmp_path / "file" / "report")
    assert r.returncode == 1
    assert r.stderr.startswith(f"npucc: error: {tmp_path / 'file' / 'report'}: ") and "not a directory" in r.stderr
    assert not out.exists() and not (tmp_path / "file" / "report").exists()
    # A bundle that cannot be written leaves no report.
    r = run_npucc("compile", SAMPLES / "digits_cnn.onnx", "-o", tmp_path / "missing" / "m.npub", "--input-shape",
                  "input=1,1,8,8", "--report", tmp_path / "r")
    assert r.returncode == 1 and "does not exist" in r.stderr and not (tmp_path / "r").exists()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        r = run_npucc("compile", SAMPLES / "digits_cnn.onnx", "-o", out, "--input-shape", "input=1,1,8,8",
                      "--report", locked / "r")
        import os
        if os.geteuid() != 0:  # root writes anywhere
            assert r.returncode == 1 and "not writable" in r.stderr and not out.exists()
    finally:
        locked.chmod(0o700)


def chromium():
    for name in ["chromium", "chromium-browser", "google-chrome"]:
        if shutil.which(name):
            return shutil.which(name)
    pytest.fail("headless chromium is needed for the report's browser test: install chromium and chromium-driver")


def test_report_renders_in_headless_chromium(tmp_path):
    try:
        from selenium import webdriver
        from selenium.webdriver.common.by import By
    except ImportError:
        pytest.fail("selenium is needed for the report's browser test: pip install -r Tests/python/requirements.txt")
    _, report, _ = compile_with_report(tmp_path, SAMPLES / "digits_cnn.onnx", *AUTO)
    doc = json.loads((report / "report.json").read_text())
    html = (report / "report.html").read_text()
    # Self-contained: no script, nothing fetched.
    assert "<script" not in html and "<link" not in html and " src=" not in html
    assert set(re.findall(r"https?://[^\"' ]+", html)) == {"http://www.w3.org/2000/svg"}
    options = webdriver.ChromeOptions()
    options.binary_location = chromium()
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")))
    try:
        driver.get((report / "report.html").as_uri())
        rows = driver.find_elements(By.CSS_SELECTOR, "table#layers tbody tr")
        assert len(rows) == len(doc["layers"]) == 5
        ids = ["plot-precision", "plot-latency", "plot-sensitivity", "plot-pareto"]
        ids += [f"hist-{i}" for i in range(len(doc["histograms"]))]
        for id in ids:
            svg = driver.find_element(By.ID, id)
            assert svg.tag_name == "svg" and svg.size["width"] > 100 and svg.size["height"] > 100, id
            assert svg.find_elements(By.CSS_SELECTOR, "rect, circle"), id
        logs = driver.get_log("browser")
        assert [l for l in logs if l["level"] in ("SEVERE", "WARNING")] == [], logs
    finally:
        driver.quit()
