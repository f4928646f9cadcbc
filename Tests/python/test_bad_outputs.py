"""Where output goes, and what a command must not destroy or leave behind: a directory given as
an output file is refused and kept; an output that names one of the command's inputs is
refused before any work; a report that cannot be written (its name held by a folder or a
pipe; a link is written through) takes no bundle with it, and a bundle
that cannot be written takes its report away; a bundle and the interpreter run on an empty batch give empty
outputs; an array that is no input of a bundle, an input shape of absurd size, a target of
absurd numbers, an edited bundle's descriptor or window record out of range, a weight holding
NaN or infinity, calibration samples that are NaN throughout, a budget that is no decimal number, labels that are no class
indices, a flag of --precision auto without it, a rules file with an unknown field, a field given twice or a
rule that contradicts itself, and an npz that
holds an array twice are each refused with one line naming the file."""
import json
import os
import shutil

import numpy as np
import pytest

from conftest import ROOT, run_npucc

SAMPLES = ROOT / "samples"
SHAPE = ["--input-shape", "input=1,1,8,8"]


def refused(r, *phrases):
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("npucc: error: "), r.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


@pytest.fixture
def digits(tmp_path):
    for name in ["digits_cnn.onnx", "digits_test.npz", "digits_calib.npz"]:
        shutil.copy(SAMPLES / name, tmp_path / name)
    return tmp_path


def test_a_directory_given_as_the_outputs_is_refused_and_kept(digits):
    (digits / "full" / "sub").mkdir(parents=True)
    (digits / "full" / "a.txt").write_text("keep")
    r = run_npucc("run", digits / "digits_cnn.onnx", "--inputs", digits / "digits_test.npz", "--outputs", digits / "full")
    refused(r, "full: is a directory")
    assert (digits / "full" / "a.txt").read_text() == "keep" and (digits / "full" / "sub").is_dir()


def test_an_output_that_is_a_pipe_is_refused_and_kept_and_a_link_is_written_through(digits):
    """The rename that puts a file in place would replace a pipe or a device (`-o /dev/null`
    as root replaced /dev/null); a symbolic link is written through, the link kept."""
    os.mkfifo(digits / "pipe")
    for command in [["compile", digits / "digits_cnn.onnx", "-o", digits / "pipe", *SHAPE],
                    ["run", digits / "digits_cnn.onnx", "--inputs", digits / "digits_test.npz", "--outputs", digits / "pipe"],
                    ["export", digits / "digits_cnn.onnx", "-o", digits / "pipe", "--qdq", "--precision", "fp16"]]:
        if command[0] == "compile":
            command[3] = digits / "pipe.npub"
            os.mkfifo(digits / "pipe.npub")
        refused(run_npucc(*command), "is not a regular file")
    assert all(os.path.exists(digits / p) and not os.path.isfile(digits / p) for p in ["pipe", "pipe.npub"])
    (digits / "real.npz").write_bytes(b"old")
    os.symlink("real.npz", digits / "link.npz")
    r = run_npucc("run", digits / "digits_cnn.onnx", "--inputs", digits / "digits_test.npz", "--outputs", digits / "link.npz")
    assert r.returncode == 0, r.stderr
    assert os.path.islink(digits / "link.npz") and sorted(np.load(digits / "real.npz").files) == ["logits"]


def test_an_output_that_is_an_input_is_refused_and_the_input_kept(digits):
    model = (digits / "digits_cnn.onnx").read_bytes()
    r = run_npucc("export", digits / "digits_cnn.onnx", "-o", digits / "digits_cnn.onnx", "--qdq", "--precision", "fp16")
    refused(r, "is also an input of the command")
    assert (digits / "digits_cnn.onnx").read_bytes() == model
    data = (digits / "digits_test.npz").read_bytes()
    r = run_npucc("run", digits / "digits_cnn.onnx", "--inputs", digits / "digits_test.npz",
                  "--outputs", digits / "." / "digits_test.npz")
    refused(r, "is also an input of the command")
    assert (digits / "digits_test.npz").read_bytes() == data


def test_a_report_that_cannot_be_written_leaves_no_bundle(digits):
    (digits / "rep" / "report.json").mkdir(parents=True)
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE, "--report", digits / "rep")
    refused(r, "report.json: is a directory")
    assert not (digits / "m.npub").exists() and os.listdir(digits / "rep") == ["report.json"]


def test_a_report_file_that_is_a_pipe_is_refused_and_a_link_is_written_through(digits):
    (digits / "rep").mkdir()
    os.mkfifo(digits / "rep" / "report.html")
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE, "--report", digits / "rep")
    refused(r, "report.html: is not a regular file")
    assert not (digits / "m.npub").exists() and not os.path.isfile(digits / "rep" / "report.html")
    os.unlink(digits / "rep" / "report.html")
    (digits / "elsewhere").mkdir()
    (digits / "elsewhere" / "page.html").write_text("old")
    os.symlink(digits / "elsewhere" / "page.html", digits / "rep" / "report.html")
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE, "--report", digits / "rep")
    assert r.returncode == 0, r.stderr
    assert os.path.islink(digits / "rep" / "report.html")
    assert (digits / "elsewhere" / "page.html").read_text().startswith("<!DOCTYPE html>")
    assert sorted(os.listdir(digits / "elsewhere")) == ["page.html"]


def test_a_bundle_that_cannot_be_written_takes_its_report_away(digits):
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "missing" / "m.npub", *SHAPE,
                  "--report", digits / "new" / "report")
    refused(r, "folder", "does not exist")
    assert not (digits / "new").exists()


def test_a_bundle_runs_an_empty_batch_and_refuses_an_unknown_array(digits):
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE)
    assert r.returncode == 0, r.stderr
    np.savez(digits / "empty.npz", input=np.zeros((0, 1, 8, 8), np.float32))
    r = run_npucc("run", digits / "m.npub", "--inputs", digits / "empty.npz", "--outputs", digits / "y.npz")
    assert r.returncode == 0, r.stderr
    assert np.load(digits / "y.npz")["logits"].shape == (0, 10)
    # The interpreter on the model fixed to the bundle's batch of 1 takes it alike.
    r = run_npucc("run", digits / "digits_cnn.onnx", *SHAPE, "--inputs", digits / "empty.npz", "--outputs",
                  digits / "y_model.npz")
    assert r.returncode == 0, r.stderr
    empty = np.load(digits / "y_model.npz")["logits"]
    assert empty.shape == (0, 10) and empty.dtype == np.float32
    np.savez(digits / "extra.npz", input=np.zeros((2, 1, 8, 8), np.float32), mask=np.zeros(3, np.float32))
    r = run_npucc("run", digits / "m.npub", "--inputs", digits / "extra.npz", "--outputs", digits / "z.npz")
    refused(r, 'array "mask" is not an input of the bundle')
    assert not (digits / "z.npz").exists()


@pytest.mark.parametrize("shape,phrase", [
    ("input=9223372036854775807,1,8,8", "more than 68719476736 elements"),
    ("input=100000000,1,8,8", "bytes of DRAM; the target has 34359738368"),
])
def test_an_absurd_input_shape_is_refused_at_once(digits, shape, phrase):
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", "--input-shape", shape, timeout=30)
    refused(r, phrase)
    assert not (digits / "m.npub").exists()


@pytest.mark.parametrize("path,value", [
    (["compute", "mac_rate", "fp8"], 1e308),
    (["compute", "tiles_per_cluster"], 2 ** 40),
    (["compute", "mac_array", "rows"], 2 ** 40),
    (["memories", 3, "latency_cycles"], 2 ** 62),
    (["dma", "queues_per_tile"], 2 ** 40),
    (["vector", "elementwise_cycles"], 2 ** 62),
])
def test_a_target_of_absurd_numbers_is_refused_by_field(digits, path, value):
    target = json.loads(run_npucc("target", "--json").stdout)
    node = target
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (digits / "t.json").write_text(json.dumps(target))
    field = ".".join(str(k) for k in path).replace(".3.", "[3].")
    r = run_npucc("target", "--target", digits / "t.json")
    refused(r, "t.json", field.replace("memories.3", "memories[3]"))


def test_an_edited_bundle_out_of_range_is_refused_by_node_and_instruction(digits):
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE)
    assert r.returncode == 0, r.stderr
    program = run_npucc("disasm", digits / "m.npub").stdout
    lines = program.splitlines()
    # A descriptor far past any memory.
    first = next(i for i, line in enumerate(lines) if line.startswith("d0:"))
    far = lines[:first] + [lines[first].split("@")[0] + "@0xffffffffffffffff " + " ".join(lines[first].split()[-2:])]
    (digits / "far.s").write_text("\n".join(far + lines[first + 1:]) + "\n")
    r = run_npucc("asm", digits / "far.s", "--bundle", digits / "m.npub", "-o", digits / "far.npub")
    refused(r, "the address must be below 2^48")
    # A pooling instruction whose parameter record is some other constants.
    pool = next(i for i, line in enumerate(lines) if "op=max_pool" in line)
    edited = lines[:pool] + [lines[pool].rsplit("params=", 1)[0] + "params=0"] + lines[pool + 1:]
    (digits / "pool.s").write_text("\n".join(edited) + "\n")
    r = run_npucc("asm", digits / "pool.s", "--bundle", digits / "m.npub", "-o", digits / "pool.npub")
    assert r.returncode == 0, r.stderr
    for command in [["run", digits / "pool.npub", "--inputs", digits / "digits_test.npz", "--outputs", digits / "y.npz"],
                    ["profile", digits / "pool.npub"]]:
        refused(run_npucc(*command), 'node MaxPool "', "(vopp): max_pool's parameter record is not a window")
    assert not (digits / "y.npz").exists()
    # A plain vop naming an op that takes a parameter record (which it has no field for).
    plain = next(i for i, line in enumerate(lines) if line.startswith("vop op="))
    op = lines[plain].split("op=", 1)[1].split(",", 1)[0]
    edited = lines[:plain] + [lines[plain].replace(f"op={op},", "op=topk,", 1)] + lines[plain + 1:]
    (digits / "plain.s").write_text("\n".join(edited) + "\n")
    r = run_npucc("asm", digits / "plain.s", "--bundle", digits / "m.npub", "-o", digits / "plain.npub")
    assert r.returncode == 0, r.stderr
    refused(run_npucc("profile", digits / "plain.npub"), "plain.npub: node ",
            "(vop): topk takes a parameter record: it is a vopp, not a vop")


def run_with_a_descriptor_resized(digits, mnemonic, operand, resize):
    """Runs the digits bundle with the `operand` descriptor of its first `mnemonic` given the
    dims and strides `resize` makes of its own."""
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE)
    assert r.returncode == 0, r.stderr
    lines = run_npucc("disasm", digits / "m.npub").stdout.splitlines()
    instruction = next(line for line in lines if line.startswith(f"{mnemonic} "))
    index = instruction.split(f"{operand}=d")[1].split(",")[0]
    at = next(i for i, line in enumerate(lines) if line.startswith(f"d{index}:"))
    place, dims, strides = lines[at].rsplit(" ", 2)
    lines[at] = f"{place} {resize(dims, strides)}"
    (digits / "edited.s").write_text("\n".join(lines) + "\n")
    r = run_npucc("asm", digits / "edited.s", "--bundle", digits / "m.npub", "-o", digits / "edited.npub")
    assert r.returncode == 0, r.stderr
    return run_npucc("run", digits / "edited.npub", "--inputs", digits / "digits_test.npz", "--outputs",
                     digits / "y.npz", timeout=30)


def test_a_fill_past_its_memory_is_refused_before_its_values_are_made(digits):
    """A fill of 2^31 - 1 rows once made its 48 GB of values before its span was checked."""
    r = run_with_a_descriptor_resized(
        digits, "fill", "dst", lambda dims, strides: f"[{2 ** 31 - 1},{dims[1:]} [1,{strides[1:]}")
    refused(r, "(fill)", "which has")


def test_a_product_past_its_memory_is_refused_before_its_weights_decode(digits):
    """An mma whose output names 4e9 columns once had the simulator make n x k floats for its
    weights (a terabyte) before the output's span was checked."""
    r = run_with_a_descriptor_resized(
        digits, "mma", "out", lambda dims, strides: f"[{dims[1:].split(',')[0]},4000000000] {strides}")
    refused(r, "(mma)", "which has")


def edited_metadata(digits, edit):
    """The digits bundle with its metadata changed by `edit`, its checksums made anew."""
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    import npub

    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE)
    assert r.returncode == 0, r.stderr
    sections = {k: bytes(v) for k, v in npub.read_bundle(digits / "m.npub").items()}
    meta = json.loads(sections.pop("META"))
    edit(meta)
    npub.write_bundle(digits / "edited.npub", meta, sections)
    return digits / "edited.npub"


@pytest.mark.parametrize("edit,phrase", [
    (lambda m: m["machine"].update(clusters=2 ** 53), "machine.clusters is 9007199254740992, not in 1...256"),
    (lambda m: m["machine"].update(l2_bytes=2 ** 53), "machine.l2_bytes is 9007199254740992"),
    (lambda m: m["machine"].update(tiles_per_cluster=-16), "machine.tiles_per_cluster is -16, not in 1...255"),
    (lambda m: m["outputs"][0].update(shape=[1]), 'output "logits" is f32 [1], which does not fit the program\'s 40 bytes'),
    (lambda m: m["machine"].pop("clusters"), "machine.clusters is missing"),
])
def test_metadata_that_does_not_fit_the_program_is_refused_by_field(digits, edit, phrase):
    """Metadata edited with its checksums made anew once sized the simulator's memories or
    its outputs as it said: a crash. It is refused by field."""
    path = edited_metadata(digits, edit)
    r = run_npucc("run", path, "--inputs", digits / "digits_test.npz", "--outputs", digits / "y.npz", timeout=30)
    refused(r, "section META", phrase)
    assert not (digits / "y.npz").exists()


def test_a_program_that_halts_before_its_layers_end_profiles_what_it_runs(digits):
    """An assembled program whose first instruction is halt profiles to no cycles, its layers
    (the table the bundle kept) at none each, instead of crashing on ranges past its end."""
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE)
    assert r.returncode == 0, r.stderr
    lines = run_npucc("disasm", digits / "m.npub").stdout.splitlines()
    lines.insert(lines.index(".code") + 1, "halt")
    (digits / "halt.s").write_text("\n".join(lines) + "\n")
    r = run_npucc("asm", digits / "halt.s", "--bundle", digits / "m.npub", "-o", digits / "halt.npub")
    assert r.returncode == 0, r.stderr
    r = run_npucc("profile", digits / "halt.npub")
    assert r.returncode == 0, r.stderr
    assert "latency:  0 cycles" in r.stdout


@pytest.mark.parametrize("value,precision", [(np.nan, "fp16"), (np.nan, "nvfp4"), (np.inf, "fp8"), (-np.inf, "auto")])
def test_a_weight_that_is_not_a_number_is_refused_by_node_and_index(digits, value, precision):
    import onnx
    from onnx import numpy_helper
    model = onnx.load(digits / "digits_cnn.onnx")
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    init = next(i for i in model.graph.initializer if i.name == conv.input[1])
    w = numpy_helper.to_array(init).copy()
    w[1, 0, 2, 1] = value
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(model, digits / "bad.onnx")
    r = run_npucc("compile", digits / "bad.onnx", "-o", digits / "m.npub", *SHAPE, "--precision", precision,
                  "--calib", digits / "digits_calib.npz")
    refused(r, "bad.onnx", f'node Conv "{conv.name}"', f'weight "{init.name}" holds {value} at [1, 0, 2, 1]',
            "must be finite")
    assert not (digits / "m.npub").exists()


def test_calibration_that_is_nan_throughout_is_refused(digits):
    np.savez(digits / "nan.npz", input=np.full((4, 1, 1, 8, 8), np.nan, np.float32))
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE, "--precision", "nvfp4",
                  "--calib", digits / "nan.npz")
    refused(r, "nan.npz", 'calibration gave "input" no finite value')
    assert not (digits / "m.npub").exists()


@pytest.mark.parametrize("budget", ["inf", "nan", "0x10", "size=infKB", "error=inf", "-1", "-0.5"])
def test_a_budget_that_is_no_decimal_number_is_refused(digits, budget):
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE, "--precision", "auto",
                  "--calib", digits / "digits_calib.npz", "--budget", budget)
    refused(r, "--budget", f'"{budget}" is not a budget')
    assert not (digits / "m.npub").exists()


@pytest.mark.parametrize("labels,phrase", [
    (np.array([-1] * 360), "label 0 is -1, not a class index of 0 to 9"),
    (np.array([3] * 359 + [10]), "label 359 is 10, not a class index of 0 to 9"),
    (np.zeros(360, np.float32), "labels are f32: class indices must be integers"),
])
def test_labels_that_are_no_class_indices_are_refused(digits, labels, phrase):
    np.save(digits / "labels.npy", labels)
    r = run_npucc("run", digits / "digits_cnn.onnx", "--inputs", digits / "digits_test.npz", "--outputs",
                  digits / "y.npz", "--labels", digits / "labels.npy")
    refused(r, "labels.npy", phrase)
    assert not (digits / "y.npz").exists()


def test_a_rules_file_with_an_unknown_field_is_refused(digits):
    (digits / "rules.json").write_text(json.dumps({"rules": [{"layers": "conv1", "precision": "fp16"}], "extra": 1}))
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE, "--precision", "auto",
                  "--calib", digits / "digits_calib.npz", "--rules", digits / "rules.json")
    refused(r, "rules.json", 'unknown field "extra"')
    assert not (digits / "m.npub").exists()


@pytest.mark.parametrize("flag", [["--budget", "0.3"], ["--output-error", "measured"], ["--analysis-samples", "8"],
                                  ["--rules", "rules.json"]])
def test_a_flag_of_the_per_layer_choice_without_it_is_refused_not_ignored(digits, flag):
    """--budget, --output-error, --analysis-samples and --rules only steer --precision auto: given
    with a fixed precision (or none) they are refused, before any file they name is read, instead
    of changing nothing."""
    for command in [["compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE, "--precision", "nvfp4",
                     "--calib", digits / "digits_calib.npz", *flag],
                    ["run", digits / "digits_cnn.onnx", "--inputs", digits / "digits_test.npz", "--outputs",
                     digits / "y.npz", *flag]]:
        refused(run_npucc(*command), f"npucc: error: {flag[0]}: applies to --precision auto only")
    assert not (digits / "m.npub").exists() and not (digits / "y.npz").exists()


def test_a_rules_field_given_twice_is_refused_by_rule(digits):
    """JSON readers disagree on which of two values of a key counts: the rule that repeats
    one is named, not read by chance."""
    (digits / "rules.json").write_text(
        '{"rules": [{"layers": "conv1", "precision": "fp16"}, {"layers": "fc", "precision": "fp16", "precision": "fp8"}]}')
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE, "--precision", "auto",
                  "--calib", digits / "digits_calib.npz", "--rules", digits / "rules.json")
    refused(r, "rules.json", 'rule 2: field "precision" is given twice')
    assert not (digits / "m.npub").exists()


@pytest.mark.parametrize("rule,phrase", [
    ({"layers": "conv1", "min": "fp16", "precision": "nvfp4"}, '"precision": "nvfp4" is below its own "min": "fp16"'),
    ({"layers": "conv1", "precision": "fp8+2:4", "sparsity": "dense"}, 'contradicts its own "sparsity": "dense"'),
])
def test_a_rule_that_contradicts_itself_is_refused(digits, rule, phrase):
    (digits / "rules.json").write_text(json.dumps({"rules": [rule]}))
    r = run_npucc("compile", digits / "digits_cnn.onnx", "-o", digits / "m.npub", *SHAPE, "--precision", "auto",
                  "--calib", digits / "digits_calib.npz", "--rules", digits / "rules.json")
    refused(r, "rule 1", phrase)


def test_an_npz_holding_an_array_twice_is_refused(digits):
    import io
    import warnings
    import zipfile

    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 1, 8, 8), np.float32))
    with warnings.catch_warnings(), zipfile.ZipFile(digits / "twice.npz", "w") as archive:
        warnings.simplefilter("ignore")
        archive.writestr("input.npy", buffer.getvalue())
        archive.writestr("input.npy", buffer.getvalue())
    r = run_npucc("run", digits / "digits_cnn.onnx", "--inputs", digits / "twice.npz", "--outputs", digits / "y.npz")
    refused(r, "twice.npz", "holds this array twice")
    assert not (digits / "y.npz").exists()
