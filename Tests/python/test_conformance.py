"""ONNX's own backend suites (pytorch-converted and pytorch-operator, shipped in the onnx
wheel) through `npucc run`, compared with the expected outputs (rtol 1e-4, atol 1e-5).

Prints a line per case and `conformance: N passed, N failed, N skipped`; at least 90% of
all cases must pass and none may crash.
"""
import concurrent.futures
import os
import pathlib
import subprocess
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

from conftest import ROOT, npucc_path

SUITES = ["pytorch-converted", "pytorch-operator"]
DATA = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data"
RTOL, ATOL = 1e-4, 1e-5


def load_pb(path):
    t = onnx.TensorProto()
    t.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(t)


def run_case(case):
    """Returns (status, detail): status is PASS, FAIL, SKIP or CRASH."""
    model = onnx.load(str(case / "model.onnx"), load_external_data=False)
    inits = {t.name for t in model.graph.initializer}
    inputs = [v.name for v in model.graph.input if v.name not in inits]
    outputs = [v.name for v in model.graph.output]
    for v in model.graph.input:
        if v.name not in inits and not v.type.HasField("tensor_type"):
            return "SKIP", f"input {v.name} is not a tensor"
    sets = sorted(case.glob("test_data_set_*"))
    if not sets:
        return "SKIP", "no test data set"
    with tempfile.TemporaryDirectory() as tmp:
        for data_set in sets:
            feeds = {name: load_pb(data_set / f"input_{i}.pb") for i, name in enumerate(inputs)}
            expected = [load_pb(data_set / f"output_{i}.pb") for i in range(len(outputs))]
            inp, out = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
            np.savez(inp, **feeds)
            r = subprocess.run([npucc_path(), "run", str(case / "model.onnx"), "--inputs", inp, "--outputs", out],
                               capture_output=True, text=True, timeout=120)
            if r.returncode >= 128 or r.returncode < 0 or "Fatal error" in r.stderr:
                return "CRASH", f"exit {r.returncode}: {r.stderr.strip()[-300:]}"
            if r.returncode != 0:
                return "FAIL", r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
            got = np.load(out)
            for name, want in zip(outputs, expected):
                if name not in got:
                    return "FAIL", f"output {name} missing"
                have = got[name]
                if have.shape != want.shape:
                    return "FAIL", f"output {name}: shape {have.shape}, expected {want.shape}"
                if have.dtype != want.dtype:
                    return "FAIL", f"output {name}: dtype {have.dtype}, expected {want.dtype}"
                if not np.allclose(have, want, rtol=RTOL, atol=ATOL, equal_nan=True):
                    err = np.abs(have.astype(np.float64) - want.astype(np.float64))
                    return "FAIL", f"output {name}: max abs error {err.max():.3g}"
    return "PASS", ""


def test_backend_suites():
    cases = [DATA / s / c for s in SUITES for c in sorted(os.listdir(DATA / s))]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run_case, cases))
    lines = []
    for case, (status, detail) in zip(cases, results):
        lines.append(f"{status:5} {case.parent.name}/{case.name}" + (f": {detail}" if detail else ""))
    counts = {k: sum(1 for s, _ in results if s == k) for k in ["PASS", "FAIL", "SKIP", "CRASH"]}
    summary = (f"conformance: {counts['PASS']} passed, {counts['FAIL'] + counts['CRASH']} failed, "
               f"{counts['SKIP']} skipped")
    report = "\n".join(lines + [summary])
    (ROOT / ".build").mkdir(exist_ok=True)
    (ROOT / ".build" / "conformance-report.txt").write_text(report + "\n")
    print("\n" + report)
    crashed = [l for l in lines if l.startswith("CRASH")]
    assert not crashed, "cases crashed:\n" + "\n".join(crashed)
    assert counts["PASS"] >= 0.9 * len(cases), summary
