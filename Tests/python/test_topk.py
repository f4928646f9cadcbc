"""TopK as a mixture of experts' router, a classifier's top five and a detector's 300 best
boxes write it: largest and smallest, along the last and an inner axis, ties to the lower
index, K as an attribute before opset 10. The interpreter computes values and indices as
onnxruntime does; a router (MatMul, TopK, Softmax over the chosen logits) and a detector's
selection (TopK of 300 over 8,000 scores, boxes gathered by its indices) run on the
simulator bit for bit as the fake-quant interpreter runs them; NaN ranks above every number;
a K from a shape chain folds; a K only known when the model runs is refused by the compiler,
by node. TopK of integers (ties to the lower index, uint64 as unsigned) runs in the
interpreter as onnxruntime computes it (uint64, which onnxruntime does not run, by its
definition), and is refused by the compiler, by node: the vector
unit selects float32 alone."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(2424)


def topk_model(path, shape, k, opset=13, **attributes):
    """x of `shape` -> TopK(k) -> v, i."""
    inits = [] if opset < 10 else [numpy_helper.from_array(np.array([k], np.int64), "k")]
    node = helper.make_node("TopK", ["x"] + ([] if opset < 10 else ["k"]), ["v", "i"], name="top",
                            **({"k": k} if opset < 10 else {}), **attributes)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("v", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("i", TensorProto.INT64, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


@pytest.mark.parametrize("k,opset,attributes", [
    (5, 13, {}), (3, 13, {"largest": 0}), (2, 13, {"axis": 1}), (4, 11, {"axis": -2, "largest": 0}), (1, 9, {}),
])
def test_values_and_indices_as_onnxruntime(tmp_path, k, opset, attributes):
    # Rounded to halves, so ties occur and are broken by index.
    x = (np.round(RNG.standard_normal((2, 6, 10)) * 2) / 2).astype(np.float32)
    topk_model(tmp_path / "m.onnx", [2, 6, 10], k, opset, **attributes)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_array_equal(got["v"], want["v"])
    np.testing.assert_array_equal(got["i"], want["i"])


def router_model(path, experts=8, k=2):
    """x [1, 6, 16] -> router MatMul 16 x 8 -> TopK 2 -> Softmax over the chosen logits; the
    chosen experts' indices as a second output."""
    inits = [numpy_helper.from_array((RNG.standard_normal((16, experts)) / 4).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([k], np.int64), "k")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["logits"], name="router"),
             helper.make_node("TopK", ["logits", "k"], ["chosen", "experts"], name="top"),
             helper.make_node("Softmax", ["chosen"], ["weights"], axis=-1)]
    graph = helper.make_graph(nodes, "router", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 16])],
                              [helper.make_tensor_value_info("weights", TensorProto.FLOAT, [1, 6, k]),
                               helper.make_tensor_value_info("experts", TensorProto.INT64, [1, 6, k])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_router_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    router_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((1, 6, 16)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 1, 6, 16)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["weights"])
    np.testing.assert_array_equal(sim["experts"], fq["experts"])
    assert (fq["experts"][..., 0] != fq["experts"][..., 1]).all()


@pytest.mark.parametrize("shape,k,attributes", [
    ([1, 8400], 300, {}), ([2, 3000, 4], 100, {"axis": 1, "largest": 0}), ([3, 70], 70, {}),
])
def test_large_k_as_onnxruntime(tmp_path, shape, k, attributes):
    x = RNG.standard_normal(shape).astype(np.float32)
    x.flat[::7] = np.round(x.flat[::7])  # ties
    topk_model(tmp_path / "m.onnx", shape, k, **attributes)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_array_equal(got["v"], want["v"])
    np.testing.assert_array_equal(got["i"], want["i"])


def test_nan_ranks_above_every_number(tmp_path):
    x = np.array([[1, np.nan, np.inf, -0.0, 0, np.nan, -np.inf, 2]], np.float32)
    for largest, order in [(1, [1, 5, 2, 7, 0, 3, 4, 6]), (0, [6, 3, 4, 0, 7, 2, 1, 5])]:
        topk_model(tmp_path / "m.onnx", [1, 8], 8, largest=largest)
        np.savez(tmp_path / "x.npz", x=x)
        r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
        assert r.returncode == 0, r.stderr
        y = np.load(tmp_path / "y.npz")
        np.testing.assert_array_equal(y["i"][0], order)
        assert_same_bits({"v": y["v"]}, {"v": x[:, order]}, ["v"])


def detector_model(path, anchors=1000, classes=8, k=300):
    """A detection head's selection: features [1, 16, anchors] -> 1x1 Conv to class scores and to
    boxes -> Sigmoid -> the scores flattened [1, anchors * classes] -> TopK(k) -> each chosen
    score's anchor (index / classes) and class (index mod classes) -> boxes gathered by anchor."""
    inits = [numpy_helper.from_array((RNG.standard_normal((classes, 16, 1)) / 4).astype(np.float32), "wc"),
             numpy_helper.from_array((RNG.standard_normal((4, 16, 1)) / 4).astype(np.float32), "wb"),
             numpy_helper.from_array(np.array([1, -1], np.int64), "flat"),
             numpy_helper.from_array(np.array([k], np.int64), "k"),
             numpy_helper.from_array(np.array(classes, np.int64), "classes")]
    nodes = [helper.make_node("Conv", ["f", "wc"], ["logits"], name="cls"),
             helper.make_node("Conv", ["f", "wb"], ["box_t"], name="box"),
             helper.make_node("Sigmoid", ["logits"], ["probs"]),
             helper.make_node("Transpose", ["probs"], ["probs_t"], perm=[0, 2, 1]),
             helper.make_node("Reshape", ["probs_t", "flat"], ["scores"]),
             helper.make_node("TopK", ["scores", "k"], ["best", "index"], name="top"),
             helper.make_node("Div", ["index", "classes"], ["anchor"]),
             helper.make_node("Mod", ["index", "classes"], ["label"]),
             helper.make_node("Transpose", ["box_t"], ["boxes"], perm=[0, 2, 1]),
             helper.make_node("Gather", ["boxes", "anchor"], ["chosen"], axis=1)]
    graph = helper.make_graph(nodes, "detector", [helper.make_tensor_value_info("f", TensorProto.FLOAT, [1, 16, anchors])],
                              [helper.make_tensor_value_info("best", TensorProto.FLOAT, [1, k]),
                               helper.make_tensor_value_info("label", TensorProto.INT64, [1, k]),
                               helper.make_tensor_value_info("chosen", TensorProto.FLOAT, [1, 1, k, 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_a_detectors_selection_matches_onnxruntime(tmp_path):
    detector_model(tmp_path / "m.onnx")
    f = RNG.standard_normal((1, 16, 1000)).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"f": f}, tmp_path)
    np.testing.assert_allclose(got["best"], want["best"], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(got["label"], want["label"])
    np.testing.assert_allclose(got["chosen"], want["chosen"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("precision,sparsity", [("fp16", "none"), ("nvfp4", "2:4")])
def test_a_detectors_selection_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision, sparsity):
    detector_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", f=RNG.standard_normal((1, 16, 1000)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", f=RNG.standard_normal((4, 1, 16, 1000)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, sparsity,
                                        tmp_path / "calib.npz", prune="magnitude")
    assert_same_bits(sim, fq, ["best", "chosen"])
    np.testing.assert_array_equal(sim["label"], fq["label"])
    assert len(set(fq["label"][0])) > 1


def test_a_k_from_a_shape_chain_folds(tmp_path):
    """K = the input's last extent, read by Shape -> Slice: the whole row, sorted."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Slice", ["s", "one", "two"], ["k"]),
             helper.make_node("TopK", ["x", "k"], ["v", "i"], name="top")]
    inits = [numpy_helper.from_array(np.array([1], np.int64), "one"),
             numpy_helper.from_array(np.array([2], np.int64), "two")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
                              [helper.make_tensor_value_info("v", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    x = RNG.standard_normal((2, 5)).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_array_equal(got["v"], want["v"])
    np.testing.assert_array_equal(got["v"], -np.sort(-x, axis=1))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((2, 2, 5)).astype(np.float32))
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 0, r.stderr


def test_a_k_known_only_when_the_model_runs_is_refused_by_the_compiler(tmp_path):
    """K read from an input's values: the interpreter runs it; the compiler refuses by node."""
    nodes = [helper.make_node("TopK", ["x", "k"], ["v", "i"], name="top")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6]),
                                           helper.make_tensor_value_info("k", TensorProto.INT64, [1])],
                              [helper.make_tensor_value_info("v", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    x = RNG.standard_normal((2, 6)).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x, "k": np.array([4], np.int64)}, tmp_path)
    np.testing.assert_array_equal(got["v"], want["v"])
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 1
    assert r.stderr.strip().endswith(
        'node TopK "top" (opset 13): value "v" has no static type: its K "k" is known only when the model runs; '
        "the NPU's buffers are sized at compile time; to compile the model up to the values before it, name "
        "them with --graph-outputs"), r.stderr
    assert not (tmp_path / "m.npub").exists()


def test_a_k_the_model_computes_from_its_values_is_named_with_the_values_to_cut_at(tmp_path):
    """K from the data (how many scores pass a threshold): the compiler names K and offers to
    compile up to it."""
    threshold = helper.make_tensor("t", TensorProto.FLOAT, [], [0.5])
    nodes = [helper.make_node("Greater", ["x", "t"], ["above"]),
             helper.make_node("Cast", ["above"], ["ones"], to=TensorProto.INT64),
             helper.make_node("ReduceSum", ["ones"], ["count"], keepdims=1, name="count"),
             helper.make_node("TopK", ["x", "count"], ["v", "i"], name="top", axis=0)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
                              [helper.make_tensor_value_info("v", TensorProto.FLOAT, None)], [threshold])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    x = np.array([0.1, 0.9, 0.7, 0.2, 0.6, 0.3], np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_array_equal(got["v"], want["v"])
    np.testing.assert_array_equal(got["v"], np.array([0.9, 0.7, 0.6], np.float32))
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 1 and not (tmp_path / "m.npub").exists()
    assert r.stderr.strip().endswith(
        'node TopK "top" (opset 13): value "v" has no static type: its K "count" is known only when the model runs; '
        "the NPU's buffers are sized at compile time; to compile the model up to the values before it "
        '(it reads "count"), name them with --graph-outputs'), r.stderr


@pytest.mark.parametrize("shape,k,attributes", [([2, 9000], 300, {}), ([6000, 3], 50, {"axis": 0, "largest": 0})])
def test_rows_longer_than_a_tile_keep_ties_in_index_order_on_the_simulator(tmp_path, shape, k, attributes):
    """Values on a grid of halves, so equal values straddle the pieces a long row is taken in;
    one NaN and one -0 among them."""
    x = (np.round(RNG.standard_normal(shape) * 4) / 2).astype(np.float32)
    x.flat[5] = np.nan
    x.flat[17] = -0.0
    topk_model(tmp_path / "m.onnx", shape, k, **attributes)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((2, *shape)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["v"])
    np.testing.assert_array_equal(sim["i"], fq["i"])
    finite = np.where(np.isnan(x), -np.inf if attributes.get("largest", 1) else np.inf, x)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": finite}, tmp_path)
    np.testing.assert_array_equal(got["i"], want["i"])


def test_indices_alone_of_a_long_row_on_the_simulator(tmp_path):
    """TopK whose Values output is omitted (""), over rows longer than a tile: the pieces still
    carry the chosen values from one to the next, and the indices are numpy's stable order."""
    inits = [numpy_helper.from_array(np.array([40], np.int64), "k")]
    graph = helper.make_graph([helper.make_node("TopK", ["x", "k"], ["", "i"], name="top")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 9000])],
                              [helper.make_tensor_value_info("i", TensorProto.INT64, [2, 40])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    x = (np.round(RNG.standard_normal((2, 9000)) * 8) / 2).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "x.npz")
    np.testing.assert_array_equal(sim["i"], fq["i"])
    np.testing.assert_array_equal(fq["i"], np.argsort(-x, axis=1, kind="stable")[:, :40])


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint64"])
@pytest.mark.parametrize("largest", [1, 0])
def test_top_k_of_integers_as_onnxruntime_and_refused_by_the_compiler(tmp_path, dtype, largest):
    kind = {"int32": TensorProto.INT32, "int64": TensorProto.INT64, "uint64": TensorProto.UINT64}[dtype]
    node = helper.make_node("TopK", ["x", "k"], ["values", "indices"], axis=1, largest=largest, name="topk")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", kind, [3, 9])],
                              [helper.make_tensor_value_info("values", kind, [3, 4]),
                               helper.make_tensor_value_info("indices", TensorProto.INT64, [3, 4])],
                              [numpy_helper.from_array(np.array([4], np.int64), "k")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    rng = np.random.default_rng(31)
    x = rng.integers(-3, 4, (3, 9)).astype(dtype)  # many ties
    if dtype == "uint64":
        x[0, 2] = np.uint64(2**63 + 5)  # above every int64
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    ours = np.load(tmp_path / "y.npz")
    # Each row's order: by value (Python's integers, exact for uint64), ties by position.
    order = np.array([sorted(range(9), key=lambda j: (-int(row[j]) if largest else int(row[j]), j))[:4] for row in x])
    np.testing.assert_array_equal(ours["indices"], order)
    np.testing.assert_array_equal(ours["values"], np.take_along_axis(x, order, axis=1))
    assert ours["values"].dtype == x.dtype
    if dtype != "uint64":  # onnxruntime has no uint64 TopK
        _, theirs = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
        np.testing.assert_array_equal(ours["values"], theirs["values"])
        np.testing.assert_array_equal(ours["indices"], theirs["indices"])
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 1 and 'node TopK "topk"' in r.stderr and "cannot lower TopK" in r.stderr, r.stderr
    assert not (tmp_path / "m.npub").exists()
