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
