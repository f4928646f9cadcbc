"""Loop and If as exporters write them for work of a fixed extent: a Loop whose trip count and
conditions follow from constants, the iteration count and the input's shape is unrolled (a
recurrent cell stepped over the sequence, with its hidden state carried and every step's
output scanned, counted by its trip count or by its condition as tf2onnx writes while loops;
a nested Loop reading the outer body's values), a Scan over a known axis in either direction
is unrolled, an If of such a condition is its branch.
npucc runs them as onnxruntime does, and compiles them; a trip count or condition only known
at run time is refused by name."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

F32 = np.float32
N = helper.make_node
T, B, I, H = 5, 2, 4, 6


def value(name, elem=TensorProto.FLOAT, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def cell_body(condition="pass"):
    """h' = tanh(x[:, t] W + h U + b); scans h'. Reads x, W, U, b (and seq_len, limit) from the
    outer graph. Its condition out: "pass" the one it got, "counted" t + 1 < seq_len (as
    tf2onnx writes a while loop), "limit" t < 3 (four iterations), "data" max(h') > 0.5."""
    nodes = [N("Gather", ["x", "t"], ["xt"], axis=1), N("MatMul", ["xt", "W"], ["xw"]), N("MatMul", ["h", "U"], ["hu"]),
             N("Add", ["xw", "hu"], ["s"]), N("Add", ["s", "b"], ["sb"]), N("Tanh", ["sb"], ["h_next"], name="cell"),
             N("Identity", ["h_next"], ["h_scan"])]
    out = "c_in" if condition == "pass" else "go_on"
    if condition == "counted":
        nodes += [N("Add", ["t", "one_step"], ["t_next"]), N("Less", ["t_next", "seq_len"], ["go_on"])]
    elif condition == "limit":
        nodes.append(N("Less", ["t", "limit"], ["go_on"]))
    elif condition == "data":
        nodes += [N("ReduceMax", ["h_next"], ["top"], keepdims=0), N("Greater", ["top", "half"], ["go_on"])]
    return helper.make_graph(nodes, "cell", [value("t", TensorProto.INT64, []), value("c_in", TensorProto.BOOL, []),
                                             value("h")],
                             [value(out, TensorProto.BOOL, []), value("h_next"), value("h_scan")])


def recurrent_model(path, trip="shape", condition="pass", opset=13):
    """x [B, T, I] -> Loop of the cell from h0 = 0 -> (last h [B, H], all h [steps, B, H]).
    `trip`: "shape" (Shape(x)[1] squeezed, as TorchScript writes it), "constant" (an
    initializer), "computed" (the ArgMax of x: only known at run time), "unbounded" (the
    largest int64, as tf2onnx writes a while loop, its condition 0 < seq_len), "range" (as
    "unbounded", the condition 0 < the length of an int32 Range over seq_len, as tf2onnx
    writes a Keras masked recurrent layer)."""
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array((rng.standard_normal(s) * 0.5).astype(F32), n)
             for n, s in [("W", (I, H)), ("U", (H, H)), ("b", (H,))]]
    inits += [numpy_helper.from_array(np.zeros((B, H), F32), "h0"), numpy_helper.from_array(np.array(True), "go"),
              numpy_helper.from_array(np.array([1], np.int64), "one"), numpy_helper.from_array(np.array(3, np.int64), "limit"),
              numpy_helper.from_array(np.array(T, np.int64), "steps"), numpy_helper.from_array(np.array(1, np.int64), "one_step"),
              numpy_helper.from_array(np.array(0, np.int64), "zero"), numpy_helper.from_array(np.array(0.5, F32), "half"),
              numpy_helper.from_array(np.array(np.iinfo(np.int64).max, np.int64), "forever"),
              numpy_helper.from_array(np.array(0, np.int32), "zero32"), numpy_helper.from_array(np.array(1, np.int32), "one32")]
    nodes = [N("Shape", ["x"], ["shape"]), N("Gather", ["shape", "one"], ["t1"], axis=0), N("Squeeze", ["t1"], ["seq_len"])]
    if trip == "computed":
        nodes += [N("ArgMax", ["x"], ["arg"], axis=1, keepdims=0), N("ReduceMax", ["arg"], ["trip"], keepdims=0)]
    go = "go"
    if trip == "unbounded":
        nodes.append(N("Less", ["zero", "seq_len"], ["started"]))
        go = "started"
    if trip == "range":
        nodes += [N("Cast", ["seq_len"], ["len32"], to=TensorProto.INT32), N("Range", ["zero32", "len32", "one32"], ["r"]),
                  N("Shape", ["r"], ["r_shape"]), N("Gather", ["r_shape", "zero"], ["r_len"], axis=0),
                  N("Less", ["zero", "r_len"], ["started"])]
        go = "started"
    count = {"shape": "seq_len", "constant": "steps", "computed": "trip", "unbounded": "forever", "range": "forever"}[trip]
    nodes.append(N("Loop", [count, go, "h0"], ["h_last", "h_all"], name="rnn", body=cell_body(condition)))
    graph = helper.make_graph(nodes, "recurrent", [value("x", shape=[B, T, I])],
                              [value("h_last", shape=[B, H]), value("h_all")], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def onnxruntime_outputs(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def npucc_outputs(folder, path, feeds, *flags):
    np.savez(folder / "in.npz", **feeds)
    r = run_npucc("run", path, "--inputs", folder / "in.npz", "--outputs", folder / "out.npz", *flags)
    assert r.returncode == 0, r.stderr
    return dict(np.load(folder / "out.npz"))


def feeds(seed=2):
    return {"x": np.random.default_rng(seed).standard_normal((B, T, I)).astype(F32)}


@pytest.mark.parametrize("trip,condition,steps", [
    ("shape", "pass", T), ("constant", "pass", T), ("unbounded", "counted", T), ("range", "counted", T),
    ("shape", "limit", 4)])
def test_a_recurrent_loop_unrolls_and_runs_as_onnxruntime(tmp_path, trip, condition, steps):
    recurrent_model(tmp_path / "m.onnx", trip, condition)
    want = onnxruntime_outputs(tmp_path / "m.onnx", feeds())
    got = npucc_outputs(tmp_path, tmp_path / "m.onnx", feeds())
    for name in ("h_last", "h_all"):
        assert got[name].shape == want[name].shape
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got["h_all"][-1], got["h_last"])
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 0, r.stderr
    assert got["h_all"].shape[0] == steps
    assert "= Loop(" not in r.stdout and r.stdout.count("= Tanh(") == steps
    assert f'name="rnn/{steps - 1}/cell"' in r.stdout


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_an_unrolled_loop_compiles_and_runs_as_the_fake_quant_interpreter(tmp_path, precision):
    recurrent_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", **feeds())
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(3).standard_normal((4, T, I)).astype(F32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["h_last", "h_all"])


def nested_model(path):
    """An outer Loop of 3 steps whose body runs an inner Loop of 2 steps that adds the outer
    body's own value d (computed in the outer body) to its carried value; outer carries y."""
    inner = helper.make_graph(
        [N("Add", ["a", "d"], ["a_next"]), N("Identity", ["ci"], ["co"])], "inner",
        [value("j", TensorProto.INT64, []), value("ci", TensorProto.BOOL, []), value("a")],
        [value("co", TensorProto.BOOL, []), value("a_next")])
    outer = helper.make_graph(
        [N("Cast", ["i"], ["fi"], to=TensorProto.FLOAT), N("Mul", ["fi", "x"], ["d"]),
         N("Loop", ["two", "", "y"], ["y_next"], name="inner", body=inner), N("Identity", ["c"], ["c_out"])],
        "outer", [value("i", TensorProto.INT64, []), value("c", TensorProto.BOOL, []), value("y")],
        [value("c_out", TensorProto.BOOL, []), value("y_next")])
    inits = [numpy_helper.from_array(np.array(3, np.int64), "three"), numpy_helper.from_array(np.array(2, np.int64), "two")]
    graph = helper.make_graph([N("Loop", ["three", "", "x"], ["y"], name="outer", body=outer)], "nested",
                              [value("x", shape=[2, 3])], [value("y", shape=[2, 3])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_a_nested_loop_reads_the_outer_bodys_values(tmp_path):
    nested_model(tmp_path / "m.onnx")
    x = {"x": np.random.default_rng(4).standard_normal((2, 3)).astype(F32)}
    want = onnxruntime_outputs(tmp_path / "m.onnx", x)["y"]
    got = npucc_outputs(tmp_path, tmp_path / "m.onnx", x)["y"]
    # y = x + 2 * (0 + 1 + 2) * x
    np.testing.assert_allclose(want, 7 * x["x"], rtol=1e-6)
    np.testing.assert_array_equal(got, want)


def if_model(path, condition):
    """y = If(condition, then: x * 2 (with an initializer of its own), else: Neg(x)). The
    condition: True or False (a constant), "shape" (x's first extent equals 2, from its
    shape) or None (max(x) > 0: only known at run time)."""
    then = helper.make_graph([N("Mul", ["x", "two"], ["doubled"], name="double")], "then", [], [value("doubled")],
                             [numpy_helper.from_array(np.array(2, F32), "two")])
    other = helper.make_graph([N("Neg", ["x"], ["negated"])], "else", [], [value("negated")])
    inits = [numpy_helper.from_array(np.array(0, F32), "zero"), numpy_helper.from_array(np.array(0, np.int64), "first"),
             numpy_helper.from_array(np.array(2, np.int64), "two_rows")]
    if condition is None:
        nodes = [N("ReduceMax", ["x"], ["m"], keepdims=0), N("Greater", ["m", "zero"], ["flag"])]
    elif condition == "shape":
        nodes = [N("Shape", ["x"], ["s"]), N("Gather", ["s", "first"], ["rows"], axis=0),
                 N("Equal", ["rows", "two_rows"], ["flag"])]
    else:
        nodes = []
        inits.append(numpy_helper.from_array(np.array(condition), "flag"))
    nodes.append(N("If", ["flag"], ["y"], name="choose", then_branch=then, else_branch=other))
    graph = helper.make_graph(nodes, "branch", [value("x", shape=[2, 3])], [value("y", shape=[2, 3])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.mark.parametrize("condition", [True, False, "shape"])
def test_an_if_of_a_known_condition_is_its_branch(tmp_path, condition):
    if_model(tmp_path / "m.onnx", condition)
    x = {"x": np.random.default_rng(5).standard_normal((2, 3)).astype(F32)}
    got = npucc_outputs(tmp_path, tmp_path / "m.onnx", x)["y"]
    np.testing.assert_array_equal(got, onnxruntime_outputs(tmp_path / "m.onnx", x)["y"])
    np.testing.assert_array_equal(got, x["x"] * 2 if condition else -x["x"])
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert "= If(" not in r.stdout and ("= Mul(" in r.stdout) == bool(condition), r.stdout


def refused(tmp_path, message):
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "m.npub").exists()


def test_a_trip_count_known_at_run_time_is_refused(tmp_path):
    recurrent_model(tmp_path / "m.onnx", trip="computed")
    refused(tmp_path, 'node Loop "rnn" (opset 13): its trip count "trip" is only known at run time')


def test_a_condition_on_the_data_is_refused(tmp_path):
    recurrent_model(tmp_path / "m.onnx", condition="data")
    refused(tmp_path, 'node Loop "rnn" (opset 13): its body\'s condition "go_on" is only known at run time')


def test_an_if_of_a_computed_condition_is_refused(tmp_path):
    if_model(tmp_path / "m.onnx", None)
    refused(tmp_path, 'node If "choose" (opset 13): its condition "flag" is only known at run time')


def scan_model(path, input_reversed, output_axis, output_reversed):
    """Scan over x [B, T, I] along axis 1 (from the end when `input_reversed`): the state s
    [B, I] accumulates s + x_t * w, and each step's s is scanned out along `output_axis`
    (stacked from the end when `output_reversed`)."""
    body = helper.make_graph(
        [N("Mul", ["xt", "w"], ["scaled"]), N("Add", ["s", "scaled"], ["s_next"]), N("Identity", ["s_next"], ["out"])],
        "step", [value("s", shape=[B, I]), value("xt", shape=[B, I])], [value("s_next", shape=[B, I]), value("out")])
    scan = N("Scan", ["s0", "x"], ["s_last", "all"], name="sums", body=body, num_scan_inputs=1, scan_input_axes=[1],
             scan_input_directions=[input_reversed], scan_output_axes=[output_axis],
             scan_output_directions=[output_reversed])
    inits = [numpy_helper.from_array(np.full((B, I), 0.5, F32), "s0"),
             numpy_helper.from_array(np.linspace(0.5, 2, I).astype(F32), "w")]
    graph = helper.make_graph([scan], "scan", [value("x", shape=[B, T, I])], [value("s_last"), value("all")], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.mark.parametrize("input_reversed,output_axis,output_reversed", [(0, 0, 0), (1, 1, 0), (0, -1, 1)])
def test_a_scan_unrolls_and_runs_as_onnxruntime(tmp_path, input_reversed, output_axis, output_reversed):
    scan_model(tmp_path / "m.onnx", input_reversed, output_axis, output_reversed)
    want = onnxruntime_outputs(tmp_path / "m.onnx", feeds())
    got = npucc_outputs(tmp_path, tmp_path / "m.onnx", feeds())
    for name in ("s_last", "all"):
        assert got[name].shape == want[name].shape
        np.testing.assert_array_equal(got[name], want[name])
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert "= Scan(" not in r.stdout and r.stdout.count("= Mul(") == T


def test_a_loop_with_only_scan_outputs_unrolls(tmp_path):
    """A Loop that carries no value, only scanning each step's output (a body reading the
    outer graph's input), once crashed the unrolling."""
    body = helper.make_graph(
        [N("Identity", ["c_in"], ["c_out"]), N("Cast", ["i"], ["f"], to=TensorProto.FLOAT), N("Mul", ["x", "f"], ["s"])],
        "body", [value("i", TensorProto.INT64, []), value("c_in", TensorProto.BOOL, [])],
        [value("c_out", TensorProto.BOOL, []), value("s")])
    inits = [numpy_helper.from_array(np.array(3, np.int64), "n"), numpy_helper.from_array(np.array(True), "c")]
    graph = helper.make_graph([N("Loop", ["n", "c"], ["y"], name="steps", body=body)], "g", [value("x", shape=[2, 4])],
                              [value("y")], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    x = {"x": np.random.default_rng(4).standard_normal((2, 4)).astype(F32)}
    want = onnxruntime_outputs(tmp_path / "m.onnx", x)["y"]
    got = npucc_outputs(tmp_path, tmp_path / "m.onnx", x, "--input-shape", "x=2,4")["y"]
    assert got.shape == want.shape == (3, 2, 4)
    np.testing.assert_array_equal(got, want)
