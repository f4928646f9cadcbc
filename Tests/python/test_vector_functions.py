"""HardSigmoid and Selu (default and given parameters), Mish, Max and Min of two tensors (one of them
broadcast, one a constant), Max, Sum and Mean of three and Min and Mean of one, after a convolution, as
exporters write them at opsets 13 and 17: the bundle runs bit for bit as the fake-quant
interpreter runs the model, at fp16, nvfp4 and nvfp4 with 2:4, on inputs holding NaN,
infinities and zeros of both signs; on ordinary values the interpreter's ops equal
onnxruntime's exactly (Selu, through expf, to 1e-6)."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted, special_inputs

SHAPE = (1, 3, 5, 6)
OUTPUTS = ["hs", "hs_given", "selu", "selu_given", "max", "min", "max_row", "min_const", "max3", "sum3", "min1", "mean3", "mean1"]


def functions_model(path, opset, conv=True):
    """Conv 3 -> 3 channels (pads 1), then the functions on its output c and the input x."""
    rng = np.random.default_rng(5)
    inits = [numpy_helper.from_array((rng.standard_normal((3, 3, 3, 3)) / 5).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal((1, 1, 1, 6)).astype(np.float32), "row"),
             numpy_helper.from_array(rng.standard_normal(SHAPE).astype(np.float32), "const")]
    c = "c" if conv else "x"
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv")] if conv else []
    nodes += [helper.make_node("HardSigmoid", [c], ["hs"]),
              helper.make_node("HardSigmoid", [c], ["hs_given"], alpha=-0.3, beta=0.25),
              helper.make_node("Selu", [c], ["selu"]),
              helper.make_node("Selu", [c], ["selu_given"], alpha=2.5, gamma=0.75),
              helper.make_node("Max", [c, "x"], ["max"]),
              helper.make_node("Min", ["x", c], ["min"]),
              helper.make_node("Max", ["row", c], ["max_row"]),
              helper.make_node("Min", [c, "const"], ["min_const"]),
              helper.make_node("Max", ["x", c, "row"], ["max3"]),
              helper.make_node("Sum", [c, "const", "x"], ["sum3"]),
              helper.make_node("Min", [c], ["min1"]),
              helper.make_node("Mean", [c, "const", "x"], ["mean3"]),
              helper.make_node("Mean", [c], ["mean1"])]
    graph = helper.make_graph(nodes, "functions", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, SHAPE) for o in OUTPUTS], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return special_inputs(tmp_path_factory.mktemp("functions"), SHAPE, 7, 4,
                          [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40])


@pytest.mark.parametrize("opset", [13, 17])
def test_the_interpreter_computes_the_functions_as_onnxruntime_does(tmp_path, opset):
    functions_model(tmp_path / "alone.onnx", opset, conv=False)
    x = np.random.default_rng(9).standard_normal(SHAPE).astype(np.float32) * 4
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "alone.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    session = ort.InferenceSession(str(tmp_path / "alone.onnx"), providers=["CPUExecutionProvider"])
    got = np.load(tmp_path / "ref.npz")
    for name, value in zip(OUTPUTS, session.run(None, {"x": x})):
        if name.startswith("selu"):
            # expf against onnxruntime's own exp: close, not bit for bit (the difference
            # alpha * exp(x) - alpha cancels near 0, so ulps of the result say little).
            np.testing.assert_allclose(got[name], value, rtol=1e-6, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(got[name], value, err_msg=name)


@pytest.mark.parametrize("opset,precision,sparsity", [(13, "fp16", "none"), (13, "nvfp4", "none"),
                                                      (17, "nvfp4", "2:4")])
def test_the_functions_run_on_the_simulator_as_the_interpreter_runs_them(data, tmp_path, opset, precision, sparsity):
    functions_model(tmp_path / "m.onnx", opset)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", data / "x.npz", tmp_path, precision, sparsity,
                                        data / "calib.npz")
    for name in OUTPUTS:
        # Bit patterns, so that NaN payloads and the sign of zero count too.
        np.testing.assert_array_equal(sim[name].view(np.uint32), fq[name].view(np.uint32), err_msg=name)
    # The input's NaN reaches Max and Min: the result is the quiet NaN.
    assert sim["max"].view(np.uint32).flat[0] == 0x7fc00000
    assert sim["min"].view(np.uint32).flat[0] == 0x7fc00000


def test_mish_is_x_times_tanh_of_softplus(tmp_path):
    """Mish (opset 18), imported as Softplus, Tanh and Mul: as onnxruntime's Mish to 1e-6 on
    values from -30 to 30, and after a convolution the bundle bit for bit the interpreter."""
    rng = np.random.default_rng(9)
    w = numpy_helper.from_array((rng.standard_normal((3, 3, 3, 3)) / 5).astype(np.float32), "w")
    for conv in (False, True):
        nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv")] if conv else []
        nodes.append(helper.make_node("Mish", ["c" if conv else "x"], ["y"], name="mish"))
        graph = helper.make_graph(nodes, "mish", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, SHAPE)], [w] if conv else [])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / f"m{int(conv)}.onnx")
    x = np.linspace(-30, 30, int(np.prod(SHAPE)), dtype=np.float32).reshape(SHAPE)
    got, want = interpreted_and_onnxruntime(tmp_path / "m0.onnx", {"x": x}, tmp_path)
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-6, atol=1e-7)
    np.savez(tmp_path / "x.npz", x=x / 10)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4,) + SHAPE[1:]).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m1.onnx", tmp_path / "x.npz", tmp_path, "nvfp4", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
