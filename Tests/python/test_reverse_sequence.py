"""ReverseSequence, as tf2onnx writes Keras's go_backwards and the backward half of a
Bidirectional layer: each batch entry's first sequence_lens steps along the time axis
reversed, the rest kept; batch and time axes in either order. The interpreter computes it as
onnxruntime does; after a matrix layer the bundle runs bit for bit as the fake-quant
interpreter; a length past the time axis is refused by node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(5151)


def reverse_model(path, shape, lengths, batch_axis, time_axis, layer=False):
    """x of `shape` (times a 6 x 6 weight first when `layer`) -> ReverseSequence(lengths)."""
    inits = [numpy_helper.from_array(np.array(lengths, np.int64), "lens")]
    nodes = []
    source = "x"
    if layer:
        inits.append(numpy_helper.from_array((RNG.standard_normal((shape[-1], shape[-1])) / 3).astype(np.float32), "w"))
        nodes.append(helper.make_node("MatMul", ["x", "w"], ["h"], name="dense"))
        source = "h"
    nodes.append(helper.make_node("ReverseSequence", [source, "lens"], ["y"], name="reverse",
                                  batch_axis=batch_axis, time_axis=time_axis))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.mark.parametrize("shape,lengths,batch_axis,time_axis", [
    ([4, 7, 6], [7, 3, 1, 5], 0, 1),      # batch first (Keras through tf2onnx)
    ([7, 4, 6], [7, 7, 2, 6], 1, 0),      # time first (ONNX's default)
    ([5, 3, 2, 4], [5, 5, 5], 1, 0),      # every sequence whole: a plain reversal
])
def test_as_onnxruntime(tmp_path, shape, lengths, batch_axis, time_axis):
    reverse_model(tmp_path / "m.onnx", shape, lengths, batch_axis, time_axis)
    x = RNG.standard_normal(shape).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_array_equal(got["y"], want["y"])


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_after_a_layer_on_the_simulator_as_the_interpreter(tmp_path, precision):
    shape = [2, 9, 6]
    reverse_model(tmp_path / "m.onnx", shape, [9, 4], 0, 1, layer=True)
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal(shape).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal([4] + shape).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])


def test_a_length_past_the_time_axis_is_refused_by_node(tmp_path):
    reverse_model(tmp_path / "m.onnx", [2, 5, 3], [5, 6], 0, 1)
    np.savez(tmp_path / "x.npz", x=np.ones((2, 5, 3), np.float32))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 1
    assert 'ReverseSequence "reverse" (opset 13)' in r.stderr, r.stderr
    assert "sequence_lens[1] = 6 is outside the time axis's 0 to 5 steps" in r.stderr, r.stderr
