"""Layer normalization as exporters before opset 17 write it (ReduceMean, Sub, Pow, Sqrt,
Div), reductions over trailing axes and over inner ones (a mean over channels, a
segmentation network's ArgMax over its classes): compiled at every precision, the bundle
runs on the simulator exactly as the fake-quant interpreter runs the model; a reduction the
vector unit cannot do (over axes that are not consecutive) is refused by node. Softmax and
LogSoftmax along an inner axis and LayerNormalization over several axes likewise, and as
onnxruntime computes them. ArgMax and ArgMin of rows longer than a tile's SRAM run in pieces
and give one pass's indices."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted


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


def inner_reductions_model(path):
    """x [1, 6, 5, 7] (classes, height, width) -> ArgMax over the classes (keepdims 0, as a
    segmentation network ends), ArgMin over the height with ties (select_last_index), ReduceMean
    over the channels (keepdims), ReduceSum over channels and height, ReduceMax over the batch
    axis, and an int64 ReduceSum over the channels of a cast."""
    nodes = [
        helper.make_node("ArgMax", ["x"], ["classes"], axis=1, keepdims=0, name="classes"),
        helper.make_node("Floor", ["x"], ["steps"]),
        helper.make_node("ArgMin", ["steps"], ["lowest"], axis=2, keepdims=1, select_last_index=1, name="lowest"),
        helper.make_node("ReduceMean", ["x"], ["channel_mean"], axes=[1], keepdims=1, name="channel_mean"),
        helper.make_node("ReduceSum", ["x", "axes12"], ["band"], keepdims=0, name="band"),
        helper.make_node("ReduceMax", ["x"], ["over_batch"], axes=[0], keepdims=1, name="over_batch"),
        helper.make_node("Cast", ["steps"], ["ints"], to=TensorProto.INT64),
        helper.make_node("ReduceSum", ["ints", "axes1"], ["int_sum"], keepdims=1, name="int_sum"),
    ]
    inits = [numpy_helper.from_array(np.array([1, 2], np.int64), "axes12"),
             numpy_helper.from_array(np.array([1], np.int64), "axes1")]
    outputs = [("classes", TensorProto.INT64, [1, 5, 7]), ("lowest", TensorProto.INT64, [1, 6, 1, 7]),
               ("channel_mean", TensorProto.FLOAT, [1, 1, 5, 7]), ("band", TensorProto.FLOAT, [1, 7]),
               ("over_batch", TensorProto.FLOAT, [1, 6, 5, 7]), ("int_sum", TensorProto.INT64, [1, 1, 5, 7])]
    graph = helper.make_graph(nodes, "inner", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 5, 7])],
                              [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def test_reductions_over_inner_axes_run_as_the_interpreter_runs_them(tmp_path):
    inner_reductions_model(tmp_path / "inner.onnx")
    x = (np.random.default_rng(8).standard_normal((1, 6, 5, 7)) * 3).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("compile", tmp_path / "inner.onnx", "-o", tmp_path / "inner.npub", "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "inner.npub", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "inner.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "fq.npz",
                  "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    sim, fq = dict(np.load(tmp_path / "sim.npz")), dict(np.load(tmp_path / "fq.npz"))
    assert sorted(sim) == sorted(fq) == ["band", "channel_mean", "classes", "int_sum", "lowest", "over_batch"]
    for key in sim:
        assert sim[key].dtype == fq[key].dtype and sim[key].shape == fq[key].shape, key
        np.testing.assert_array_equal(sim[key], fq[key], err_msg=key)
    # Against numpy: the arg ops exactly (floor makes ties; the last one is taken), the sums closely.
    np.testing.assert_array_equal(sim["classes"], x.argmax(axis=1))
    steps = np.floor(x)
    np.testing.assert_array_equal(sim["lowest"][:, :, 0, :], 4 - np.flip(steps, axis=2).argmin(axis=2))
    np.testing.assert_allclose(sim["channel_mean"], x.mean(axis=1, keepdims=True), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sim["band"], x.sum(axis=(1, 2)), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(sim["int_sum"], steps.astype(np.int64).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("op,opset,keepdims", [("ReduceMean", 13, 1), ("ReduceSum", 18, 0), ("ReduceMax", 18, 1)])
def test_a_reduction_over_axes_apart_reads_them_transposed(tmp_path, op, opset, keepdims):
    # Keras's GroupNormalization over channels-last input: the mean over rows, columns and the
    # channels of each group, axes [1, 2, 4] of [N, H, W, G, C/G].
    shape = [2, 5, 6, 3, 4]
    attributes = {"keepdims": keepdims}
    inputs, inits = ["x"], []
    if opset >= 18 or op == "ReduceSum":
        inputs.append("axes")
        inits.append(onnx.numpy_helper.from_array(np.array([1, 2, -1], np.int64), "axes"))
    else:
        attributes["axes"] = [1, 2, -1]
    graph = helper.make_graph(
        [helper.make_node(op, inputs, ["y"], name="apart", **attributes)], "r",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), tmp_path / "r.onnx")
    x = np.random.default_rng(11).standard_normal(shape).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    want = ort.InferenceSession(str(tmp_path / "r.onnx")).run(None, {"x": x})[0]
    sim, fq = simulated_and_interpreted(tmp_path / "r.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "x.npz")
    assert_same_bits(sim, fq, ["y"])
    assert sim["y"].shape == want.shape
    np.testing.assert_allclose(sim["y"], want, rtol=1e-6, atol=1e-6)
    r = run_npucc("dump-ir", tmp_path / "r.onnx")
    assert "= Transpose(%x) {perm=[0, 3, 1, 2, 4]}" in r.stdout, r.stdout


def rows_model(path):
    """A detector's distribution head (YOLOv8's DFL): Conv to 4 x 16 bins over 6 x 5
    positions, Reshape [1, 4, 16, 30], Transpose [1, 16, 4, 30], Softmax over the bins (axis
    1), Conv 1x1 with weights 0..15 (each box side's expected bin); beside it LogSoftmax over
    axis 2 and LayerNormalization over axes 1..3 of the Conv's output."""
    rng = np.random.default_rng(17)
    inits = [numpy_helper.from_array((rng.standard_normal((64, 3, 3, 3)) / 3).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([1, 4, 16, 30], np.int64), "bins"),
             numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(1, 16, 1, 1), "project"),
             numpy_helper.from_array((1 + rng.standard_normal((64, 6, 5)) / 4).astype(np.float32), "gamma"),
             numpy_helper.from_array((rng.standard_normal((64, 6, 5)) / 4).astype(np.float32), "beta")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="head"),
             helper.make_node("Reshape", ["c", "bins"], ["r"]),
             helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3]),
             helper.make_node("Softmax", ["t"], ["p"], axis=1, name="bins_softmax"),
             helper.make_node("Conv", ["p", "project"], ["sides"], name="dfl"),
             helper.make_node("LogSoftmax", ["c"], ["log_rows"], axis=2, name="log_rows"),
             helper.make_node("LayerNormalization", ["c", "gamma", "beta"], ["normed"], axis=1, name="norm")]
    outputs = ["sides", "p", "log_rows", "normed"]
    graph = helper.make_graph(nodes, "rows", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 5])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return outputs


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_softmax_along_an_inner_axis_and_layer_norm_over_several_run_as_the_interpreter_runs_them(tmp_path, precision):
    outputs = rows_model(tmp_path / "m.onnx")
    rng = np.random.default_rng(18)
    x = rng.standard_normal((1, 3, 6, 5)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 1, 3, 6, 5)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    for name in outputs:
        np.testing.assert_array_equal(sim[name], fq[name], err_msg=name)
    np.testing.assert_allclose(fq["p"].sum(axis=1), 1, rtol=1e-5)  # the bins really were normalized
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    want = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x})
    got = np.load(tmp_path / "ref.npz")
    for name, value in zip(outputs, want):
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-5, err_msg=name)


LONG = 20000  # past a tile's SRAM: npu-seed's 32 KiB takes pieces of 4,064 and 4,063 values


@pytest.mark.parametrize("op,last,dtype", [("ArgMax", 0, np.float32), ("ArgMax", 1, np.float32),
                                           ("ArgMin", 0, np.float32), ("ArgMax", 0, np.int64)],
                         ids=["argmax", "argmax_last", "argmin", "argmax_int64"])
@pytest.mark.parametrize("axis", [-1, 1], ids=["trailing", "inner"])
def test_an_arg_reduction_of_rows_longer_than_a_tile_runs_in_pieces_as_one_pass(tmp_path, op, last, dtype, axis):
    """ArgMax and ArgMin of rows of 20,000 values, too long for a tile's SRAM, along the last
    axis or an inner one: each row in pieces, the best so far leading the next, so the index
    is one pass's. Ties in different pieces and across a piece's start (the first, or with
    select_last_index the last, wins); a NaN leading the row wins, one leading a later piece
    does not, nor does one inside it. The bundle gives the interpreter's indices, and the
    interpreter onnxruntime's."""
    rng = np.random.default_rng(11)
    shape = [2, 3, LONG] if axis == -1 else [2, LONG, 3]
    kind = TensorProto.FLOAT if dtype == np.float32 else TensorProto.INT64
    node = helper.make_node(op, ["x"], ["y"], axis=axis, keepdims=1, select_last_index=last)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", kind, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    rows = (rng.standard_normal([6, LONG]) * 100).astype(dtype)
    sign = 1 if op == "ArgMax" else -1
    rows[0, [12345, 17000]] = sign * 1000  # a tie in two pieces
    rows[1, 4000:4100] = sign * 900  # a tie across the second piece's start
    if dtype == np.float32:
        rows[2, 0] = np.nan  # leads the row: it stays the best
        rows[3, [4064, 8127]] = np.nan  # lead later pieces: never the best
        rows[3, 8200] = sign * 1000
        rows[4, 5000:20000:997] = np.nan
    x = rows.reshape(2, 3, LONG) if axis == -1 else rows.reshape(2, 3, LONG).transpose(0, 2, 1).copy()
    np.savez(tmp_path / "x.npz", x=x)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none", None)
    np.testing.assert_array_equal(sim["y"], fq["y"])
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(fq["y"], theirs)
    found = fq["y"].reshape(6)
    assert found[0] == (17000 if last else 12345) and found[1] == (4099 if last else 4000)
    if dtype == np.float32 and not last:
        assert found[2] == 0 and found[3] == 8200
    assert run_npucc("disasm", tmp_path / "m.npub").stdout.count("\ngather ") >= 6 * 4
