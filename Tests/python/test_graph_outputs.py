"""`--graph-outputs`: a model ended at values the user names, as a detector is compiled
without the post-processing the NPU does not run (NonMaxSuppression, NonZero). Only the nodes
those values need are read, the graph inputs nothing kept reads are left out, and every
command that reads a model takes the option: the bundle runs bit for bit as the interpreter
runs the cut model, which matches onnxruntime's values of the same tensors."""
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import npub  # noqa: E402


def detector(path):
    """A stem and two heads (class scores, boxes), then post-processing: NonMaxSuppression
    over the boxes and scores, NonZero of the best score. The class head reads an If
    (constant condition) whose branches read `wide` from outside, as exporters write
    subgraphs: no node input names it. `sizes` is read only by the post-processing."""
    rng = np.random.default_rng(0)

    def w(name, shape):
        return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32),
                                       name)

    def const(name, values, dtype):
        return numpy_helper.from_array(np.array(values, dtype), name)

    inits = [w("w1", (16, 3, 3, 3)), w("w2", (8, 16, 1, 1)), w("w3", (4, 16, 1, 1)), const("max_out", [10], np.int64),
             const("iou", [0.5], np.float32), const("threshold", [0.2], np.float32),
             const("box_shape", [1, 4, 64], np.int64), const("best_shape", [1, 1, 64], np.int64),
             const("yes", True, np.bool_), const("half", [0.5], np.float32),
             const("two", [2], np.float32)]
    branch = helper.make_graph([helper.make_node("Mul", ["wide", "half"], ["halved"])], "then", [],
                               [helper.make_tensor_value_info("halved", TensorProto.FLOAT, [1, 16, 8, 8])])
    other = helper.make_graph([helper.make_node("Identity", ["wide"], ["same"])], "else", [],
                              [helper.make_tensor_value_info("same", TensorProto.FLOAT, [1, 16, 8, 8])])
    n = helper.make_node
    nodes = [n("Conv", ["image", "w1"], ["feat"], pads=[1, 1, 1, 1], name="stem"),
             n("Relu", ["feat"], ["act"], name="act"),
             n("Mul", ["act", "two"], ["wide"], name="wide"),
             n("If", ["yes"], ["gated"], then_branch=branch, else_branch=other, name="gate"),
             n("Conv", ["gated", "w2"], ["logits"], name="cls"),
             n("Conv", ["act", "w3"], ["box_map"], name="box"),
             n("Sigmoid", ["logits"], ["scores"], name="scores"),
             n("Reshape", ["box_map", "box_shape"], ["boxes"], name="boxes"),
             n("ReduceMax", ["scores"], ["best"], axes=[1], keepdims=0, name="best"),
             n("Reshape", ["best", "best_shape"], ["best_flat"], name="best_flat"),
             n("Transpose", ["boxes"], ["corners"], perm=[0, 2, 1], name="corners"),
             n("Add", ["sizes", "max_out"], ["limit"], name="limit"),
             n("NonMaxSuppression", ["corners", "best_flat", "limit", "iou", "threshold"], ["selected"], name="nms"),
             n("NonZero", ["best"], ["where"], name="where")]
    graph = helper.make_graph(
        nodes, "detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8]),
         helper.make_tensor_value_info("sizes", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, ["n", 3]),
         helper.make_tensor_value_info("where", TensorProto.INT64, [3, "k"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return model


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("graph_outputs")
    detector(folder / "det.onnx")
    rng = np.random.default_rng(1)
    np.savez(folder / "x.npz", image=rng.standard_normal((1, 3, 8, 8)).astype(np.float32))
    np.savez(folder / "calib.npz", image=rng.standard_normal((4, 3, 8, 8)).astype(np.float32))
    return folder


def onnxruntime_values(model_path, names, image):
    """onnxruntime's values of `names` inside the whole model (post-processing included)."""
    model = onnx.load(str(model_path))
    model.graph.output.extend([helper.make_value_info(name, helper.make_tensor_type_proto(TensorProto.FLOAT, None))
                               for name in names])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    values = session.run(names, {"image": image, "sizes": np.array([0], np.int64)})
    return dict(zip(names, values))


def test_the_whole_detector_is_refused_at_its_post_processing_with_the_way_out(folder, tmp_path):
    r = run_npucc("compile", folder / "det.onnx", "-o", tmp_path / "m.npub")
    assert r.returncode == 1
    # The interpreter runs NonMaxSuppression; the NPU cannot size what it keeps.
    assert ('node NonMaxSuppression "nms" (opset 13): value "selected" has no static type: how many boxes it keeps '
            "depends on the values it reads") in r.stderr
    # The values the node reads are named: the model can end there.
    assert ('to compile the model up to the values before it (it reads "corners", "best_flat", "limit"), name them '
            "with --graph-outputs") in r.stderr
    assert not (tmp_path / "m.npub").exists()


def test_the_interpreter_runs_the_whole_detector_as_onnxruntime(folder, tmp_path):
    """Its NonMaxSuppression and NonZero included: the outputs whose extents the values give."""
    feeds = {"image": np.load(folder / "x.npz")["image"], "sizes": np.array([2], np.int64)}
    np.savez(tmp_path / "in.npz", **feeds)
    r = run_npucc("run", folder / "det.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    ours = np.load(tmp_path / "out.npz")
    session = ort.InferenceSession(str(folder / "det.onnx"), providers=["CPUExecutionProvider"])
    selected, where = session.run(["selected", "where"], feeds)
    assert ours["selected"].tolist() == selected.tolist() and len(selected) == 12
    assert ours["where"].tolist() == where.tolist()


def test_the_interpreter_gives_onnxruntimes_values_of_the_named_tensors(folder, tmp_path):
    r = run_npucc("run", folder / "det.onnx", "--graph-outputs", "scores,boxes", "--graph-outputs", "act",
                  "--inputs", folder / "x.npz", "--outputs", tmp_path / "fp32.npz")
    assert r.returncode == 0, r.stderr
    ours = np.load(tmp_path / "fp32.npz")
    assert list(ours) == ["scores", "boxes", "act"]
    theirs = onnxruntime_values(folder / "det.onnx", ["scores", "boxes", "act"], np.load(folder / "x.npz")["image"])
    for name, want in theirs.items():
        np.testing.assert_allclose(ours[name], want, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("precision,sparsity", [("fp16", "none"), ("nvfp4", "2:4")])
def test_the_cut_detector_compiles_and_runs_bit_for_bit(folder, tmp_path, precision, sparsity):
    # `act` is named too: a graph output that the heads also read.
    extra = ("--graph-outputs", "scores,boxes,act")
    sim, fq = simulated_and_interpreted(folder / "det.onnx", folder / "x.npz", tmp_path, precision, sparsity,
                                        folder / "calib.npz", prune="magnitude", extra=extra)
    assert list(sim) == ["scores", "boxes", "act"]
    assert_same_bits(sim, fq, ["scores", "boxes", "act"])
    metadata = npub.verify(tmp_path / "m.npub").metadata
    # `sizes` feeds only the post-processing: the bundle does not take it.
    assert [v["name"] for v in metadata["inputs"]] == ["image"]
    assert [(v["name"], v["shape"]) for v in metadata["outputs"]] == [
        ("scores", [1, 8, 8, 8]), ("boxes", [1, 4, 64]), ("act", [1, 16, 8, 8])]


def test_the_qdq_export_ends_at_the_named_values(folder, tmp_path):
    r = run_npucc("export", folder / "det.onnx", "-o", tmp_path / "q.onnx", "--qdq", "--precision", "fp8",
                  "--calib", folder / "calib.npz", "--graph-outputs", "boxes,scores")
    assert r.returncode == 0, r.stderr
    model = onnx.load(str(tmp_path / "q.onnx"))
    assert [o.name for o in model.graph.output] == ["boxes", "scores"]
    assert [i.name for i in model.graph.input] == ["image"]
    assert not {"NonMaxSuppression", "NonZero", "If"} & {node.op_type for node in model.graph.node}
    session = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
    boxes, scores = session.run(None, {"image": np.load(folder / "x.npz")["image"]})
    assert boxes.shape == (1, 4, 64) and scores.shape == (1, 8, 8, 8)


@pytest.mark.parametrize("flags,message", [
    (["--graph-outputs", "scores,bxes"], '--graph-outputs names "bxes", which no node of the graph computes; '
                                         "closest values: boxes, best"),
    (["--graph-outputs", "w1"], '--graph-outputs names "w1", an initializer: name values nodes compute'),
    (["--graph-outputs", "image"], '--graph-outputs names "image", a graph input: name values nodes compute'),
    (["--graph-outputs", "scores", "--graph-outputs", "scores"], '--graph-outputs names "scores" twice'),
    (["--graph-outputs", "scores,"], "--graph-outputs has an empty name"),
    (["--graph-outputs", "scores", "--input-shape", "sizes=1"],
     '--input-shape names "sizes", a graph input that the values --graph-outputs names do not read'),
])
def test_bad_names_are_refused_by_name(folder, tmp_path, flags, message):
    r = run_npucc("compile", folder / "det.onnx", "-o", tmp_path / "m.npub", *flags)
    assert r.returncode == 1
    assert f"npucc: error: {folder / 'det.onnx'}: {message}" in r.stderr, r.stderr
    assert not (tmp_path / "m.npub").exists()


def test_a_bundle_refuses_the_option(folder, tmp_path):
    r = run_npucc("compile", folder / "det.onnx", "-o", tmp_path / "m.npub", "--graph-outputs", "scores")
    assert r.returncode == 0, r.stderr
    assert ('warning: {}: --graph-outputs leaves out every node that reads graph input "sizes": the model no longer '
            "takes it".format(folder / "det.onnx")) in r.stderr
    for command in (["inspect", tmp_path / "m.npub"],
                    ["run", tmp_path / "m.npub", "--inputs", folder / "x.npz", "--outputs", tmp_path / "y.npz"]):
        r = run_npucc(*command, "--graph-outputs", "scores")
        assert r.returncode == 1
        assert "--graph-outputs" in r.stderr and "ONNX models" in r.stderr
    assert not (tmp_path / "y.npz").exists()


def test_a_named_value_without_a_declared_type_takes_the_inferred_one(tmp_path):
    # `s` is an int64 Shape that no value_info declares: inference types it.
    nodes = [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Shape", ["y"], ["s"]),
             helper.make_node("NonZero", ["y"], ["where"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("where", TensorProto.INT64, [2, "k"])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=np.array([[1, -2, 3, -4]], np.float32))
    r = run_npucc("run", tmp_path / "m.onnx", "--graph-outputs", "s,y", "--inputs", tmp_path / "x.npz",
                  "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["s: i64[2]", "y: f32[1, 4]"]
    out = np.load(tmp_path / "y.npz")
    assert out["s"].tolist() == [1, 4] and out["y"].tolist() == [[1, 0, 3, 0]]


def test_inspect_counts_the_nodes_the_named_values_need(folder):
    r = run_npucc("inspect", folder / "det.onnx", "--graph-outputs", "boxes")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[lines.index("outputs:") + 1].split() == ["boxes", "f32[1,4,64]"]
    assert "operators:  4 of the file's 14 nodes (--graph-outputs), 4 after canonicalization" in lines, lines
