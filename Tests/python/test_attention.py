"""Attention (opset 23) as exporters write it for scaled_dot_product_attention: 3-D inputs
split into heads, grouped-query K and V, the default and a given scale, a softcap, boolean
and float masks and the causal triangle compute as onnxruntime computes them; a row masked
entirely is zero, as the operator defines; a projection block around it runs on the simulator
bit for bit as the interpreter runs it; a key-value cache gives present_key and present_value
and moves the causal triangle on, and qk_matmul_output gives each of its four modes, as
onnxruntime computes them, a decoding step compiling bit for bit; a static cache (opset 24's
TensorScatter writing each batch's new keys at its write index, linear or circular, and
Attention's nonpad_kv_seqlen masking the padding and moving the causal triangle and the
window on per batch) computes as onnxruntime computes it and compiles bit for bit; both
caches at once, half a cache and an attribute the import does not know are refused by node; sliding windows
(opset 25) compute as onnxruntime computes them."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(2323)
B, S, D = 2, 6, 8


def value(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def save(path, nodes, inputs, outputs, inits=(), opset=23):
    graph = helper.make_graph(nodes, "attention", inputs, outputs, list(inits))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def compare(path, feeds, folder, atol=2e-6):
    np.savez(folder / "in.npz", **feeds)
    r = run_npucc("run", path, "--inputs", folder / "in.npz", "--outputs", folder / "out.npz")
    assert r.returncode == 0, r.stderr
    got = np.load(folder / "out.npz")["y"]
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)
    return got


CASES = {
    "grouped": dict(q_num_heads=4, kv_num_heads=2),
    "causal": dict(q_num_heads=4, kv_num_heads=4, is_causal=1),
    "scaled-softcap": dict(q_num_heads=2, kv_num_heads=1, scale=0.2, softcap=3.0),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("mask", [None, "bool", "float"])
def test_three_d_attention_computes_as_onnxruntime(tmp_path, case, mask):
    attributes = CASES[case]
    hq, hkv = attributes["q_num_heads"], attributes["kv_num_heads"]
    inputs = [value("q", [B, S, hq * D]), value("k", [B, S, hkv * D]), value("v", [B, S, hkv * D])]
    feeds = {"q": RNG.standard_normal((B, S, hq * D)).astype(np.float32),
             "k": RNG.standard_normal((B, S, hkv * D)).astype(np.float32),
             "v": RNG.standard_normal((B, S, hkv * D)).astype(np.float32)}
    names = ["q", "k", "v"]
    if mask:
        inputs.append(value("m", [B, 1, S, S], TensorProto.BOOL if mask == "bool" else TensorProto.FLOAT))
        keep = RNG.random((B, 1, S, S)) < 0.7
        keep[..., 0] = True  # no row masked entirely (onnxruntime and the definition differ there)
        feeds["m"] = keep if mask == "bool" else np.where(keep, 0.5, -10.0).astype(np.float32)
        names.append("m")
    save(tmp_path / "a.onnx", [helper.make_node("Attention", names, ["y"], name="attn", **attributes)], inputs,
         [value("y", [B, S, hq * D])])
    compare(tmp_path / "a.onnx", feeds, tmp_path)


def test_four_d_attention_with_grouped_heads_computes_as_onnxruntime(tmp_path):
    shapes = {"q": [B, 4, S, D], "k": [B, 2, S + 2, D], "v": [B, 2, S + 2, D + 4]}
    feeds = {n: RNG.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    save(tmp_path / "a.onnx", [helper.make_node("Attention", ["q", "k", "v"], ["y"], name="attn")],
         [value(n, s) for n, s in shapes.items()], [value("y", [B, 4, S, D + 4])])
    compare(tmp_path / "a.onnx", feeds, tmp_path)


def test_a_row_masked_entirely_is_zero(tmp_path):
    shapes = {"q": [1, 2, 4, D], "k": [1, 2, 4, D], "v": [1, 2, 4, D]}
    feeds = {n: RNG.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    keep = np.ones((1, 1, 4, 4), bool)
    keep[0, 0, 2] = False
    feeds["m"] = keep
    save(tmp_path / "a.onnx", [helper.make_node("Attention", ["q", "k", "v", "m"], ["y"], name="attn")],
         [value(n, s) for n, s in shapes.items()] + [value("m", [1, 1, 4, 4], TensorProto.BOOL)],
         [value("y", [1, 2, 4, D])])
    np.savez(tmp_path / "in.npz", **feeds)
    r = run_npucc("run", tmp_path / "a.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "out.npz")["y"]
    assert (y[:, :, 2] == 0).all() and (y[:, :, [0, 1, 3]] != 0).all()
    # The other rows as onnxruntime computes them.
    want = ort.InferenceSession(str(tmp_path / "a.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    np.testing.assert_allclose(y[:, :, [0, 1, 3]], want[:, :, [0, 1, 3]], rtol=1e-5, atol=2e-6)


def block(path, hidden=32, heads=4, kv_heads=2):
    """x [1, S, hidden] -> Q, K, V projections -> causal grouped-query Attention -> output
    projection."""
    size = hidden // heads
    inits = [numpy_helper.from_array((RNG.standard_normal((hidden, n)) / np.sqrt(hidden)).astype(np.float32), w)
             for w, n in [("wq", hidden), ("wk", kv_heads * size), ("wv", kv_heads * size), ("wo", hidden)]]
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"], name="q_proj"),
             helper.make_node("MatMul", ["x", "wk"], ["k"], name="k_proj"),
             helper.make_node("MatMul", ["x", "wv"], ["v"], name="v_proj"),
             helper.make_node("Attention", ["q", "k", "v"], ["a"], q_num_heads=heads, kv_num_heads=kv_heads, is_causal=1,
                              name="attn"),
             helper.make_node("MatMul", ["a", "wo"], ["y"], name="o_proj")]
    save(path, nodes, [value("x", [1, S, hidden])], [value("y", [1, S, hidden])], inits)


def test_an_attention_block_computes_as_onnxruntime(tmp_path):
    block(tmp_path / "b.onnx")
    compare(tmp_path / "b.onnx", {"x": RNG.standard_normal((1, S, 32)).astype(np.float32)}, tmp_path, atol=1e-5)


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_an_attention_block_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    block(tmp_path / "b.onnx")
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((1, S, 32)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, S, 32)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "b.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz", extra=["--input-shape", f"x=1,{S},32"])
    assert_same_bits(sim, fq, ["y"])


@pytest.mark.parametrize("window", [
    dict(is_causal=1, left_window_size=2),                    # a causal window: the key and the 2 before it
    dict(left_window_size=1, right_window_size=2),            # a bidirectional band
    dict(right_window_size=0),                                # no key after the query: causal by the window
    dict(left_window_size=0, right_window_size=0, mask=True),  # the diagonal alone, and a float mask
])
def test_a_sliding_window_computes_as_onnxruntime(tmp_path, window):
    """Attention (opset 25) restricts each query at i to the keys i - left ... i + right."""
    window = dict(window)
    with_mask = window.pop("mask", False)
    shapes = {"q": [B, 2, S, D], "k": [B, 2, S, D], "v": [B, 2, S, D]}
    feeds = {n: RNG.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    names = ["q", "k", "v"]
    if with_mask:
        feeds["m"] = RNG.standard_normal((B, 1, S, S)).astype(np.float32)
        shapes["m"] = [B, 1, S, S]
        names.append("m")
    save(tmp_path / "a.onnx", [helper.make_node("Attention", names, ["y"], name="attn", **window)],
         [value(n, s) for n, s in shapes.items()], [value("y", [B, 2, S, D])], opset=25)
    got = compare(tmp_path / "a.onnx", feeds, tmp_path)
    # Without the window the result differs: the window is not left out.
    window = {k: v for k, v in window.items() if not k.endswith("_window_size")}
    save(tmp_path / "full.onnx", [helper.make_node("Attention", names, ["y"], name="attn", **window)],
         [value(n, s) for n, s in shapes.items()], [value("y", [B, 2, S, D])], opset=25)
    assert np.abs(compare(tmp_path / "full.onnx", feeds, tmp_path) - got).max() > 1e-3


@pytest.mark.parametrize("inputs,outputs,attributes,message", [
    (["q", "k", "v", "", "pk"], ["y"], {}, "past_key and past_value come together"),
    (["q", "k", "v", "", "pk", "pv", "n"], ["y"], {}, "nonpad_kv_seqlen (a cache outside the op) and past_key"),
    (["q", "k", "v"], ["y", "", "", "qk"], {"qk_matmul_output_mode": 4}, "qk_matmul_output_mode 4 is not one of"),
    (["q", "k", "v"], ["y"], {"chunk_size": 2}, 'Attention has no attribute "chunk_size"'),
])
def test_half_a_cache_both_caches_a_wrong_mode_and_unknown_attributes_are_refused_by_node(
        tmp_path, inputs, outputs, attributes, message):
    shapes = {"q": [1, 2, 4, D], "k": [1, 2, 4, D], "v": [1, 2, 4, D], "pk": [1, 2, 3, D], "pv": [1, 2, 3, D], "n": [1]}
    types = {"n": TensorProto.INT64}
    save(tmp_path / "a.onnx", [helper.make_node("Attention", inputs, outputs, name="attn", **attributes)],
         [value(n, shapes[n], types.get(n, TensorProto.FLOAT)) for n in inputs if n],
         [value(o, None) for o in outputs if o], opset=24)
    r = run_npucc("dump-ir", tmp_path / "a.onnx")
    assert r.returncode == 1
    assert 'node Attention "attn" (opset 24)' in r.stderr and message in r.stderr, r.stderr


CACHE_OUTPUTS = ["y", "present_key", "present_value", "qk"]


def cached(path, three_d, causal, mode, mask=None, softcap=0.0, past=5, step=3):
    """Attention with a cache of `past` positions and `step` new ones: 3-D Q, K, V (4 query
    heads over 2 key-value heads) or 4-D, all four outputs; returns the feeds."""
    hq, hkv = 4, 2
    if three_d:
        shapes = {"q": [B, step, hq * D], "k": [B, step, hkv * D], "v": [B, step, hkv * D]}
        attributes = dict(q_num_heads=hq, kv_num_heads=hkv)
    else:
        shapes = {"q": [B, hq, step, D], "k": [B, hkv, step, D], "v": [B, hkv, step, D]}
        attributes = {}
    shapes.update(pk=[B, hkv, past, D], pv=[B, hkv, past, D])
    feeds = {n: RNG.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    names = ["q", "k", "v", "", "pk", "pv"]
    if mask is not None:
        feeds["m"], shapes["m"], names[3] = mask, list(mask.shape), "m"
    types = {"m": TensorProto.BOOL if mask is not None and mask.dtype == bool else TensorProto.FLOAT}
    attributes.update(is_causal=causal, qk_matmul_output_mode=mode)
    if softcap:
        attributes["softcap"] = softcap
    save(path, [helper.make_node("Attention", names, CACHE_OUTPUTS, name="attn", **attributes)],
         [value(n, s, types.get(n, TensorProto.FLOAT)) for n, s in shapes.items()],
         [value(o, None) for o in CACHE_OUTPUTS])
    return feeds


def run_all(path, feeds, folder):
    np.savez(folder / "in.npz", **feeds)
    r = run_npucc("run", path, "--inputs", folder / "in.npz", "--outputs", folder / "out.npz")
    assert r.returncode == 0, r.stderr
    got = np.load(folder / "out.npz")
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    return [got[o] for o in CACHE_OUTPUTS], want


@pytest.mark.parametrize("three_d", [True, False], ids=["3d", "4d"])
@pytest.mark.parametrize("causal", [0, 1])
@pytest.mark.parametrize("mode", [0, 1, 3])
def test_a_key_value_cache_and_qk_matmul_output_compute_as_onnxruntime(tmp_path, three_d, causal, mode):
    feeds = cached(tmp_path / "a.onnx", three_d, causal, mode, softcap=2.0 if mode == 1 else 0.0)
    got, want = run_all(tmp_path / "a.onnx", feeds, tmp_path)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-6)
    # The cache is ahead of the new keys, as they came.
    np.testing.assert_array_equal(got[1][:, :, :5], feeds["pk"])
    if causal:
        # The last query sees every key; the first the cache and itself (8 - 2 masked).
        weights = got[3] if mode == 3 else None
        if weights is not None:
            assert (weights[:, :, 0, 6:] == 0).all() and (weights[:, :, 0, :6] > 0).all()
            assert (weights[:, :, -1] > 0).all()


def test_qk_matmul_output_with_biases_has_minus_infinity_where_masked(tmp_path):
    """Mode 2: the scores with the mask and the causal triangle added; masked positions are
    -inf, as the operator's biases leave them (onnxruntime writes the lowest float there)."""
    keep = RNG.random((B, 1, 3, 8)) < 0.8
    keep[..., 0] = True
    feeds = cached(tmp_path / "a.onnx", False, 1, 2, mask=keep)
    got, want = run_all(tmp_path / "a.onnx", feeds, tmp_path)
    causal = np.arange(8)[None, :] <= np.arange(3)[:, None] + 5
    open_ = np.broadcast_to(keep & causal, got[3].shape)
    assert (got[3][~open_] == -np.inf).all() and (want[3][~open_] == np.finfo(np.float32).min).all()
    np.testing.assert_allclose(got[3][open_], want[3][open_], rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=2e-6)


def test_a_mask_shorter_than_the_keys_masks_the_rest_and_a_minus_infinity_row_is_zero(tmp_path):
    """As the operator defines (onnxruntime refuses a short mask): keys past the mask's end
    are masked; a float mask's row of -inf is a zero row of Y and of the probabilities."""
    mask = RNG.standard_normal((B, 1, 3, 6)).astype(np.float32)
    mask[:, :, 1] = -np.inf
    feeds = cached(tmp_path / "a.onnx", False, 0, 3, mask=mask)
    np.savez(tmp_path / "in.npz", **feeds)
    r = run_npucc("run", tmp_path / "a.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "out.npz")
    assert (got["y"][:, :, 1] == 0).all() and (got["qk"][:, :, 1] == 0).all()
    assert (got["qk"][:, :, [0, 2], 6:] == 0).all()
    # The other rows: the mask padded to the 8 keys with -inf, as onnxruntime computes it.
    padded = np.concatenate([mask, np.full((B, 1, 3, 2), -np.inf, np.float32)], axis=-1)
    cached(tmp_path / "full.onnx", False, 0, 3, mask=padded)
    want = ort.InferenceSession(str(tmp_path / "full.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {**feeds, "m": padded})
    np.testing.assert_allclose(got["y"][:, :, [0, 2]], want[0][:, :, [0, 2]], rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_decoding_step_with_a_cache_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    """x [1, 1, 32] -> projections -> causal Attention over a cache of 7 -> output projection,
    the present key and value graph outputs too."""
    hidden, heads, kv_heads, size, past = 32, 4, 2, 8, 7
    inits = [numpy_helper.from_array((RNG.standard_normal((hidden, n)) / np.sqrt(hidden)).astype(np.float32), w)
             for w, n in [("wq", hidden), ("wk", kv_heads * size), ("wv", kv_heads * size), ("wo", hidden)]]
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"], name="q_proj"),
             helper.make_node("MatMul", ["x", "wk"], ["k"], name="k_proj"),
             helper.make_node("MatMul", ["x", "wv"], ["v"], name="v_proj"),
             helper.make_node("Attention", ["q", "k", "v", "", "pk", "pv"], ["a", "present_key", "present_value"],
                              q_num_heads=heads, kv_num_heads=kv_heads, is_causal=1, name="attn"),
             helper.make_node("MatMul", ["a", "wo"], ["y"], name="o_proj")]
    cache = [kv_heads, "past", size]
    save(tmp_path / "d.onnx", nodes,
         [value("x", [1, 1, hidden]), value("pk", [1] + cache), value("pv", [1] + cache)],
         [value("y", [1, 1, hidden]), value("present_key", None), value("present_value", None)], inits)
    feeds = {"x": RNG.standard_normal((1, 1, hidden)), "pk": RNG.standard_normal((1, kv_heads, past, size)),
             "pv": RNG.standard_normal((1, kv_heads, past, size))}
    np.savez(tmp_path / "x.npz", **{n: a.astype(np.float32) for n, a in feeds.items()})
    np.savez(tmp_path / "calib.npz", **{n: RNG.standard_normal((4,) + a.shape[1:]).astype(np.float32)
                                        for n, a in feeds.items()})
    sim, fq = simulated_and_interpreted(
        tmp_path / "d.onnx", tmp_path / "x.npz", tmp_path, precision, "none", tmp_path / "calib.npz",
        extra=["--input-shape", f"pk=1,{kv_heads},{past},{size}", "--input-shape", f"pv=1,{kv_heads},{past},{size}"])
    assert_same_bits(sim, fq, ["y", "present_key", "present_value"])
    assert sim["present_key"].shape == (1, kv_heads, past + 1, size)


def static_cache_step(path, mode, window, hidden=16, heads=2, size=8, length=8):
    """x [B, 1, hidden] -> Q, K, V projections (4-D heads) -> TensorScatter of K and V into
    caches of `length` at write_indices -> Attention with nonpad_kv_seqlen = write_indices + 1
    (at most `length`),
    causal (or a window) -> y."""
    inits = [numpy_helper.from_array((RNG.standard_normal((hidden, hidden)) / 4).astype(np.float32), w)
             for w in ("wq", "wk", "wv")]
    inits += [numpy_helper.from_array(np.array([B, 1, heads, size]), "split"),
              numpy_helper.from_array(np.array(1, np.int64), "one"),
              numpy_helper.from_array(np.array(length, np.int64), "length")]
    nodes = []
    for p in "qkv":
        nodes += [helper.make_node("MatMul", ["x", f"w{p}"], [f"{p}_rows"], name=f"{p}_proj"),
                  helper.make_node("Reshape", [f"{p}_rows", "split"], [f"{p}_split"]),
                  helper.make_node("Transpose", [f"{p}_split"], [p], perm=[0, 2, 1, 3])]
    nodes += [helper.make_node("TensorScatter", ["past_k", "k", "write"], ["present_k"], mode=mode, name="k_write"),
              helper.make_node("TensorScatter", ["past_v", "v", "write"], ["present_v"], mode=mode, name="v_write"),
              helper.make_node("Add", ["write", "one"], ["written"]),
              # A full circular cache holds `length` valid keys.
              helper.make_node("Min", ["written", "length"], ["lengths"]),
              helper.make_node("Attention", ["q", "present_k", "present_v", "", "", "", "lengths"], ["y"], name="attn",
                               **({"left_window_size": 2, "right_window_size": 0} if window else {"is_causal": 1}))]
    cache = [B, heads, length, size]
    save(path, nodes, [value("x", [B, 1, hidden]), value("past_k", cache), value("past_v", cache),
                       value("write", [B], TensorProto.INT64)],
         [value("y", [B, heads, 1, size]), value("present_k", cache), value("present_v", cache)], inits,
         opset=25 if window else 24)
    return {"x": RNG.standard_normal((B, 1, hidden)).astype(np.float32),
            "past_k": RNG.standard_normal(cache).astype(np.float32),
            "past_v": RNG.standard_normal(cache).astype(np.float32),
            "write": np.array([3, 7 if mode == "linear" else 9], np.int64)}


@pytest.mark.parametrize("mode,window", [("linear", False), ("circular", False), ("linear", True)])
def test_a_static_cache_step_computes_as_onnxruntime(tmp_path, mode, window):
    feeds = static_cache_step(tmp_path / "s.onnx", mode, window)
    np.savez(tmp_path / "in.npz", **feeds)
    r = run_npucc("run", tmp_path / "s.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "out.npz")
    want = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)
    for name, w in zip(["y", "present_k", "present_v"], want):
        np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=2e-6)
    # The new key went in at each batch's write index (modulo the length when circular);
    # nothing else changed.
    written = [3, 7] if mode == "linear" else [3, 1]
    changed = np.argwhere((got["present_k"] != feeds["past_k"]).any(axis=(1, 3)))
    assert changed.tolist() == [[0, written[0]], [1, written[1]]]


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_static_cache_step_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    feeds = static_cache_step(tmp_path / "s.onnx", "linear", False)
    np.savez(tmp_path / "x.npz", **feeds)
    calib = {n: RNG.standard_normal((4,) + a.shape).astype(np.float32) for n, a in feeds.items() if n != "write"}
    np.savez(tmp_path / "calib.npz", write=np.tile(feeds["write"], (4, 1)), **calib)
    sim, fq = simulated_and_interpreted(tmp_path / "s.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y", "present_k", "present_v"])
