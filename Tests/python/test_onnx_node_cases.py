"""ONNX's own operator test cases (`onnx.backend.test.case.node`, some 1,900 single-node
models with the reference implementation's outputs, every opset the wheel knows) through
`npucc run`.

npucc does not support every operator (optimizers, string ops, random draws are
refused by name), but it must never compute a wrong result silently: every case either
gives the expected outputs (rtol 1e-3, atol 1e-4, as for float16 cases; two units in the last
place of bfloat16 for its cases, which the reference computes in bfloat16), or fails with a
clear error naming the model or the inputs file, exit status 1 and no output file. The exceptions are
listed in `AGREES_WITH_ONNXRUNTIME`, where onnxruntime and ONNX's reference differ and npucc
gives onnxruntime's result, which this test checks. Writes .build/onnx-node-cases.txt."""
import concurrent.futures
import os
import warnings

import ml_dtypes
import numpy as np
import onnx
import onnxruntime as ort

from conftest import ROOT, npucc_path, run_npucc

# Resize with align_corners and scales that shrink: ONNX's reference maps coordinates with
# the unrounded output extent (input x scale), onnxruntime with the output's own.
# MaxUnpool with an output_shape larger than its attributes give: ONNX's reference reads the
# indices in the smaller shape and pads after it, onnxruntime (as torch's max_unpool) in
# output_shape's, where the Indices of a MaxPool over an input of that shape point.
AGREES_WITH_ONNXRUNTIME = {"test_resize_downsample_scales_cubic_align_corners",
                           "test_resize_downsample_scales_linear_align_corners",
                           "test_maxunpool_export_with_output_shape"}
RTOL, ATOL = 1e-3, 1e-4
# bfloat16 cases: the reference rounds every step to bfloat16 (8 significant bits), npucc
# computes in float32 (as it says when it reads such a model); two of bfloat16's units in the
# last place apart, as RTOL is about two of float16's.
BF16_RTOL, BF16_ATOL = 2.0**-6, 2.0**-8


def close(have, want):
    if have.shape != want.shape:
        return False
    if want.dtype == ml_dtypes.bfloat16:
        return np.allclose(have.astype(np.float64), want.astype(np.float64), rtol=BF16_RTOL, atol=BF16_ATOL,
                           equal_nan=True)
    if want.dtype.kind in "fc":
        return np.allclose(have.astype(np.float64), want.astype(np.float64), rtol=RTOL, atol=ATOL, equal_nan=True)
    return have.astype(want.dtype).tobytes() == want.tobytes()


def run_case(args):
    """Returns (name, status, detail): PASS, WRONG, FAIL (refused with a clear error), BAD (an
    unclear failure: a crash, another exit status, no message, an output file left) or SKIP
    (inputs or outputs that are not tensors)."""
    index, case, folder = args
    model = case.model
    path, inputs, outputs = folder / f"{index}.onnx", folder / f"{index}-in.npz", folder / f"{index}-out.npz"
    onnx.save(model, str(path))
    inits = {t.name for t in model.graph.initializer}
    names = [v.name for v in model.graph.input if v.name not in inits]
    given, expected = case.data_sets[0]
    # A numpy scalar is a 0-d tensor.
    given, expected = ([np.asarray(x) if isinstance(x, np.generic) else x for x in xs] for xs in (given, expected))
    if not all(isinstance(x, np.ndarray) for x in list(given) + list(expected)):
        return case.name, "SKIP", "an input or output is not a tensor"
    try:
        np.savez(inputs, **dict(zip(names, given)))
    except Exception as e:  # dtypes numpy cannot store (bfloat16, 4-bit)
        return case.name, "SKIP", f"inputs not storable in .npz: {e}"
    r = run_npucc("run", path, "--inputs", inputs, "--outputs", outputs)
    if r.returncode != 0:
        message = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        # Named: the model, or the inputs file.
        named = [f for f in (path, inputs) if message.startswith(f"npucc: error: {f}: ")]
        if r.returncode != 1 or not named or outputs.exists():
            return case.name, "BAD", f"exit {r.returncode}: {r.stderr.strip()[-300:]}"
        return case.name, "FAIL", message[len(f"npucc: error: {named[0]}: "):]
    got = np.load(outputs)
    wrong = [o.name for o, want in zip(model.graph.output, expected) if o.name not in got or not close(got[o.name], want)]
    if not wrong:
        return case.name, "PASS", ""
    if case.name in AGREES_WITH_ONNXRUNTIME:
        theirs = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, dict(zip(names, given)))
        if all(close(got[o.name], want) for o, want in zip(model.graph.output, theirs)):
            return case.name, "PASS", "as onnxruntime computes it"
    return case.name, "WRONG", ", ".join(wrong)


def test_every_case_computes_the_expected_outputs_or_is_refused_clearly(tmp_path):
    assert os.path.exists(npucc_path())
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators' own overflow warnings
        cases = [c for c in collect_testcases() if c.data_sets]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run_case, [(i, c, tmp_path) for i, c in enumerate(cases)]))
    counts = {k: sum(1 for _, s, _ in results if s == k) for k in ["PASS", "FAIL", "SKIP", "WRONG", "BAD"]}
    lines = [f"{s:5} {name}" + (f": {detail}" if detail else "") for name, s, detail in sorted(results)]
    summary = ", ".join(f"{v} {k.lower()}" for k, v in counts.items())
    (ROOT / ".build").mkdir(exist_ok=True)
    (ROOT / ".build" / "onnx-node-cases.txt").write_text("\n".join(lines + [summary]) + "\n")
    print("\nonnx node cases: " + summary)
    silent = [line for line in lines if line.startswith(("WRONG", "BAD"))]
    assert not silent, "wrong results or unclear failures:\n" + "\n".join(silent)
    # Most of what the wheel tests computes (1,543 of 1,669 with onnx 1.23, 215 skipped).
    assert counts["PASS"] >= 0.6 * (counts["PASS"] + counts["FAIL"]), summary
