"""One-dimensional convolutions and pooling, as audio and sequence models export them (a
speech encoder's stem, a depthwise convolution, a transposed convolution upsampling a
signal, 1-D max, average and global pooling): the interpreter computes them as onnxruntime
does; compiled at every precision, dense and 2:4, the bundle runs bit for bit as the
fake-quant interpreter runs the model and as the same network written in 2-D over one row
runs, and tools/npub.py decodes each layer's weights in their 1-D ONNX layout as that twin's.
A convolution over four spatial axes is refused by node."""
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT, assert_compile_refuses, assert_same_bits, interpreted_and_onnxruntime, \
    simulated_and_interpreted

sys.path.insert(0, str(ROOT / "tools"))
import npub  # noqa: E402

C, L = 8, 40
LAYERS = {"stem": (16, 8, 3), "down": (16, 16, 3), "depthwise": (16, 1, 5), "up": (16, 8, 4)}


def signal_model(path, rows=False):
    """x [N, 8, 40] -> Conv1d 8->16 (k3, pad 1) -> Relu -> Conv1d 16->16 (k3, stride 2, pad 1)
    -> depthwise Conv1d (k5, pad 2) -> MaxPool1d (k3, stride 2, pad 1) -> AveragePool1d (k3,
    pad 1) -> ConvTranspose1d 16->8 (k4, stride 2, pad 1) -> GlobalAveragePool -> Flatten.
    With `rows`, the same network in 2-D over [N, 8, 1, 40]: kernels of one row."""
    rng = np.random.default_rng(1)
    weights = {n: (rng.standard_normal(s) / np.sqrt(np.prod(s[1:]))).astype(np.float32) for n, s in LAYERS.items()}
    inits = [numpy_helper.from_array(w.reshape(w.shape[:2] + (1,) * rows + w.shape[2:]), n) for n, w in weights.items()]
    inits.append(numpy_helper.from_array((0.1 * rng.standard_normal(16)).astype(np.float32), "stem_b"))

    def window(**attributes):
        if not rows:
            return attributes
        lifted = {k: [1] + v for k, v in attributes.items() if k in ("kernel_shape", "strides")}
        if "pads" in attributes:
            lifted["pads"] = [0, attributes["pads"][0], 0, attributes["pads"][1]]
        return {**attributes, **lifted}

    nodes = [helper.make_node("Conv", ["x", "stem", "stem_b"], ["a"], name="stem", **window(pads=[1, 1])),
             helper.make_node("Relu", ["a"], ["ar"]),
             helper.make_node("Conv", ["ar", "down"], ["b"], name="down", **window(kernel_shape=[3], strides=[2], pads=[1, 1])),
             helper.make_node("Conv", ["b", "depthwise"], ["c"], group=16, name="depthwise", **window(pads=[2, 2])),
             helper.make_node("MaxPool", ["c"], ["d"], **window(kernel_shape=[3], strides=[2], pads=[1, 1])),
             helper.make_node("AveragePool", ["d"], ["e"], count_include_pad=1, **window(kernel_shape=[3], pads=[1, 1])),
             helper.make_node("ConvTranspose", ["e", "up"], ["f"], name="up", **window(strides=[2], pads=[1, 1])),
             helper.make_node("GlobalAveragePool", ["f"], ["g"]),
             helper.make_node("Flatten", ["g"], ["y"])]
    shape = ["N", C, 1, L] if rows else ["N", C, L]
    graph = helper.make_graph(nodes, "signal", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_the_interpreter_computes_one_dimensional_layers_as_onnxruntime(tmp_path):
    signal_model(tmp_path / "m.onnx")
    x = np.random.default_rng(2).standard_normal((2, C, L)).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("precision,sparsity", [("fp16", "none"), ("fp8", "2:4"), ("nvfp4", "none"), ("nvfp4", "2:4")])
def test_one_dimensional_layers_run_on_the_simulator_as_the_interpreter_runs_them(tmp_path, precision, sparsity):
    """Bit for bit as the interpreter, and as the same network written in 2-D over one row
    compiles and runs (its packed weights the same, decoded in their own layouts)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, C, L)).astype(np.float32)
    calib = rng.standard_normal((4, 1, C, L)).astype(np.float32)
    results = {}
    for rows in [False, True]:
        folder = tmp_path / ("rows" if rows else "signal")
        folder.mkdir()
        signal_model(folder / "m.onnx", rows)
        np.savez(folder / "x.npz", x=x[:, :, None] if rows else x)
        np.savez(folder / "calib.npz", x=calib[:, :, :, None] if rows else calib)
        shape = ["--input-shape", f"x=1,{C},1,{L}" if rows else f"x=1,{C},{L}"]
        sim, fq = simulated_and_interpreted(folder / "m.onnx", folder / "x.npz", folder, precision, sparsity,
                                            folder / "calib.npz", prune="magnitude", extra=shape)
        assert_same_bits(sim, fq, ["y"])
        results[rows] = sim["y"], npub.decode_weights(folder / "m.npub")
    (signal, signal_weights), (twin, twin_weights) = results[False], results[True]
    np.testing.assert_array_equal(signal.view(np.uint32), twin.view(np.uint32))
    for layer, weight_shape in LAYERS.items():
        assert signal_weights[layer].shape == weight_shape
        np.testing.assert_array_equal(signal_weights[layer], twin_weights[layer].reshape(weight_shape), err_msg=layer)


def test_a_four_dimensional_convolution_is_refused_by_node(tmp_path):
    w = numpy_helper.from_array(np.ones((4, 2, 3, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="volume")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3, 3, 3, 3])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    assert_compile_refuses(tmp_path / "m.onnx", tmp_path,
                           'node Conv "volume" (opset 13): cannot lower a Conv over other than one or two spatial axes')
