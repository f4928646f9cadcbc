"""The user documentation: every relative link in README.md and docs/*.md reaches a file (and
the heading its anchor names), the tutorial's model script runs, its npucc commands print what
docs/tutorial.md shows and those of docs/troubleshooting.md what that page shows, and the
commands' help keeps within its width."""
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import ROOT, npucc_path

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(text):
    """The text outside fenced code blocks, where links are links."""
    return "\n".join(part for i, part in enumerate(re.split(r"^```.*$", text, flags=re.M)) if i % 2 == 0)


def anchors(path):
    """GitHub's heading anchors of a Markdown file: lower case, punctuation other than - and _
    dropped, spaces to hyphens, a repeated anchor numbered -1, -2, ..."""
    seen, result = {}, set()
    for line in prose(path.read_text()).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def test_github_anchors_follow_its_rules():
    page = ROOT / "schemas" / "formats.md"
    assert "nvfp4-block-16-e4m3-block-scale-fp32-tensor-scale" in anchors(page)
    assert "24-structured-sparsity" in anchors(page)
    assert "header-64-bytes" in anchors(ROOT / "schemas" / "bundle.md")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(document):
    broken = []
    for target in LINK.findall(prose(document.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists():
            broken.append(f"{target}: no file {file}")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, f"{document.relative_to(ROOT)}: " + "; ".join(broken)


def shell_sessions(text):
    """(command, output) pairs of the `$ ` lines in the fenced blocks of a page; a command
    continues over lines ending in a backslash, its output runs to the next command or the
    block's end."""
    sessions = []
    for i, block in enumerate(re.split(r"^```.*$", text, flags=re.M)):
        if i % 2 == 0:
            continue
        command = None
        lines = block.strip("\n").splitlines()
        j = 0
        while j < len(lines):
            line = lines[j]
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\"):
                    j += 1
                    command = command[:-1] + " " + lines[j].strip()
                sessions.append((command, []))
            elif command is not None:
                sessions[-1][1].append(line)
            j += 1
    return sessions


def avx2_numpy():
    """The environment in which the tutorial's script computes what the docs show: numpy's
    OpenBLAS and its own loops, which pick AVX-512 kernels where the CPU has them and then sum
    in another order, held to the AVX2 ones (the model's weights would differ in their last
    bits, and with them the figures the pages print)."""
    env = dict(os.environ)
    with open("/proc/cpuinfo") as info:
        flags = next((l.split() for l in info if l.startswith("flags")), [])
    if "avx512f" in flags:
        env.setdefault("OPENBLAS_CORETYPE", "Haswell")
        env.setdefault("NPY_DISABLE_CPU_FEATURES", " ".join(
            f"AVX512{s}" for s in ["F", "CD", "_SKX", "_CLX", "_CNL", "_ICL", "_SPR", "_KNL", "_KNM"]))
    return env


@pytest.fixture(scope="module")
def tutorial_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs") / "tutorial"
    r = subprocess.run([sys.executable, ROOT / "docs" / "examples" / "make_tutorial_model.py", folder],
                       capture_output=True, text=True, timeout=300, env=avx2_numpy())
    assert r.returncode == 0, r.stderr
    for name in ["tiny_resnet.onnx", "tiny_resnet_calib.npz", "tiny_resnet_test.npz", "tiny_resnet_test_labels.npy"]:
        assert (folder / name).exists(), name
    return folder, r.stdout


def test_tutorial_model_script_prints_what_the_tutorial_shows(tutorial_folder):
    folder, stdout = tutorial_folder
    sessions = dict(shell_sessions((ROOT / "docs" / "tutorial.md").read_text()))
    shown = sessions[".venv/bin/python docs/examples/make_tutorial_model.py tutorial"]
    assert stdout.splitlines() == [line.replace("tutorial/", f"{folder}/") for line in shown]


def test_tutorial_commands_print_what_the_tutorial_shows(tutorial_folder):
    # Every npucc command of the tutorial, in its order, on the model the script made.
    folder, _ = tutorial_folder
    sessions = [(c, out) for c, out in shell_sessions((ROOT / "docs" / "tutorial.md").read_text())
                if c.startswith("npucc ")]
    assert [c.split()[1] for c in [c for c, _ in sessions]] == [
        "inspect", "run", "compile", "compile", "run", "compile", "run", "profile", "export"]
    for command, shown in sessions:
        args = [a.replace("tutorial/", f"{folder}/", 1) if a.startswith("tutorial/") else a
                for a in shlex.split(command)[1:]]
        r = subprocess.run([npucc_path(), *args], capture_output=True, text=True, timeout=300, cwd=ROOT)
        expected = [line.replace("tutorial/", f"{folder}/") for line in shown]
        if shown[0].startswith("npucc: error:"):
            assert r.returncode == 1, command
            assert r.stderr.splitlines() == expected, command
        else:
            assert r.returncode == 0, (command, r.stderr)
            assert r.stdout.splitlines() == expected, command
    assert (folder / "report" / "report.html").exists()
    assert (folder / "auto.npub").exists()
    # The onnxruntime check of the exported model, run where the tutorial's folder is.
    text = (ROOT / "docs" / "tutorial.md").read_text()
    snippet = re.search(r"^```python\n(.*?)^```\n+^```\n(.*?)^```", text, flags=re.S | re.M)
    r = subprocess.run([sys.executable, "-c", snippet.group(1)], capture_output=True, text=True, timeout=300,
                       cwd=folder.parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == snippet.group(2).splitlines()


def discussions():
    """(file, text) of every `discussion: \"\"\"...\"\"\"` literal of the command line, indentation
    removed, `\\` line continuations joined, `\\\\` read as one backslash."""
    for path in sorted((ROOT / "Sources" / "npucc").glob("*.swift")):
        for m in re.finditer(r'discussion: """\n(.*?)\n( *)"""', path.read_text(), flags=re.S):
            lines = [line[len(m.group(2)):] for line in m.group(1).split("\n")]
            text = re.sub(r"\\(\\|\n)", lambda e: "\\" if e.group(1) == "\\" else "", "\n".join(lines))
            yield path.name, text


def test_help_paragraphs_keep_their_lines_within_the_help_width():
    # The argument parser wraps each line of a discussion at 80 columns: a longer line
    # breaks in two and leaves a fragment, unless it is a whole paragraph of its own.
    ragged = []
    for name, text in discussions():
        lines = text.split("\n")
        for i, line in enumerate(lines):
            alone = i + 1 == len(lines) or not lines[i + 1].strip()
            if len(line) > 79 and not alone:
                ragged.append(f"{name}: {line}")
    assert not ragged, "\n".join(ragged)


def test_opt_help_names_every_registered_pass():
    r = subprocess.run([npucc_path(), "opt", str(ROOT / "samples" / "digits_cnn.onnx"), "--passes", "no-such-pass"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    registered = re.search(r"\(passes: (.*)\)", r.stderr).group(1).split(", ")
    assert len(registered) >= 9, registered
    help_text = subprocess.run([npucc_path(), "opt", "--help"], capture_output=True, text=True, timeout=60).stdout
    described = " ".join(help_text.split("USAGE:")[0].split())
    assert all(name in described for name in registered), (registered, described)


def digits_bundle(folder, *flags):
    """Compiles the digits sample with `flags`, runs the bundle on the test images and profiles
    it; returns (compile's stdout, cycles, "top-1 accuracy" percentage text)."""
    bundle = folder / "digits.npub"
    r = subprocess.run([npucc_path(), "compile", "samples/digits_cnn.onnx", "-o", bundle, "--input-shape",
                        "input=1,1,8,8", "--calib", "samples/digits_calib.npz", *flags],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, (flags, r.stderr)
    run = subprocess.run([npucc_path(), "run", bundle, "--inputs", "samples/digits_test.npz", "--outputs",
                          folder / "out.npz", "--labels", "samples/digits_test_labels.npy"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    profile = subprocess.run([npucc_path(), "profile", bundle], capture_output=True, text=True, timeout=120)
    accuracy = re.search(r"top-1 accuracy: (\S+)", run.stdout).group(1)
    cycles = re.search(r"latency:\s+(\S+) cycles", profile.stdout).group(1)
    return r.stdout, cycles, accuracy


def table_rows(text, header):
    """The cells of the rows of the Markdown table whose header row starts with `header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_budgets_page_figures_are_what_the_compiler_gives(tmp_path):
    text = (ROOT / "docs" / "budgets-and-rules.md").read_text()
    fixed = table_rows(text, "| `--precision` | weight bytes")
    assert [row[0] for row in fixed] == ["fp16", "fp8", "nvfp4"]
    for precision, weight_bytes, cycles, accuracy in fixed:
        stdout, got_cycles, got_accuracy = digits_bundle(tmp_path, "--precision", precision)
        assert f"in {weight_bytes.replace(',', '')} bytes" in stdout, (precision, stdout)
        assert (got_cycles, got_accuracy) == (cycles, accuracy), precision
    rows = table_rows(text, "| `--budget` | solver latency")
    assert len(rows) == 11
    for budget, macs, weights, error, choice, cycles, accuracy in rows:
        budget = budget.split("`")[1]
        stdout, got_cycles, got_accuracy = digits_bundle(
            tmp_path, "--precision", "auto", "--sparsity", "auto", "--budget", budget)
        conv1, conv2, fc = choice.split(", ")
        assert stdout.splitlines()[0] == (
            f"precision auto: latency {macs.replace(',', '')} MACs (fp16: 84235), weights {weights.replace(',', '')} "
            f"bytes, predicted error {error}: conv1={conv1}, conv2={conv2}, fc={fc}"), budget
        assert (got_cycles, got_accuracy) == (cycles, accuracy), budget


def tutorial_accuracy(folder, *args):
    """`npucc ARGS --inputs/--outputs/--labels` of the tutorial's test images: the top-1 text."""
    r = subprocess.run([npucc_path(), *args, "--inputs", folder / "tiny_resnet_test.npz", "--outputs",
                        folder / "out.npz", "--labels", folder / "tiny_resnet_test_labels.npy"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (args, r.stderr)
    return re.search(r"top-1 accuracy: (\S+)", r.stdout).group(1)


def test_troubleshooting_figures_are_what_the_compiler_gives(tutorial_folder):
    folder, _ = tutorial_folder
    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    model, calib = folder / "tiny_resnet.onnx", folder / "tiny_resnet_calib.npz"
    layers = ["stem", "block1.conv1", "block1.conv2", "down", "fc"]
    for pinned, error, accuracy, corrected in table_rows(text, "| fp8 layers |"):
        fp8 = [] if pinned.startswith("none") else pinned.split(", ")
        rules = {"rules": [{"layers": n, "precision": "fp8" if n in fp8 else "nvfp4"} for n in layers]}
        (folder / "pin.json").write_text(json.dumps(rules))
        for extra, expected in (([], accuracy), (["--bias-correction"], corrected)):
            r = subprocess.run([npucc_path(), "compile", model, "-o", folder / "pinned.npub", "--input-shape",
                                "input=1,3,32,32", "--calib", calib, "--precision", "auto", "--budget", "0.5",
                                "--rules", folder / "pin.json", *extra], capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, r.stderr
            assert f"predicted error {error}:" in r.stdout, (pinned, r.stdout)
            assert tutorial_accuracy(folder, "run", folder / "pinned.npub") == expected, (pinned, extra)
    quantized = ["run", model, "--calib", calib]
    methods = ["percentile", "minmax", "entropy", "mse"]
    for method, accuracy in zip(methods, table_rows(text, "| `--calib-method` |")[0][1:], strict=True):
        assert tutorial_accuracy(folder, *quantized, "--precision", "nvfp4", "--calib-method", method) == accuracy
    for method, fp16, nvfp4 in table_rows(text, "| `--prune` |"):
        assert tutorial_accuracy(folder, *quantized, "--precision", "fp16", "--prune", method) == fp16, method
        assert tutorial_accuracy(folder, *quantized, "--precision", "nvfp4", "--prune", method) == nvfp4, method


def timeless(lines):
    """Results without the times in them: `--verbose`'s stage lines dropped, and the elapsed
    time that ends analyze's last line."""
    return [re.sub(r"(samples), [0-9.]+ s$", r"\1", line) for line in lines if not line.startswith("npucc: [")]


def test_troubleshooting_commands_print_what_the_page_shows(tutorial_folder):
    # The page's commands, in its order, beside the tutorial's folder, `RUN` as the page
    # defines it and `pin.json` as the page shows it. The stage lines of `--verbose` carry
    # times: its results are compared, as is analyze's last line but for its time. The
    # files the page makes by hand (a model with a misspelt operator, one with a contrib
    # operator, a damaged and a cut bundle) are not made here: their commands are left out.
    folder, _ = tutorial_folder
    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    run = shlex.split(re.search(r"`RUN` stands for\s+`([^`]*)`", text).group(1))
    pin = re.search(r"`pin\.json`:\s*```json\n(.*?)^```", text, flags=re.S | re.M).group(1)
    (folder.parent / "pin.json").write_text(pin)
    by_hand = {"typo.onnx", "contrib.onnx", "damaged.npub", "cut.npub"}
    checked = 0
    for command, shown in shell_sessions(text):
        args = shlex.split(command)[1:]
        if args[0] not in {"compile", "run", "analyze"} or args[1] in by_hand:
            continue
        args = [a for arg in args for a in (run if arg == "$RUN" else [arg])]
        r = subprocess.run([npucc_path(), *args], capture_output=True, text=True, timeout=300, cwd=folder.parent)
        if shown[0].startswith("npucc: error:"):
            assert r.returncode == 1, command
            assert r.stderr.splitlines() == shown, command
        else:
            assert r.returncode == 0, (command, r.stderr)
            assert timeless(r.stdout.splitlines()) == timeless(shown), command
        checked += 1
    assert checked == 7
