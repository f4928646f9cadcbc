"""LinearAttention (opset 27), the recurrent attention of linear attention, RetNet, GLA and
(Gated) DeltaNet layers: imported unrolled over its sequence as the ops of its recurrence, it
computes what ONNX's reference computes for every update rule, with grouped and shared
kv heads, per-head and per-key decay, a shared beta, a past state and a given scale; a decode
step fed the prefill's present state continues the same sequence bit for bit; it compiles and
runs on the simulator as the interpreter runs it; an unknown sequence length and a decay the
rule lacks are refused by node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from conftest import assert_same_bits, interpreted, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(2727)
B, DK, DV = 2, 4, 3


def attention_model(path, length, rule="gated_delta", q_heads=6, kv_heads=2, past=False, decay_per_key=True,
                    beta_shared=False, scale=None):
    """One LinearAttention node; returns a function drawing its inputs by name."""
    dims = {"query": q_heads * DK, "key": kv_heads * DK, "value": kv_heads * DV}
    names = ["query", "key", "value", "past_state" if past else ""]
    if rule.startswith("gated"):
        dims["decay"] = kv_heads * DK if decay_per_key else kv_heads
    if rule.endswith("delta"):
        dims["beta"] = 1 if beta_shared else kv_heads
    names += ["decay" if "decay" in dims else "", "beta" if "beta" in dims else ""]
    while not names[-1]:
        names.pop()
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [B, length, d]) for n, d in dims.items()]
    if past:
        inputs.append(helper.make_tensor_value_info("past_state", TensorProto.FLOAT, [B, kv_heads, DK, DV]))
    attributes = {"update_rule": rule, "q_num_heads": q_heads, "kv_num_heads": kv_heads}
    if scale is not None:
        attributes["scale"] = scale
    node = helper.make_node("LinearAttention", names, ["output", "present_state"], name="attention", **attributes)
    graph = helper.make_graph([node], "linear_attention", inputs,
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                               for n in ["output", "present_state"]])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 27)]), path)

    def draw(rng, batch=()):
        feeds = {}
        for n, d in dims.items():
            x = rng.standard_normal(batch + (B, length, d)).astype(np.float32)
            if n == "key":  # unit keys per head, as the delta rules expect
                heads = x.reshape(x.shape[:-1] + (kv_heads, DK))
                x = (heads / np.linalg.norm(heads, axis=-1, keepdims=True)).reshape(x.shape)
            elif n == "decay":  # log-space decay below zero
                x = -np.abs(x) / 4
            elif n == "beta":  # a sigmoid's output
                x = 1 / (1 + np.exp(-x))
            feeds[n] = x.astype(np.float32)
        if past:
            feeds["past_state"] = rng.standard_normal(batch + (B, kv_heads, DK, DV)).astype(np.float32)
        return feeds
    return draw


@pytest.mark.parametrize("options", [
    dict(rule="linear"),
    dict(rule="gated", decay_per_key=False, past=True),
    dict(rule="gated"),
    dict(rule="delta", beta_shared=True),
    dict(rule="gated_delta", past=True),
    dict(rule="gated_delta", q_heads=6, kv_heads=1, decay_per_key=False, scale=0.3),
    dict(rule="gated_delta", q_heads=2, kv_heads=2),
], ids=["linear", "gated-per-head-past", "gated-per-key", "delta-shared-beta", "gated-delta-past", "mqa-scale",
        "mha"])
def test_it_computes_what_the_reference_computes(tmp_path, options):
    draw = attention_model(tmp_path / "m.onnx", 5, **options)
    feeds = draw(RNG)
    got = interpreted(tmp_path / "m.onnx", feeds, tmp_path)
    want = dict(zip(["output", "present_state"], ReferenceEvaluator(str(tmp_path / "m.onnx")).run(None, feeds)))
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_decode_step_continues_the_prefill(tmp_path):
    """The prefill's present state fed to a one-token step gives the output and the state the
    whole sequence gives at that position."""
    feeds = attention_model(tmp_path / "whole.onnx", 7, past=True)(RNG)
    feeds["past_state"] = np.zeros_like(feeds["past_state"])
    for name, length in [("prefill", 6), ("step", 1)]:
        model = onnx.load(str(tmp_path / "whole.onnx"))
        for value in model.graph.input:
            if value.name != "past_state":
                value.type.tensor_type.shape.dim[1].dim_value = length
        onnx.save(model, str(tmp_path / f"{name}.onnx"))
    prefill = interpreted(tmp_path / "prefill.onnx", {n: (x if n == "past_state" else x[:, :6]) for n, x in feeds.items()},
                          tmp_path)
    last = {n: x[:, 6:] for n, x in feeds.items() if n != "past_state"}
    decoded = interpreted(tmp_path / "step.onnx", {**last, "past_state": prefill["present_state"]}, tmp_path)
    all_at_once = interpreted(tmp_path / "whole.onnx", feeds, tmp_path)
    np.testing.assert_array_equal(prefill["output"], all_at_once["output"][:, :6])
    np.testing.assert_array_equal(decoded["output"][:, 0], all_at_once["output"][:, 6])
    np.testing.assert_array_equal(decoded["present_state"], all_at_once["present_state"])


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_it_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    draw = attention_model(tmp_path / "m.onnx", 4, past=True)
    np.savez(tmp_path / "x.npz", **draw(RNG))
    np.savez(tmp_path / "calib.npz", **draw(RNG, (4,)))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["output", "present_state"])


def refused(tmp_path, node, inputs, feeds, message):
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 27)]), tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", **feeds)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1 and 'LinearAttention "attention"' in r.stderr and message in r.stderr, r.stderr
    assert not (tmp_path / "out.npz").exists()


def test_an_unknown_sequence_length_is_refused_by_node(tmp_path):
    node = helper.make_node("LinearAttention", ["query", "key", "value"], ["output"], name="attention",
                            update_rule="linear", q_num_heads=1, kv_num_heads=1)
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, "T", 4]) for n in ["query", "key", "value"]]
    feeds = {n: np.ones((1, 3, 4), np.float32) for n in ["query", "key", "value"]}
    refused(tmp_path, node, inputs, feeds, "known sequence length")


def test_keys_of_another_length_are_refused_by_node(tmp_path):
    node = helper.make_node("LinearAttention", ["query", "key", "value"], ["output"], name="attention",
                            update_rule="linear", q_num_heads=1, kv_num_heads=1)
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, t, 4])
              for n, t in [("query", 3), ("key", 2), ("value", 3)]]
    feeds = {n: np.ones((1, t, 4), np.float32) for n, t in [("query", 3), ("key", 2), ("value", 3)]}
    refused(tmp_path, node, inputs, feeds, "have 3, 2 and 3 positions")


def test_a_gated_rule_without_its_decay_is_refused_by_node(tmp_path):
    node = helper.make_node("LinearAttention", ["query", "key", "value"], ["output"], name="attention",
                            update_rule="gated", q_num_heads=1, kv_num_heads=1)
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 4]) for n in ["query", "key", "value"]]
    feeds = {n: np.ones((1, 3, 4), np.float32) for n in ["query", "key", "value"]}
    refused(tmp_path, node, inputs, feeds, 'update_rule "gated" needs decay')
