"""Embedding look-ups as exporters write them: a token Gather of a float32 table by int64 (or
int32) input ids of symbolic shape fixed with --input-shape, a position embedding added (a
Gather of a constant table by a slice of a position-id buffer at opset 13, by a Range at
opset 17), a layer norm (decomposed at opset 13, LayerNormalization at 17), a MatMul and a
Softmax. The bundle runs bit for bit as the fake-quant interpreter runs the model at fp16,
nvfp4 and nvfp4 with 2:4, and close to onnxruntime at fp16; negative ids count from the end;
an id out of range stops the run with the simulator naming the gather instruction."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_npucc, simulated_and_interpreted

VOCAB, MAX_POSITIONS, WIDTH, CLASSES, SEQUENCE = 50, 16, 32, 24, 8
SHAPE = ["--input-shape", f"input_ids=1,{SEQUENCE}"]


def embedding_model(path, opset, index_type=TensorProto.INT64):
    """input_ids [batch, sequence] -> softmax(layer_norm(tokens + positions) @ w + b)."""
    rng = np.random.default_rng(11)
    inits = []

    def const(name, values, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.asarray(values, dtype), name))
        return name

    const("word_embeddings", rng.standard_normal((VOCAB, WIDTH)))
    const("position_embeddings", rng.standard_normal((MAX_POSITIONS, WIDTH)) / 4)
    const("w", rng.standard_normal((WIDTH, CLASSES)) / np.sqrt(WIDTH))
    const("b", rng.standard_normal(CLASSES) / 10)
    const("gamma", 1 + rng.standard_normal(WIDTH) / 10)
    const("beta", rng.standard_normal(WIDTH) / 10)
    nodes = [
        helper.make_node("Gather", ["word_embeddings", "input_ids"], ["tokens"], axis=0, name="embeddings.word"),
        helper.make_node("Shape", ["input_ids"], ["ids_shape"]),
        helper.make_node("Gather", ["ids_shape", const("one", 1, np.int64)], ["length"], axis=0),
    ]
    if opset < 17:
        # BERT: a registered buffer of position ids, sliced to the sequence's length.
        const("position_ids", np.arange(MAX_POSITIONS)[None, :], np.int64)
        nodes += [
            helper.make_node("Unsqueeze", ["length", const("axis0", [0], np.int64)], ["length_1d"]),
            helper.make_node("Slice", ["position_ids", const("zero_1d", [0], np.int64), "length_1d",
                                       const("axis1", [1], np.int64)], ["positions"]),
        ]
    else:
        # GPT-2: a Range over the sequence, unsqueezed to a batch of one.
        nodes += [
            helper.make_node("Range", [const("start", 0, np.int64), "length", const("step", 1, np.int64)], ["range"]),
            helper.make_node("Unsqueeze", ["range", const("axis0", [0], np.int64)], ["positions"]),
        ]
    nodes += [
        helper.make_node("Gather", ["position_embeddings", "positions"], ["position_vectors"], name="embeddings.position"),
        helper.make_node("Add", ["tokens", "position_vectors"], ["embedded"], name="embeddings.add"),
    ]
    if opset < 17:
        # LayerNorm as torch exported it before opset 17.
        nodes += [
            helper.make_node("ReduceMean", ["embedded"], ["mean"], axes=[-1], keepdims=1),
            helper.make_node("Sub", ["embedded", "mean"], ["centred"]),
            helper.make_node("Pow", ["centred", const("two", 2.0)], ["squares"]),
            helper.make_node("ReduceMean", ["squares"], ["variance"], axes=[-1], keepdims=1),
            helper.make_node("Add", ["variance", const("epsilon", 1e-12)], ["shifted"]),
            helper.make_node("Sqrt", ["shifted"], ["deviation"]),
            helper.make_node("Div", ["centred", "deviation"], ["normalized"]),
            helper.make_node("Mul", ["normalized", "gamma"], ["scaled"]),
            helper.make_node("Add", ["scaled", "beta"], ["norm"]),
        ]
    else:
        nodes.append(helper.make_node("LayerNormalization", ["embedded", "gamma", "beta"], ["norm"], axis=-1,
                                      epsilon=1e-12, name="embeddings.norm"))
    nodes += [
        helper.make_node("MatMul", ["norm", "w"], ["projected"], name="classifier"),
        helper.make_node("Add", ["projected", "b"], ["logits"], name="classifier.bias"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1, name="softmax"),
    ]
    graph = helper.make_graph(
        nodes, "embedding", [helper.make_tensor_value_info("input_ids", index_type, ["batch", "sequence"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", "sequence", CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def write_ids(path, ids, dtype=np.int64):
    np.savez(path, input_ids=np.asarray(ids, dtype))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gather")
    rng = np.random.default_rng(5)
    for dtype, suffix in [(np.int64, ""), (np.int32, "32")]:
        write_ids(folder / f"ids{suffix}.npz", rng.integers(0, VOCAB, (1, SEQUENCE)), dtype)
        # Negative ids count from the end: -1 is the last row, -VOCAB the first.
        write_ids(folder / f"negative{suffix}.npz", [[3, -1, -VOCAB, 7, -2, 0, VOCAB - 1, -17]], dtype)
        write_ids(folder / f"calib{suffix}.npz", rng.integers(0, VOCAB, (4, SEQUENCE)), dtype)
    return folder


@pytest.mark.parametrize("opset,precision,sparsity", [(13, "fp16", "none"), (17, "fp16", "none"),
                                                      (13, "nvfp4", "none"), (17, "nvfp4", "2:4")])
def test_embeddings_run_on_the_simulator_as_the_interpreter_runs_them(data, tmp_path, opset, precision, sparsity):
    embedding_model(tmp_path / "m.onnx", opset)
    for ids in ["ids", "negative"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", data / f"{ids}.npz", tmp_path, precision, sparsity,
                                            data / "calib.npz", extra=SHAPE)
        assert sim["probabilities"].shape == (1, SEQUENCE, CLASSES)
        np.testing.assert_allclose(sim["probabilities"].sum(-1), 1, rtol=1e-5)
        np.testing.assert_array_equal(sim["probabilities"], fq["probabilities"], err_msg=ids)


def test_int32_ids_run_bit_for_bit(data, tmp_path):
    embedding_model(tmp_path / "m.onnx", 17, TensorProto.INT32)
    for ids in ["ids32", "negative32"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", data / f"{ids}.npz", tmp_path, "nvfp4", "none",
                                            data / "calib32.npz", extra=SHAPE)
        np.testing.assert_array_equal(sim["probabilities"], fq["probabilities"], err_msg=ids)


@pytest.mark.parametrize("opset", [13, 17])
def test_fp16_bundle_is_close_to_onnxruntime(data, tmp_path, opset):
    embedding_model(tmp_path / "m.onnx", opset)
    sim, _ = simulated_and_interpreted(tmp_path / "m.onnx", data / "negative.npz", tmp_path, "fp16", "none",
                                       data / "calib.npz", extra=SHAPE)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (want,) = session.run(None, {"input_ids": np.load(data / "negative.npz")["input_ids"]})
    # The MatMul's fp16 operands (each within 2^-11 relative) move a logit by at most 2^-10 of
    # the sum of its 32 products' magnitudes (under 6 for these ids), and a probability,
    # relatively, by at most twice the largest logit error: 1.2e-2. The rest is float32.
    np.testing.assert_allclose(sim["probabilities"], want, rtol=1.2e-2, atol=0)


def test_an_id_out_of_range_stops_the_run_naming_the_gather(data, tmp_path):
    embedding_model(tmp_path / "m.onnx", 17)
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16", *SHAPE)
    assert r.returncode == 0, r.stderr
    code = run_npucc("disasm", tmp_path / "m.npub").stdout.split(".code\n")[1].splitlines()
    for bad in [VOCAB, -VOCAB - 1]:
        write_ids(tmp_path / "bad.npz", [[0, 1, 2, bad, 4, 5, 6, 7]])
        r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "bad.npz", "--outputs", tmp_path / "out.npz")
        assert r.returncode == 1
        message = f"(gather): index {bad} (idx element "
        assert message in r.stderr and f"is out of range for the table's {VOCAB} rows" in r.stderr, r.stderr
        # The instruction it names is one of the token look-up's gathers, the one whose
        # indices hold id 3: the tiles share the ids out, each gathering a run of them.
        index = int(r.stderr.split(message)[0].split("instruction ")[-1])
        element = int(r.stderr.split(message)[1].split(")")[0])
        assert code[index].startswith("gather "), code[index]
        first = min(ids_address(tmp_path / "m.npub", line) for line in code if line.startswith("gather "))
        assert ids_address(tmp_path / "m.npub", code[index]) + 8 * element == first + 8 * 3
        assert not (tmp_path / "out.npz").exists()


def ids_address(bundle, gather):
    """The address of the first id a `gather` line of `npucc disasm` reads."""
    idx = gather.split("idx=")[1].split(",")[0].strip()
    listing = run_npucc("disasm", bundle).stdout
    line = next(l for l in listing.splitlines() if l.startswith(f"{idx}: "))
    return int(line.split("@")[1].split()[0], 16)


def test_the_tiles_share_the_look_up_out(data, tmp_path):
    """A gather's engine fetches one row at a time, each waiting out DRAM's latency (200
    cycles on npu-seed): the look-up's ids go to several tiles, whose engines fetch at once,
    and the whole look-up takes less than half the time one engine would."""
    embedding_model(tmp_path / "m.onnx", 17)
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16", *SHAPE)
    assert r.returncode == 0, r.stderr
    code = run_npucc("disasm", tmp_path / "m.npub").stdout.split(".code\n")[1].splitlines()
    gathers = [line for line in code if line.startswith("gather ")]
    assert len(gathers) == SEQUENCE, gathers
    r = run_npucc("profile", tmp_path / "m.npub", "--json")
    assert r.returncode == 0, r.stderr
    (layer,) = [l for l in json.loads(r.stdout)["layers"] if l["op"] == "Gather"]
    assert 200 < layer["cycles"] < SEQUENCE * 200 / 2, layer


def test_an_input_of_the_wrong_dtype_is_refused_by_name(data, tmp_path):
    embedding_model(tmp_path / "m.onnx", 17)
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16", *SHAPE)
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", data / "ids32.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1
    assert 'input "input_ids" is i32, the bundle expects i64' in r.stderr
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("axis,table_shape,constant_table", [(1, [2, 5, 3], False), (-1, [3, 2, 5], True),
                                                              (1, [3, 5], True)])
def test_a_gather_of_computed_indices_along_another_axis(tmp_path, axis, table_shape, constant_table):
    """Per index of the axes before `axis`, one gather of the table's block there: an
    activation table (x times 2) or a constant one, indices negative too."""
    rng = np.random.default_rng(31)
    table = rng.standard_normal(table_shape).astype(np.float32)
    nodes, inits = [], []
    if constant_table:
        inits.append(numpy_helper.from_array(table, "t"))
    else:
        nodes.append(helper.make_node("Mul", ["x", "two"], ["t"], name="table"))
        inits.append(numpy_helper.from_array(np.array(2.0, np.float32), "two"))
    nodes.append(helper.make_node("Gather", ["t", "i"], ["y"], axis=axis, name="pick"))
    inputs = [helper.make_tensor_value_info("i", TensorProto.INT64, [2, 2])]
    if not constant_table:
        inputs.insert(0, helper.make_tensor_value_info("x", TensorProto.FLOAT, table_shape))
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    size = table_shape[axis]
    feeds = {"i": np.array([[0, size - 1], [-1, 2]], np.int64)}
    if not constant_table:
        feeds["x"] = table
    np.savez(tmp_path / "in.npz", **feeds)
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    want = np.take(table if constant_table else table * 2, feeds["i"], axis=axis)
    np.testing.assert_array_equal(np.load(tmp_path / "ref.npz")["y"], want)
    np.testing.assert_array_equal(np.load(tmp_path / "sim.npz")["y"], want)


def test_a_look_up_of_empty_rows(tmp_path):
    """A table of rows with no elements: the look-up still lowers and gives rows of none."""
    table = numpy_helper.from_array(np.zeros((5, 0), np.float32), "t")
    graph = helper.make_graph([helper.make_node("Gather", ["t", "i"], ["y"], axis=0, name="pick")], "g",
                              [helper.make_tensor_value_info("i", TensorProto.INT64, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [table])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", i=np.array([0, 4, -1], np.int64))
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "sim.npz")["y"].shape == (3, 0)
