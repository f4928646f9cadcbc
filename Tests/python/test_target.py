"""The target description: the shipped default and broken files against
schemas/target.schema.json (draft 2020-12), and `npucc target` on the same files."""
import copy
import json
import re

import pytest
from jsonschema import Draft202012Validator

from conftest import ROOT, run_npucc

SCHEMA = json.loads((ROOT / "schemas" / "target.schema.json").read_text())
SEED_PATH = ROOT / "Sources" / "Target" / "Resources" / "npu-seed.json"
SEED = json.loads(SEED_PATH.read_text())
VALIDATOR = Draft202012Validator(SCHEMA)


def schema_errors(doc):
    return [e.message for e in VALIDATOR.iter_errors(doc)]


def npucc_error(tmp_path, doc):
    """Runs `npucc target --target` on `doc`; it must fail with one error line, returned."""
    path = tmp_path / "broken.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
    r = run_npucc("target", "--target", path, timeout=10)
    assert r.returncode == 1, f"exit {r.returncode}: {r.stdout}{r.stderr}"
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"npucc: error: {path}: "), r.stderr
    return lines[0][len(f"npucc: error: {path}: "):]


def edited(edit):
    doc = copy.deepcopy(SEED)
    edit(doc)
    return doc


def test_schema_is_draft_2020_12():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_default_target_validates():
    assert schema_errors(SEED) == []


def test_json_output_is_the_shipped_file(npucc, tmp_path):
    r = run_npucc("target", "--json")
    assert r.returncode == 0, r.stderr
    assert r.stdout == SEED_PATH.read_text()
    assert schema_errors(json.loads(r.stdout)) == []
    # An edited copy reads back through --target and --json unchanged.
    doc = edited(lambda d: d["compute"].update(clusters=2, sparse_2_4_speedup=1.5))
    path = tmp_path / "two.json"
    path.write_text(json.dumps(doc))
    r = run_npucc("target", "--target", path, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == doc


def test_summary(npucc):
    r = run_npucc("target")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "target:       npu-seed (built in)" in out
    assert "clock:        1 GHz" in out
    assert "4 clusters x 16 tiles x 20x20 MACs = 25,600 MACs" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  ")}
    assert rows["fp16"][1:] == ["1x", "25,600", "51.2", "51,200", "102.4"]
    assert rows["fp8"][1:] == ["2x", "51,200", "102.4", "102,400", "204.8"]
    assert rows["nvfp4"][1:] == ["4x", "102,400", "204.8", "204,800", "409.6"]
    assert re.search(r"sram +per tile +32\.0 KiB +2\.0 MiB +128 +8,192 +2 cycles", out), out
    assert re.search(r"l2 +per cluster +512\.0 KiB +2\.0 MiB +1,024 +4,096 +16 cycles", out), out
    assert re.search(r"l3 +global +8\.0 MiB +8\.0 MiB +2,048 +2,048 +48 cycles", out), out
    assert re.search(r"dram +global +32\.0 GiB +32\.0 GiB +1,000 +1,000 +200 cycles", out), out
    assert "mode switch:  3 cycles, data rearrangement 2, pipeline flush 10" in out
    assert "conversions:  nvfp4 -> fp8 1 cycle, fp8 -> nvfp4 2 cycles" in out


def _drop(path):
    def edit(d):
        *parents, last = path
        for p in parents:
            d = d[p]
        del d[last]
    return edit


def _set(path, value):
    def edit(d):
        *parents, last = path
        for p in parents:
            d = d[p]
        d[last] = value
    return edit


# Broken files both the schema and npucc refuse: (edit, the field npucc names, a phrase).
BOTH = [
    (_set(["colour"], "red"), "colour", "unknown field"),
    (_set(["memories", 1, "size"], 4), "memories[1].size", "unknown field"),
    (_set(["compute", "mac_rate", "int8"], 2), "compute.mac_rate.int8", "unknown field"),
    (_drop(["clock_hz"]), "clock_hz", "missing"),
    (_drop(["compute", "mac_array", "rows"]), "compute.mac_array.rows", "missing"),
    (_drop(["memories", 3, "latency_cycles"]), "memories[3].latency_cycles", "missing"),
    (_set(["compute", "clusters"], "4"), "compute.clusters", "expected an integer"),
    (_set(["compute", "tiles_per_cluster"], 16.5), "compute.tiles_per_cluster", "expected an integer"),
    (_set(["memories", 1, "scope"], "board"), "memories[1].scope", "expected one of tile, cluster, global"),
    (_set(["compute", "accumulation", "format"], "int32"), "compute.accumulation.format", "unknown value"),
    (_set(["compute", "accumulation", "format"], "fp16"), "compute.accumulation.format", "must be fp32"),
    (_set(["compute", "accumulation", "block_products"], 16), "compute.accumulation.block_products", "must be 1"),
    (_set(["version"], 2), "version", "not supported"),
    (_set(["name"], "  "), "name", "must not be empty"),
    (_set(["description"], None), "description", "must be a string, not null"),
    (_set(["clock_hz"], 0), "clock_hz", "must be positive (got 0)"),
    (_set(["compute", "mac_array", "columns"], -20), "compute.mac_array.columns", "must be positive"),
    (_set(["compute", "mac_rate", "nvfp4"], 0), "compute.mac_rate.nvfp4", "must be at least 1/65536"),
    (_set(["compute", "mac_rate", "fp8"], 1e-300), "compute.mac_rate.fp8", "must be at least 1/65536"),
    (_set(["compute", "clusters"], 257), "compute.clusters", "must be at most 256"),
    (_set(["compute", "tiles_per_cluster"], 256), "compute.tiles_per_cluster", "must be at most 255"),
    (_set(["compute", "mac_rate", "fp16"], 2), "compute.mac_rate.fp16", "must be 1"),
    (_set(["compute", "sparse_2_4_speedup"], 3), "compute.sparse_2_4_speedup", "between 1 and 2"),
    (_set(["memories", 2, "size_bytes"], 0), "memories[2].size_bytes", "must be positive"),
    (_set(["memories", 3, "bandwidth_bytes_per_cycle"], -1), "memories[3].bandwidth_bytes_per_cycle", "must be positive"),
    (_set(["memories"], []), "memories", "at least one"),
    (_set(["memories", 2, "name"], "L3"), "memories[2].name", "not a memory name"),
    (_set(["dma", "queues_per_cluster"], 0), "dma.queues_per_cluster", "must be positive"),
    (_set(["vector", "lanes_per_tile"], 0), "vector.lanes_per_tile", "must be positive"),
    (_set(["mode_costs", "pipeline_flush_cycles"], -1), "mode_costs.pipeline_flush_cycles", "must not be negative"),
    (_set(["alignment", "weight_bytes"], 0), "alignment.weight_bytes", "power of two"),
]

# Broken files only npucc refuses: relations between fields a JSON Schema cannot state.
NPUCC_ONLY = [
    (_set(["memories", 2, "size_bytes"], 262144), "memories[2].size_bytes",
     "l3 (262144 bytes) is smaller than the nearer l2 (524288 bytes)"),
    (lambda d: (d["memories"][1].update(scope="global"), d["memories"][2].update(scope="cluster")),
     "memories[2].scope", "l3 is per cluster but the nearer l2 is global"),
    (_set(["memories", 0, "scope"], "cluster"), "memories[0].scope", "must be per tile"),
    (_set(["memories", 3, "scope"], "cluster"), "memories[3].scope", "is global"),
    (_set(["memories", 2, "name"], "l2"), "memories[2].name", "listed twice"),
    (_set(["alignment", "activation_bytes"], 48), "alignment.activation_bytes", "power of two"),
    (_set(["memories", 0, "size_bytes"], 32800), "memories[0].size_bytes", "not a multiple of the 64-byte alignment"),
    (_set(["compute", "mac_array"], {"rows": 128, "columns": 128}), "compute.mac_array", "needs 33536 bytes"),
]


@pytest.mark.parametrize("edit,field,phrase", BOTH, ids=[c[1] + ":" + c[2] for c in BOTH])
def test_schema_and_npucc_refuse(npucc, tmp_path, edit, field, phrase):
    doc = edited(edit)
    assert schema_errors(doc), "the schema accepted it"
    message = npucc_error(tmp_path, doc)
    assert message.startswith(field + ": ") and phrase in message, message


@pytest.mark.parametrize("edit,field,phrase", NPUCC_ONLY, ids=[c[1] + ":" + c[2] for c in NPUCC_ONLY])
def test_npucc_refuses_what_the_schema_cannot_state(npucc, tmp_path, edit, field, phrase):
    doc = edited(edit)
    message = npucc_error(tmp_path, doc)
    assert message.startswith(field + ": ") and phrase in message, message


def test_not_json_and_missing_file(npucc, tmp_path):
    assert npucc_error(tmp_path, '{\n  "version": 1,\n  "name" "x"\n}').startswith("not valid JSON: syntax error at line 3")
    assert npucc_error(tmp_path, "[1]") == "expected an object"
    r = run_npucc("target", "--target", tmp_path / "nope.json")
    assert r.returncode == 1
    assert r.stderr == f"npucc: error: {tmp_path / 'nope.json'}: no such file\n"


def test_every_schema_field_is_documented():
    """Every leaf field of the schema has a row in schemas/target.md, by its full path."""
    def leaves(node, path):
        if "$ref" in node:
            node = SCHEMA["$defs"][node["$ref"].split("/")[-1]]
        if "properties" in node:
            for name, sub in node["properties"].items():
                yield from leaves(sub, f"{path}.{name}" if path else name)
        elif node.get("type") == "array":
            yield from leaves(node["items"], path + "[]")
        else:
            yield path
    paths = list(leaves(SCHEMA, ""))
    assert "memories[].latency_cycles" in paths and "compute.mac_array.rows" in paths
    prose = (ROOT / "schemas" / "target.md").read_text()
    assert [p for p in paths if f"`{p}`" not in prose] == []


def test_memory_levels_play_their_roles_whatever_their_names(tmp_path):
    """The compiler finds L2, L3 and DRAM by scope and place, as the cycle model does: levels
    renamed give the same program; a target without L3 compiles a program the simulator runs
    (it once compiled with DRAM's bandwidth unknown, and used an L3 the cycle model lacked)."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    import npub

    target = json.loads(run_npucc("target", "--json").stdout)
    renamed = copy.deepcopy(target)
    for level, name in zip(renamed["memories"], ["tmem", "cbuf", "gbuf", "hbm"]):
        level["name"] = name
    without_l3 = copy.deepcopy(target)
    del without_l3["memories"][3]
    model, inputs = ROOT / "samples" / "digits_cnn.onnx", ROOT / "samples" / "digits_test.npz"
    bundles = {}
    for name, doc in [("seed", target), ("renamed", renamed), ("without_l3", without_l3)]:
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
        r = run_npucc("compile", model, "-o", tmp_path / f"{name}.npub", "--input-shape", "input=1,1,8,8",
                      "--target", tmp_path / f"{name}.json")
        assert r.returncode == 0, r.stderr
        bundles[name] = npub.read_bundle(tmp_path / f"{name}.npub")
    for kind in ["DESC", "INST", "CNST", "WGHT"]:
        assert bytes(bundles["renamed"][kind]) == bytes(bundles["seed"][kind]), kind
    assert b"l3 " not in run_npucc("disasm", tmp_path / "without_l3.npub").stdout.encode()
    r = run_npucc("run", tmp_path / "without_l3.npub", "--inputs", inputs, "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("profile", tmp_path / "without_l3.npub", "--target", tmp_path / "without_l3.json")
    assert r.returncode == 0, r.stderr


def test_a_key_given_twice_is_refused_by_its_place(tmp_path):
    """JSON leaves a repeated key undefined and Foundation's readers disagree on it (one keeps
    the first value, one the last): an override appended to a copied file is refused, not
    read or dropped by chance, wherever its object is; so is one given to `compile` and
    `profile`."""
    text = json.dumps(SEED, indent=2)
    top = text.replace('"clock_hz": ', '"clock_hz": 2000000000,\n  "clock_hz": ', 1)
    assert npucc_error(tmp_path, top) == (
        "clock_hz: is given twice in its object; JSON readers disagree on which value counts")
    nested = text.replace('"latency_cycles": 16', '"latency_cycles": 16, "latency_cycles": 8', 1)
    assert npucc_error(tmp_path, nested).startswith("memories[1].latency_cycles: is given twice")
    (tmp_path / "twice.json").write_text(top)
    r = run_npucc("compile", ROOT / "samples" / "digits_cnn.onnx", "-o", tmp_path / "m.npub",
                  "--input-shape", "input=1,1,8,8", "--target", tmp_path / "twice.json")
    assert r.returncode == 1 and "twice.json: clock_hz: is given twice" in r.stderr, r.stderr
    assert not (tmp_path / "m.npub").exists()
