"""Attention (opset 23) as exporters write it for scaled_dot_product_attention: 3-D inputs
split into heads, grouped-query K and V, the default and a given scale, a softcap, boolean
and float masks and the causal triangle compute as onnxruntime computes them; a row a
boolean mask masks entirely is zero, as the operator defines; a projection block around it
runs on the simulator bit for bit as the interpreter runs it; a key-value cache and the
outputs after Y are refused by node, as is an attribute the import does not know; sliding
windows (opset 25) compute as onnxruntime computes them."""
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


@pytest.mark.parametrize("inputs,outputs,message", [
    (["q", "k", "v", "", "pk", "pv"], ["y"], "past_key and past_value"),
    (["q", "k", "v"], ["y", "", "", "qk"], "only output Y is supported"),
    (["q", "k", "v"], ["y"], 'Attention has no attribute "chunk_size"'),
])
def test_a_cache_the_extra_outputs_and_unknown_attributes_are_refused_by_node(tmp_path, inputs, outputs, message):
    shapes = {"q": [1, 2, 4, D], "k": [1, 2, 4, D], "v": [1, 2, 4, D], "pk": [1, 2, 3, D], "pv": [1, 2, 3, D]}
    extra = {"chunk_size": 2} if "chunk_size" in message else {}
    save(tmp_path / "a.onnx", [helper.make_node("Attention", inputs, outputs, name="attn", **extra)],
         [value(n, shapes[n]) for n in inputs if n], [value(o, None) for o in outputs if o])
    r = run_npucc("dump-ir", tmp_path / "a.onnx")
    assert r.returncode == 1
    assert 'node Attention "attn" (opset 23)' in r.stderr and message in r.stderr, r.stderr
