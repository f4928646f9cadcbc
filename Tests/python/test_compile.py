"""`npucc compile`: every sample at every precision and sparsity, byte-identical bundles
across runs and thread counts, damaged bundles refused by section, bits per weight at the
formats' minimum on a ResNet-50-sized model, and the errors a user meets."""
import hashlib
import json
import os
import re
import subprocess
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT, assert_same_bits, npucc_path, run_npucc, simulated_and_interpreted

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


LOWERED = ["digits_cnn.onnx", "shape_chain.onnx", "transformer_block.onnx"]
CONFIGS = [("fp16", "none"), ("fp8", "none"), ("nvfp4", "none"), ("fp16", "2:4"), ("fp8", "2:4"), ("nvfp4", "2:4"),
           ("auto", "auto")]


@pytest.mark.parametrize("model", LOWERED)
@pytest.mark.parametrize("precision,sparsity", CONFIGS)
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
    inspect = run_npucc("inspect", tmp_path / "m.npub", "--check-sync")
    assert inspect.returncode == 0 and "layers:" in inspect.stdout and "INST" in inspect.stdout, inspect.stderr
    assert re.search(r"^synchronization: \d+ dependences between queues, every one ordered by the program's \d+ "
                     r"signals and \d+ waits$", inspect.stdout, re.M), inspect.stdout


@pytest.mark.parametrize("model", LOWERED)
@pytest.mark.parametrize("precision,sparsity", CONFIGS)
def test_a_bundle_runs_as_the_fake_quant_interpreter_runs_the_model(tmp_path, model, precision, sparsity):
    """The simulator running the bundle and the interpreter running the quantized model give
    the same bits, sample by sample."""
    calib = calibration(tmp_path, model)
    flags = ["--precision", precision, "--calib", calib] + (["--prune", "sparsegpt"] if sparsity != "none" else [])
    if precision == "auto":
        flags += ["--budget", "nvfp4+2:4"]
    r = compile_bundle(tmp_path, model, *flags, "--sparsity", sparsity)
    assert r.returncode == 0, r.stderr
    name, dims = SHAPES[model].split("=")
    if model == "digits_cnn.onnx":
        inputs = SAMPLES / "digits_test.npz"
    else:
        inputs = tmp_path / "inputs.npz"
        shape = [5] + [int(d) for d in dims.split(",")][1:]
        np.savez(inputs, **{name: np.random.default_rng(9).standard_normal(shape).astype(np.float32)})
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", inputs, "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", SAMPLES / model, "--inputs", inputs, "--outputs", tmp_path / "fq.npz", *flags)
    assert r.returncode == 0, r.stderr
    sim, fq = dict(np.load(tmp_path / "sim.npz")), dict(np.load(tmp_path / "fq.npz"))
    assert sorted(sim) == sorted(fq)
    for key in sim:
        assert sim[key].shape == fq[key].shape
        np.testing.assert_array_equal(sim[key], fq[key])


def test_the_transformer_compiled_for_a_batch_of_two_runs_as_the_interpreter_runs_it(tmp_path):
    """Batch 2: the matrix layers take 32 rows, the attention products 2 x 4 heads."""
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal([4, 2, 16, 64]).astype(np.float32))
    np.savez(tmp_path / "inputs.npz", x=rng.standard_normal([2, 16, 64]).astype(np.float32))
    flags = ["--input-shape", "x=2,16,64", "--precision", "fp8", "--calib", tmp_path / "calib.npz"]
    r = run_npucc("compile", SAMPLES / "transformer_block.onnx", "-o", tmp_path / "m.npub", *flags)
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "inputs.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", SAMPLES / "transformer_block.onnx", *flags, "--inputs", tmp_path / "inputs.npz",
                  "--outputs", tmp_path / "fq.npz")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "sim.npz")["y"], np.load(tmp_path / "fq.npz")["y"])


FP16_UNIT_ROUNDOFF = 2.0 ** -11


@pytest.mark.parametrize("model,inputs,products", [("digits_cnn.onnx", "digits_test.npz", 3),
                                                   ("transformer_block.onnx", "transformer_inputs.npz", 6)])
def test_an_fp16_bundle_is_onnxruntime_to_within_fp16_rounding(tmp_path, model, inputs, products):
    """At fp16 every weight and every operand of the matrix unit is rounded to 11 significant
    bits (unit roundoff u = 2^-11), so each product's terms move by at most 2u relative and
    its sum by at most 2u of its terms' magnitudes (float32 accumulation adds about K * 2^-24,
    negligible); the vector unit's ops run in float32. Along the deepest chain of products
    (digits: conv1, conv2, fc; the transformer: q, q.k^T, attn.v, proj, fc1, fc2) these
    add up to at most 2u per product of the output's scale. On average the roundings cancel:
    the rms error stays within 2u of the output's rms."""
    r = compile_bundle(tmp_path, model, "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", SAMPLES / inputs, "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    feeds = dict(np.load(SAMPLES / inputs))
    session = ort.InferenceSession(str(SAMPLES / model), providers=["CPUExecutionProvider"])
    want = session.run(None, feeds)[0]
    got = next(iter(np.load(tmp_path / "sim.npz").values()))
    error = np.abs(got.astype(np.float64) - want)
    assert error.max() <= 2 * products * FP16_UNIT_ROUNDOFF * np.abs(want).max(), error.max()
    rms = np.sqrt(np.mean(np.square(want, dtype=np.float64)))
    assert np.sqrt(np.mean(error ** 2)) <= 2 * FP16_UNIT_ROUNDOFF * rms
    assert error.max() > 0  # the roundings happened


def test_a_node_the_backend_cannot_lower_fails_the_compile_by_name(tmp_path):
    axes = onnx.numpy_helper.from_array(np.array([1, 3], np.int64), "axes")
    for node, shape, message in [
        (onnx.helper.make_node("Det", ["x"], ["y"], name="det"), [2, 3, 3],
         'node Det "det" (opset 17): cannot lower Det: the NPU backend has no lowering for it yet'),
        (onnx.helper.make_node("ReduceMean", ["x"], ["y"], name="mean", axes=[-1]), [1, 8, 4],
         'node ReduceMean "mean" (opset 17): cannot lower ReduceMean of integers'),
    ]:
        element = onnx.TensorProto.INT64 if node.op_type == "ReduceMean" else onnx.TensorProto.FLOAT
        x = onnx.helper.make_tensor_value_info("x", element, shape)
        outputs = [onnx.helper.make_tensor_value_info("y", element, None)] + [
            onnx.helper.make_tensor_value_info(o, onnx.TensorProto.INT64, None) for o in node.output[1:]]
        graph = onnx.helper.make_graph([node], "g", [x], outputs, [axes])
        onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
        r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub")
        assert r.returncode == 1 and message in r.stderr, r.stderr
        assert not (tmp_path / "m.npub").exists()



def test_an_image_models_uint8_input_is_refused_as_the_input_it_is(tmp_path):
    """An image model taking uint8 pixels (a Keras serving signature through tf2onnx) runs in
    the interpreter, but a bundle takes float32 and integer tensors of 32 and 64 bits: the
    compile names the input and its type, not the Cast that reads it, and says what to do."""
    graph = helper.make_graph(
        [helper.make_node("Cast", ["img"], ["f"], to=TensorProto.FLOAT), helper.make_node("Mul", ["f", "s"], ["g"]),
         helper.make_node("MatMul", ["g", "W"], ["out"])],
        "g", [helper.make_tensor_value_info("img", TensorProto.UINT8, [1, 16])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(np.array(1 / 255, np.float32), "s"),
         numpy_helper.from_array(np.ones((16, 4), np.float32), "W")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 1, r.stderr
    assert ('graph input "img" is u8: bundles take float32, int64 and int32 tensors only; declare it float32 '
            "in the model, which holds each of its values exactly") in r.stderr, r.stderr
    assert "Cast" not in r.stderr
    assert not (tmp_path / "m.npub").exists()

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


def test_without_an_output_the_bundle_is_the_models_name_in_the_current_directory(tmp_path):
    """`npucc compile model.onnx` writes model.npub where it runs (not beside the model),
    the same bytes as with -o; another extension is replaced as .onnx is."""
    run_here = tmp_path / "here"
    run_here.mkdir()
    for name in ["digits_cnn.onnx", "digits.v2"]:
        (tmp_path / name).write_bytes((SAMPLES / "digits_cnn.onnx").read_bytes())
        r = subprocess.run([npucc_path(), "compile", str(tmp_path / name), "--input-shape", SHAPES["digits_cnn.onnx"],
                            "--precision", "fp8", "--calib", str(CALIB["digits_cnn.onnx"])],
                           cwd=run_here, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in run_here.iterdir()) == ["digits.npub", "digits_cnn.npub"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.v2", "digits_cnn.onnx", "here"]
    r = run_npucc("compile", tmp_path / "digits_cnn.onnx", "-o", tmp_path / "m.npub", "--input-shape",
                  SHAPES["digits_cnn.onnx"], "--precision", "fp8", "--calib", CALIB["digits_cnn.onnx"])
    assert r.returncode == 0, r.stderr
    assert sha(run_here / "digits_cnn.npub") == sha(tmp_path / "m.npub")


def test_a_damaged_bundle_is_refused_by_section(tmp_path):
    r = compile_bundle(tmp_path, "digits_cnn.onnx", "--precision", "nvfp4", "--calib", CALIB["digits_cnn.onnx"])
    assert r.returncode == 0, r.stderr
    data = bytearray((tmp_path / "m.npub").read_bytes())
    entries = {e.kind: e for e in npub.verify(tmp_path / "m.npub").entries}
    for kind in ["META", "DESC", "INST", "CNST", "WGHT"]:
        e = entries[kind]
        for offset in [e.offset, e.offset + e.size // 2, e.offset + e.size - 1]:
            damaged = bytearray(data)
            damaged[offset] ^= 0x10
            (tmp_path / "bad.npub").write_bytes(damaged)
            for command in ["inspect", "run"]:
                extra = [] if command == "inspect" else ["--inputs", SAMPLES / "digits_test.npz", "--outputs", tmp_path / "o.npz"]
                r = run_npucc(command, tmp_path / "bad.npub", *extra)
                assert r.returncode == 1 and f"section {kind}" in r.stderr, (command, kind, offset, r.stderr)
                assert not (tmp_path / "o.npz").exists()
    (tmp_path / "cut.npub").write_bytes(data[:len(data) - 7])
    r = run_npucc("inspect", tmp_path / "cut.npub")
    assert r.returncode == 1 and "WGHT" in r.stderr and "Traceback" not in r.stderr


def test_bits_per_weight_on_a_resnet50_sized_model(tmp_path):
    model = tmp_path / "resnet50.onnx"
    subprocess.run([sys.executable, str(ROOT / "Tests" / "bench" / "make_resnet50.py"), str(model)], check=True)
    np.savez(tmp_path / "calib.npz", input=np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32))
    for sparsity in ["none", "2:4"]:
        r = run_npucc("compile", model, "-o", tmp_path / "r.npub", "--input-shape", "input=1,3,224,224",
                      "--precision", "nvfp4", "--sparsity", sparsity, "--calib", tmp_path / "calib.npz",
                      *(["--prune", "magnitude"] if sparsity == "2:4" else []))
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
    # A pruning method where nothing is pruned is a mistake, not a no-op.
    refused("--prune: magnitude prunes 2:4 layers, and --sparsity none leaves every layer dense: give --sparsity 2:4",
            "--precision", "fp16", "--prune", "magnitude")
    refused("give --sparsity 2:4 or auto", "--precision", "auto", "--prune", "wanda", "--calib", CALIB["digits_cnn.onnx"])
    refused("unknown precision \"fp32\"", "--precision", "fp32")
    refused("no assignment fits the budget", "--precision", "auto", "--budget", "0.01", "--calib", CALIB["digits_cnn.onnx"])
    (tmp_path / "t.json").write_text("{}")
    refused("t.json", "--target", tmp_path / "t.json")
    r = run_npucc("compile", SAMPLES / "digits_cnn.onnx", "-o", tmp_path / "m.bin", "--input-shape", SHAPES["digits_cnn.onnx"])
    assert r.returncode == 1 and "must end in .npub" in r.stderr


def test_disasm_and_asm_round_trip_and_edited_programs_are_refused_by_instruction(tmp_path):
    r = compile_bundle(tmp_path, "digits_cnn.onnx", "--precision", "nvfp4", "--calib", CALIB["digits_cnn.onnx"])
    assert r.returncode == 0, r.stderr
    text = run_npucc("disasm", tmp_path / "m.npub")
    assert text.returncode == 0 and text.stdout.startswith(".descriptors\n") and "\nmma out=d" in text.stdout
    (tmp_path / "m.s").write_text(text.stdout)
    r = run_npucc("asm", tmp_path / "m.s", "--bundle", tmp_path / "m.npub", "-o", tmp_path / "again.npub")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "again.npub").read_bytes() == (tmp_path / "m.npub").read_bytes()

    def edited(lines, name):
        (tmp_path / "e.s").write_text("\n".join(lines) + "\n")
        r = run_npucc("asm", tmp_path / "e.s", "--bundle", tmp_path / "m.npub", "-o", tmp_path / name)
        assert r.returncode == 0, r.stderr
        return run_npucc("run", tmp_path / name, "--inputs", SAMPLES / "digits_test.npz", "--outputs", tmp_path / "o.npz")

    lines = text.stdout.splitlines()
    code = lines.index(".code")
    # Without the DMA that stages the input into the first quant's tile, that quant reads
    # what nothing wrote (the instructions between them, a fill and the queues' signals and
    # waits, touch other bytes).
    body = lines[code + 1:]
    quant = next(i for i, l in enumerate(body) if l.startswith("quant "))
    tile = re.search(r"src=(d\d+)", body[quant]).group(1)
    staging = max(i for i in range(quant) if body[i].startswith(f"dma dst={tile},"))
    r = edited(lines[:code + 1 + staging] + lines[code + 2 + staging:], "unwritten.npub")
    assert r.returncode == 1 and f"instruction {quant - 1} (quant): reads sram c0.t0 byte 0, never written" in r.stderr, \
        r.stderr
    # A descriptor moved past the end of DRAM: the first instruction using it is named.
    first = next(i for i, l in enumerate(lines) if re.match(r"d\d+: dram ", l))
    name = lines[first].split(":")[0]
    user = next(i for i, l in enumerate(lines[code + 1:]) if re.search(rf"={name}\b", l))
    far = lines[:first] + [lines[first].replace("@0x", "@0x7fff")] + lines[first + 1:]
    r = edited(far, "far.npub")
    assert r.returncode == 1 and f"instruction {user} (dma): dram f32 @0x7fff" in r.stderr, r.stderr
    assert not (tmp_path / "o.npz").exists()
    # Assembly that names an undeclared descriptor is refused with its line.
    (tmp_path / "bad.s").write_text(".code\ndma dst=d0, src=d1\n")
    r = run_npucc("asm", tmp_path / "bad.s", "--bundle", tmp_path / "m.npub", "-o", tmp_path / "bad.npub")
    assert r.returncode == 1 and "line 2: dma: d0 is not declared" in r.stderr and not (tmp_path / "bad.npub").exists()


@pytest.mark.parametrize("model", LOWERED)
def test_a_program_without_one_of_its_waits_is_refused_naming_both_instructions(tmp_path, model):
    r = compile_bundle(tmp_path, model, "--precision", "nvfp4", "--sparsity", "2:4", "--calib", calibration(tmp_path, model))
    assert r.returncode == 0, r.stderr
    lines = run_npucc("disasm", tmp_path / "m.npub").stdout.splitlines()
    code = lines.index(".code")
    waits = [i for i in range(code + 1, len(lines)) if lines[i].startswith("wait ")]
    assert waits, model
    # The last wait: its instruction and the signal it waited for.
    at = waits[-1]
    queue, unit, sem, count = re.match(r"wait queue=(\w+), unit=(\S+), sem=(s\d+), count=(\d+)$", lines[at]).groups()
    (tmp_path / "e.s").write_text("\n".join(lines[:at] + lines[at + 1:]) + "\n")
    r = run_npucc("asm", tmp_path / "e.s", "--bundle", tmp_path / "m.npub", "-o", tmp_path / "e.npub")
    assert r.returncode == 0, r.stderr
    r = run_npucc("inspect", tmp_path / "e.npub", "--check-sync")
    assert r.returncode == 1, r.stdout
    # The instruction after the deleted wait (it moved up to the wait's index) and the one
    # before the signal the wait counted: its queue's count-th.
    consumer = at - code - 1
    signals = [i for i in range(code + 1, len(lines)) if re.match(rf"signal after=\w+, unit=\S+, sem={sem}$", lines[i])]
    producer = signals[int(count) - 1] - 1 - code - 1
    mnemonic = lines[at + 1].split()[0]
    assert re.search(rf"error: .*e\.npub: section INST: instruction {consumer} \({mnemonic}\): on {queue} {unit}, it "
                     rf"(reads|writes) .* byte \d+, which instruction {producer} \(\w+ on .*\) (writes|reads|also writes), "
                     rf"and no signal and wait order the two", r.stderr), r.stderr
    # A wait for one signal more than the program gives deadlocks: the check, the simulator
    # and the cycle model each refuse it by instruction (the check once passed it).
    deadlocked = lines[:at] + [lines[at].rsplit("count=", 1)[0] + "count=255"] + lines[at + 1:]
    (tmp_path / "d.s").write_text("\n".join(deadlocked) + "\n")
    r = run_npucc("asm", tmp_path / "d.s", "--bundle", tmp_path / "m.npub", "-o", tmp_path / "d.npub")
    assert r.returncode == 0, r.stderr
    for command in (["inspect", "--check-sync"], ["profile"]):
        r = run_npucc(command[0], tmp_path / "d.npub", *command[1:])
        assert r.returncode == 1 and f"(wait): waits for {sem} to reach 255" in r.stderr and "deadlocks" in r.stderr, r.stderr


def disassembled(path):
    r = run_npucc("disasm", path)
    assert r.returncode == 0, r.stderr
    head, code = r.stdout.split(".code\n")
    space = {line.split(":")[0]: line.split()[1] for line in head.splitlines()[1:]}
    return space, [(line, re.findall(r"=(d\d+)", line)) for line in code.splitlines()]


def test_a_small_models_weights_are_preloaded_into_every_clusters_l2(tmp_path):
    # The digits sample's 3.6 KB of weights fit a quarter of L2: DMAs copy each layer's blob
    # into each of the 4 clusters' L2, and nothing else reads the weights. The first layer's
    # copies come first (with the signals that let its tiles wait for them), the others
    # right after the first layer's instructions, before the MaxPool after it.
    r = run_npucc("compile", SAMPLES / "digits_cnn.onnx", "-o", tmp_path / "d.npub", "--precision", "nvfp4",
                  "--calib", SAMPLES / "digits_calib.npz", "--input-shape", "input=1,1,8,8")
    assert r.returncode == 0, r.stderr
    space, reads = disassembled(tmp_path / "d.npub")
    weight_reads = [(k, line) for k, (line, ds) in enumerate(reads) if any(space[d] == "weights" for d in ds)]
    copies = [line for line, ds in reads if line.startswith("dma ") and space[ds[1]] == "weights"]
    assert len(weight_reads) == len(copies) == 3 * 4
    assert all(space[re.findall(r"dst=(d\d+)", line)[0]] == "l2" for _, line in weight_reads)
    at = [k for k, _ in weight_reads]
    products = [k for k, (line, _) in enumerate(reads) if line.startswith("mma ")]
    pooling = min(k for k, (line, _) in enumerate(reads) if line.startswith("vopp op=max_pool"))
    assert max(at[:4]) < 8 and products[0] > max(at[:4])
    assert all(products[0] < k < pooling for k in at[4:]), (at, products[0], pooling)


def test_the_nodes_before_the_first_matrix_layer_load_ahead_of_the_weight_copies(tmp_path):
    # The transformer block's weights are preloaded too; its first node, a LayerNormalization,
    # loads its input from DRAM before any copy claims DRAM's bandwidth.
    r = run_npucc("compile", SAMPLES / "transformer_block.onnx", "-o", tmp_path / "t.npub", "--precision", "fp16",
                  "--input-shape", "x=1,16,64")
    assert r.returncode == 0, r.stderr
    space, reads = disassembled(tmp_path / "t.npub")
    copies = [k for k, (line, ds) in enumerate(reads) if line.startswith("dma ") and space[ds[1]] == "weights"]
    loads = [k for k, (line, ds) in enumerate(reads) if line.startswith("dma ") and space[ds[1]] == "dram"]
    assert copies and loads and max(loads[:4]) < min(copies)


@pytest.mark.parametrize("opset", [9, 13])
def test_auto_pad_compiles_as_its_explicit_pads(tmp_path, opset):
    """A model as converters from NHWC frameworks write it (the input transposed, convolutions
    and pools with auto_pad, the shapes symbolic): once --input-shape fixes the extents, each
    auto_pad becomes its pads, the bundle runs as the interpreter does, and the interpreter
    as onnxruntime does."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(5)
    weights = [numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) / 5).astype(np.float32), "w0"),
               numpy_helper.from_array((rng.standard_normal((4, 8, 2, 2)) / 5).astype(np.float32), "w1")]
    nodes = [helper.make_node("Transpose", ["x"], ["nchw"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["nchw", "w0"], ["c0"], auto_pad="SAME_UPPER", strides=[2, 2], name="c0"),
             helper.make_node("Relu", ["c0"], ["r0"]),
             helper.make_node("MaxPool", ["r0"], ["p0"], auto_pad="SAME_LOWER", kernel_shape=[3, 3], strides=[2, 2]),
             helper.make_node("Conv", ["p0", "w1"], ["c1"], auto_pad="SAME_LOWER", name="c1"),
             helper.make_node("AveragePool", ["c1"], ["y"], auto_pad="VALID", kernel_shape=[2, 2])]
    graph = helper.make_graph(nodes, "nhwc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "h", "w", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], weights)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), tmp_path / "m.onnx")
    x = rng.standard_normal((1, 15, 17, 3)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 1, 15, 17, 3)).astype(np.float32))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "ref.npz")["y"], theirs, rtol=1e-5, atol=1e-6)
    shape = ["--input-shape", "x=1,15,17,3"]
    r = run_npucc("dump-ir", tmp_path / "m.onnx", *shape)
    assert r.returncode == 0 and "auto_pad" not in r.stdout, r.stdout
    # SAME_LOWER puts the odd row of padding first: 8 rows to 4 need 1, 9 columns to 5 need 2.
    assert "MaxPool(%r0) {kernel_shape=[3, 3], pads=[1, 1, 0, 1], strides=[2, 2]}" in r.stdout, r.stdout
    for precision in ["fp16", "nvfp4"]:
        flags = [*shape, "--precision", precision, "--calib", tmp_path / "calib.npz"]
        r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", *flags)
        assert r.returncode == 0, r.stderr
        r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "sim.npz")
        assert r.returncode == 0, r.stderr
        r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "fq.npz",
                      *flags)
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(tmp_path / "sim.npz")["y"], np.load(tmp_path / "fq.npz")["y"])


def test_a_scalar_output_of_stacked_samples_is_a_vector_in_a_bundle_as_in_the_interpreter(tmp_path):
    # A convolution's mean (a 0-d output, as torch's x.mean() exports) beside its map: run on
    # 3 stacked samples, the scalar becomes [3] and the map [3, 4, 6, 6], bundle and
    # interpreter alike, bit for bit.
    rng = np.random.default_rng(5)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["map"], name="conv"),
             helper.make_node("ReduceMean", ["map"], ["mean"], keepdims=0, name="mean")]
    graph = helper.make_graph(nodes, "scalar_out", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("mean", TensorProto.FLOAT, []),
                               helper.make_tensor_value_info("map", TensorProto.FLOAT, [1, 4, 6, 6])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    x = rng.standard_normal((3, 1, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x.reshape(3, 3, 8, 8))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 1, 3, 8, 8)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp8", "none",
                                        tmp_path / "calib.npz")
    assert sim["mean"].shape == (3,) and sim["map"].shape == (3, 4, 6, 6)
    assert_same_bits(sim, fq, ["mean", "map"])
    expected = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x[1]})
    # Sample 1's mean, within fp8's rounding of the 144 values it averages.
    np.testing.assert_allclose(sim["mean"][1], expected[0], atol=0.02 * np.sqrt(np.mean(expected[1] ** 2)))


def test_an_input_without_a_batch_axis_is_shared_by_every_stacked_sample(tmp_path):
    # y = (x + p) · W · s: x is [1, 8], p a vector [8] and s a scalar, neither with a first
    # axis of 1 to stack samples on. Three samples of x run with the one p and s, bundle and
    # interpreter alike, each as onnxruntime runs it; a p that is not [8] is refused by name.
    rng = np.random.default_rng(8)
    w = numpy_helper.from_array(rng.standard_normal((8, 4)).astype(np.float32), "w")
    nodes = [helper.make_node("Add", ["x", "p"], ["shifted"]), helper.make_node("MatMul", ["shifted", "w"], ["z"]),
             helper.make_node("Mul", ["z", "s"], ["y"])]
    graph = helper.make_graph(nodes, "shared", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8]),
                                                helper.make_tensor_value_info("p", TensorProto.FLOAT, [8]),
                                                helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    x, p, s = (rng.standard_normal((3, 8)).astype(np.float32), rng.standard_normal(8).astype(np.float32),
               np.array(0.5, np.float32))
    np.savez(tmp_path / "x.npz", x=x, p=p, s=s)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none", None)
    assert sim["y"].shape == (3, 4)
    assert_same_bits(sim, fq, ["y"])
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    expected = np.concatenate([session.run(None, {"x": x[i:i + 1], "p": p, "s": s})[0] for i in range(3)])
    np.testing.assert_allclose(sim["y"], expected, rtol=1e-2, atol=1e-2 * np.abs(expected).max())
    np.savez(tmp_path / "bad.npz", x=x, p=np.stack([p, p]), s=s)
    for model, message in [(tmp_path / "m.npub", 'input "p" has shape [2, 8]; the bundle was compiled for [8]'),
                           (tmp_path / "m.onnx", 'input "p" has shape [2, 8]; the model takes [8]')]:
        r = run_npucc("run", model, "--inputs", tmp_path / "bad.npz", "--outputs", tmp_path / "bad_out.npz")
        assert r.returncode == 1 and message in r.stderr, r.stderr
        assert not (tmp_path / "bad_out.npz").exists()


def logits_of_runs(folder, inputs, runs):
    """`npucc run` of each of `runs` ({name: the model or bundle and its flags}) on `inputs`:
    {name: its logits}."""
    outputs = {}
    for name, args in runs.items():
        r = run_npucc("run", *args, "--inputs", inputs, "--outputs", folder / f"{name}.npz")
        assert r.returncode == 0, (name, r.stderr)
        outputs[name] = np.load(folder / f"{name}.npz")["logits"]
    return outputs


def test_stacked_samples_run_one_by_one_in_the_interpreter_as_in_a_bundle(tmp_path):
    # The digits model's batch is symbolic; fixed to 1, the interpreter and the bundle each run
    # a file of 4 stacked samples once per sample, bit for bit alike, sample by sample as files
    # of one sample each.
    model, calib = ROOT / "samples" / "digits_cnn.onnx", ROOT / "samples" / "digits_calib.npz"
    x = np.load(ROOT / "samples" / "digits_test.npz")["input"][:4]
    np.savez(tmp_path / "x.npz", input=x)
    flags = ["--precision", "nvfp4", "--calib", calib]
    r = run_npucc("compile", model, "-o", tmp_path / "m.npub", "--input-shape", "input=1,1,8,8", *flags)
    assert r.returncode == 0, r.stderr
    outputs = logits_of_runs(tmp_path, tmp_path / "x.npz", {
        "bundle": [tmp_path / "m.npub"], "one_by_one": [model, "--input-shape", "input=1,1,8,8", *flags]})
    assert outputs["bundle"].shape == (4, 10)
    np.testing.assert_array_equal(outputs["one_by_one"].view(np.uint32), outputs["bundle"].view(np.uint32))
    for i in range(4):
        np.savez(tmp_path / "one.npz", input=x[i:i + 1])
        r = run_npucc("run", model, "--input-shape", "input=1,1,8,8", *flags, "--inputs", tmp_path / "one.npz",
                      "--outputs", tmp_path / "one_out.npz")
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(tmp_path / "one_out.npz")["logits"].view(np.uint32),
                                      outputs["one_by_one"][i:i + 1].view(np.uint32))


def test_rows_in_whole_batches_run_a_batch_at_a_time_in_the_interpreter_as_in_a_bundle(tmp_path):
    # Fixed to a batch of 4, a file of 12 rows runs as 3 batches, bundle and interpreter bit
    # for bit alike, each batch as a file of its own 4 rows gives it; 10 rows are not whole
    # batches and both refuse them by name, writing nothing.
    model, calib = ROOT / "samples" / "digits_cnn.onnx", ROOT / "samples" / "digits_calib.npz"
    x = np.load(ROOT / "samples" / "digits_test.npz")["input"][:12]
    np.savez(tmp_path / "x.npz", input=x)
    flags = ["--input-shape", "input=4,1,8,8", "--precision", "nvfp4", "--calib", calib]
    r = run_npucc("compile", model, "-o", tmp_path / "m.npub", *flags)
    assert r.returncode == 0, r.stderr
    outputs = logits_of_runs(tmp_path, tmp_path / "x.npz",
                             {"bundle": [tmp_path / "m.npub"], "interpreter": [model, *flags]})
    assert outputs["bundle"].shape == (12, 10)
    np.testing.assert_array_equal(outputs["interpreter"].view(np.uint32), outputs["bundle"].view(np.uint32))
    for b in range(3):
        np.savez(tmp_path / "batch.npz", input=x[4 * b:4 * b + 4])
        r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "batch.npz", "--outputs", tmp_path / "b.npz")
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(tmp_path / "b.npz")["logits"].view(np.uint32),
                                      outputs["bundle"][4 * b:4 * b + 4].view(np.uint32))
    np.savez(tmp_path / "ten.npz", input=x[:10])
    for name, args, takes in [("bundle", [tmp_path / "m.npub"], "the bundle was compiled for"),
                              ("interpreter", [model, *flags], "the model takes")]:
        r = run_npucc("run", *args, "--inputs", tmp_path / "ten.npz", "--outputs", tmp_path / "ten_out.npz")
        assert r.returncode == 1 and (f'input "input" has shape [10, 1, 8, 8]; {takes} [4, 1, 8, 8]: its 10 rows are '
                                      "not a whole number of batches of 4") in r.stderr, (name, r.stderr)
        assert not (tmp_path / "ten_out.npz").exists()


def test_one_batch_of_an_input_beside_several_of_another_is_refused(tmp_path):
    # y = (x + m) · W at a batch of 2: x of 2 batches with m of 2 batches run as 2 batches;
    # m of one batch beside them is a batch the file left out, refused by name by both.
    rng = np.random.default_rng(11)
    w = numpy_helper.from_array(rng.standard_normal((8, 4)).astype(np.float32), "w")
    nodes = [helper.make_node("Add", ["x", "m"], ["s"]), helper.make_node("MatMul", ["s", "w"], ["y"])]
    graph = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8]),
                                             helper.make_tensor_value_info("m", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    x, m = rng.standard_normal((4, 8)).astype(np.float32), rng.standard_normal((4, 8)).astype(np.float32)
    np.savez(tmp_path / "good.npz", x=x, m=m)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "good.npz", tmp_path, "fp16", "none", None)
    assert sim["y"].shape == (4, 4)
    assert_same_bits(sim, fq, ["y"])
    np.savez(tmp_path / "bad.npz", x=x, m=m[:2])
    for model in [tmp_path / "m.npub", tmp_path / "m.onnx"]:
        r = run_npucc("run", model, "--inputs", tmp_path / "bad.npz", "--outputs", tmp_path / "bad_out.npz")
        assert r.returncode == 1 and ('input "m" has one batch of 2 rows, [2, 8], where "x" holds 2 batches; give every '
                                      "input of that batch 4 rows") in r.stderr, r.stderr
        assert not (tmp_path / "bad_out.npz").exists()
