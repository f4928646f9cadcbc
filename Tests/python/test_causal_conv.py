"""CausalConvWithState (opset 27), the stateful causal depthwise convolution of Gated DeltaNet
and Mamba layers: imported as the past state (or zeros) before the input, a depthwise Conv
without padding, its SiLU and the last k - 1 positions as the present state, it computes what
ONNX's reference computes, with and without a past state, bias and SiLU; a decode step fed
the prefill's present state continues the same sequence; it compiles and runs on the
simulator as the interpreter runs it; a weight of unknown shape is refused by node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from conftest import assert_same_bits, interpreted, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(2727)
B, C, K = 2, 6, 4


def causal_model(path, length, past=True, bias=True, activation="none"):
    inits = [numpy_helper.from_array((RNG.standard_normal((C, 1, K)) / 2).astype(np.float32), "w")]
    inputs = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array((RNG.standard_normal(C) / 4).astype(np.float32), "b"))
    inputs.append("b" if bias else "")
    graph_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [B, C, length])]
    if past:
        inputs.append("past")
        graph_inputs.append(helper.make_tensor_value_info("past", TensorProto.FLOAT, [B, C, K - 1]))
    node = helper.make_node("CausalConvWithState", inputs, ["y", "present"], activation=activation, name="conv")
    graph = helper.make_graph([node], "causal", graph_inputs,
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ["y", "present"]], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 27)]), path)


@pytest.mark.parametrize("past,bias,activation", [(False, False, "none"), (True, True, "none"), (False, True, "silu"),
                                                  (True, False, "swish")])
def test_it_computes_what_the_reference_computes(tmp_path, past, bias, activation):
    causal_model(tmp_path / "m.onnx", 9, past, bias, activation)
    feeds = {"x": RNG.standard_normal((B, C, 9)).astype(np.float32)}
    if past:
        feeds["past"] = RNG.standard_normal((B, C, K - 1)).astype(np.float32)
    got = interpreted(tmp_path / "m.onnx", feeds, tmp_path)
    want = dict(zip(["y", "present"], ReferenceEvaluator(str(tmp_path / "m.onnx")).run(None, feeds)))
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["present"], want["present"])


def test_a_decode_step_continues_the_prefill(tmp_path):
    """The prefill's present state fed to a one-token step gives the output the whole sequence
    gives at that position, and its new state."""
    causal_model(tmp_path / "prefill.onnx", 8)
    # The same weights over one token and over all nine.
    for name, length in [("step", 1), ("whole", 9)]:
        model = onnx.load(str(tmp_path / "prefill.onnx"))
        model.graph.input[0].type.tensor_type.shape.dim[2].dim_value = length
        onnx.save(model, str(tmp_path / f"{name}.onnx"))
    x = RNG.standard_normal((B, C, 9)).astype(np.float32)
    past = np.zeros((B, C, K - 1), np.float32)
    prefill = interpreted(tmp_path / "prefill.onnx", {"x": x[:, :, :8], "past": past}, tmp_path)
    decoded = interpreted(tmp_path / "step.onnx", {"x": x[:, :, 8:], "past": prefill["present"]}, tmp_path)
    all_at_once = interpreted(tmp_path / "whole.onnx", {"x": x, "past": past}, tmp_path)
    np.testing.assert_array_equal(decoded["y"][:, :, 0], all_at_once["y"][:, :, 8])
    np.testing.assert_array_equal(decoded["present"], all_at_once["present"])
    np.testing.assert_array_equal(prefill["y"], all_at_once["y"][:, :, :8])


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_it_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    causal_model(tmp_path / "m.onnx", 16, activation="silu")
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((B, C, 16)).astype(np.float32),
             past=RNG.standard_normal((B, C, K - 1)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, B, C, 16)).astype(np.float32),
             past=RNG.standard_normal((4, B, C, K - 1)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y", "present"])


def test_a_weight_of_unknown_shape_is_refused_by_node(tmp_path):
    node = helper.make_node("CausalConvWithState", ["x", "w"], ["y"], name="conv")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8]),
                                            helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 1, "k"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 27)]), tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", x=np.ones((1, 4, 8), np.float32), w=np.ones((4, 1, 3), np.float32))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1 and 'CausalConvWithState "conv"' in r.stderr and "(channels, 1, k)" in r.stderr, r.stderr
    assert not (tmp_path / "out.npz").exists()
