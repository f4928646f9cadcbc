"""GatherElements (torch.gather) along any axis, with negative indices and with indices
smaller than the data along other axes; the values at an ArgMax (`x.gather(-1,
x.argmax(-1, keepdim=True))`) computed on the NPU: the interpreter computes them as
onnxruntime does, and the bundle runs bit for bit as the fake-quant interpreter runs the
model."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(1919)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements_along_each_axis_as_onnxruntime(tmp_path, axis):
    shape, index_shape = (3, 4, 5), [3, 4, 5]
    index_shape[axis] = 6  # more indices than the axis holds, each repeated or counted from the end
    n = shape[axis]
    index_shape[(axis + 1) % 3] -= 1  # fewer positions than the data along another axis
    indices = RNG.integers(-n, n, index_shape).astype(np.int64)
    graph = helper.make_graph([helper.make_node("GatherElements", ["x", "i"], ["y"], axis=axis)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape)),
                               helper.make_tensor_value_info("i", TensorProto.INT64, index_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, index_shape)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    feeds = {"x": RNG.standard_normal(shape).astype(np.float32), "i": indices}
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", feeds, tmp_path)
    np.testing.assert_array_equal(got["y"], want["y"])


def argmax_model(path, product=False):
    """x [2, 6, 8] -> MatMul 8x8 -> the value at each row's ArgMax, by GatherElements (and,
    with `product`, the product itself as a second output)."""
    w = numpy_helper.from_array((RNG.standard_normal((8, 8)) / 3).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="proj"),
             helper.make_node("ArgMax", ["m"], ["at"], axis=-1, keepdims=1),
             helper.make_node("GatherElements", ["m", "at"], ["y"], axis=-1, name="pick")]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6, 1])]
    if product:
        outputs.append(helper.make_tensor_value_info("m", TensorProto.FLOAT, [2, 6, 8]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6, 8])],
                              outputs, [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_the_values_at_an_argmax_as_onnxruntime(tmp_path):
    # Each picks the largest of its own row of products; the products agree with onnxruntime's
    # to float32 rounding (their last bit depends on the BLAS kernels' order of summation).
    argmax_model(tmp_path / "m.onnx", product=True)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": RNG.standard_normal((2, 6, 8)).astype(np.float32)},
                                            tmp_path)
    np.testing.assert_allclose(got["m"], want["m"], rtol=1e-6, atol=1e-6)
    for outputs in (got, want):
        m = outputs["m"]
        np.testing.assert_array_equal(outputs["y"], np.take_along_axis(m, m.argmax(-1)[..., None], -1))
    gaps = np.sort(want["m"], -1)
    assert (gaps[..., -1] - gaps[..., -2]).min() > 1e-4  # one clear largest, so both pick it
    np.testing.assert_array_equal(got["m"].argmax(-1), want["m"].argmax(-1))


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_the_values_at_an_argmax_run_on_the_simulator_as_the_interpreter_runs_them(tmp_path, precision):
    argmax_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((2, 6, 8)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 2, 6, 8)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])


@pytest.mark.parametrize("table_type", [TensorProto.INT64, TensorProto.INT32, TensorProto.BOOL])
def test_a_table_of_integers_or_bools_gathered_at_computed_positions(tmp_path, table_type):
    """RoBERTa's embeddings as transformers exports them: the token type ids, a constant int64
    buffer, gathered (GatherElements) at position ids the model counts from the input ids
    (CumSum of the mask), then looked up in their own embedding; the same with an int32 table
    (cast before its look-up) and a bool table (a mask picked by Where). The bundle gives the
    interpreter's bits, and both onnxruntime's values."""
    numpy_type = {TensorProto.INT64: np.int64, TensorProto.INT32: np.int32, TensorProto.BOOL: np.bool_}[table_type]
    vocab, length, width, positions = 30, 8, 16, 20
    c = lambda name, value: numpy_helper.from_array(np.asarray(value), name)
    table = (np.arange(positions) % 3 == 1).astype(numpy_type)[None]
    inits = [c("pad", np.int64(1)), c("axis", np.int64(1)), c("axes", np.array([1], np.int64)),
             c("start", np.array([0], np.int64)), c("stop", np.array([positions], np.int64)),
             c("shape", np.array([2, positions], np.int64)), c("buffer", table),
             c("word", RNG.standard_normal((vocab, width)).astype(np.float32)),
             c("types", RNG.standard_normal((3, width)).astype(np.float32))]
    nodes = [helper.make_node("Equal", ["ids", "pad"], ["is_pad"]), helper.make_node("Not", ["is_pad"], ["kept"]),
             helper.make_node("Cast", ["kept"], ["mask"], to=TensorProto.INT64),
             helper.make_node("CumSum", ["mask", "axis"], ["counted"]),
             helper.make_node("Mul", ["counted", "mask"], ["positions"]),
             helper.make_node("Slice", ["buffer", "start", "stop", "axes"], ["sliced"]),
             helper.make_node("Expand", ["sliced", "shape"], ["expanded"]),
             helper.make_node("GatherElements", ["expanded", "positions"], ["picked"], axis=1, name="pick"),
             helper.make_node("Gather", ["word", "ids"], ["words"])]
    if table_type == TensorProto.BOOL:
        nodes += [helper.make_node("Unsqueeze", ["picked", "axes_last"], ["picked3"]),
                  helper.make_node("Where", ["picked3", "words", "zero"], ["y"])]
        inits += [c("axes_last", np.array([2], np.int64)), c("zero", np.float32(0))]
    else:
        if table_type == TensorProto.INT32:
            nodes.append(helper.make_node("Cast", ["picked"], ["type_ids"], to=TensorProto.INT64))
        nodes += [helper.make_node("Gather", ["types", "type_ids" if table_type == TensorProto.INT32 else "picked"],
                                   ["type_vectors"]),
                  helper.make_node("Add", ["words", "type_vectors"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, length])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, length, width])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), tmp_path / "m.onnx")
    ids = RNG.integers(2, vocab, (2, length)).astype(np.int64)
    ids[1, 5:] = 1
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"ids": ids}, tmp_path)
    np.testing.assert_array_equal(got["y"], want["y"])
    np.savez(tmp_path / "x.npz", ids=ids)
    np.savez(tmp_path / "calib.npz", ids=ids[None])
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])


@pytest.mark.parametrize("bad", [4, -5])
def test_an_index_outside_its_axis_is_refused_by_the_interpreter_and_the_bundle(tmp_path, bad):
    """An index past the axis (or before its start from the end) names no element, even
    though another row's element lies at that flat position: both runs stop, naming the node,
    as onnxruntime does, instead of reading the neighbour."""
    graph = helper.make_graph([helper.make_node("GatherElements", ["x", "i"], ["y"], axis=1, name="pick")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4]),
                               helper.make_tensor_value_info("i", TensorProto.INT64, [3, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    indices = np.array([[0, 1], [2, bad], [3, -4]], np.int64)
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((3, 4)).astype(np.float32), i=indices)
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    # The model's error names the node as the file does, and the op it was imported as.
    for runnable, node in [("m.onnx", 'node GatherElements "pick" (opset 13, imported as Gather)'),
                           ("m.npub", 'node Gather "pick"')]:
        r = run_npucc("run", tmp_path / runnable, "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
        assert r.returncode == 1 and node in r.stderr and "out of range" in r.stderr, (runnable, r.stderr)
        assert not (tmp_path / "y.npz").exists()
    indices[1, 1] = 3
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((3, 4)).astype(np.float32), i=indices)
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
