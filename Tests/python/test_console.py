"""What commands say besides their results: --quiet and --verbose, progress bars on a
terminal only, warnings summarised once at the end, and diagnostics that name the file, the
node, its op type and opset, and what to do."""
import json
import os
import pty
import subprocess

import numpy as np
import onnx
from onnx import TensorProto, helper

from conftest import ROOT, npucc_path, run_npucc
from test_qdq import qdq_model

DIGITS = ROOT / "samples" / "digits_cnn.onnx"
CALIB = ROOT / "samples" / "digits_calib.npz"
AUTO = ["--input-shape", "input=1,1,8,8", "--precision", "auto", "--sparsity", "auto", "--calib", CALIB]


def compile_digits(tmp_path, *flags):
    return run_npucc("compile", DIGITS, "-o", tmp_path / "d.npub", *AUTO, *flags)


def test_default_prints_the_summary_and_no_log(tmp_path):
    r = compile_digits(tmp_path)
    assert r.returncode == 0, r.stderr
    assert "precision auto:" in r.stdout and "bits per weight" in r.stdout
    assert r.stderr == ""


def test_quiet_prints_nothing_but_still_writes(tmp_path):
    r = compile_digits(tmp_path, "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    assert (tmp_path / "d.npub").stat().st_size > 0


def test_quiet_drops_warnings_but_never_errors(tmp_path):
    path = tmp_path / "int8.onnx"
    qdq_model(path, "int8")
    r = run_npucc("dump-ir", path, "-q")
    assert r.returncode == 0 and r.stderr == ""
    r = run_npucc("compile", tmp_path / "missing.onnx", "-o", tmp_path / "m.npub", "-q")
    assert r.returncode == 1 and "npucc: error:" in r.stderr and "missing.onnx" in r.stderr


def test_verbose_logs_every_stage_in_order_with_its_time(tmp_path):
    r = compile_digits(tmp_path, "--verbose")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert all(line.startswith("npucc: [") and " s] " in line for line in lines), lines
    stages = ["imported", "canonicalized", "calibrating:", "analysing layers:", "analysed 3 layers",
              "packed 3 layers", "lowered for npu-seed"]
    positions = [next(i for i, line in enumerate(lines) if s in line.split(" s] ", 1)[1]) for s in stages]
    assert positions == sorted(positions)
    times = [float(line.split("[")[1].split(" s]")[0]) for line in lines]
    assert times == sorted(times)


def test_quiet_and_verbose_exclude_each_other(tmp_path):
    r = compile_digits(tmp_path, "-q", "-v")
    assert r.returncode != 0 and "exclude each other" in r.stderr
    assert not (tmp_path / "d.npub").exists()


def test_warnings_are_collected_and_summarised_after_the_output(tmp_path):
    path = tmp_path / "int8.onnx"
    qdq_model(path, "int8")
    r = run_npucc("dump-ir", path, "--verbose")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    # The log lines come as the work goes; the warnings after all of them, then their count.
    warnings = [i for i, line in enumerate(lines) if line.startswith("npucc: warning:")]
    logs = [i for i, line in enumerate(lines) if line.startswith("npucc: [")]
    assert len(warnings) == 5 and logs and max(logs) < min(warnings)
    assert lines[-1] == "npucc: 5 warnings"


def run_on_a_terminal(*args):
    """Runs npucc with stderr on a pseudo-terminal (stdout a pipe); returns (rc, stdout, what
    the terminal showed)."""
    leader, follower = pty.openpty()
    p = subprocess.Popen([npucc_path(), *map(str, args)], stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    out = p.stdout.read()
    rc = p.wait(timeout=120)
    os.close(leader)
    return rc, out.decode(), shown.decode()


def test_progress_bars_are_drawn_on_a_terminal_and_cleared(tmp_path):
    rc, out, shown = run_on_a_terminal("compile", DIGITS, "-o", tmp_path / "d.npub", *AUTO)
    assert rc == 0, shown
    for label in ["calibrating [", "analysing layers [", "reference outputs ["]:
        assert label in shown, shown
    assert "256/256" in shown and "3/3" in shown
    # Each bar is redrawn in place and erased when its work ends: nothing of it stays.
    assert shown.endswith("\r\x1b[K")
    assert "precision auto:" in out


def test_no_progress_bar_when_quiet_even_on_a_terminal(tmp_path):
    rc, _, shown = run_on_a_terminal("compile", DIGITS, "-o", tmp_path / "d.npub", *AUTO, "--quiet")
    assert rc == 0 and shown == ""


def test_simulating_many_samples_shows_progress(tmp_path):
    r = compile_digits(tmp_path)
    assert r.returncode == 0, r.stderr
    rc, _, shown = run_on_a_terminal("run", tmp_path / "d.npub", "--inputs", ROOT / "samples" / "digits_test.npz",
                                     "--outputs", tmp_path / "o.npz")
    assert rc == 0, shown
    assert "simulating [" in shown and "360/360" in shown


def single_node_model(path, op, domain="", opset=17, shape=(1, 4)):
    node = helper.make_node(op, ["x"], ["y"], name="n0", domain=domain)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    onnx.save(helper.make_model(graph, opset_imports=imports), path)


def test_an_unsupported_operator_gets_the_closest_supported_ones(tmp_path):
    single_node_model(tmp_path / "m.onnx", "Sigmod")
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub")
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f'npucc: error: {tmp_path / "m.onnx"}: node Sigmod "n0": unsupported operator Sigmod (default domain, '
        "opset 17); closest supported operators: Sigmoid; to compile the model up to the values before it, name them "
        "with --graph-outputs")
    assert not (tmp_path / "m.npub").exists()


def test_inspect_lists_what_a_model_it_cannot_import_holds(tmp_path):
    # Every operator, those npucc has no rule for marked, then the first one's error.
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmod", ["a"], ["b"], name="n0"),
             helper.make_node("FastGelu", ["b"], ["c"], domain="com.microsoft"),
             helper.make_node("GridSample", ["c", "g"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2]),
                                           helper.make_tensor_value_info("g", TensorProto.FLOAT, [1, 2, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    onnx.save(model, tmp_path / "m.onnx")
    r = run_npucc("inspect", tmp_path / "m.onnx")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert "operators:  4 nodes in the file (not imported: see the error)" in lines
    assert "  com.microsoft:FastGelu  1  (not supported)" in lines and "  Sigmod                  1  (not supported)" in lines
    assert "  GridSample              1" in lines and "  Relu                    1" in lines
    assert lines[-1] == "unsupported: Sigmod, com.microsoft:FastGelu"
    assert 'node Sigmod "n0": unsupported operator Sigmod' in r.stderr


def test_a_vendor_operator_gets_the_default_domain_ones_it_names(tmp_path):
    single_node_model(tmp_path / "m.onnx", "FastGelu", domain="com.microsoft")
    r = run_npucc("inspect", tmp_path / "m.onnx")
    assert r.returncode == 1
    assert 'operator domain "com.microsoft" is not supported' in r.stderr
    assert r.stderr.rstrip().endswith("closest default-domain operators: Gelu; to compile the model up to the values "
                                      "before it, name them with --graph-outputs")


def test_a_symbolic_input_points_to_input_shape_with_an_example(tmp_path):
    single_node_model(tmp_path / "m.onnx", "Relu", shape=("batch", 4, "seq"))
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub")
    assert r.returncode == 1
    assert 'input "x" has symbolic dimensions (batch, seq in f32[batch,4,seq])' in r.stderr
    assert "--input-shape x=1,4,1" in r.stderr
    assert not (tmp_path / "m.npub").exists()
    # Following the advice works.
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--input-shape", "x=1,4,1")
    assert r.returncode == 0, r.stderr


def test_a_named_dimension_fixed_on_one_input_fixes_it_on_the_others(tmp_path):
    """ONNX's dim_param names one extent wherever it appears: --input-shape on the token ids
    fixes batch and sequence on the attention mask too; given two extents, the name stays
    open and the shapes that meet are refused by node."""
    ids = helper.make_tensor_value_info("ids", TensorProto.FLOAT, ["batch", "sequence"])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "sequence"])
    graph = helper.make_graph([helper.make_node("Mul", ["ids", "mask"], ["y"], name="masked")], "g", [ids, mask],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--input-shape", "ids=2,24")
    assert r.returncode == 0, r.stderr
    x = np.arange(48, dtype=np.float32).reshape(2, 24)
    np.savez(tmp_path / "x.npz", ids=x, mask=x + 1)
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npz")["y"], x * (x + 1))
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "n.npub", "--input-shape", "ids=2,24",
                  "--input-shape", "mask=2,16")
    assert r.returncode == 1
    assert 'node Mul "masked"' in r.stderr and "do not broadcast" in r.stderr, r.stderr
    assert not (tmp_path / "n.npub").exists()


def test_a_node_error_names_the_file_node_op_type_and_opset(tmp_path):
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv0", kernel_shape=[3, 3])
    graph = helper.make_graph(
        [conv], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("w", TensorProto.FLOAT, [4, 2, 3, 3], np.zeros(72, np.float32))])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), tmp_path / "m.onnx")
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub")
    assert r.returncode == 1
    assert f'{tmp_path / "m.onnx"}: node Conv "conv0" (opset 11): input has 3 channels but the weight expects 2' in r.stderr


def test_a_dense_automatic_compile_prunes_nothing_and_collects_no_hessians(tmp_path):
    """--precision auto with --sparsity none (the default) analyses the dense candidates only:
    no layer is pruned, no layer Hessian is collected, and the report lists no 2:4 candidate."""
    r = run_npucc("compile", DIGITS, "-o", tmp_path / "d.npub", "--input-shape", "input=1,1,8,8",
                  "--precision", "auto", "--calib", CALIB, "--verbose", "--report", tmp_path / "report")
    assert r.returncode == 0, r.stderr
    stages = [line.split(" s] ", 1)[1] for line in r.stderr.splitlines()]
    assert not [s for s in stages if s.startswith("pruning") or "Hessians" in s], stages
    assert "activation ranges, input norms in" in " ".join(stages)
    layers = json.loads((tmp_path / "report" / "report.json").read_text())["layers"]
    analysed = [[c["candidate"] for c in l["sensitivity"]] for l in layers if "sensitivity" in l]
    assert analysed == [["fp16", "fp8", "nvfp4"]] * 3
    # With 2:4 allowed, the same flags prune and measure every candidate.
    r = compile_digits(tmp_path, "--verbose")
    assert r.returncode == 0, r.stderr
    assert "pruning 2:4 (sparsegpt): 3 in" in r.stderr and "and 3 layer Hessians in" in r.stderr


def test_an_automatic_compile_that_must_prune_measures_no_dense_choice_it_cannot_make(tmp_path):
    """--sparsity 2:4 leaves a layer whose reduction length is a multiple of 4 no dense
    choice: of its dense candidates only nvfp4, whose error is rounding's gain, is measured.
    A layer that cannot be 2:4 (conv1, 9 weights per output) keeps its dense ones. Every
    number measured is the one an analysis of every candidate gives."""
    flags = ["--input-shape", "input=1,1,8,8", "--precision", "auto", "--calib", CALIB, "--sparsity", "2:4"]
    r = run_npucc("compile", DIGITS, "-o", tmp_path / "d.npub", *flags, "--report", tmp_path / "report")
    assert r.returncode == 0, r.stderr
    layers = json.loads((tmp_path / "report" / "report.json").read_text())["layers"]
    analysed = {l["name"]: {c["candidate"]: c["predicted_error"] for c in l["sensitivity"]}
                for l in layers if l.get("sensitivity")}
    assert {name: list(c) for name, c in analysed.items()} == {
        "conv1": ["fp16", "fp8", "nvfp4"],
        "conv2": ["fp16", "nvfp4", "fp16+2:4", "fp8+2:4", "nvfp4+2:4"],
        "fc": ["fp16", "nvfp4", "fp16+2:4", "fp8+2:4", "nvfp4+2:4"]}
    # compile's analysis: SparseGPT, 4 samples, estimated output errors.
    r = run_npucc("analyze", DIGITS, "--calib", CALIB, "--prune", "sparsegpt", "--samples", "4",
                  "--output-error", "estimated", "--json")
    assert r.returncode == 0, r.stderr
    every = {l["name"]: {c["candidate"]: c["predicted_error"] for c in l["candidates"]}
             for l in json.loads(r.stdout)["layers"]}
    assert all("fp8" in c and "nvfp4+2:4" in c for name, c in every.items() if name != "conv1"), every
    for name, candidates in analysed.items():
        for candidate, error in candidates.items():
            if candidate != "fp16":
                assert error == every[name][candidate], (name, candidate)
