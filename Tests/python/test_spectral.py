"""DFT (opsets 17 and 20), STFT, the window functions (HannWindow, HammingWindow,
BlackmanWindow) and MelWeightMatrix as an audio front end exports them, their sizes known when the model is
read: the DFT of real and complex signals, forward and inverse, one-sided (RFFT and IRFFT),
cut or padded to dft_length, along an inner or the last signal axis, the STFT of a windowed
signal, the windows and the mel weights compute as onnxruntime computes them; a spectrogram front end (STFT, power,
mel projection, log) compiles and its bundle runs bit for bit as the interpreter runs it; a
size known only at run time is refused by node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import (assert_same_bits, interpreted_and_onnxruntime, run_npucc,
                      simulated_and_interpreted_on_normal_values)

RNG = np.random.default_rng(1717)


def save(path, nodes, inputs, inits, opset):
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def compare(path, feeds, folder, rtol=2e-5):
    ours, theirs = interpreted_and_onnxruntime(path, feeds, folder)
    got, want = ours["y"], theirs["y"]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * np.abs(want).max())
    return got


DFT_CASES = {
    "real": dict(shape=[2, 16, 1]),
    "complex_inner_axis": dict(shape=[2, 12, 3, 2], axis=1),
    "default_axis": dict(shape=[2, 12, 3, 1], axis=None),
    "inverse_complex": dict(shape=[2, 10, 2], inverse=1),
    "rfft_padded": dict(shape=[3, 20, 1], onesided=1, length=24),
    "rfft_cut_odd": dict(shape=[3, 20, 1], onesided=1, length=15),
    "irfft": dict(shape=[2, 9, 2], inverse=1, onesided=1),
    "irfft_odd_length": dict(shape=[2, 9, 2], inverse=1, onesided=1, length=17),
}


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("case", sorted(DFT_CASES))
def test_dft_computes_as_onnxruntime(tmp_path, case, opset):
    c = DFT_CASES[case]
    shape, axis = c["shape"], c.get("axis", len(c["shape"]) - 2)
    # None: no axis given, opset 17's default 1 or opset 20's -2.
    inits, names = [], ["x", "", ""]
    if "length" in c:
        inits.append(numpy_helper.from_array(np.array(c["length"], np.int64), "length"))
        names[1] = "length"
    attributes = {k: c[k] for k in ("inverse", "onesided") if k in c}
    if axis is None:
        pass
    elif opset == 17:
        attributes["axis"] = axis
    else:
        inits.append(numpy_helper.from_array(np.array(axis, np.int64), "axis"))
        names[2] = "axis"
    while names[-1] == "":
        names.pop()
    save(tmp_path / "m.onnx", [helper.make_node("DFT", names, ["y"], name="dft", **attributes)],
         [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)], inits, opset)
    compare(tmp_path / "m.onnx", {"x": RNG.standard_normal(shape).astype(np.float32)}, tmp_path)


def stft_nodes(window_op, frame_length=64, step=16):
    nodes = [helper.make_node("STFT", ["signal", "step"] + (["window"] if window_op else []), ["spectrum"], name="stft")]
    inits = [numpy_helper.from_array(np.array(step, np.int64), "step")]
    if window_op:
        nodes.insert(0, helper.make_node(window_op, ["size"], ["window"], name="window"))
        inits.append(numpy_helper.from_array(np.array(frame_length, np.int64), "size"))
    else:
        nodes[0].input.extend(["", "length"])
        inits.append(numpy_helper.from_array(np.array(frame_length, np.int64), "length"))
    return nodes, inits


@pytest.mark.parametrize("window_op", ["HannWindow", "HammingWindow", "BlackmanWindow", None])
def test_stft_of_a_windowed_signal_computes_as_onnxruntime(tmp_path, window_op):
    nodes, inits = stft_nodes(window_op)
    nodes.append(helper.make_node("Identity", ["spectrum"], ["y"]))
    save(tmp_path / "m.onnx", nodes, [helper.make_tensor_value_info("signal", TensorProto.FLOAT, [2, 400, 1])], inits, 17)
    got = compare(tmp_path / "m.onnx", {"signal": RNG.standard_normal((2, 400, 1)).astype(np.float32)}, tmp_path)
    assert got.shape == (2, 22, 33, 2)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [1, 0])
def test_windows_are_the_constants_onnxruntime_computes(tmp_path, op, periodic):
    save(tmp_path / "m.onnx", [helper.make_node(op, ["size"], ["y"], periodic=periodic)],
         [], [numpy_helper.from_array(np.array(10, np.int64), "size")], 17)
    got = compare(tmp_path / "m.onnx", {}, tmp_path, rtol=1e-6)
    assert got.shape == (10,)


@pytest.mark.parametrize("bins,length,rate,low,high", [(8, 64, 16000, 0, 8000), (10, 400, 16000, 20, 7600),
                                                        (5, 255, 8000, 100, 3000)])
def test_a_mel_weight_matrix_is_the_constant_onnxruntime_computes(tmp_path, bins, length, rate, low, high):
    names = ["bins", "length", "rate", "low", "high"]
    inits = [numpy_helper.from_array(np.array(v, np.int64 if i < 3 else np.float32), n)
             for i, (v, n) in enumerate(zip([bins, length, rate, low, high], names))]
    save(tmp_path / "m.onnx", [helper.make_node("MelWeightMatrix", names, ["y"])], [], inits, 17)
    got = compare(tmp_path / "m.onnx", {}, tmp_path, rtol=1e-6)
    assert got.shape == (length // 2 + 1, bins)


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_spectrogram_front_end_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    """STFT (Hann, 64 samples every 16), power (the parts squared, summed), a mel projection
    (a [33, 8] weight), log."""
    nodes, inits = stft_nodes("HannWindow")
    mel = np.abs(RNG.standard_normal((33, 8))).astype(np.float32)
    nodes += [helper.make_node("Mul", ["spectrum", "spectrum"], ["squares"]),
              helper.make_node("ReduceSum", ["squares", "last"], ["power"], keepdims=0),
              helper.make_node("MatMul", ["power", "mel"], ["mels"], name="mel"),
              helper.make_node("Add", ["mels", "floor"], ["positive"]),
              helper.make_node("Log", ["positive"], ["y"])]
    inits += [numpy_helper.from_array(mel, "mel"), numpy_helper.from_array(np.array([-1], np.int64), "last"),
              numpy_helper.from_array(np.float32(1e-3), "floor")]
    save(tmp_path / "m.onnx", nodes, [helper.make_tensor_value_info("signal", TensorProto.FLOAT, [1, 400, 1])], inits, 18)
    sim, fq = simulated_and_interpreted_on_normal_values(tmp_path / "m.onnx", [1, 400, 1], tmp_path, precision, RNG,
                                                         name="signal")
    assert_same_bits(sim, fq, ["y"])


def test_a_size_known_only_at_run_time_is_refused_by_node(tmp_path):
    save(tmp_path / "m.onnx", [helper.make_node("HannWindow", ["size"], ["y"], name="window")],
         [helper.make_tensor_value_info("size", TensorProto.INT64, [])], [], 17)
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 1 and 'node HannWindow "window" (opset 17)' in r.stderr, r.stderr
    assert "needs size known when the model is read" in r.stderr
