"""Layer normalization as exporters before opset 17 write it (ReduceMean, Sub, Pow, Sqrt,
Div), and reductions over trailing axes: compiled at every precision, the bundle runs on
the simulator exactly as the fake-quant interpreter runs the model; a reduction the vector
unit cannot do is refused by node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_npucc


def decomposed_model(path, opset=13):
    """x [N, 8, 32] -> decomposed layer norm -> MatMul 32x48 + bias -> Softmax ->
    ReduceSum over the last axis (keepdims) and ReduceMax over the last two axes; ReduceProd of
    the normalized rows."""
    rng = np.random.default_rng(3)

    def const(name, value):
        return numpy_helper.from_array(np.asarray(value, np.float32), name)

    inits = [const("two", 2.0), const("eps", 1e-5), const("gamma", 1 + 0.1 * rng.standard_normal(32)),
             const("beta", 0.1 * rng.standard_normal(32)), const("w", rng.standard_normal((32, 48)) / np.sqrt(32)),
             const("b", 0.1 * rng.standard_normal(48)), numpy_helper.from_array(np.array([-1], np.int64), "last")]
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[-1], name="mean"),
        helper.make_node("Sub", ["x", "mean"], ["centred"]),
        helper.make_node("Pow", ["centred", "two"], ["squared"], name="squared"),
        helper.make_node("ReduceMean", ["squared"], ["variance"], axes=[-1]),
        helper.make_node("Add", ["variance", "eps"], ["shifted"]),
        helper.make_node("Sqrt", ["shifted"], ["deviation"]),
        helper.make_node("Div", ["centred", "deviation"], ["normed"]),
        helper.make_node("Mul", ["normed", "gamma"], ["scaled"]),
        helper.make_node("Add", ["scaled", "beta"], ["ln"]),
        helper.make_node("MatMul", ["ln", "w"], ["mm"], name="proj"),
        helper.make_node("Add", ["mm", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["p"], axis=-1),
        helper.make_node("ReduceSum", ["p", "last"], ["total"], keepdims=1),  # axes an input from opset 13
        helper.make_node("ReduceMax", ["logits"], ["peak"], axes=[1, 2], keepdims=0),
        helper.make_node("ReduceProd", ["normed"], ["product"], axes=[-1], keepdims=1, name="product"),
    ]
    graph = helper.make_graph(
        nodes, "decomposed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8, 32])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 8, 48]),
         helper.make_tensor_value_info("total", TensorProto.FLOAT, ["N", 8, 1]),
         helper.make_tensor_value_info("peak", TensorProto.FLOAT, ["N"]),
         helper.make_tensor_value_info("product", TensorProto.FLOAT, ["N", 8, 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decomposed")
    decomposed_model(folder / "m.onnx")
    rng = np.random.default_rng(4)
    np.savez(folder / "calib.npz", x=rng.standard_normal((8, 8, 32)).astype(np.float32))
    np.savez(folder / "inputs.npz", x=(3 * rng.standard_normal((3, 8, 32)) + 1).astype(np.float32))
    return folder


@pytest.mark.parametrize("precision,sparsity", [("fp16", "none"), ("fp8", "none"), ("nvfp4", "2:4")])
def test_decomposed_layer_norm_and_reductions_run_as_the_interpreter_runs_them(model, tmp_path, precision, sparsity):
    flags = ["--precision", precision, "--calib", model / "calib.npz"]
    pruning = ["--prune", "magnitude"] if sparsity != "none" else []
    r = run_npucc("compile", model / "m.onnx", "-o", tmp_path / "m.npub", "--input-shape", "x=1,8,32", *flags, *pruning,
                  "--sparsity", sparsity)
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", model / "inputs.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", model / "m.onnx", "--inputs", model / "inputs.npz", "--outputs", tmp_path / "fq.npz", *flags,
                  *pruning)
    assert r.returncode == 0, r.stderr
    sim, fq = dict(np.load(tmp_path / "sim.npz")), dict(np.load(tmp_path / "fq.npz"))
    assert sorted(sim) == sorted(fq) == ["p", "peak", "product", "total"]
    for key in sim:
        assert sim[key].shape == fq[key].shape, key
        np.testing.assert_array_equal(sim[key], fq[key], err_msg=key)
    np.testing.assert_allclose(sim["total"], 1, rtol=1e-5)  # the softmax rows really were summed


def test_a_reduction_over_a_leading_axis_is_refused_by_node(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], name="over_rows")], "r",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 32])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "r.onnx")
    r = run_npucc("compile", tmp_path / "r.onnx", "-o", tmp_path / "r.npub", "--precision", "fp16")
    assert r.returncode == 1
    assert 'node ReduceMean "over_rows" (opset 13): cannot lower ReduceMean over axes [1] of [1, 8, 32]' in r.stderr
    assert not (tmp_path / "r.npub").exists()
