"""Values with an extent of 0, as a static shape can leave them (a Resize or Slice down to
nothing, a Split with an empty piece): a node whose results are all empty folds to empty
constants, and an empty value counts as known whatever computes it, so a product over an
empty reduction is zeros and an empty graph output is an empty array. Compiled at fp16 and
nvfp4, the bundle runs as the fake-quant interpreter runs the model, and that as onnxruntime
where onnxruntime runs it."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, simulated_and_interpreted

RNG = np.random.default_rng(70)
F = TensorProto.FLOAT


def save(path, nodes, outputs, initializers, shape):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F, shape)],
                              [helper.make_tensor_value_info(o, F, None) for o in outputs],
                              [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


def inputs(folder, shape):
    np.savez(folder / "x.npz", x=RNG.standard_normal(shape).astype(np.float32))
    np.savez(folder / "calib.npz", x=RNG.standard_normal([4] + shape).astype(np.float32))


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_product_over_an_empty_reduction_is_zeros_and_an_empty_output_is_empty(tmp_path, precision):
    """A MatMul of a Slice down to no columns gives zeros plus its bias; a Slice to nothing
    that is a graph output gives an empty array of its shape."""
    w = RNG.standard_normal([0, 5]).astype(np.float32)
    bias = RNG.standard_normal([5]).astype(np.float32)
    nodes = [helper.make_node("Slice", ["x", "zero", "zero", "last"], ["e"]),
             helper.make_node("MatMul", ["e", "w"], ["p"]),
             helper.make_node("Add", ["p", "bias"], ["y"]),
             helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Slice", ["r", "zero", "zero", "first"], ["nothing"])]
    save(tmp_path / "m.onnx", nodes, ["y", "nothing"],
         {"zero": np.array([0], np.int64), "last": np.array([2], np.int64), "first": np.array([1], np.int64),
          "w": w, "bias": bias}, [1, 3, 6])
    inputs(tmp_path, [1, 3, 6])
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert fq["y"].shape == (1, 3, 5) and fq["nothing"].shape == (1, 0, 6)
    np.testing.assert_array_equal(fq["y"], np.broadcast_to(bias, [1, 3, 5]))
    assert_same_bits(sim, fq, ["y", "nothing"])


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_an_empty_piece_of_a_split_is_calibrated_and_concatenated_as_nothing(tmp_path, precision):
    """A Split whose first piece is empty: that piece stays the Split's (whose other piece is
    not empty), yet counts as known: a MatMul of it folds to zeros, its Relu to nothing, and
    the Concat of that with the other piece is that piece, into a quantized MatMul."""
    w = RNG.standard_normal([8, 5]).astype(np.float32)
    nodes = [helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=2),
             helper.make_node("Relu", ["a"], ["ar"]),
             helper.make_node("Concat", ["ar", "b"], ["c"], axis=2),
             helper.make_node("MatMul", ["c", "w"], ["y"]),
             helper.make_node("MatMul", ["a", "w0"], ["z"])]
    save(tmp_path / "m.onnx", nodes, ["y", "z"],
         {"sizes": np.array([0, 8], np.int64), "w": w, "w0": np.zeros([0, 5], np.float32)}, [1, 4, 8])
    inputs(tmp_path, [1, 4, 8])
    ours, theirs = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": np.load(tmp_path / "x.npz")["x"]}, tmp_path)
    np.testing.assert_allclose(ours["y"], theirs["y"], rtol=1e-6, atol=1e-6)
    assert_same_bits(ours, theirs, ["z"])
    assert ours["z"].shape == (1, 4, 5) and not ours["z"].any()
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y", "z"])
