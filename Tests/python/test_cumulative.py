"""CumSum and opset 26's CumProd along every axis, exclusive and reverse, of float32, int32 and
int64: the interpreter sums and multiplies as onnxruntime does (the same order of operations,
so the same bits; integers wrapping around); after a convolution the bundle runs bit for bit
as the fake-quant interpreter runs the model; and position ids made from an attention mask, as
RoBERTa-style exporters write them, compile and look up the embeddings the interpreter does."""
import itertools

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import (assert_same_bits, interpreted_and_onnxruntime, run_npucc,
                      simulated_and_interpreted_on_normal_values)

SHAPE = (1, 3, 5, 6)
VARIANTS = list(itertools.product([0, 1], [0, 1]))  # (exclusive, reverse)


def cumsum_model(path, axes, element=TensorProto.FLOAT, conv=True, op="CumSum"):
    """`op` (CumSum or CumProd) of the Conv's output c (or of the input x) along each of
    `axes`, in every exclusive/reverse combination, each into a graph output."""
    rng = np.random.default_rng(31)
    inits = [numpy_helper.from_array(np.array(a, np.int64 if k % 2 else np.int32), f"axis{k}") for k, a in enumerate(axes)]
    c = "c" if conv else "x"
    nodes = []
    if conv:
        inits.append(numpy_helper.from_array((rng.standard_normal((3, 3, 3, 3)) / 3).astype(np.float32), "w"))
        nodes.append(helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"))
    outputs = []
    for k, _ in enumerate(axes):
        for exclusive, reverse in VARIANTS:
            name = f"s{k}_{exclusive}{reverse}"
            nodes.append(helper.make_node(op, [c, f"axis{k}"], [name], exclusive=exclusive, reverse=reverse, name=name))
            outputs.append(name)
    graph = helper.make_graph(nodes, "cumsum", [helper.make_tensor_value_info("x", element, SHAPE)],
                              [helper.make_tensor_value_info(o, element, SHAPE) for o in outputs], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26 if op == "CumProd" else 14)]), path)
    return outputs


@pytest.mark.parametrize("op", ["CumSum", "CumProd"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
def test_the_interpreter_sums_and_multiplies_as_onnxruntime_does(tmp_path, dtype, op):
    element = {np.float32: TensorProto.FLOAT, np.int32: TensorProto.INT32, np.int64: TensorProto.INT64}[dtype]
    outputs = cumsum_model(tmp_path / "alone.onnx", [0, 1, 2, -1], element, conv=False, op=op)
    rng = np.random.default_rng(32)
    if dtype == np.float32 and op == "CumSum":
        x = (rng.standard_normal(SHAPE) * 10 ** rng.uniform(-3, 3, SHAPE)).astype(dtype)
    elif dtype == np.float32:
        # Factors about 1 either side of it, so that products of six stay finite.
        x = (rng.choice([-1, 1], SHAPE) * np.exp(rng.standard_normal(SHAPE))).astype(dtype)
    elif op == "CumSum":
        # Sums that wrap around: values near the type's limits.
        x = rng.integers(np.iinfo(dtype).max // 4, np.iinfo(dtype).max // 2, SHAPE, dtype=dtype)
        x[..., ::2] *= -1
    else:
        # Products that wrap around within a few steps.
        x = rng.integers(-(2 ** 20), 2 ** 20, SHAPE, dtype=dtype)
    got, want = interpreted_and_onnxruntime(tmp_path / "alone.onnx", {"x": x}, tmp_path)
    for name in outputs:
        assert got[name].dtype == want[name].dtype
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    if op == "CumProd" and dtype != np.float32:
        # Wrapped: the exact product of the first four along the last axis does not fit, and
        # the output is it modulo 2 to the type's width.
        exact = int(np.prod([int(v) for v in x[0, 0, 0, :4]], dtype=object))
        bits = 8 * np.dtype(dtype).itemsize
        assert abs(exact) > np.iinfo(dtype).max
        assert int(got["s3_00"][0, 0, 0, 3]) == (exact + 2 ** (bits - 1)) % 2 ** bits - 2 ** (bits - 1)


@pytest.mark.parametrize("op", ["CumSum", "CumProd"])
@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_the_running_op_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision, op):
    outputs = cumsum_model(tmp_path / "m.onnx", [1, -1, 2], op=op)
    rng = np.random.default_rng(33)
    sim, fq = simulated_and_interpreted_on_normal_values(tmp_path / "m.onnx", SHAPE, tmp_path, precision, rng)
    assert_same_bits(sim, fq, outputs)
    # Exclusive, the line's first element is the identity (its last, in reverse); the sums
    # and products really run.
    identity = 1 if op == "CumProd" else 0
    assert (fq["s0_10"][:, 0] == identity).all() and (fq["s0_11"][:, -1] == identity).all()
    np.testing.assert_allclose(fq["s0_00"][:, 1], fq["s0_10"][:, 2], rtol=1e-6)
    assert not np.array_equal(fq["s0_00"][:, 1], fq["s0_00"][:, 0])


def test_position_ids_from_an_attention_mask_compile(tmp_path):
    """ids != pad as int32, CumSum along the tokens, times the mask, plus pad, as int64: the
    position ids RoBERTa computes; they and the token ids look up embeddings that are added."""
    rng = np.random.default_rng(34)
    pad, vocab, width, tokens = 1, 50, 16, 10
    inits = [numpy_helper.from_array(np.array(pad, np.int64), "pad"), numpy_helper.from_array(np.array(1, np.int64), "axis"),
             numpy_helper.from_array(rng.standard_normal((vocab, width)).astype(np.float32), "words"),
             numpy_helper.from_array(rng.standard_normal((tokens + pad + 1, width)).astype(np.float32), "positions")]
    nodes = [helper.make_node("Equal", ["ids", "pad"], ["is_pad"]), helper.make_node("Not", ["is_pad"], ["kept"]),
             helper.make_node("Cast", ["kept"], ["mask"], to=TensorProto.INT32),
             helper.make_node("CumSum", ["mask", "axis"], ["running"]),
             helper.make_node("Mul", ["running", "mask"], ["masked"]),
             helper.make_node("Cast", ["masked"], ["masked64"], to=TensorProto.INT64),
             helper.make_node("Add", ["masked64", "pad"], ["position_ids"]),
             helper.make_node("Gather", ["words", "ids"], ["w"]), helper.make_node("Gather", ["positions", "position_ids"], ["p"]),
             helper.make_node("Add", ["w", "p"], ["embeddings"])]
    graph = helper.make_graph(nodes, "positions", [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])],
                              [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), tmp_path / "m.onnx")
    ids = rng.integers(2, vocab, (1, tokens)).astype(np.int64)
    ids[0, 7:] = pad
    np.savez(tmp_path / "ids.npz", ids=ids)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "ids.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    want = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"ids": ids})[0]
    np.testing.assert_array_equal(np.load(tmp_path / "ref.npz")["embeddings"], want)
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--input-shape", f"ids=1,{tokens}")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "ids.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "sim.npz")["embeddings"], want)


def test_an_axis_that_folds_compiles_and_one_given_at_run_time_is_refused_by_name(tmp_path):
    def save(path, axis_nodes, inputs, inits):
        nodes = axis_nodes + [helper.make_node("CumSum", ["x", "last"], ["y"], name="running")]
        graph = helper.make_graph(nodes, "axis", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])] + inputs,
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], inits)
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), path)

    # rank - 1 from the input's Shape: folding makes the axis a constant.
    save(tmp_path / "folds.onnx", [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Size", ["s"], ["rank"]),
                                   helper.make_node("Sub", ["rank", "one"], ["last"])],
         [], [numpy_helper.from_array(np.array(1, np.int64), "one")])
    r = run_npucc("compile", tmp_path / "folds.onnx", "-o", tmp_path / "m.npub")
    assert r.returncode == 0, r.stderr
    save(tmp_path / "given.onnx", [], [helper.make_tensor_value_info("last", TensorProto.INT64, [])], [])
    r = run_npucc("compile", tmp_path / "given.onnx", "-o", tmp_path / "g.npub")
    assert r.returncode == 1 and 'node CumSum "running"' in r.stderr and "axis is not a constant" in r.stderr, r.stderr
    assert not (tmp_path / "g.npub").exists()
