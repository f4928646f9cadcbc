"""ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum and ReduceLogSumExp, imported as element-wise
ops around ReduceSum (and ReduceMax): at opsets 13 (axes an attribute) and 18 (an input), with
and without keepdims, over one axis, several and all, as onnxruntime computes them; after a
convolution the bundle runs bit for bit as the interpreter does; and an embedding normalized
by its L2 norm, as sentence-embedding and CLIP exporters write it, compiles. LpNormalization
(imported as the division by ReduceL1's or ReduceL2's norm, 0 where the norm is 0) likewise."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import (assert_same_bits, interpreted_and_onnxruntime, run_npucc,
                      simulated_and_interpreted_on_normal_values)

OPS = ["ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"]
SHAPE = (1, 4, 5, 6)
CASES = [([1], 1), ([-1], 0), ([2, 3], 1), (None, 0)]  # (axes, keepdims)


def forms_model(path, opset, conv=True):
    rng = np.random.default_rng(41)
    inits, nodes, outputs = [], [], []
    c = "c" if conv else "x"
    if conv:
        inits.append(numpy_helper.from_array((rng.standard_normal((4, 4, 3, 3)) / 3).astype(np.float32), "w"))
        nodes.append(helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"))
    for op in OPS:
        for k, (axes, keep) in enumerate(CASES):
            name = f"{op.lower()}_{k}"
            inputs, attributes = [c], {"keepdims": keep}
            if axes is not None and opset >= 18:
                inits.append(numpy_helper.from_array(np.array(axes, np.int64), name + "_axes"))
                inputs.append(name + "_axes")
            elif axes is not None:
                attributes["axes"] = axes
            nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
            outputs.append(name)
    graph = helper.make_graph(nodes, "forms", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return outputs


@pytest.mark.parametrize("opset", [13, 18])
def test_the_reductions_compute_as_onnxruntime_does(tmp_path, opset):
    outputs = forms_model(tmp_path / "alone.onnx", opset, conv=False)
    rng = np.random.default_rng(42)
    # Positive for the logs; large enough that a plain exp of the log-sum-exp's inputs overflows.
    x = np.abs(rng.standard_normal(SHAPE)).astype(np.float32) + 0.1
    x[0, 0, 0, :3] = [95.0, 96.0, 97.0]
    got, want = interpreted_and_onnxruntime(tmp_path / "alone.onnx", {"x": x}, tmp_path)
    for name in outputs:
        assert got[name].shape == want[name].shape, name
        np.testing.assert_allclose(got[name], want[name], rtol=2e-6, atol=1e-6, err_msg=name)
    assert np.isfinite(got["reducelogsumexp_3"]).all()


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_the_reductions_run_on_the_simulator_as_the_interpreter_runs_them(tmp_path, precision):
    outputs = forms_model(tmp_path / "m.onnx", 18)
    rng = np.random.default_rng(43)
    sim, fq = simulated_and_interpreted_on_normal_values(tmp_path / "m.onnx", SHAPE, tmp_path, precision, rng)
    assert_same_bits(sim, fq, outputs)


def test_an_l2_normalized_embedding_compiles(tmp_path):
    """Gemm to 8 features, then x / max(ReduceL2(x, -1), eps) expanded to x's shape."""
    rng = np.random.default_rng(44)
    inits = [numpy_helper.from_array((rng.standard_normal((8, 16)) / 4).astype(np.float32), "w"),
             numpy_helper.from_array(np.array(1e-12, np.float32), "eps"),
             numpy_helper.from_array(np.array([3, 8], np.int64), "shape")]
    nodes = [helper.make_node("Gemm", ["x", "w"], ["e"], transB=1, name="project"),
             helper.make_node("ReduceL2", ["e"], ["norm"], axes=[-1], keepdims=1, name="norm"),
             helper.make_node("Clip", ["norm", "eps"], ["safe"]), helper.make_node("Expand", ["safe", "shape"], ["wide"]),
             helper.make_node("Div", ["e", "wide"], ["y"])]
    graph = helper.make_graph(nodes, "embed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    x = rng.standard_normal((3, 16)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "fq.npz",
                  "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    sim, fq = np.load(tmp_path / "sim.npz")["y"], np.load(tmp_path / "fq.npz")["y"]
    np.testing.assert_array_equal(sim, fq)
    np.testing.assert_allclose(np.linalg.norm(sim, axis=-1), 1, rtol=1e-5)


def lp_model(path, conv=True):
    """LpNormalization with p 1 and 2 along axes 1 and -1 of the Conv's output (or the input)."""
    rng = np.random.default_rng(45)
    inits, nodes = [], []
    c = "c" if conv else "x"
    if conv:
        inits.append(numpy_helper.from_array((rng.standard_normal((4, 4, 3, 3)) / 3).astype(np.float32), "w"))
        nodes.append(helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"))
    outputs = []
    for p in (1, 2):
        for axis in (1, -1):
            name = f"lp{p}_{axis % 4}"
            nodes.append(helper.make_node("LpNormalization", [c], [name], p=p, axis=axis, name=name))
            outputs.append(name)
    graph = helper.make_graph(nodes, "lp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return outputs


def test_lp_normalization_divides_by_the_norm_and_keeps_zero_vectors_zero(tmp_path):
    outputs = lp_model(tmp_path / "alone.onnx", conv=False)
    x = np.random.default_rng(46).standard_normal(SHAPE).astype(np.float32)
    x[0, :, 0, 0] = 0  # a zero vector along axis 1
    x[0, 1, 1, :] = 0  # and along the last axis
    got, want = interpreted_and_onnxruntime(tmp_path / "alone.onnx", {"x": x}, tmp_path)
    for name in outputs:
        np.testing.assert_allclose(got[name], want[name], rtol=2e-6, atol=1e-7, err_msg=name)
        assert not np.isnan(got[name]).any(), name
    np.testing.assert_allclose(np.linalg.norm(got["lp2_3"][0, 0], axis=-1), 1, rtol=1e-6)
    rng = np.random.default_rng(47)
    outputs = lp_model(tmp_path / "m.onnx")
    sim, fq = simulated_and_interpreted_on_normal_values(tmp_path / "m.onnx", SHAPE, tmp_path, "nvfp4", rng)
    assert_same_bits(sim, fq, outputs)
