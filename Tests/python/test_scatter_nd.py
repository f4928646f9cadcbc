"""ScatterND as exporters write in-place assignment: a detection head's `y[..., 0:2] = ...`
(one index tuple per pixel, its two values rewritten), rows replaced by their index (negative
ones counting from the end), and the reductions of opset 16 and 18. The interpreter computes
them as onnxruntime does; the bundle runs bit for bit as the fake-quant interpreter runs
the model, each run of rewritten values one DMA with constant indices, a `scatter` with
computed ones or a reduction (float32 and integer rows, combined in order)."""
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_compile_refuses, assert_same_bits, interpreted_and_onnxruntime, run_npucc, \
    simulated_and_interpreted

RNG = np.random.default_rng(1818)
A, H, W, O = 3, 4, 4, 6  # anchors, grid, outputs per anchor


def head_model(path):
    """x [1, A·O, H, W] -> 1x1 Conv -> [1, A, H, W, O] -> Sigmoid -> s; s[..., 0:2] = s[..., 0:2]
    * 2 + grid, written as exporters write it: ScatterND with an index tuple per pixel and
    anchor and rewritten value."""
    grid = RNG.standard_normal((1, 1, H, W, 2)).astype(np.float32)
    tuples = np.stack(np.meshgrid(np.arange(1), np.arange(A), np.arange(H), np.arange(W), np.arange(2), indexing="ij"), -1)
    inits = [numpy_helper.from_array((RNG.standard_normal((A * O, A * O, 1, 1)) / 4).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([1, A, O, H, W], np.int64), "split"),
             numpy_helper.from_array(grid, "grid"), numpy_helper.from_array(np.float32(2), "two"),
             numpy_helper.from_array(np.array([0], np.int64), "s0"), numpy_helper.from_array(np.array([2], np.int64), "s1"),
             numpy_helper.from_array(np.array([-1], np.int64), "last"),
             numpy_helper.from_array(tuples.astype(np.int64), "tuples")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="head"),
             helper.make_node("Reshape", ["c", "split"], ["r"]),
             helper.make_node("Transpose", ["r"], ["t"], perm=[0, 1, 3, 4, 2]),
             helper.make_node("Sigmoid", ["t"], ["s"]),
             helper.make_node("Slice", ["s", "s0", "s1", "last"], ["xy"]),
             helper.make_node("Mul", ["xy", "two"], ["xy2"]),
             helper.make_node("Add", ["xy2", "grid"], ["placed"]),
             helper.make_node("ScatterND", ["s", "tuples", "placed"], ["y"], name="assign")]
    graph = helper.make_graph(nodes, "head", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, A * O, H, W])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, A, H, W, O])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_a_detection_head_assignment_is_computed_as_onnxruntime_computes_it(tmp_path):
    head_model(tmp_path / "m.onnx")
    x = RNG.standard_normal((1, A * O, H, W)).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_detection_head_assignment_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    head_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((1, A * O, H, W)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 1, A * O, H, W)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
    # One DMA writes the 48 pairs of rewritten values, each pixel's first two of six.
    r = run_npucc("disasm", tmp_path / "m.npub")
    assert r.returncode == 0, r.stderr
    pairs = [line.split(":")[0] for line in r.stdout.splitlines() if line.endswith(f"[{A * H * W},2] [{O},1]")]
    assert len(pairs) == 1 and sum(f"dma dst={pairs[0]}," in line for line in r.stdout.splitlines()) == 1, r.stdout


def rows_model(path, reduction=None, computed=False, rows=2, dtype=TensorProto.FLOAT):
    """data [5, 4] = x + 1, `rows` rows of it (by default 1 and -1, the last) replaced by (or
    combined with) u; with integers, data = x."""
    element = TensorProto.FLOAT if dtype == TensorProto.FLOAT else dtype
    inits = [numpy_helper.from_array(np.float32(1), "one")] if dtype == TensorProto.FLOAT else []
    nodes = [helper.make_node("Add", ["x", "one"], ["data"])] if dtype == TensorProto.FLOAT else [
        helper.make_node("Identity", ["x"], ["data"])]
    inputs = [helper.make_tensor_value_info("x", element, [5, 4]),
              helper.make_tensor_value_info("u", element, [rows, 4])]
    if computed:
        inputs.append(helper.make_tensor_value_info("i", TensorProto.INT64, [rows, 1]))
    else:
        inits.append(numpy_helper.from_array(np.array([[1], [-1], [1]][:rows], np.int64), "i"))
    nodes.append(helper.make_node("ScatterND", ["data", "i", "u"], ["y"], name="rows",
                                  **({"reduction": reduction} if reduction else {})))
    graph = helper.make_graph(nodes, "rows", inputs, [helper.make_tensor_value_info("y", element, [5, 4])],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


@pytest.mark.parametrize("reduction", [None, "add", "mul", "max", "min"])
def test_rows_and_reductions_are_computed_as_onnxruntime_computes_them(tmp_path, reduction):
    rows_model(tmp_path / "m.onnx", reduction)
    feeds = {"x": RNG.standard_normal((5, 4)).astype(np.float32), "u": RNG.standard_normal((2, 4)).astype(np.float32)}
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", feeds, tmp_path)
    np.testing.assert_array_equal(got["y"], want["y"])


@pytest.mark.parametrize("computed", [False, True], ids=["constant_indices", "computed_indices"])
def test_replaced_rows_run_on_the_simulator_as_the_interpreter_runs_them(tmp_path, computed):
    rows_model(tmp_path / "m.onnx", computed=computed)
    index = {"i": np.array([[1], [-1]], np.int64)} if computed else {}
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((5, 4)).astype(np.float32),
             u=RNG.standard_normal((2, 4)).astype(np.float32), **index)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((2, 5, 4)).astype(np.float32),
             u=RNG.standard_normal((2, 2, 4)).astype(np.float32), **({"i": np.stack([index["i"]] * 2)} if computed else {}))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])


@pytest.mark.parametrize("computed", [False, True], ids=["constant_indices", "computed_indices"])
@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_reductions_run_on_the_simulator_as_the_interpreter_runs_them(tmp_path, reduction, computed):
    # Rows 1, -1 and 1 again: row 1 combined twice, in order; NaNs on both sides.
    rows_model(tmp_path / "m.onnx", reduction, computed, rows=3)
    x, u = RNG.standard_normal((5, 4)).astype(np.float32), RNG.standard_normal((3, 4)).astype(np.float32)
    x[1, 0], u[0, 1] = np.nan, np.nan
    index = {"i": np.array([[1], [-1], [1]], np.int64)} if computed else {}
    np.savez(tmp_path / "x.npz", x=x, u=u, **index)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none", None)
    assert_same_bits(sim, fq, ["y"])
    _, theirs = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x, "u": u, **index}, tmp_path)
    assert_same_bits(fq, theirs, ["y"])


@pytest.mark.parametrize("dtype", [TensorProto.INT32, TensorProto.INT64], ids=["int32", "int64"])
def test_integer_reductions_wrap_on_the_simulator_as_in_the_interpreter(tmp_path, dtype):
    rows_model(tmp_path / "m.onnx", "add", rows=3, dtype=dtype)
    kind = np.int32 if dtype == TensorProto.INT32 else np.int64
    x = RNG.integers(-100, 100, (5, 4)).astype(kind)
    x[1, 0] = np.iinfo(kind).max  # wraps
    u = RNG.integers(1, 100, (3, 4)).astype(kind)
    np.savez(tmp_path / "x.npz", x=x, u=u)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none", None)
    expected = x.copy()
    with np.errstate(over="ignore"):
        for row, r in zip(u, [1, -1, 1]):
            expected[r] += row
    np.testing.assert_array_equal(sim["y"], expected)
    np.testing.assert_array_equal(fq["y"], expected)


def leading_model(path, parts, reduction):
    """ScatterND of data [3, 5, 7, 2] at tuples [64, 3]: the first two indices of each tuple
    constants (`parts`, a Concat's first input, as torch's dynamo exporter writes index_put_
    with a batch and a channel), the last one the graph's input `i`."""
    node = helper.make_node("ScatterND", ["d", "t", "u"], ["o"], name="scatter",
                            **({"reduction": reduction} if reduction else {}))
    nodes = [helper.make_node("Concat", ["parts", "i"], ["t"], name="tuples", axis=-1), node]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("d", TensorProto.FLOAT, [3, 5, 7, 2]),
         helper.make_tensor_value_info("i", TensorProto.INT64, [64, 1]),
         helper.make_tensor_value_info("u", TensorProto.FLOAT, [64, 2])],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(parts.astype(np.int64), "parts")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


@pytest.mark.parametrize("reduction", [None, "add", "max"])
def test_tuples_whose_leading_indices_are_constants_are_scattered_part_by_part(tmp_path, reduction):
    """Runs of 16 tuples, each run's constant leading indices naming one [7, 2] part of
    the output (a negative one counting from the end; the part [1, 2] named by two runs apart,
    which must land in the tuples' order): each run a scatter of its own into its part, the
    runs on different tiles, the same bits as the interpreter, several tuples to one place.
    A computed index outside its axis stops the run by instruction."""
    parts = np.array([[1, 2]] * 16 + [[0, -1]] * 16 + [[1, 2]] * 16 + [[2, 0]] * 16)
    leading_model(tmp_path / "m.onnx", parts, reduction)
    i = RNG.integers(-7, 7, [64, 1])
    i[16:24] = 3  # eight values to one place of part [0, 4]
    u = RNG.standard_normal([64, 2]).astype(np.float32)
    d = RNG.standard_normal([3, 5, 7, 2]).astype(np.float32)
    np.savez(tmp_path / "in.npz", d=d, i=i, u=u)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"d": d, "i": i, "u": u}, tmp_path)
    assert_same_bits(got, want, ["o"])
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "in.npz", tmp_path, "fp16", "none", None)
    assert_same_bits(sim, fq, ["o"])
    program = run_npucc("disasm", tmp_path / "m.npub").stdout
    descriptors = dict(line.split(": ", 1) for line in program.splitlines() if re.match(r"d\d+: ", line))
    scatters = [dict(f.split("=") for f in line.split(" ", 1)[1].split(", "))
                for line in program.splitlines() if line.startswith("scatter ")]
    tables = [descriptors[s["dst"]] for s in scatters]
    assert len(scatters) == 4 and all(t.split()[3] == "[7,2]" for t in tables), tables
    assert tables[0] == tables[2] != tables[1]  # part [1, 2], then [0, 4], then [1, 2] again
    assert len({descriptors[s["idx"]].split()[1] for s in scatters}) == 4
    np.savez(tmp_path / "bad.npz", d=d, i=np.where(np.arange(64)[:, None] == 50, 7, i), u=u)
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "bad.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1 and 'ScatterND "scatter"' in r.stderr and "(scatter): index 7" in r.stderr, r.stderr
    assert not (tmp_path / "out.npz").exists()


def test_tuples_with_a_constant_leading_index_outside_its_axis_are_refused_when_the_bundle_runs(tmp_path):
    """A constant leading index outside its axis leaves the tuples to one scatter over the
    whole output, which refuses the tuple when the bundle runs, as the interpreter refuses it."""
    parts = np.array([[1, 2]] * 32 + [[3, 0]] * 32)
    leading_model(tmp_path / "m.onnx", parts, None)
    np.savez(tmp_path / "in.npz", d=np.zeros([3, 5, 7, 2], np.float32), i=np.zeros([64, 1], np.int64),
             u=np.ones([64, 2], np.float32))
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    assert run_npucc("disasm", tmp_path / "m.npub").stdout.count("\nscatter ") == 1
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1 and "(idx element 32) is out of range for the table's 105 rows" in r.stderr, r.stderr
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1 and 'ScatterND "scatter"' in r.stderr, r.stderr
