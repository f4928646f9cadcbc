"""Einsum of one or two operands, imported as Transpose, Unsqueeze, MatMul, Squeeze and
Transpose (and ReduceSum for letters only one operand has, Reshape to merge several letters
multiplied over): the equations attention, linear layers and outer products are written with,
with an ellipsis and with an implicit output, as onnxruntime computes them; with a constant operand the product
is a MatMul layer with constant weights, quantized and compiled, the bundle equal to the
interpreter (also a multi-head projection whose weight has a head letter of its own,
`btd,dhe->bhte`: the letter joins the weight's columns); and equations outside that form
refused by name."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

# (equation, shape of a, shape of b)
EQUATIONS = [
    ("bhqd,bhkd->bhqk", (2, 3, 4, 5), (2, 3, 6, 5)),   # attention scores
    ("bhqk,bhkd->bhqd", (2, 3, 4, 6), (2, 3, 6, 5)),   # attention context
    ("bld,dh->blh", (2, 4, 5), (5, 3)),                # a linear layer
    ("bld,hd->bhl", (2, 4, 5), (3, 5)),                # its output transposed
    ("ij,jk->ki", (3, 4), (4, 5)),
    ("i,j->ij", (3,), (4,)),                           # an outer product
    ("bi,bi->b", (3, 4), (3, 4)),                      # row-wise dot products
    ("bij,bjk->bk", (2, 3, 4), (2, 4, 5)),             # a letter summed away after the product
    ("ijk,kl->il", (2, 3, 4), (4, 5)),                 # j summed before the product
    ("nc,mc->nmc", (2, 3), (4, 3)),                    # no letter multiplied over
    ("xbd,bd->bx", (3, 2, 4), (1, 4)),                 # a batch letter broadcast from 1
    ("k,ijk->ij", (4,), (2, 3, 4)),                    # neither row letter on the left
    ("ijk,k->ij", (2, 3, 4), (4,)),                    # nor column letter on the right
    ("...qd,...kd->...qk", (2, 3, 4, 5), (2, 1, 6, 5)),  # an ellipsis, one of its axes broadcast
    ("bhqd,bhkd", (2, 3, 4, 5), (2, 3, 6, 5)),         # implicit output: the letters once, sorted
    ("...d,de", (2, 3, 4), (4, 5)),                    # both
    ("ijk,jkl->il", (2, 3, 4), (3, 4, 5)),             # two letters multiplied over
    ("bhij,bhj->bi", (2, 3, 4, 5), (2, 3, 5)),         # two, one of them a batch letter of the inputs
    ("cab,abd->cd", (2, 3, 4), (3, 4, 5)),             # two, the left's ahead of its rows
]
ONE_OPERAND = [
    ("ij->ji", (3, 4)),                                # a transpose
    ("bij->bj", (2, 3, 4)),                            # a sum over an axis
    ("ijk", (2, 3, 4)),                                # implicit: unchanged
    ("...ij->...ji", (2, 3, 4, 5)),                    # an ellipsis
    ("ij->", (3, 4)),                                  # everything summed
]


def einsum_model(path, equation, a_shape, b_shape, constant_b=False):
    rng = np.random.default_rng(51)
    inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, list(a_shape))]
    inits = []
    if constant_b:
        inits.append(numpy_helper.from_array(rng.standard_normal(b_shape).astype(np.float32), "b"))
    else:
        inputs.append(helper.make_tensor_value_info("b", TensorProto.FLOAT, list(b_shape)))
    graph = helper.make_graph([helper.make_node("Einsum", ["a", "b"], ["y"], equation=equation, name="product")], "e",
                              inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)]), path)


@pytest.mark.parametrize("equation,a_shape,b_shape", EQUATIONS, ids=[e[0] for e in EQUATIONS])
def test_einsum_computes_as_onnxruntime_does(tmp_path, equation, a_shape, b_shape):
    einsum_model(tmp_path / "m.onnx", equation, a_shape, b_shape)
    rng = np.random.default_rng(52)
    feeds = {"a": rng.standard_normal(a_shape).astype(np.float32), "b": rng.standard_normal(b_shape).astype(np.float32)}
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", feeds, tmp_path)
    assert got["y"].shape == want["y"].shape
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["y"], np.einsum(equation, feeds["a"], feeds["b"]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("equation,shape", ONE_OPERAND, ids=[e[0] for e in ONE_OPERAND])
def test_einsum_of_one_operand_computes_as_onnxruntime_does(tmp_path, equation, shape):
    graph = helper.make_graph([helper.make_node("Einsum", ["a"], ["y"], equation=equation, name="product")], "e",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)]), tmp_path / "m.onnx")
    a = np.random.default_rng(54).standard_normal(shape).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"a": a}, tmp_path)
    assert got["y"].shape == want["y"].shape
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["y"], np.einsum(equation, a), rtol=1e-5, atol=1e-5)


# (equation, shape of the activation, shape of the constant weight)
LAYERS = [
    ("bld,hd->blh", (1, 8, 32), (16, 32)),
    # Multi-head projections: the weight's head letter joins its columns.
    ("btd,dhe->bhte", (1, 8, 32), (32, 4, 8)),
    ("btd,dhe->bthe", (1, 8, 32), (32, 4, 8)),
    ("btd,hde->tbeh", (2, 8, 32), (4, 32, 8)),
    ("btcd,cdhe->bthe", (1, 8, 4, 8), (4, 8, 2, 8)),  # two letters multiplied over
]


@pytest.mark.parametrize("equation,a_shape,b_shape", LAYERS[1:], ids=[e[0] for e in LAYERS[1:]])
def test_einsum_with_a_constant_weight_of_its_own_letters_computes_as_onnxruntime_does(tmp_path, equation, a_shape,
                                                                                      b_shape):
    einsum_model(tmp_path / "m.onnx", equation, a_shape, b_shape, constant_b=True)
    a = np.random.default_rng(55).standard_normal(a_shape).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"a": a}, tmp_path)
    assert got["y"].shape == want["y"].shape
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
@pytest.mark.parametrize("equation,a_shape,b_shape", LAYERS, ids=[e[0] for e in LAYERS])
def test_an_einsum_with_constant_weights_is_a_layer(tmp_path, precision, equation, a_shape, b_shape):
    einsum_model(tmp_path / "m.onnx", equation, a_shape, b_shape, constant_b=True)
    rng = np.random.default_rng(53)
    np.savez(tmp_path / "x.npz", a=rng.standard_normal(a_shape).astype(np.float32))
    np.savez(tmp_path / "calib.npz", a=rng.standard_normal((4,) + a_shape).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", precision,
                  "--calib", tmp_path / "calib.npz")
    assert r.returncode == 0 and "1 layers" in r.stdout, r.stdout


@pytest.mark.parametrize("equation,a_shape,b_shape,message", [
    ("ii,ij->ij", (3, 3), (3, 3), "each letter at most once per term"),
    ("ij,jk,kl->il", (3, 3), (3, 3), "has 3 terms for 2 operands"),
    ("...ijk,kl->il", (3, 3), (3, 3), "an ellipsis stands for more axes than its operand has"),
    ("ij,jk->ik", (3, 3, 3), (3, 3), 'operand "a" has rank 3, its term "ij" 2 letters'),
])
def test_other_equations_are_refused_by_name(tmp_path, equation, a_shape, b_shape, message):
    einsum_model(tmp_path / "m.onnx", equation, a_shape, b_shape)
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 1 and 'node Einsum "product"' in r.stderr and message in r.stderr, r.stderr
