"""Integer arithmetic on the vector unit, as exporters leave it when index math depends on the
input and does not fold: Add, Sub, Mul, Div, Mod (both signs), Neg, Abs, Max, Min, Relu, Sign, Clip, the
comparisons and Where on int64 and int32 tensors, and Casts between float32, bool, int32 and
int64 (float to int truncates toward zero). The bundle runs bit for bit as the interpreter runs
the model, on values at the types' edges (wraparound, Int64.min / -1, a zero divisor, 2^53 + 1
against 2^53, NaN and infinities cast); the interpreter follows numpy's wrapping arithmetic and
truncated division, and onnxruntime on a relative-position bucket model as T5 exports it.
Integer and bool tensors move as float32 ones do (Slice, Concat, Transpose, Expand, Gather,
Split, Pad, Tile: copies; a constant Pad of integers reads its pad value from the constants)."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_compile_refuses, assert_same_bits, run_npucc

I64, I32 = np.iinfo(np.int64), np.iinfo(np.int32)
WIDTH = 12


def edge_inputs(path):
    """x float32, i and j int64, k and l int32, each [2, WIDTH]: the types' extremes, signs,
    zero divisors and ordinary values."""
    i = np.array([[I64.min, I64.min, I64.max, I64.max, -7, 7, -7, 0, 2**53 + 1, 2**40, -1, 5],
                  [3, -3, 100, -100, 2**62, -2**62, 9, 1, 2**31, -2**31 - 1, 12, 0]], np.int64)
    j = np.array([[-1, 1, 1, -1, 2, -2, -2, 5, 2**53, 2**23, 0, 0],
                  [3, 4, -7, -7, 4, 4, 2, 0, -1, 3, 12, -5]], np.int64)
    k = np.array([[I32.min, I32.min, I32.max, I32.max, -7, 7, -7, 0, 65536, 46341, -1, 5],
                  [3, -3, 100, -100, 2**30, -2**30, 9, 1, 2**31 - 2, -2**31 + 1, 12, 0]], np.int32)
    l = np.array([[-1, 1, 1, -1, 2, -2, -2, 5, 65536, 46341, 0, 0],
                  [3, 4, -7, -7, 4, 4, 2, 0, -1, 3, 12, -5]], np.int32)
    x = np.array([[np.nan, np.inf, -np.inf, 0.0, -0.0, 2.5, -2.5, 0.999, -0.999, 3e9, -3e9, 1e20],
                  [16777217.0, -7.5, 7.5, 1e-40, 2147483520.0, -2147483648.0, 123.75, -1.5, 9.2e18, -9.3e18, 1.0, -1.0]],
                 np.float32)
    np.savez(path, x=x, i=i, j=j, k=k, l=l)
    return dict(x=x, i=i, j=j, k=k, l=l)


def edge_model(path, opset):
    """Every integer op on (i, j) and (k, l), each result cast to float32 for the output."""
    inits = [numpy_helper.from_array(np.array(-3, np.int64), "lo64"), numpy_helper.from_array(np.array(9, np.int64), "hi64"),
             numpy_helper.from_array(np.array(-3, np.int32), "lo32"), numpy_helper.from_array(np.array(9, np.int32), "hi32"),
             numpy_helper.from_array(np.array([2] * WIDTH, np.int64), "row64"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    nodes, outputs = [], []

    def out(name, value):
        nodes.append(helper.make_node("Cast", [value], [name], to=TensorProto.FLOAT, name=f"{name}.float"))
        outputs.append(name)

    for a, b, bits in [("i", "j", "64"), ("k", "l", "32")]:
        for op in ["Add", "Sub", "Mul", "Div", "Max", "Min", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]:
            nodes.append(helper.make_node(op, [a, b], [f"{op}{bits}"], name=f"{op}{bits}"))
            out(f"{op.lower()}{bits}", f"{op}{bits}")
        for name, fmod in [("Mod", 0), ("Fmod", 1)]:
            nodes.append(helper.make_node("Mod", [a, b], [f"{name}{bits}"], fmod=fmod, name=f"{name}{bits}"))
            out(f"{name.lower()}{bits}", f"{name}{bits}")
        for op in ["Neg", "Abs", "Relu", "Sign"]:
            nodes.append(helper.make_node(op, [a], [f"{op}{bits}"], name=f"{op}{bits}"))
            out(f"{op.lower()}{bits}", f"{op}{bits}")
        nodes += [helper.make_node("Clip", [a, f"lo{bits}", f"hi{bits}"], [f"Clip{bits}"], name=f"Clip{bits}"),
                  helper.make_node("Where", [f"Greater{bits}", a, f"Clip{bits}"], [f"Where{bits}"], name=f"Where{bits}"),
                  helper.make_node("Cast", [a], [f"Bool{bits}"], to=TensorProto.BOOL, name=f"Bool{bits}"),
                  helper.make_node("Cast", ["x"], [f"Trunc{bits}"], to=getattr(TensorProto, f"INT{bits}"),
                                   name=f"Trunc{bits}"),
                  helper.make_node("Sum", [a, b, a], [f"Sum{bits}"], name=f"Sum{bits}")]
        for name in ["Clip", "Where", "Bool", "Trunc", "Sum"]:
            out(f"{name.lower()}{bits}", f"{name}{bits}")
    nodes += [helper.make_node("Cast", ["i"], ["Narrow"], to=TensorProto.INT32, name="narrow"),
              helper.make_node("Cast", ["k"], ["Widen"], to=TensorProto.INT64, name="widen"),
              helper.make_node("Greater", ["x", "zero"], ["positive"], name="positive"),
              helper.make_node("Cast", ["positive"], ["Mask64"], to=TensorProto.INT64, name="mask64"),
              helper.make_node("Mul", ["i", "row64"], ["Twice"], name="twice"),
              helper.make_node("Sub", ["Widen", "i"], ["Mixed"], name="mixed"),
              helper.make_node("Cast", ["j"], ["j_float"], to=TensorProto.FLOAT, name="j_float"),
              helper.make_node("Mod", ["x", "j_float"], ["remainder"], fmod=1, name="remainder")]
    outputs.append("remainder")
    for name in ["Narrow", "Widen", "Mask64", "Twice", "Mixed"]:
        out(name.lower(), name)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", WIDTH])] + [
        helper.make_tensor_value_info(n, t, ["batch", WIDTH])
        for n, t in [("i", TensorProto.INT64), ("j", TensorProto.INT64), ("k", TensorProto.INT32), ("l", TensorProto.INT32)]]
    graph = helper.make_graph(nodes, "integers", inputs,
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["batch", WIDTH]) for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return outputs


SHAPES = [a for n in "xijkl" for a in ("--input-shape", f"{n}=2,{WIDTH}")]


def run_both(model, inputs, folder, shapes=SHAPES):
    """The bundle on the simulator and the model on the interpreter, both at fp16, with the
    input shapes `shapes` fixes."""
    r = run_npucc("compile", model, "-o", folder / "m.npub", "--precision", "fp16", *shapes)
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", folder / "m.npub", "--inputs", inputs, "--outputs", folder / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", model, "--inputs", inputs, "--outputs", folder / "ref.npz", "--precision", "fp16", *shapes)
    assert r.returncode == 0, r.stderr
    return np.load(folder / "sim.npz"), np.load(folder / "ref.npz")


@pytest.mark.parametrize("opset", [13, 17])
def test_integer_ops_run_on_the_simulator_as_the_interpreter_runs_them(tmp_path, opset):
    edge_inputs(tmp_path / "in.npz")
    outputs = edge_model(tmp_path / "m.onnx", opset)
    sim, ref = run_both(tmp_path / "m.onnx", tmp_path / "in.npz", tmp_path)
    assert_same_bits(sim, ref, outputs)


def wrapping(op, a, b):
    """numpy's wrapping integer arithmetic; Div truncated toward zero, a zero divisor giving 0."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if op == "div":
            safe = np.where(b == 0, 1, b)
            q = np.abs(a).astype(np.uint64) // np.abs(safe).astype(np.uint64)
            q = np.where((a < 0) != (safe < 0), (0 - q.astype(np.uint64)), q).astype(a.dtype)
            return np.where(b == 0, 0, q).astype(a.dtype)
        return {"add": np.add, "sub": np.subtract, "mul": np.multiply, "max": np.maximum, "min": np.minimum}[op](a, b)


def test_the_interpreter_wraps_and_truncates_as_numpy_does(tmp_path):
    v = edge_inputs(tmp_path / "in.npz")
    edge_model(tmp_path / "m.onnx", 17)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "ref.npz", *SHAPES)
    assert r.returncode == 0, r.stderr
    ref = np.load(tmp_path / "ref.npz")
    for a, b, bits in [("i", "j", "64"), ("k", "l", "32")]:
        for op in ["add", "sub", "mul", "div", "max", "min"]:
            np.testing.assert_array_equal(ref[op + bits], wrapping(op, v[a], v[b]).astype(np.float32), err_msg=op + bits)
        with np.errstate(divide="ignore", invalid="ignore"):
            safe = np.where(v[b] == 0, 1, v[b])
            np.testing.assert_array_equal(ref["mod" + bits], np.where(v[b] == 0, 0, np.mod(v[a], safe)).astype(np.float32))
            np.testing.assert_array_equal(ref["fmod" + bits], np.where(v[b] == 0, 0, np.fmod(v[a], safe)).astype(np.float32))
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(ref["neg" + bits], (-v[a]).astype(np.float32))
            np.testing.assert_array_equal(ref["abs" + bits], np.abs(v[a]).astype(np.float32))
        for op, f in [("equal", np.equal), ("less", np.less), ("greater_equal", np.greater_equal)]:
            name = {"equal": "equal", "less": "less", "greater_equal": "greaterorequal"}[op]
            np.testing.assert_array_equal(ref[name + bits], f(v[a], v[b]).astype(np.float32), err_msg=name + bits)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(ref["remainder"], np.fmod(v["x"], v["j"].astype(np.float32)))
    # -7 mod 2 = 1 (the divisor's sign), -7 fmod 2 = -1 (the dividend's).
    assert ref["mod64"][0, 4] == 1 and ref["fmod64"][0, 4] == -1 and ref["mod64"][0, 5] == -1
    # 2^53 + 1 and 2^53 differ, though they are one double.
    assert ref["equal64"][0, 8] == 0 and ref["greater64"][0, 8] == 1
    # Int64.min / -1 wraps; 7 / -2 and -7 / 2 truncate toward zero.
    assert ref["div64"][0, 0] == np.float32(I64.min) and ref["div64"][0, 5] == -3 and ref["div64"][0, 4] == -3
    # Float to int truncates toward zero; NaN gives 0; past int64's range saturates, and an
    # int32 keeps the low 32 bits of that.
    x = v["x"]
    expected64 = np.array([0 if np.isnan(f) else (I64.max if f >= 2.0**63 else I64.min if f < -2.0**63 else int(f))
                           for f in x.ravel().astype(np.float64)], np.int64).reshape(x.shape)
    np.testing.assert_array_equal(ref["trunc64"], expected64.astype(np.float32))
    np.testing.assert_array_equal(ref["trunc32"], expected64.astype(np.int32).astype(np.float32))
    assert ref["trunc32"][0, 9] == np.float32(-1294967296) and ref["trunc32"][0, 11] == -1


def bucket_model(path, opset):
    """T5's relative position bucket on input-dependent positions: rel = j - i; small
    distances are their own bucket, larger ones log-spaced (Log of a float, cast back to
    int64, clamped); the sign adds half the buckets; the bucket picks an embedding row."""
    rng = np.random.default_rng(5)
    c = lambda name, value, dtype: numpy_helper.from_array(np.asarray(value, dtype), name)
    inits = [c("zero", 0, np.int64), c("exact", 4, np.int64), c("exact_f", 4.0, np.float32),
             c("spread", 1.4426950, np.float32), c("top", 7, np.int64), c("half", 8, np.int64),
             c("table", rng.standard_normal((16, 6)), np.float32)]
    nodes = [helper.make_node("Sub", ["j", "i"], ["rel"], name="rel"),
             helper.make_node("Less", ["rel", "zero"], ["negative"], name="negative"),
             helper.make_node("Cast", ["negative"], ["negative_i"], to=TensorProto.INT64, name="negative_i"),
             helper.make_node("Mul", ["negative_i", "half"], ["offset"], name="offset"),
             helper.make_node("Abs", ["rel"], ["distance"], name="distance"),
             helper.make_node("Less", ["distance", "exact"], ["small"], name="small"),
             helper.make_node("Cast", ["distance"], ["distance_f"], to=TensorProto.FLOAT, name="distance_f"),
             helper.make_node("Div", ["distance_f", "exact_f"], ["ratio"], name="ratio"),
             helper.make_node("Log", ["ratio"], ["log"], name="log"),
             helper.make_node("Mul", ["log", "spread"], ["scaled"], name="scaled"),
             helper.make_node("Cast", ["scaled"], ["scaled_i"], to=TensorProto.INT64, name="scaled_i"),
             helper.make_node("Add", ["scaled_i", "exact"], ["large"], name="large"),
             helper.make_node("Min", ["large", "top"], ["large_clamped"], name="large_clamped"),
             helper.make_node("Where", ["small", "distance", "large_clamped"], ["bucket0"], name="bucket0"),
             helper.make_node("Add", ["bucket0", "offset"], ["bucket"], name="bucket"),
             helper.make_node("Gather", ["table", "bucket"], ["y"], axis=0, name="embedding")]
    graph = helper.make_graph(nodes, "buckets", [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", 8]) for n in "ij"],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8, 6])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.mark.parametrize("opset", [12, 17])
def test_a_relative_position_bucket_runs_as_onnxruntime_and_the_interpreter_run_it(tmp_path, opset):
    bucket_model(tmp_path / "m.onnx", opset)
    rng = np.random.default_rng(opset)
    i, j = rng.integers(0, 64, (2, 3, 8)).astype(np.int64)
    j[0, :4] = i[0, :4]  # distance 0
    np.savez(tmp_path / "in.npz", i=i, j=j)
    sim, ref = run_both(tmp_path / "m.onnx", tmp_path / "in.npz", tmp_path,
                        ["--input-shape", "i=3,8", "--input-shape", "j=3,8"])
    assert_same_bits(sim, ref, ["y"])
    ref = ref["y"]
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(ref, session.run(None, {"i": i, "j": j})[0])


def test_an_integer_op_the_vector_unit_lacks_is_refused_by_name(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Pow", ["i", "i"], ["p"], name="power"),
         helper.make_node("Cast", ["p"], ["y"], to=TensorProto.FLOAT, name="float")], "g",
        [helper.make_tensor_value_info("i", TensorProto.INT64, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    assert_compile_refuses(tmp_path / "m.onnx", tmp_path,
                           'node Pow "power" (opset 13): cannot lower Pow on i64: the vector unit has no integer pow')


def save_model(path, nodes, inputs, outputs, inits, opset):
    """Saves a checked model of `inputs` (name, type, shape) and float32 `outputs` (name:
    shape); returns the output names."""
    graph = helper.make_graph(nodes, path.stem, [helper.make_tensor_value_info(*i) for i in inputs],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, s) for o, s in outputs.items()], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return list(outputs)


def moved_model(path, opset, index_type):
    """Token ids moved as exporters move them before an embedding: a Slice of the last ids, a
    Concat with a shifted copy, a Transpose, an Expand of one row, a Gather of constant
    positions, a Split, an edge Pad and a Tile; a bool mask concatenated and transposed; each
    result looks up a float32 table (a computed Gather) or is cast to float32."""
    rng = np.random.default_rng(9)
    dt = np.int64 if index_type == TensorProto.INT64 else np.int32
    c = lambda name, value, dtype=np.int64: numpy_helper.from_array(np.asarray(value, dtype), name)
    inits = [c("table", rng.standard_normal((64, 3)), np.float32), c("starts", [2]), c("ends", [8]), c("axis1", [1]),
             c("positions", [0, 3, 3, 7]), c("shape", [3, 2, 8]), c("pads", [0, 1, 0, 2]), c("repeats", [2, 1]),
             c("one", 1, dt), c("zero_f", 0.0, np.float32)]
    if opset >= 13:
        inits.append(c("halves", [4, 4]))
    split = dict(inputs=["ids", "halves"]) if opset >= 13 else dict(inputs=["ids"], split=[4, 4])
    nodes = [helper.make_node("Slice", ["ids", "starts", "ends", "axis1"], ["tail"], name="slice"),
             helper.make_node("Add", ["ids", "one"], ["shifted"], name="shift"),
             helper.make_node("Concat", ["ids", "shifted"], ["joined"], axis=1, name="concat"),
             helper.make_node("Transpose", ["joined"], ["transposed"], perm=[1, 0], name="transpose"),
             helper.make_node("Unsqueeze", ["ids", "axis1"] if opset >= 13 else ["ids"], ["rows"], name="unsqueeze",
                              **({} if opset >= 13 else {"axes": [1]})),
             helper.make_node("Expand", ["rows", "shape"], ["expanded"], name="expand"),
             helper.make_node("Gather", ["ids", "positions"], ["picked"], axis=1, name="pick"),
             helper.make_node("Split", split["inputs"], ["left", "right"], axis=1, name="split",
                              **({k: v for k, v in split.items() if k != "inputs"})),
             helper.make_node("Pad", ["left", "pads"], ["padded"], mode="edge", name="pad"),
             helper.make_node("Tile", ["right", "repeats"], ["tiled"], name="tile"),
             helper.make_node("Greater", ["x", "zero_f"], ["mask"], name="mask"),
             helper.make_node("Concat", ["mask", "mask"], ["masks"], axis=0, name="masks"),
             helper.make_node("Transpose", ["masks"], ["masks_t"], perm=[1, 0], name="masks_t"),
             helper.make_node("Cast", ["masks_t"], ["mask_out"], to=TensorProto.FLOAT, name="mask_out")]
    outputs = {"mask_out": [8, 6]}
    for value, shape in [("tail", [3, 6]), ("transposed", [16, 3]), ("expanded", [3, 2, 8]), ("picked", [3, 4]),
                         ("padded", [3, 7]), ("tiled", [6, 4]), ("right", [3, 4])]:
        nodes.append(helper.make_node("Gather", ["table", value], [value + "_out"], axis=0, name=value + "_lookup"))
        outputs[value + "_out"] = shape + [3]
    return save_model(path, nodes, [("ids", index_type, ["batch", 8]), ("x", TensorProto.FLOAT, [3, 8])], outputs, inits,
                      opset)


def check_against_both(folder, outputs, feeds):
    """Runs folder/m.onnx (ids fixed to [3, 8]) on `feeds`: the bundle bit for bit as the
    interpreter, and the interpreter exactly as onnxruntime; returns the interpreter's outputs."""
    np.savez(folder / "in.npz", **feeds)
    sim, ref = run_both(folder / "m.onnx", folder / "in.npz", folder, ["--input-shape", "ids=3,8"])
    assert_same_bits(sim, ref, outputs)
    session = ort.InferenceSession(str(folder / "m.onnx"), providers=["CPUExecutionProvider"])
    for name, theirs in zip(outputs, session.run(None, feeds)):
        np.testing.assert_array_equal(ref[name], theirs, err_msg=name)
    return ref


@pytest.mark.parametrize("opset,index_type", [(11, TensorProto.INT64), (13, TensorProto.INT32), (17, TensorProto.INT64)])
def test_integer_and_bool_tensors_move_as_copies(tmp_path, opset, index_type):
    outputs = moved_model(tmp_path / "m.onnx", opset, index_type)
    rng = np.random.default_rng(opset)
    ids = rng.integers(0, 63, (3, 8)).astype(np.int64 if index_type == TensorProto.INT64 else np.int32)
    x = rng.standard_normal((3, 8)).astype(np.float32)
    check_against_both(tmp_path, outputs, dict(ids=ids, x=x))


def test_a_constant_pad_of_integers_writes_its_exact_pad_value(tmp_path):
    # int64 padded with 2^40 + 3 (not a float32), then 2^40 taken away: 3 exactly where padded;
    # int32 padded with -7 on both sides of both axes.
    big = 2**40
    nodes = [helper.make_node("Pad", ["ids", "pads", "value64"], ["padded64"], name="pad64"),
             helper.make_node("Sub", ["padded64", "big"], ["shifted"], name="shifted"),
             helper.make_node("Cast", ["shifted"], ["out64"], to=TensorProto.FLOAT, name="out64"),
             helper.make_node("Cast", ["ids"], ["ids32"], to=TensorProto.INT32, name="ids32"),
             helper.make_node("Pad", ["ids32", "pads2", "value32"], ["padded32"], name="pad32"),
             helper.make_node("Cast", ["padded32"], ["out32"], to=TensorProto.FLOAT, name="out32")]
    inits = [numpy_helper.from_array(np.array([0, 1, 0, 2], np.int64), "pads"),
             numpy_helper.from_array(np.array(big + 3, np.int64), "value64"),
             numpy_helper.from_array(np.array(big, np.int64), "big"),
             numpy_helper.from_array(np.array([1, 2, 1, 2], np.int64), "pads2"),
             numpy_helper.from_array(np.array(-7, np.int32), "value32")]
    outputs = save_model(tmp_path / "m.onnx", nodes, [("ids", TensorProto.INT64, ["batch", 8])],
                         {"out64": [3, 11], "out32": [5, 12]}, inits, 13)
    ids = np.random.default_rng(2).integers(0, 63, (3, 8)).astype(np.int64)
    ref = check_against_both(tmp_path, outputs, dict(ids=ids))
    assert (ref["out64"][:, 0] == 3).all() and (ref["out64"][:, 9:] == 3).all()
    np.testing.assert_array_equal(ref["out64"][:, 1:9], (ids - big).astype(np.float32))
    assert (ref["out32"][0] == -7).all() and (ref["out32"][:, :2] == -7).all()


def pooled_token_model(path, opset):
    """CLIP's text pooling as exported: the hidden state of each sequence's end token, found
    as the ArgMax of the ids (int64) and gathered from the flattened [N * S, H] states by
    row * S + position; and ArgMax / ArgMin of float32 scores, the last of ties or the first."""
    rng = np.random.default_rng(12)
    c = lambda name, value, dtype=np.int64: numpy_helper.from_array(np.asarray(value, dtype), name)
    inits = [c("table", rng.standard_normal((50, 5)), np.float32), c("rows", [0, 8, 16]), c("flat", [24, 5])]
    nodes = [helper.make_node("Gather", ["table", "ids"], ["hidden"], axis=0, name="embed"),
             helper.make_node("Reshape", ["hidden", "flat"], ["states"], name="flatten"),
             helper.make_node("ArgMax", ["ids"], ["end"], axis=-1, keepdims=0, name="end"),
             helper.make_node("Add", ["rows", "end"], ["index"], name="index"),
             helper.make_node("Gather", ["states", "index"], ["pooled"], axis=0, name="pool"),
             helper.make_node("ArgMax", ["scores"], ["top"], axis=1, keepdims=1, select_last_index=1, name="top"),
             helper.make_node("ArgMin", ["scores"], ["bottom"], axis=-1, keepdims=0, name="bottom"),
             helper.make_node("Cast", ["top"], ["top_f"], to=TensorProto.FLOAT, name="top_f"),
             helper.make_node("Cast", ["bottom"], ["bottom_f"], to=TensorProto.FLOAT, name="bottom_f")]
    outputs = {"pooled": [3, 5], "top_f": [3, 1], "bottom_f": [3]}
    return save_model(path, nodes, [("ids", TensorProto.INT64, ["batch", 8]), ("scores", TensorProto.FLOAT, [3, 7])],
                      outputs, inits, opset)


def test_integer_graph_outputs_come_out_as_they_are(tmp_path):
    # An ArgMax (int64) and an int32 sum as the model's outputs: the bundle writes them, and
    # `npucc run` gives them back as int64 and int32 arrays, exactly the interpreter's and
    # onnxruntime's (values past float32's 2^24 included).
    nodes = [helper.make_node("ArgMax", ["scores"], ["top"], axis=-1, keepdims=0, name="top"),
             helper.make_node("Add", ["k", "l"], ["total"], name="total"),
             helper.make_node("Mul", ["i", "j"], ["product"], name="product")]
    graph = helper.make_graph(
        nodes, "outputs",
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [3, 7]),
         helper.make_tensor_value_info("i", TensorProto.INT64, [2, WIDTH]),
         helper.make_tensor_value_info("j", TensorProto.INT64, [2, WIDTH]),
         helper.make_tensor_value_info("k", TensorProto.INT32, [2, WIDTH]),
         helper.make_tensor_value_info("l", TensorProto.INT32, [2, WIDTH])],
        [helper.make_tensor_value_info("top", TensorProto.INT64, [3]),
         helper.make_tensor_value_info("total", TensorProto.INT32, [2, WIDTH]),
         helper.make_tensor_value_info("product", TensorProto.INT64, [2, WIDTH])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    feeds = {k: v for k, v in edge_inputs(tmp_path / "edges.npz").items() if k != "x"}
    feeds["scores"] = np.array([[1, 3, 3, 0, -1, 3, 2], [0, 0, 0, 0, 0, 0, 0], [-2, 5, 1, -2, 4, 5, -2]], np.float32)
    np.savez(tmp_path / "in.npz", **feeds)
    sim, ref = run_both(tmp_path / "m.onnx", tmp_path / "in.npz", tmp_path, [])
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)
    for name, want in zip(["top", "total", "product"], theirs):
        assert sim[name].dtype == want.dtype and ref[name].dtype == want.dtype, name
        np.testing.assert_array_equal(sim[name], want, err_msg=name)
        np.testing.assert_array_equal(ref[name], want, err_msg=name)
    assert np.abs(sim["product"]).max() > 2**53


def test_outputs_the_passes_fold_to_constants_are_written_too(tmp_path):
    # The input's shape (int64) and twice it (float32) fold to constants; the program copies
    # them out beside the Relu it computes.
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT, name="float"),
             helper.make_node("Mul", ["sf", "two"], ["scaled"], name="scaled"),
             helper.make_node("Relu", ["x"], ["y"], name="relu")]
    graph = helper.make_graph(
        nodes, "folded", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("s", TensorProto.INT64, [2]),
         helper.make_tensor_value_info("scaled", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.array(2, np.float32), "two")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", x=np.array([[1, -2, 3], [-4, 5, -6]], np.float32))
    sim, ref = run_both(tmp_path / "m.onnx", tmp_path / "in.npz", tmp_path, ["--input-shape", "x=2,3"])
    for name in ["y", "s", "scaled"]:
        assert sim[name].dtype == ref[name].dtype, name
        np.testing.assert_array_equal(sim[name], ref[name], err_msg=name)
    assert sim["s"].tolist() == [2, 3] and sim["scaled"].tolist() == [4, 6]


@pytest.mark.parametrize("opset", [12, 13])
def test_argmax_and_argmin_run_as_the_interpreter_and_onnxruntime_run_them(tmp_path, opset):
    outputs = pooled_token_model(tmp_path / "m.onnx", opset)
    ids = np.array([[3, 9, 49, 2, 0, 0, 0, 0], [5, 49, 7, 49, 1, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, 48]], np.int64)
    scores = np.array([[1, 3, 3, 0, -1, 3, 2], [0, 0, 0, 0, 0, 0, 0], [-2, 5, 1, -2, 4, 5, -2]], np.float32)
    ref = check_against_both(tmp_path, outputs, dict(ids=ids, scores=scores))
    # The first of the 49s in row 1; the last of the 3s and of the 5s; the first of the -2s.
    assert ref["top_f"].ravel().tolist() == [5, 6, 5] and ref["bottom_f"].tolist() == [4, 0, 0]


def test_integer_reductions_are_exact_and_run_as_the_interpreter_runs_them(tmp_path):
    """Sequence lengths as exporters compute them (an attention mask's ReduceSum over the last
    axis, opset 13), and ReduceMax / ReduceMin of int64 ids past 2^53 (opset 18)."""
    for opset in [13, 18]:
        # ReduceSum takes its axes as an input from opset 13, ReduceMax and ReduceMin from 18.
        axes = dict(axes=[-1]) if opset < 18 else {}
        extra = [] if opset < 18 else ["axes"]
        nodes = [helper.make_node("ReduceSum", ["mask", "axes"], ["lengths"], keepdims=0, name="lengths"),
                 helper.make_node("ReduceMax", ["ids"] + extra, ["top"], keepdims=1, name="top", **axes),
                 helper.make_node("ReduceMin", ["ids"] + extra, ["bottom"], keepdims=1, name="bottom", **axes),
                 helper.make_node("Sub", ["top", "bottom"], ["spread"], name="spread")]
        nodes += [helper.make_node("Cast", [v], [v + "_f"], to=TensorProto.FLOAT, name=v + "_f")
                  for v in ["lengths", "spread"]]
        inits = [numpy_helper.from_array(np.array([-1], np.int64), "axes")]
        outputs = save_model(tmp_path / "m.onnx", nodes, [("mask", TensorProto.INT32, ["batch", 8]),
                                                          ("ids", TensorProto.INT64, ["batch", 8])],
                             {"lengths_f": [3], "spread_f": [3, 1]}, inits, opset)
        mask = np.array([[1, 1, 1, 0, 0, 0, 0, 0], [1] * 8, [2**31 - 1, 1, 0, 0, 0, 0, 0, 0]], np.int32)
        ids = np.array([[2**53 + 1] + [2**53] * 7, [7] * 8, [-2**62, 2**62, 1, 2, 3, 4, 5, 6]], np.int64)
        np.savez(tmp_path / "in.npz", mask=mask, ids=ids)
        sim, ref = run_both(tmp_path / "m.onnx", tmp_path / "in.npz", tmp_path,
                            ["--input-shape", "mask=3,8", "--input-shape", "ids=3,8"])
        assert_same_bits(sim, ref, outputs)
        # 3, 8 and the wrapped 2^31; 1 (2^53 + 1 less 2^53, which one double cannot tell
        # apart), 0 and the wrapped 2^63.
        assert ref["lengths_f"].tolist() == [3, 8, -2**31]
        assert ref["spread_f"].ravel().tolist() == [1, 0, -2**63]
