"""Model-local functions, as PyTorch's dynamo exporter writes a module per function: each call
is inlined (nested calls too, the weights passed as the function's inputs, an attribute that
refers to the function's taking the call's value or the function's default), so the model
runs as onnxruntime runs it, compiles, and runs on the simulator as the fake-quant interpreter
runs it. A function that calls itself, or reads another default-domain opset, is refused by
name."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

DOMAIN = "pkg.torch.2.3.0+cpu"
RNG = np.random.default_rng(31)


def leaky(alpha_default):
    """LeakyRelu whose alpha refers to the function's attribute (default `alpha_default`)."""
    node = helper.make_node("LeakyRelu", ["t"], ["u"])
    node.attribute.append(helper.make_attribute_ref("alpha", AttributeProto.FLOAT))
    return helper.make_function(DOMAIN, "Act", ["t"], ["u"], [node],
                                [helper.make_opsetid("", 17)],
                                attribute_protos=[helper.make_attribute("alpha", alpha_default)])


def linear():
    """x · W + b, then the nested Act call (its attribute passed on from the caller's)."""
    call = helper.make_node("Act", ["h"], ["out"], domain=DOMAIN)
    call.attribute.append(helper.make_attribute_ref("alpha", AttributeProto.FLOAT))
    nodes = [helper.make_node("MatMul", ["inp", "weight"], ["m"]),
             helper.make_node("Add", ["m", "bias"], ["h"]), call]
    return helper.make_function(DOMAIN, "Linear", ["inp", "weight", "bias"], ["out"], nodes,
                                [helper.make_opsetid("", 17), helper.make_opsetid(DOMAIN, 1)], attributes=["alpha"])


def model(path, functions=None, opset=17):
    inits = [numpy_helper.from_array((RNG.standard_normal((32, 32)) / 6).astype(np.float32), "w1"),
             numpy_helper.from_array((0.1 * RNG.standard_normal(32)).astype(np.float32), "b1"),
             numpy_helper.from_array((RNG.standard_normal((32, 16)) / 6).astype(np.float32), "w2"),
             numpy_helper.from_array((0.1 * RNG.standard_normal(16)).astype(np.float32), "b2")]
    nodes = [helper.make_node("Linear", ["x", "w1", "b1"], ["h1"], domain=DOMAIN, name="fc1", alpha=0.3),
             helper.make_node("Linear", ["h1", "w2", "b2"], ["h2"], domain=DOMAIN, name="fc2"),
             helper.make_node("Act", ["h2"], ["y"], domain=DOMAIN)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(DOMAIN, 1)],
                          functions=functions or [linear(), leaky(0.1)])
    onnx.save(m, path)
    return path


def test_calls_are_inlined_and_compute_as_onnxruntime(tmp_path):
    path = model(tmp_path / "m.onnx")
    x = RNG.standard_normal((1, 4, 32)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", path, "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    theirs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    ours = np.load(tmp_path / "y.npz")["y"]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * np.abs(theirs).max())
    # Both alphas matter: fc1's 0.3 and the default 0.1 elsewhere give other values than
    # one alpha throughout would.
    r = run_npucc("dump-ir", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("alpha=0.3") == 1 and r.stdout.count("alpha=0.1") == 2, r.stdout
    assert 'name="fc1/MatMul_0"' in r.stdout and 'name="fc2/Act_2/LeakyRelu_0"' in r.stdout, r.stdout


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_an_inlined_model_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    path = model(tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((1, 4, 32)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 1, 4, 32)).astype(np.float32))
    sim, fq = simulated_and_interpreted(path, tmp_path / "x.npz", tmp_path, precision, "none", tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])


def test_a_function_that_calls_itself_is_refused_by_name(tmp_path):
    loop = helper.make_function(DOMAIN, "Act", ["t"], ["u"], [helper.make_node("Act", ["t"], ["u"], domain=DOMAIN)],
                                [helper.make_opsetid("", 17), helper.make_opsetid(DOMAIN, 1)])
    path = model(tmp_path / "m.onnx", functions=[linear(), loop])
    r = run_npucc("dump-ir", path)
    assert r.returncode == 1
    assert 'local function "Act" calls itself' in r.stderr and str(path) in r.stderr, r.stderr


def test_a_function_of_another_default_opset_is_refused_by_name(tmp_path):
    path = model(tmp_path / "m.onnx", opset=18)
    r = run_npucc("dump-ir", path)
    assert r.returncode == 1
    assert 'local function "Linear" imports opset 17 of the default domain and the model opset 18' in r.stderr
