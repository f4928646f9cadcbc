"""Sequence ops whose contents import knows: a sequence is kept as the list of its elements'
values (SequenceConstruct, SequenceEmpty, SequenceInsert and SequenceErase at constant
positions, SplitToSequence into a known number of parts), and what reads one becomes tensor
ops (SequenceAt, SequenceLength, ConcatFromSequence). The onnx wheel's own sequence models
run to their expected outputs; an exporter-shaped model (a tensor split into a sequence,
elements picked and stacked again) runs as onnxruntime runs it and compiles, its bundles
giving the fake-quant interpreter's bits; what needs a sequence at run time is refused by
node."""
import glob
import pathlib
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

SIMPLE = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data" / "simple"
RNG = np.random.default_rng(808)


def load_pb(path):
    t = onnx.TensorProto()
    t.ParseFromString(pathlib.Path(path).read_bytes())
    return numpy_helper.to_array(t)


@pytest.mark.parametrize("case", [f"test_sequence_model{k}" for k in range(1, 8)])
def test_the_onnx_sequence_models_give_their_outputs(case, tmp_path):
    """Construct, insert, erase and read back (positions from the end too), concatenate with
    and without a new axis, split with and without keepdims, count."""
    folder = SIMPLE / case
    model = onnx.load(str(folder / "model.onnx"))
    inits = {t.name for t in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in inits]
    for data in sorted(glob.glob(str(folder / "test_data_set_*"))):
        np.savez(tmp_path / "in.npz", **{name: load_pb(f"{data}/input_{k}.pb") for k, name in enumerate(inputs)})
        r = run_npucc("run", folder / "model.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
        assert r.returncode == 0, r.stderr
        got = np.load(tmp_path / "out.npz")
        for k, output in enumerate(model.graph.output):
            want = load_pb(f"{data}/output_{k}.pb")
            assert got[output.name].dtype == want.dtype
            np.testing.assert_array_equal(got[output.name], want, err_msg=output.name)


def split_and_stack(path, position_input=False):
    """x [1, 4, 6, 6] -> conv (8 channels) -> SplitToSequence along channels into 8 planes
    (keepdims 0) -> SequenceErase(1) -> SequenceInsert(plane 7 at 0) -> ConcatFromSequence
    (new axis 1) -> conv again; y also adds SequenceAt(-2) of the sequence (or at a position
    input) and its length."""
    inits = [numpy_helper.from_array((RNG.standard_normal((8, 4, 3, 3)) / 4).astype(np.float32), "w1"),
             numpy_helper.from_array((RNG.standard_normal((3, 8, 1, 1)) / 3).astype(np.float32), "w2"),
             numpy_helper.from_array(np.array(1, np.int64), "erase_at"),
             numpy_helper.from_array(np.array(0, np.int64), "insert_at"),
             numpy_helper.from_array(np.array(-1, np.int64), "last_at")]
    at = ["where"] if position_input else ["picked_at"]
    if not position_input:
        inits.append(numpy_helper.from_array(np.array(-2, np.int64), "picked_at"))
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["h"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("SplitToSequence", ["h"], ["planes"], name="split", axis=1, keepdims=0),
        helper.make_node("SequenceErase", ["planes", "erase_at"], ["fewer"], name="erase"),
        helper.make_node("SequenceAt", ["fewer", "last_at"], ["last"], name="last_plane"),
        helper.make_node("SequenceInsert", ["fewer", "last", "insert_at"], ["again"], name="insert"),
        helper.make_node("ConcatFromSequence", ["again"], ["stacked"], name="stack", axis=1, new_axis=1),
        helper.make_node("Conv", ["stacked", "w2"], ["c"], name="conv2"),
        helper.make_node("SequenceAt", ["again", at[0]], ["picked"], name="pick"),
        helper.make_node("SequenceLength", ["again"], ["count"], name="count"),
        helper.make_node("Cast", ["count"], ["count_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["picked", "count_f"], ["p"], name="add_count"),
        helper.make_node("Unsqueeze", ["p", "one"], ["p1"], name="as_channel"),
        helper.make_node("Add", ["c", "p1"], ["y"], name="y"),
    ]
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "one"))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])]
    if position_input:
        inputs.append(helper.make_tensor_value_info("where", TensorProto.INT64, []))
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 6, 6])],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_an_exporters_split_and_stack_runs_as_onnxruntime(tmp_path):
    split_and_stack(tmp_path / "m.onnx")
    x = RNG.standard_normal((1, 4, 6, 6)).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-5)


def test_a_position_known_at_run_time_reads_the_stacked_elements(tmp_path):
    split_and_stack(tmp_path / "m.onnx", position_input=True)
    x = RNG.standard_normal((1, 4, 6, 6)).astype(np.float32)
    for where in [0, 3, -1, -8]:
        got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x, "where": np.array(where, np.int64)},
                                                tmp_path)
        np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-5, err_msg=str(where))


@pytest.mark.parametrize("precision,sparsity", [("fp16", "none"), ("nvfp4", "2:4")])
def test_the_split_and_stack_compiles_to_the_interpreters_bits(tmp_path, precision, sparsity):
    split_and_stack(tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((1, 4, 6, 6)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 4, 6, 6)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, sparsity,
                                        tmp_path / "calib.npz", prune="magnitude")
    assert_same_bits(sim, fq, ["y"])
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 0, r.stderr
    ops = re.findall(r"= (\w+)\(", r.stdout)
    assert "Split" in ops and not [op for op in ops if "Sequence" in op], ops


def sequence_model(path, nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)


def test_a_length_that_is_a_graph_output_is_its_constant(tmp_path):
    """SequenceLength declared as an output of unknown shape becomes the scalar it is."""
    sequence_model(tmp_path / "m.onnx", [helper.make_node("SequenceConstruct", ["x", "x", "x"], ["q"]),
                                         helper.make_node("SequenceLength", ["q"], ["n"])],
                   [X], [helper.make_tensor_value_info("n", TensorProto.INT64, None)])
    np.savez(tmp_path / "in.npz", x=np.ones((2, 3), np.float32))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    n = np.load(tmp_path / "out.npz")["n"]
    assert n.dtype == np.int64 and n.shape == () and n == 3


def test_a_sequence_named_as_a_graph_output_is_refused(tmp_path):
    split_and_stack(tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=np.ones((1, 4, 6, 6), np.float32))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "out.npz",
                  "--graph-outputs", "again")
    assert r.returncode == 1
    assert 'graph output "again" is a sequence' in r.stderr, r.stderr
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("nodes,inputs,outputs,inits,message", [
    ([helper.make_node("SplitToSequence", ["x", "s"], ["q"], name="split"),
      helper.make_node("SequenceAt", ["q", "zero"], ["y"])],
     [X, helper.make_tensor_value_info("s", TensorProto.INT64, [2])], [Y],
     [numpy_helper.from_array(np.array(0, np.int64), "zero")],
     'node SplitToSequence "split" (opset 13): its split "s" is only known at run time'),
    ([helper.make_node("SequenceConstruct", ["x", "x"], ["q"]),
      helper.make_node("SequenceInsert", ["q", "x", "p"], ["r"], name="insert"),
      helper.make_node("SequenceAt", ["r", "p"], ["y"])],
     [X, helper.make_tensor_value_info("p", TensorProto.INT64, [])], [Y], [],
     'node SequenceInsert "insert" (opset 13): its position "p" is only known at run time'),
    ([helper.make_node("SequenceConstruct", ["x", "x"], ["q"]),
      helper.make_node("SequenceAt", ["q", "five"], ["y"], name="at")],
     [X], [Y], [numpy_helper.from_array(np.array(5, np.int64), "five")],
     'node SequenceAt "at" (opset 13): position 5 is outside a sequence of 2 elements'),
    ([helper.make_node("SequenceConstruct", ["x", "x"], ["q"]),
      helper.make_node("Identity", ["q"], ["y"], name="copy")],
     [X], [Y], [],
     'node Identity "copy" reads sequence "q"'),
    ([helper.make_node("SequenceEmpty", [], ["q"]),
      helper.make_node("ConcatFromSequence", ["q"], ["y"], name="cat", axis=0)],
     [X], [Y], [],
     'node ConcatFromSequence "cat" (opset 13): concatenates an empty sequence'),
])
def test_what_needs_a_sequence_at_run_time_is_refused_by_node(tmp_path, nodes, inputs, outputs, inits, message):
    sequence_model(tmp_path / "m.onnx", nodes, inputs, outputs, inits)
    np.savez(tmp_path / "in.npz", x=np.ones((2, 3), np.float32))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1
    assert message in r.stderr, r.stderr
    assert not (tmp_path / "out.npz").exists()
