"""Forms exporters write that the NPU takes once canonicalized: a Gemm with alpha, beta or
transA (a constant or an activation A), a 1-D MatMul operand beside a constant weight on
either side, a constant that is no layer's weight (on the left, as DETR's queries; one
matrix per head, as DeBERTa's relative-position keys and Funnel's Einsum: products of
activations at fp16), a pool whose one window reaches past its whole input (global pools),
LayerNormalization listing Mean and InvStdDev and MaxPool listing
Indices that nothing reads, a ReduceMean over no axis with noop_with_empty_axes, Pow with an
int64 exponent, gates resized to extents a shape chain reads from the block before, and
attention's heads transposed as PyTorch exports them (K twice; one position). Each
compiles and runs on the simulator as onnxruntime computes it (fp16) and as the fake-quant
interpreter does (fp8, bit for bit); so does Keras's layer normalization as tf2onnx writes
it (a BatchNormalization of statistics the graph computes). What the NPU cannot take is
refused by name: an empty input."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(4242)


def const(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(value, dtype), name)


def value(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def save(path, nodes, x_shape, inits, opset=13, x_type=TensorProto.FLOAT, outputs=("y",)):
    graph = helper.make_graph(nodes, "g", [value("x", x_shape, x_type)], [value(o, None, x_type) for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.save(model, path)
    return path


def weights(*shape):
    return (RNG.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)


def gemm_alpha_beta(path):
    # alpha and beta on constant weights and bias, as a Linear exported with a scale.
    return save(path, [helper.make_node("Gemm", ["x", "w", "b"], ["y"], alpha=0.5, beta=2.0, transB=1)],
                [2, 32], [const("w", weights(24, 32)), const("b", weights(24))])


def gemm_beta_zero(path):
    return save(path, [helper.make_node("Gemm", ["x", "w", "b"], ["y"], beta=0.0)],
                [2, 32], [const("w", weights(32, 24)), const("b", np.full(24, np.nan))])


def gemm_trans_a(path):
    # op(A) = Aᵀ of an activation: read through a Transpose.
    return save(path, [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transA=1, alpha=2.0)],
                [32, 3], [const("w", weights(32, 16)), const("b", weights(16))])


def matmul_vector_left(path):
    return save(path, [helper.make_node("MatMul", ["x", "w"], ["y"])], [32], [const("w", weights(32, 12))])


def matmul_weight_left(path):
    return save(path, [helper.make_node("MatMul", ["w", "x"], ["y"])], [32], [const("w", weights(12, 32))])


def matmul_constant_left(path):
    # DETR's decoder: constant queries times an activation, no layer's x·W.
    return save(path, [helper.make_node("MatMul", ["w", "x"], ["y"])], [32, 4], [const("w", weights(12, 32))])


def matmul_keys_per_head(path):
    # DeBERTa's relative-position keys: constant once shapes are fixed, one [K, N] per head.
    return save(path, [helper.make_node("MatMul", ["x", "k"], ["y"])], [4, 6, 16], [const("k", weights(4, 16, 8))])


def einsum_constant_heads(path):
    # Funnel's attention: Einsum binh,tnh->bnit with a constant operand.
    return save(path, [helper.make_node("Einsum", ["x", "r"], ["y"], equation="binh,tnh->bnit")], [1, 6, 4, 16],
                [const("r", weights(5, 4, 16))], opset=17)


def pools_past_their_input(path):
    # HF EfficientNet's pooler, AvgPool2d(hidden_dim, ceil_mode=True): one window larger than
    # the image, the mean of the whole plane; and a MaxPool of the same kind.
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("AveragePool", ["c"], ["a"], kernel_shape=[20, 20], strides=[20, 20], ceil_mode=1,
                              count_include_pad=1),
             helper.make_node("MaxPool", ["c"], ["m"], kernel_shape=[9, 9], strides=[9, 9], ceil_mode=1),
             helper.make_node("Add", ["a", "m"], ["y"])]
    return save(path, nodes, [1, 4, 3, 5], [const("w", weights(8, 4, 1, 1))], opset=17)


def matmul_vector_right(path):
    return save(path, [helper.make_node("MatMul", ["x", "v"], ["y"])], [1, 4, 32], [const("v", weights(32))])


def layer_norm_unused_outputs(path):
    node = helper.make_node("LayerNormalization", ["x", "g", "b"], ["y", "mean", "inv_std"], axis=-1)
    return save(path, [node], [1, 6, 32], [const("g", 1 + 0.1 * weights(32)), const("b", weights(32))], opset=17)


def max_pool_unused_indices(path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["c"], ["y", "indices"], kernel_shape=[2, 2], strides=[2, 2])]
    return save(path, nodes, [1, 8, 8, 8], [const("w", weights(16, 8, 3, 3))])


def reduce_noop(path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]),
             helper.make_node("ReduceMean", ["m", "axes"], ["y"], noop_with_empty_axes=1)]
    return save(path, nodes, [2, 32], [const("w", weights(32, 16)), const("axes", [], np.int64)], opset=18)


def pow_int_exponent(path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Pow", ["m", "two"], ["y"])]
    return save(path, nodes, [2, 32], [const("w", weights(32, 16)), const("two", 2, np.int64)])


def gates_resized_to_their_input(path, blocks=12):
    """GhostNetV2's gates: each block multiplies x by Sigmoid(AveragePool(x)) resized back to
    x's own extents, read by Shape -> Slice -> Concat. Each block's Resize takes its extents
    from the block before's, so the chain folds through all twelve blocks, more than the
    canonicalization's rounds, only when types follow what folding makes as it goes."""
    nodes, inits = [], [const("lo", [0], np.int64), const("mid", [2], np.int64), const("hi", [4], np.int64),
                        const("w", weights(4, 4, 1, 1))]
    x = "x"
    for b in range(blocks):
        nodes += [helper.make_node("Shape", [x], [f"s{b}"]),
                  helper.make_node("Slice", [f"s{b}", "lo", "mid"], [f"nc{b}"]),
                  helper.make_node("Slice", [f"s{b}", "mid", "hi"], [f"hw{b}"]),
                  helper.make_node("Cast", [f"hw{b}"], [f"hwc{b}"], to=TensorProto.INT64),
                  helper.make_node("Concat", [f"nc{b}", f"hwc{b}"], [f"sizes{b}"], axis=0),
                  helper.make_node("AveragePool", [x], [f"p{b}"], kernel_shape=[2, 2], strides=[2, 2]),
                  helper.make_node("Sigmoid", [f"p{b}"], [f"g{b}"]),
                  helper.make_node("Resize", [f"g{b}", "", "", f"sizes{b}"], [f"r{b}"], mode="nearest"),
                  helper.make_node("Mul", [x, f"r{b}"], [f"x{b}"])]
        x = f"x{b}"
    nodes.append(helper.make_node("Conv", [x, "w"], ["y"]))
    return save(path, nodes, [1, 4, 6, 6], inits)


def keras_layer_norm(path, rows=12, channels=16):
    """Keras's LayerNormalization at its default epsilon as tf2onnx writes it: a batch
    normalization over x reshaped to [1, rows, channels, 1], its statistics computed
    (ReduceMean, ReduceSumSquare of the deviations) and its scale and bias Expanded from
    constants; then a Conv, so something quantizes."""
    nodes = [helper.make_node("Expand", ["one", "rows"], ["scale"]),
             helper.make_node("Expand", ["zero", "rows"], ["bias"]),
             helper.make_node("ReduceMean", ["x"], ["mu4"], axes=[0, 2, 3], keepdims=1),
             helper.make_node("Squeeze", ["mu4", "squeezed"], ["mu"]),
             helper.make_node("Sub", ["x", "mu4"], ["d"]),
             helper.make_node("ReduceSumSquare", ["d"], ["ss"], axes=[0, 2, 3], keepdims=0),
             helper.make_node("Div", ["ss", "count"], ["var"]),
             helper.make_node("BatchNormalization", ["x", "scale", "bias", "mu", "var"], ["n"], epsilon=1e-3,
                              name="layer_normalization/FusedBatchNormV3"),
             helper.make_node("Conv", ["n", "w"], ["y"])]
    inits = [const("one", 1.0), const("zero", 0.0), const("rows", [rows], np.int64),
             const("squeezed", [0, 2, 3], np.int64), const("count", float(channels)),
             const("w", weights(8, rows, 1, 1))]
    return save(path, nodes, [1, rows, channels, 1], inits)


def attention_heads(path, length):
    """Self-attention as PyTorch exports `view(B, T, h, d).transpose(1, 2)` for Q, K and V,
    `q @ k.transpose(-2, -1)` (a second Transpose of K) and the heads merged back: the two of
    K compose into one; with one position every Transpose moves only axes of extent 1."""
    heads, size = 4, 8
    width = heads * size
    split = const("split", [1, length, heads, size], np.int64)
    nodes = []
    for name in "qkv":
        nodes += [helper.make_node("MatMul", ["x", f"w{name}"], [f"{name}_mm"]),
                  helper.make_node("Reshape", [f"{name}_mm", "split"], [f"{name}_heads"]),
                  helper.make_node("Transpose", [f"{name}_heads"], [f"{name}_t"], perm=[0, 2, 1, 3])]
    nodes += [helper.make_node("Transpose", ["k_t"], ["k_tt"], perm=[0, 1, 3, 2]),
              helper.make_node("MatMul", ["q_t", "k_tt"], ["scores"]),
              helper.make_node("Softmax", ["scores"], ["attention"], axis=-1),
              helper.make_node("MatMul", ["attention", "v_t"], ["context"]),
              helper.make_node("Transpose", ["context"], ["context_t"], perm=[0, 2, 1, 3]),
              helper.make_node("Reshape", ["context_t", "merge"], ["merged"]),
              helper.make_node("MatMul", ["merged", "wo"], ["y"])]
    inits = [split, const("merge", [1, length, width], np.int64)] + [
        const(f"w{name}", weights(width, width)) for name in "qkvo"]
    return save(path, nodes, [1, length, width], inits, opset=17)


def attention_keys_transposed_twice(path):
    return attention_heads(path, 6)


def attention_one_position(path):
    return attention_heads(path, 1)


FORMS = [gemm_alpha_beta, gemm_beta_zero, gemm_trans_a, matmul_vector_left, matmul_weight_left, matmul_constant_left,
         matmul_keys_per_head, einsum_constant_heads, pools_past_their_input, matmul_vector_right,
         layer_norm_unused_outputs,
         max_pool_unused_indices, reduce_noop, pow_int_exponent, gates_resized_to_their_input, keras_layer_norm,
         attention_keys_transposed_twice, attention_one_position]


def inputs(model_path, folder, samples=4):
    model = onnx.load(model_path)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = RNG.standard_normal(shape).astype(np.float32)
    np.savez(folder / "x.npz", x=x)
    np.savez(folder / "calib.npz", x=RNG.standard_normal([samples] + shape).astype(np.float32))
    return x


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
def test_an_exporter_form_runs_on_the_simulator_as_onnxruntime_computes_it(tmp_path, form):
    model = form(tmp_path / "m.onnx")
    x = inputs(model, tmp_path)
    expected = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(["y"], {"x": x})[0]
    r = run_npucc("compile", model, "-o", tmp_path / "fp16.npub", "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "fp16.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "fp16.npz")
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "fp16.npz")["y"]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=4e-3 * np.abs(expected).max())


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
def test_an_exporter_form_runs_on_the_simulator_as_the_fake_quant_interpreter(tmp_path, form):
    model = form(tmp_path / "m.onnx")
    inputs(model, tmp_path)
    simulated, interpreted = simulated_and_interpreted(
        model, tmp_path / "x.npz", tmp_path, "fp8", "none", tmp_path / "calib.npz")
    assert_same_bits(simulated, interpreted, ["y"])


def test_the_forms_are_canonicalized_away(tmp_path):
    """The IR every command starts from holds none of the forms the lowering cannot take."""
    for form in FORMS:
        r = run_npucc("dump-ir", form(tmp_path / f"{form.__name__}.onnx"))
        assert r.returncode == 0, r.stderr
        assert "alpha=" not in r.stdout and "beta=" not in r.stdout and "transA" not in r.stdout, form.__name__
        assert "noop_with_empty_axes=1" not in r.stdout and "%mean" not in r.stdout and "%indices" not in r.stdout
        assert "%two:" not in r.stdout.replace("const %two", ""), form.__name__
        if form is pools_past_their_input:
            assert "= GlobalAveragePool(" in r.stdout and "= GlobalMaxPool(" in r.stdout, r.stdout
        if form is keras_layer_norm:
            assert "BatchNormalization(" not in r.stdout and "= Sqrt(" in r.stdout, r.stdout
        if form is attention_keys_transposed_twice:
            assert r.stdout.count("= Transpose(") == 4 and "perm=[0, 2, 3, 1]" in r.stdout, r.stdout
        if form is attention_one_position:
            assert "= Transpose(" not in r.stdout, r.stdout


def test_an_empty_input_shape_is_refused(tmp_path):
    model = save(tmp_path / "m.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])], ["N", 32],
                 [const("w", weights(32, 8))])
    r = run_npucc("compile", model, "-o", tmp_path / "m.npub", "--input-shape", "x=0,32")
    assert r.returncode == 1
    assert '"x=0,32": extent 0 at axis 0: an empty input' in r.stderr and "give it at least 1" in r.stderr
    assert not (tmp_path / "m.npub").exists()
    r = run_npucc("compile", model, "-o", tmp_path / "m.npub", "--input-shape", "x=-1,32")
    assert r.returncode == 1
    assert '"x=-1,32": dimensions must be positive integers' in r.stderr


def test_a_graph_input_listed_in_value_info_takes_its_input_shape(tmp_path):
    """onnx.utils.extract_model lists the cut model's inputs in value_info too, symbolic batch
    and all: --input-shape fixes the input, and the value_info entry does not undo it."""
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [value("x", ["N", 32])],
                              [value("y", None)], [const("w", weights(32, 8))], value_info=[value("x", ["N", 32])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16",
                  "--input-shape", "x=2,32")
    assert r.returncode == 0, r.stderr
    r = run_npucc("dump-ir", tmp_path / "m.onnx", "--input-shape", "x=2,32")
    assert r.returncode == 0 and "%x: f32[2,32]" in r.stdout, r.stdout + r.stderr
