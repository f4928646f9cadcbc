"""`npucc profile`: the text table and --json carry the same numbers, the layers add up to the
latency, and what is not a bundle, a damaged bundle, a target with other tiles or layers
outside the program is refused in one line."""
import json
import sys

from conftest import ROOT, run_npucc

sys.path.insert(0, str(ROOT / "tools"))
import npub  # noqa: E402

SAMPLES = ROOT / "samples"


def compile_digits(tmp_path, *flags):
    out = tmp_path / "digits.npub"
    r = run_npucc("compile", SAMPLES / "digits_cnn.onnx", "-o", out, "--input-shape", "input=1,1,8,8",
                  "--calib", SAMPLES / "digits_calib.npz", *flags)
    assert r.returncode == 0, r.stderr
    return out


def test_text_and_json_agree_and_add_up(tmp_path):
    bundle = compile_digits(tmp_path, "--precision", "nvfp4", "--sparsity", "2:4", "--prune", "magnitude")
    text = run_npucc("profile", bundle)
    assert text.returncode == 0, text.stderr
    data = run_npucc("profile", bundle, "--json")
    assert data.returncode == 0, data.stderr
    p = json.loads(data.stdout)
    assert p["target"] == "npu-seed" and p["memories"] == ["sram", "l2", "l3", "dram"]
    assert [l["name"] for l in p["layers"]] == ["conv1", "pool1", "conv2", "pool2", "fc"]
    assert sum(l["cycles"] for l in p["layers"]) == p["total"]["cycles"]
    assert sum(l["macs"] for l in p["layers"]) == p["total"]["macs"] == 84224
    assert abs(p["total"]["effective_tops"] - 2 * 84224 / p["total"]["seconds"] / 1e12) < 1e-9
    rows = {line.split()[0]: line.split() for line in text.stdout.splitlines()[2:7]}
    for layer in p["layers"]:
        row = rows[layer["name"]]
        assert row[1] == layer["op"] and row[2] == layer["precision"]
        assert int(row[3].replace(",", "")) == layer["cycles"]
        assert int(row[4].replace(",", "")) == layer["macs"]
        assert [int(v.replace(",", "")) for v in row[6:10]] == [layer["bytes"][m] for m in p["memories"]]
        assert row[10] == layer["bound"]
    assert f"latency:  {p['total']['cycles']:,} cycles" in text.stdout
    # The same bundle prints the same bytes.
    assert run_npucc("profile", bundle, "--json").stdout == data.stdout


def test_products_of_two_activations_count_their_macs_at_fp16(tmp_path):
    out = tmp_path / "t.npub"
    r = run_npucc("compile", SAMPLES / "transformer_block.onnx", "-o", out, "--input-shape", "x=1,16,64",
                  "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    data = run_npucc("profile", out, "--json")
    assert data.returncode == 0, data.stderr
    layers = {l["name"]: l for l in json.loads(data.stdout)["layers"]}
    # 4 heads of [16, 16] x [16, 16]: 4 * 16 * 16 * 16 products each.
    for name in ["scores_raw", "ctx_heads"]:
        assert layers[name]["macs"] == 16384 and layers[name]["precision"] == "fp16", layers[name]
    assert layers["q_mm"]["macs"] == 16 * 64 * 64


def test_errors_are_one_line(tmp_path):
    r = run_npucc("profile", SAMPLES / "digits_cnn.onnx")
    assert r.returncode == 1 and r.stderr.startswith("npucc: error: ") and "not a bundle" in r.stderr, r.stderr
    bundle = compile_digits(tmp_path, "--precision", "fp16")
    damaged = bytearray(bundle.read_bytes())
    damaged[len(damaged) // 2] ^= 0x10
    (tmp_path / "bad.npub").write_bytes(damaged)
    r = run_npucc("profile", tmp_path / "bad.npub")
    assert r.returncode == 1 and "checksum mismatch" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    target = json.loads(run_npucc("target", "--json").stdout)
    target["compute"]["tiles_per_cluster"] = 8
    (tmp_path / "t.json").write_text(json.dumps(target))
    r = run_npucc("profile", bundle, "--target", tmp_path / "t.json")
    assert r.returncode == 1 and "the bundle was compiled for 4 x 16" in r.stderr, r.stderr


def test_layers_outside_the_program_are_refused(tmp_path):
    bundle = compile_digits(tmp_path, "--precision", "fp16")
    b = npub.verify(bundle)
    meta = b.metadata
    meta["program"]["layers"][1]["first"] = 10**6
    sections = {k: v.tobytes() for k, v in b.sections.items() if k != "META"}
    npub.write_bundle(tmp_path / "edited.npub", meta, sections)
    r = run_npucc("profile", tmp_path / "edited.npub")
    assert r.returncode == 1 and 'program.layers[1] ("pool1")' in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_trace_holds_the_schedule_the_table_sums(tmp_path):
    bundle = compile_digits(tmp_path, "--precision", "nvfp4", "--sparsity", "2:4", "--prune", "magnitude")
    trace = tmp_path / "trace.json"
    r = run_npucc("profile", bundle, "--json", "--trace", trace)
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)
    assert r.stdout == run_npucc("profile", bundle, "--json").stdout
    events = json.loads(trace.read_text())["traceEvents"]
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == "thread_name"}
    spans = [e for e in events if e["ph"] == "X"]
    layers = [e for e in spans if e["pid"] == 0]
    instructions = [e for e in spans if e["pid"] > 0]
    # The layer row: the profile's layers, end to end, in its cycles (1 GHz: a cycle is 0.001 us).
    assert [e["name"] for e in layers] == [l["name"] for l in p["layers"]]
    at = 0
    for e, l in zip(layers, p["layers"]):
        assert round(e["ts"] * 1000) == at and round(e["dur"] * 1000) == l["cycles"], (e, l)
        at += l["cycles"]
    assert at == p["total"]["cycles"]
    # Every instruction on a named unit; a unit holds one instruction at a time; results
    # complete no earlier than the unit is released, and the last at the latency.
    by_thread = {}
    for e in instructions:
        assert (e["pid"], e["tid"]) in threads, e
        by_thread.setdefault((e["pid"], e["tid"]), []).append(e)
    names = {threads[k].split(" ", 1)[-1] for k in by_thread}
    assert {"matrix", "vector", "dma 0"} <= names, names
    for k, run in by_thread.items():
        cycles = sorted((round(e["ts"] * 1000), round((e["ts"] + e["dur"]) * 1000)) for e in run)
        assert all(a[1] <= b[0] for a, b in zip(cycles, cycles[1:])), threads[k]
        for e in run:
            assert e["dur"] > 0 and e["args"]["complete"] >= e["ts"] + e["dur"] - 1e-9, e
    assert max(round(e["args"]["complete"] * 1000) for e in instructions) == p["total"]["cycles"]
    # Each matrix unit's instructions are the program's mma, all of them.
    program = run_npucc("disasm", bundle).stdout.split(".code", 1)[1]
    mma = [e for e in instructions if threads[(e["pid"], e["tid"])].endswith("matrix")]
    assert {e["name"] for e in mma} == {"mma"} and len(mma) == program.count("\nmma ")
    # Bytes per layer and memory level add up to the table's.
    for l in p["layers"]:
        moved = dict.fromkeys(p["memories"], 0)
        for e in instructions:
            if e["args"]["layer"] == l["name"] and "bytes" in e["args"]:
                for side in ("from", "to"):
                    if side in e["args"]:
                        moved[e["args"][side]] += e["args"]["bytes"]
        assert moved == l["bytes"], (l["name"], moved, l["bytes"])
    # The same bundle gives the same trace; a trace that cannot be written fails by its name
    # and leaves nothing behind.
    again = tmp_path / "again.json"
    assert run_npucc("profile", bundle, "--trace", again).returncode == 0
    assert again.read_bytes() == trace.read_bytes()
    r = run_npucc("profile", bundle, "--trace", tmp_path / "missing" / "t.json")
    assert r.returncode == 1 and "missing/t.json" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert not (tmp_path / "missing").exists()
