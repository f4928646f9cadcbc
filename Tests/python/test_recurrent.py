"""LSTM, GRU and RNN, imported unrolled over their known sequence length: forward, reverse
and bidirectional, layout 0 and 1, with and without biases and initial states, clip, GRU's
linear_before_reset, LSTM's peepholes and input_forget: the interpreter computes Y, Y_h and Y_c as onnxruntime does; a
bidirectional LSTM classifier runs on the simulator bit for bit as the fake-quant interpreter
runs it, its steps sharing one packed blob of recurrent weights per direction, also when W, R
and B are computed from stored tensors (the torch.export-based exporter's Unsqueeze of a Concat
of Slices); a sequence length that a dynamic-batch export's shape chain gives unrolls, also
through a chain that multiplies extents (a stacked LSTM's input); what is
not supported is refused by node."""
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT, assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

sys.path.insert(0, str(ROOT / "tools"))
import npub  # noqa: E402

RNG = np.random.default_rng(4242)
S, B, I, H = 5, 2, 6, 4
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def recurrent_model(path, op, direction="forward", layout=0, bias=True, initial=False, peepholes=False, lengths=None,
                    weight_scale=0.5, **attributes):
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    inits = [numpy_helper.from_array((RNG.standard_normal((dirs, g * H, I)) * weight_scale).astype(np.float32), "w"),
             numpy_helper.from_array((RNG.standard_normal((dirs, g * H, H)) * weight_scale).astype(np.float32), "r")]
    inputs = ["x", "w", "r"]
    if bias:
        inits.append(
            numpy_helper.from_array((RNG.standard_normal((dirs, 2 * g * H)) * weight_scale).astype(np.float32), "b"))
    inputs.append("b" if bias else "")
    feeds_shapes = {"x": [B, S, I] if layout else [S, B, I]}
    if initial:
        state = [B, dirs, H] if layout else [dirs, B, H]
        inputs += ["", "h0"] + (["c0"] if op == "LSTM" else [])
        feeds_shapes["h0"] = state
        if op == "LSTM":
            feeds_shapes["c0"] = state
    if lengths is not None:
        inputs += [""] * (5 - len(inputs))
        inputs[4] = "lens"
        inits.append(numpy_helper.from_array(np.array(lengths, np.int32), "lens"))
    if peepholes:
        inputs += [""] * (7 - len(inputs)) + ["p"]
        inits.append(numpy_helper.from_array(RNG.standard_normal((dirs, 3 * H)).astype(np.float32), "p"))
    outputs = ["y", "y_h"] + (["y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, inputs, outputs, hidden_size=H, direction=direction, layout=layout, name="rnn",
                            **attributes)
    graph = helper.make_graph([node], "rnn", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                                              for n, s in feeds_shapes.items()],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), path)
    return {n: RNG.standard_normal(s).astype(np.float32) for n, s in feeds_shapes.items()}


CASES = [
    ("LSTM", dict()), ("LSTM", dict(direction="reverse", initial=True)),
    ("LSTM", dict(direction="bidirectional", layout=1, initial=True)), ("LSTM", dict(bias=False, clip=0.5)),
    ("GRU", dict()), ("GRU", dict(linear_before_reset=1, initial=True)),
    ("GRU", dict(direction="bidirectional", linear_before_reset=1)), ("GRU", dict(layout=1, bias=False)),
    ("RNN", dict()), ("RNN", dict(direction="bidirectional", initial=True, activations=["Relu", "Tanh"])),
    # Activations with parameters, taken in order by the functions that have them (Keras's
    # hard sigmoid gates; the defaults where the lists run out), names in any case.
    ("LSTM", dict(activations=["HardSigmoid", "Tanh", "Tanh"])),
    ("LSTM", dict(direction="bidirectional", activations=["hardsigmoid", "tanh", "tanh", "Sigmoid", "Affine", "ScaledTanh"],
                  activation_alpha=[0.25, 2.0, 0.5, 1.5], activation_beta=[0.45, 0.2, 0.7])),
    # Unbounded gates: weights of a fifth keep the recurrence from growing without bound
    # (at a half it reached millions, within a factor of two of the tolerance).
    ("GRU", dict(activations=["LeakyRelu", "Elu"], activation_alpha=[0.2, 0.9], weight_scale=0.2)),
    ("GRU", dict(activations=["Softsign", "Softplus"])),
    ("RNN", dict(activations=["ThresholdedRelu"], activation_alpha=[0.1])),
    # A clip the cell state outgrows: onnxruntime clips the gates' inputs, not the cell's.
    ("LSTM", dict(clip=0.2, direction="bidirectional")), ("GRU", dict(clip=0.2)),
    # Peepholes: the input and forget gates see the last cell state, the output gate the new one.
    ("LSTM", dict(peepholes=True)), ("LSTM", dict(peepholes=True, direction="bidirectional", initial=True, clip=0.5)),
    # input_forget: the forget gate is one less the input gate.
    ("LSTM", dict(input_forget=1, initial=True)),
    # sequence_lens: past its length an entry's outputs are 0 and its states are held.
    ("LSTM", dict(lengths=[5, 3], initial=True)), ("GRU", dict(lengths=[2, 5], direction="bidirectional")),
    ("RNN", dict(lengths=[0, 4], direction="reverse", initial=True)),
    ("LSTM", dict(lengths=[1, 4], direction="bidirectional", layout=1)),
]


@pytest.mark.parametrize("op,attributes", CASES, ids=[f"{op}-{'-'.join(f'{k}={v}' for k, v in a.items())}" for op, a in CASES])
def test_the_unrolled_recurrence_computes_as_onnxruntime(tmp_path, op, attributes):
    feeds = recurrent_model(tmp_path / "m.onnx", op, **attributes)
    if attributes.get("layout"):
        # onnxruntime runs layout 0 only: the same node and weights in layout 0, on the inputs
        # with their first two axes swapped, and its outputs swapped back.
        model = onnx.load(str(tmp_path / "m.onnx"))
        next(a for a in model.graph.node[0].attribute if a.name == "layout").i = 0
        for value in model.graph.input:
            dims = value.type.tensor_type.shape.dim
            dims[0].dim_value, dims[1].dim_value = dims[1].dim_value, dims[0].dim_value
        onnx.save(model, str(tmp_path / "m0.onnx"))
        swapped = {n: np.ascontiguousarray(v.swapaxes(0, 1)) for n, v in feeds.items()}
        _, theirs = interpreted_and_onnxruntime(tmp_path / "m0.onnx", swapped, tmp_path)
        want = {n: v.transpose(2, 0, 1, 3) if n == "y" else v.swapaxes(0, 1) for n, v in theirs.items()}
        np.savez(tmp_path / "batch_first.npz", **feeds)
        r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "batch_first.npz", "--outputs",
                      tmp_path / "got.npz")
        assert r.returncode == 0, r.stderr
        got = dict(np.load(tmp_path / "got.npz"))
    else:
        got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", feeds, tmp_path)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name].shape == want[name].shape, name
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5, err_msg=name)


def computed_weights_model(path, op, direction="forward", **attributes):
    """The weights as the torch.export-based exporter writes them for a large enough layer:
    W, R and B computed from the module's own tensors (R as Unsqueeze(Concat(Slice(weight_hh)))),
    not stored as initializers of the node's layout; x [S, 1, I] in a [1, S, 3] classifier."""
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    inits, nodes, parts = [], [], {"w": [], "r": [], "b": []}
    for d in range(dirs):
        for name, shape in [("w", (g * H, I)), ("r", (g * H, H)), ("b", (2 * g * H,))]:
            raw = f"{name}{d}_raw"
            inits.append(numpy_helper.from_array((RNG.standard_normal(shape) / 2).astype(np.float32), raw))
            halves = [f"{raw}_lo", f"{raw}_hi"]
            cut = shape[0] // 2
            for half, (start, end) in zip(halves, [(0, cut), (cut, shape[0])]):
                nodes.append(helper.make_node("Slice", [raw, f"s{start}", f"e{end}", "axis0"], [half]))
            nodes.append(helper.make_node("Concat", halves, [f"{name}{d}"], axis=0))
            nodes.append(helper.make_node("Unsqueeze", [f"{name}{d}", "axis0"], [f"{name}{d}_3d"]))
            parts[name].append(f"{name}{d}_3d")
    for name, values in parts.items():
        nodes.append(helper.make_node("Concat", values, [name], axis=0) if dirs == 2 else
                     helper.make_node("Identity", values, [name]))
    bounds = {v for n in nodes if n.op_type == "Slice" for v in n.input[1:3]}
    inits += [numpy_helper.from_array(np.array([int(v[1:])], np.int64), v) for v in sorted(bounds)]
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axis0"))
    inits.append(numpy_helper.from_array((RNG.standard_normal((dirs * H, 3)) / 2).astype(np.float32), "fc"))
    inits.append(numpy_helper.from_array(np.array([1, -1], np.int64), "flat"))
    nodes += [helper.make_node(op, ["x", "w", "r", "b"], ["", "h"], hidden_size=H, direction=direction, name="rnn",
                               **attributes),
              helper.make_node("Reshape", ["h", "flat"], ["hf"]),
              helper.make_node("MatMul", ["hf", "fc"], ["y"], name="fc")]
    graph = helper.make_graph(nodes, "computed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [S, 1, I])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), path)


@pytest.mark.parametrize("op,attributes", [("LSTM", {}), ("LSTM", dict(direction="bidirectional")),
                                           ("GRU", dict(linear_before_reset=1)), ("RNN", {})])
def test_weights_computed_from_constants_unroll_as_stored_ones(tmp_path, op, attributes):
    computed_weights_model(tmp_path / "m.onnx", op, **attributes)
    x = RNG.standard_normal((S, 1, I)).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-5)
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, S, 1, I)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "nvfp4", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
    # The steps' recurrent weights are folded into one constant a direction, which they share.
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    dirs = 2 if attributes.get("direction") == "bidirectional" else 1
    products = (2 if op == "GRU" else 1) * (S - 1)  # GRU: its gates' and its hidden gate's
    assert f"({dirs * (products - (2 if op == 'GRU' else 1))} sharing another's weights)" in r.stdout, r.stdout


def classifier(path, **lstm_attributes):
    """x [1, S, I] -> bidirectional LSTM (layout 1, `lstm_attributes`) -> both directions'
    last hidden states -> a classifier Gemm."""
    inits = [numpy_helper.from_array((RNG.standard_normal((2, 4 * H, I)) / 2).astype(np.float32), "w"),
             numpy_helper.from_array((RNG.standard_normal((2, 4 * H, H)) / 2).astype(np.float32), "r"),
             numpy_helper.from_array((RNG.standard_normal((2, 8 * H)) / 2).astype(np.float32), "b"),
             numpy_helper.from_array((RNG.standard_normal((2 * H, 3)) / 2).astype(np.float32), "fc"),
             numpy_helper.from_array(np.array([1, -1], np.int64), "flat")]
    nodes = [helper.make_node("LSTM", ["x", "w", "r", "b"], ["", "h"], hidden_size=H, direction="bidirectional",
                              layout=1, name="lstm", **lstm_attributes),
             helper.make_node("Reshape", ["h", "flat"], ["hf"]),
             helper.make_node("MatMul", ["hf", "fc"], ["y"], name="fc")]
    graph = helper.make_graph(nodes, "classifier", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, S, I])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), path)


def rows_of_a_dynamic_batch(path):
    """timm's Sequencer2D, exported with a dynamic batch: x [N, 3, S, I] is read row by row,
    Reshape(x, [-1, S, I]) with S and I taken from Shape(x) by Gather, Unsqueeze and Concat,
    made steps-first by a Transpose, into a bidirectional LSTM; the declared types leave every
    extent but the last symbolic. `--input-shape` fixes N, and the chain then gives the sequence length."""
    inits = [numpy_helper.from_array((RNG.standard_normal((2, 4 * H, I)) / 2).astype(np.float32), "w"),
             numpy_helper.from_array((RNG.standard_normal((2, 4 * H, H)) / 2).astype(np.float32), "r"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
             numpy_helper.from_array(np.array(2, np.int64), "two"), numpy_helper.from_array(np.array(3, np.int64), "three"),
             numpy_helper.from_array(np.array([0], np.int64), "zero")]
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "two"], ["steps"], axis=0),
             helper.make_node("Gather", ["s", "three"], ["features"], axis=0),
             helper.make_node("Unsqueeze", ["steps", "zero"], ["steps1"]),
             helper.make_node("Unsqueeze", ["features", "zero"], ["features1"]),
             helper.make_node("Concat", ["minus_one", "steps1", "features1"], ["rows_shape"], axis=0),
             helper.make_node("Reshape", ["x", "rows_shape"], ["rows"]),
             helper.make_node("Transpose", ["rows"], ["steps_first"], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["steps_first", "w", "r"], ["y4"], hidden_size=H, direction="bidirectional",
                              name="lstm"),
             helper.make_node("Reshape", ["y4", "minus_one"], ["y"])]
    graph = helper.make_graph(nodes, "rows", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, S, I])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M"])], inits,
                              value_info=[helper.make_tensor_value_info("rows", TensorProto.FLOAT, ["a", "b", I])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), path)


def test_a_sequence_length_a_shape_chain_gives_unrolls(tmp_path):
    rows_of_a_dynamic_batch(tmp_path / "m.onnx")
    x = RNG.standard_normal((1, 3, S, I)).astype(np.float32)
    fixed = ["--input-shape", f"x=1,3,{S},{I}"]
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ours.npz", *fixed)
    assert r.returncode == 0, r.stderr
    import onnxruntime as ort
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "ours.npz")["y"], theirs, rtol=1e-5, atol=1e-5)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 1, 3, S, I)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "nvfp4", "none",
                                        tmp_path / "calib.npz", extra=fixed)
    assert_same_bits(sim, fq, ["y"])
    # Without the batch fixed, the sequence length is still known from the declared extent.
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "free.npz")
    assert r.returncode == 0, r.stderr


def stacked_lstms(path):
    """Two LSTMs as the torch.export-based exporter writes a 2-layer nn.LSTM: the second's
    input is the first's Y [S, 1, N, H] transposed to [S, N, 1, H] and reshaped to
    [S, N, H] by a shape chain that multiplies the last two extents (Shape, Slices, Mul,
    Reshape to [-1], Concat), declared with every extent unknown."""
    ints = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)
    weights = lambda name, shape: numpy_helper.from_array((RNG.standard_normal(shape) * 0.5).astype(np.float32), name)
    inits = [weights("w0", (1, 4 * H, I)), weights("r0", (1, 4 * H, H)), weights("b0", (1, 8 * H)),
             weights("w1", (1, 4 * H, H)), weights("r1", (1, 4 * H, H)), weights("b1", (1, 8 * H)),
             ints("k0", [0]), ints("k1", [1]), ints("k2", [2]), ints("k3", [3]), ints("k4", [4]), ints("minus_one", [-1])]
    nodes = [helper.make_node("LSTM", ["x", "w0", "r0", "b0"], ["y0"], hidden_size=H),
             helper.make_node("Transpose", ["y0"], ["t0"], perm=[0, 2, 1, 3]),
             helper.make_node("Shape", ["t0"], ["shape"]),
             helper.make_node("Slice", ["shape", "k0", "k1", "k0"], ["steps"]),
             helper.make_node("Slice", ["shape", "k1", "k2", "k0"], ["batch"]),
             helper.make_node("Slice", ["shape", "k2", "k3", "k0"], ["dirs"]),
             helper.make_node("Slice", ["shape", "k3", "k4", "k0"], ["hidden"]),
             helper.make_node("Mul", ["dirs", "hidden"], ["width_"]),
             helper.make_node("Reshape", ["width_", "minus_one"], ["width"]),
             helper.make_node("Concat", ["steps", "batch", "width"], ["flat_shape"], axis=0),
             helper.make_node("Reshape", ["t0", "flat_shape"], ["x1"]),
             helper.make_node("LSTM", ["x1", "w1", "r1", "b1"], ["y1"], hidden_size=H)]
    graph = helper.make_graph(nodes, "stacked", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [S, "N", I])],
                              [helper.make_tensor_value_info("y1", TensorProto.FLOAT, None)], inits,
                              value_info=[helper.make_tensor_value_info("x1", TensorProto.FLOAT, [None, None, None])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


def test_a_layer_fed_by_a_shape_chain_that_multiplies_extents_unrolls(tmp_path):
    stacked_lstms(tmp_path / "m.onnx")
    x = RNG.standard_normal((S, B, I)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    # The batch left symbolic: the chain still gives the second LSTM its S steps.
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ours.npz")
    assert r.returncode == 0, r.stderr
    import onnxruntime as ort
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "ours.npz")["y1"], theirs, rtol=1e-5, atol=1e-5)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, S, B, I)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp8", "none",
                                        tmp_path / "calib.npz", extra=["--input-shape", f"x={S},{B},{I}"])
    assert_same_bits(sim, fq, ["y1"])


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
@pytest.mark.parametrize("gates", ["sigmoid", "hard sigmoid"])
def test_a_bidirectional_lstm_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision, gates):
    keras = dict(activations=["HardSigmoid", "Tanh", "Tanh"] * 2, activation_alpha=[1 / 6, 1 / 6],
                 activation_beta=[0.5, 0.5])
    classifier(tmp_path / "m.onnx", **(keras if gates == "hard sigmoid" else {}))
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((1, S, I)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 1, S, I)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
    # Each direction's steps share one packed blob of their recurrent weights, decoded alike.
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", precision,
                  "--calib", tmp_path / "calib.npz")
    assert r.returncode == 0, r.stderr
    steps = 2 * (S - 1)
    assert f"{steps + 3} layers ({steps - 2} sharing another's weights)" in r.stdout, r.stdout
    decoded = npub.decode_weights(tmp_path / "m.npub")
    for direction in ["d0", "d1"]:
        shared = [v for k, v in decoded.items() if k.startswith(f"lstm/LSTM_{direction}_t") and k.endswith("_recurrent")]
        assert len(shared) == S - 1 and all(np.array_equal(shared[0], v) for v in shared), direction
        assert shared[0].shape == (H, 4 * H)


def test_automatic_precision_counts_the_steps_shared_weights_once(tmp_path):
    """The unrolled steps read one recurrent weight per direction: a size budget counts it once
    (the bundle stays within it), and the steps take one precision, so they still share it and
    the status line names them once."""
    import re
    classifier(tmp_path / "m.onnx")
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 1, S, I)).astype(np.float32))
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "fp16.npub", "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    fp16_bytes = int(re.search(r"weights in (\d+) bytes", r.stdout).group(1))
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "auto",
                  "--calib", tmp_path / "calib.npz", "--budget", "size=0.4")
    assert r.returncode == 0, r.stderr
    predicted = int(re.search(r"weights (\d+) bytes, predicted", r.stdout).group(1))
    stored = int(re.search(r"weights in (\d+) bytes", r.stdout).group(1))
    assert predicted <= 0.4 * fp16_bytes
    # Packed blobs are 64-byte aligned and carry their block scales: a little over the prediction.
    assert predicted <= stored <= predicted + 64 * 5 + 0.05 * predicted, r.stdout
    steps = 2 * (S - 1)
    assert f"{steps + 3} layers ({steps - 2} sharing another's weights)" in r.stdout, r.stdout
    # The status line lists each direction's steps as one entry with their one choice.
    line = next(l for l in r.stdout.splitlines() if l.startswith("precision auto:"))
    entries = re.sub(r"^.*predicted error [^:]*: ", "", line).split(", ")
    shared = [e for e in entries if f"({S - 1} layers of one weight)=" in e]
    assert len(shared) == 2 and len(entries) == 5, line


@pytest.mark.parametrize("attributes,extra,message", [
    (dict(activations=["Sigmoid", "Mish", "Tanh"]), None, 'activation "Mish" is not one of Affine, Elu, HardSigmoid'),
    (dict(activations=["Sigmoid", "Tanh"]), None, "are not 3 (3 per direction)"),
    (dict(), "lens", 'sequence_lens "lens" must be a constant'),
])
def test_what_is_not_supported_is_refused_by_node(tmp_path, attributes, extra, message):
    recurrent_model(tmp_path / "m.onnx", "LSTM", **attributes)
    if extra:
        model = onnx.load(str(tmp_path / "m.onnx"))
        # Lengths the model is given when it runs, not constants.
        model.graph.input.append(helper.make_tensor_value_info("lens", TensorProto.INT32, [B]))
        model.graph.node[0].input.append("lens")
        onnx.save(model, str(tmp_path / "m.onnx"))
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 1
    assert 'node LSTM "rnn" (opset 14)' in r.stderr and message in r.stderr, r.stderr


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_sequences_of_their_own_lengths_run_on_the_simulator_as_the_interpreter_runs_them(tmp_path, op):
    """sequence_lens [5, 2]: the held states and zeroed outputs lower as the rest does."""
    feeds = recurrent_model(tmp_path / "m.onnx", op, direction="bidirectional", initial=True, lengths=[S, 2])
    np.savez(tmp_path / "x.npz", **feeds)
    np.savez(tmp_path / "calib.npz", **{n: RNG.standard_normal((4, *v.shape)).astype(np.float32) for n, v in feeds.items()})
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, sorted(fq.files))
    assert (fq["y"][2:, :, 1] == 0).all() and (fq["y"][:2, :, 1] != 0).any()
