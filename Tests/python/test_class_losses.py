"""NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss in the interpreter, as evaluation
graphs carry them: `npucc run` gives onnxruntime's losses (and log-probabilities) with and
without class weights and an ignored index, for every reduction, over [N, C] and [N, C, H, W];
a target outside the classes is refused by node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from conftest import interpreted_and_onnxruntime, run_npucc

RNG = np.random.default_rng(0)


def model(path, op, shape, reduction, weighted, ignore_index):
    attributes = {"reduction": reduction} if ignore_index is None else {"reduction": reduction,
                                                                         "ignore_index": ignore_index}
    outputs = ["loss", "log_prob"] if op == "SoftmaxCrossEntropyLoss" else ["loss"]
    loss_shape = [shape[0], *shape[2:]] if reduction == "none" else []
    m = h.make_model(h.make_graph(
        [h.make_node(op, ["x", "target"] + (["weight"] if weighted else []), outputs, name="loss", **attributes)], "g",
        [h.make_tensor_value_info("x", T.FLOAT, list(shape)),
         h.make_tensor_value_info("target", T.INT64, [shape[0], *shape[2:]])],
        [h.make_tensor_value_info("loss", T.FLOAT, loss_shape)]
        + ([h.make_tensor_value_info("log_prob", T.FLOAT, list(shape))] if len(outputs) > 1 else []),
        [nh.from_array(RNG.uniform(0.2, 2, shape[1]).astype(np.float32), "weight")] if weighted else []),
        opset_imports=[h.make_opsetid("", 13)])
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(path))


@pytest.mark.parametrize("op", ["NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"])
@pytest.mark.parametrize("shape", [(8, 5), (3, 4, 2, 3)])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighted,ignore_index", [(False, None), (True, None), (False, 2), (True, -1)])
def test_losses_as_onnxruntime_computes_them(tmp_path, op, shape, reduction, weighted, ignore_index):
    model(tmp_path / "l.onnx", op, shape, reduction, weighted, ignore_index)
    x = RNG.standard_normal(shape).astype(np.float32)
    target = RNG.integers(0, shape[1], (shape[0], *shape[2:])).astype(np.int64)
    if ignore_index is not None:
        target.flat[::3] = ignore_index
    got, want = interpreted_and_onnxruntime(tmp_path / "l.onnx", {"x": x, "target": target}, tmp_path)
    for name, theirs in want.items():
        assert got[name].shape == theirs.shape, name
        # Sums in another order (and the exponentials of another library): float32 units apart.
        np.testing.assert_allclose(got[name], theirs, rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_target_outside_the_classes_is_refused_by_node(tmp_path):
    model(tmp_path / "l.onnx", "NegativeLogLikelihoodLoss", (2, 3), "mean", False, None)
    np.savez(tmp_path / "in.npz", x=np.zeros((2, 3), np.float32), target=np.array([1, 3], np.int64))
    r = run_npucc("run", tmp_path / "l.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1 and not (tmp_path / "out.npz").exists()
    assert r.stderr.strip().endswith(
        'node NegativeLogLikelihoodLoss "loss" (opset 13): target 3 at element 1 is not one of the 3 classes'), r.stderr
