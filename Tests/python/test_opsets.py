"""Every opset from 1 to 28 of the default domain is read. The forms of opsets 1 to 5 (names
for Cast's type, `consumed_inputs`, Reshape's shape and Tile's axis as attributes or inputs,
Concat's default axis, Selu's and Upsample's first forms, legacy broadcasting onto an
activation no value_info types) compute what their later forms do in onnxruntime, and compile;
nearest Upsample and Resize of opsets 9 and 10 pick onnxruntime's pixels, up or down; the attributes opsets 23 to 28 added (Cast's round_mode, QuantizeLinear's precision,
DequantizeLinear's output_dtype, Range's stash_type, SpaceToDepth's mode) are read, or refused
by name where they ask for something else; RMSNormalization, Swish, SwiGLU, CastLike and the
early ImageScaler are imported as the ops they are made of, computed as onnxruntime (or ONNX's
reference evaluator, for opsets onnxruntime does not run) computes them, and a LLaMA-style
MLP made of them runs on the simulator bit for bit as the interpreter runs it. Dropout whose
training_mode is true, or known only at run time, is refused by node. Opset 28's Mod of floats
with fmod 0 gives numpy's floor remainder, signed zeros and special cases included. arange as
exporters write it before opset 11 (ConstantOfShape, NonZero, Transpose, Squeeze) folds to a
constant and compiles; NonZero of computed values runs as onnxruntime runs it, and compiling
it is refused by node. An operator used at an opset before the one that defines it is refused
by node, as onnxruntime refuses to load the model, unless onnxruntime defines it earlier itself
(LayerNormalization, as its transformer optimizer writes it into models of opsets before 17)."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from conftest import (assert_same_bits, interpreted, interpreted_and_onnxruntime, run_npucc,
                      simulated_and_interpreted, simulated_and_interpreted_on_normal_values)

RNG = np.random.default_rng(2811)


def const(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(value, dtype), name)


def save(path, nodes, inputs, outputs, inits, opset, ir_version=None):
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if ir_version is not None:
        model.ir_version = ir_version
    onnx.save(model, path)
    return model


def onnxruntime_outputs(model_path, feeds):
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def value(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


# A CNN in the forms of opsets 1 to 5, and the same network in opset 13's, for onnxruntime.
W = (RNG.standard_normal((4, 3, 3, 3)) / 3).astype(np.float32)
BN = [(1 + 0.1 * RNG.standard_normal(4)), 0.1 * RNG.standard_normal(4), 0.1 * RNG.standard_normal(4),
      1 + 0.1 * RNG.random(4)]
CHANNEL = 0.1 * RNG.standard_normal(4)
FC = RNG.standard_normal((10, 4 * 6 * 6 * 2)) / 20
FC_BIAS = 0.1 * RNG.standard_normal(10)


def cnn(path, opset):
    legacy = opset < 7
    inits = [const("w", W), *[const(n, v) for n, v in zip(["s", "b", "m", "v"], BN)], const("ch", CHANNEL),
             const("fc", FC), const("fcb", FC_BIAS)]
    if not legacy:
        inits = [t for t in inits if t.name != "ch"]
        inits += [const("ch4", CHANNEL.reshape(4, 1, 1)), const("flat_shape", [1, -1], np.int64)]
    old = {"consumed_inputs": [0]} if opset < 6 else {}
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"], epsilon=1e-5,
                         **({"consumed_inputs": [0, 0, 0, 1, 1], "is_test": 1} if opset < 6 else {})),
        helper.make_node("Relu", ["bn"], ["r"], **old),
        helper.make_node("Add", ["r", "ch"], ["a"], broadcast=1, axis=1, **old) if legacy
        else helper.make_node("Add", ["r", "ch4"], ["a"]),
        helper.make_node("Selu", ["a"], ["se"], **(old if opset < 6 else {"alpha": 1.6732, "gamma": 1.0507})),
        helper.make_node("Concat", ["se", "r"], ["cat"], **({} if opset < 4 else {"axis": 1})),
        helper.make_node("Reshape", ["cat"], ["flat"], shape=[1, -1]) if opset < 5
        else helper.make_node("Reshape", ["cat", "flat_shape"] if not legacy else ["cat", "flat_shape5"], ["flat"]),
        helper.make_node("Cast", ["flat"], ["flatf"], to="FLOAT" if opset < 6 else TensorProto.FLOAT),
        helper.make_node("Gemm", ["flatf", "fc", "fcb"], ["y"], transB=1, **({"broadcast": 1} if legacy else {})),
    ]
    if legacy and opset >= 5:
        inits.append(const("flat_shape5", [1, -1], np.int64))
    save(path, nodes, [value("x", [1, 3, 6, 6])], [value("y", [1, 10])], inits, opset, ir_version=3 if legacy else None)


@pytest.mark.parametrize("opset", [1, 3, 4, 5, 6])
def test_the_forms_of_the_first_opsets_compute_what_their_later_forms_do(tmp_path, opset):
    cnn(tmp_path / "old.onnx", opset)
    cnn(tmp_path / "new.onnx", 13)
    x = RNG.standard_normal((1, 3, 6, 6)).astype(np.float32)
    got = interpreted(tmp_path / "old.onnx", {"x": x}, tmp_path)["y"]
    want = onnxruntime_outputs(tmp_path / "new.onnx", {"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_an_opset_3_network_compiles_and_runs_as_the_interpreter_runs_it(tmp_path):
    cnn(tmp_path / "old.onnx", 3)
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((1, 3, 6, 6)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 3, 6, 6)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "old.onnx", tmp_path / "x.npz", tmp_path, "nvfp4", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])


def test_opset_1_upsample_tile_and_split_as_numpy_computes_them(tmp_path):
    inits = [const("tiles", 3, np.int64), const("axis", 2, np.int64), const("parts", [1, 3], np.int64)]
    nodes = [helper.make_node("Upsample", ["x"], ["up"], height_scale=2.0, width_scale=3.0),
             helper.make_node("Tile", ["x", "tiles", "axis"], ["tiled"]),
             helper.make_node("Split", ["x", "parts"], ["first", "rest"], axis=1)]
    save(tmp_path / "m.onnx", nodes, [value("x", [1, 4, 2, 3])],
         [value("up", [1, 4, 4, 9]), value("tiled", [1, 4, 6, 3]), value("first", [1, 1, 2, 3]),
          value("rest", [1, 3, 2, 3])], inits, 1, ir_version=3)
    x = RNG.standard_normal((1, 4, 2, 3)).astype(np.float32)
    got = interpreted(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_array_equal(got["up"], x.repeat(2, axis=2).repeat(3, axis=3))
    np.testing.assert_array_equal(got["tiled"], np.tile(x, (1, 1, 3, 1)))
    np.testing.assert_array_equal(got["first"], x[:, :1])
    np.testing.assert_array_equal(got["rest"], x[:, 1:])


def test_an_opset_1_tile_of_a_computed_count_is_refused_by_name(tmp_path):
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Tile", ["x", "shape", "shape"], ["tiled"], name="tile")]
    save(tmp_path / "m.onnx", nodes, [value("x", [2])], [value("tiled", None)], [], 1, ir_version=3)
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 1
    assert 'node Tile "tile" (opset 1)' in r.stderr and "constant tiles and axis" in r.stderr, r.stderr


def newest_model(path, opset):
    """A Conv whose weights pass through a Q/DQ pair, then the attributes opsets 23 to 28
    added, each at its default or its stated equivalent: the pair's precision and output_dtype
    float32 (23), a Cast with round_mode (24), a Range with stash_type (27) and SpaceToDepth in
    CRD order (28)."""
    inits = [const("w", W), const("scale", 0.05), const("zero", 0, np.int8), const("n", 7, np.int64),
             const("one", 1, np.int64)]
    stated = opset >= 23
    nodes = [helper.make_node("QuantizeLinear", ["w", "scale", "zero"], ["wq"],
                              **({"precision": TensorProto.FLOAT} if stated else {})),
             helper.make_node("DequantizeLinear", ["wq", "scale", "zero"], ["wdq"],
                              **({"output_dtype": TensorProto.FLOAT} if stated else {})),
             helper.make_node("Conv", ["x", "wdq"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Cast", ["c"], ["y"], to=TensorProto.FLOAT, **({"round_mode": "up"} if opset >= 24 else {}))]
    outputs = [value("y", [1, 4, 6, 6])]
    if opset >= 27:
        nodes += [helper.make_node("Range", ["one", "n", "one"], ["r"], stash_type=1),
                  helper.make_node("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", ["y", "rf"], ["ramp"])]
        outputs.append(value("ramp", [1, 4, 6, 6]))
    if opset >= 28:
        nodes.append(helper.make_node("SpaceToDepth", ["y"], ["crd"], blocksize=2, mode="CRD"))
        nodes.append(helper.make_node("SpaceToDepth", ["y"], ["dcr"], blocksize=3))
        outputs += [value("crd", [1, 16, 3, 3]), value("dcr", [1, 36, 2, 2])]
    return save(path, nodes, [value("x", [1, 3, 6, 6])], outputs, inits, opset, ir_version=13)


@pytest.mark.parametrize("opset", [22, 23, 24, 25, 27, 28])
def test_the_newest_opsets_are_read(tmp_path, opset):
    model = newest_model(tmp_path / "m.onnx", opset)
    x = RNG.standard_normal((1, 3, 6, 6)).astype(np.float32)
    got = interpreted(tmp_path / "m.onnx", {"x": x}, tmp_path)
    if opset <= 24:
        want = onnxruntime_outputs(tmp_path / "m.onnx", {"x": x})
    else:
        want = dict(zip([o.name for o in model.graph.output], ReferenceEvaluator(model).run(None, {"x": x})))
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("node,message", [
    (helper.make_node("DequantizeLinear", ["q", "scale"], ["y"], output_dtype=TensorProto.FLOAT16, name="dq"),
     "output_dtype f16 differs from the scale's f32"),
    (helper.make_node("QuantizeLinear", ["x", "scale"], ["y"], precision=TensorProto.DOUBLE, name="dq"),
     "precision f64 differs from the scale's f32"),
])
def test_a_stated_precision_other_than_the_scales_is_refused_by_name(tmp_path, node, message):
    inits = [const("scale", 0.5), const("q", [1, 2], np.uint8)]
    save(tmp_path / "m.onnx", [node], [value("x", [2])], [value("y", None)], inits, 23, ir_version=11)
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 1
    assert f'"dq" (opset 23)' in r.stderr and message in r.stderr, r.stderr


def mlp(path, opset, hidden=32, inner=64):
    """x [1, 8, hidden] -> RMSNormalization -> gate and up projections -> SwiGLU (opset 28) or
    Swish and Mul (opset 24) -> down projection -> residual Add; a CastLike of the output to a
    float32 constant's type (the Cast to the type it has, which canonicalization drops)."""
    inits = [const("g", 1 + 0.1 * RNG.standard_normal(hidden)),
             const("wg", RNG.standard_normal((hidden, inner)) / np.sqrt(hidden)),
             const("wu", RNG.standard_normal((hidden, inner)) / np.sqrt(hidden)),
             const("wd", RNG.standard_normal((inner, hidden)) / np.sqrt(inner)), const("like", 0.0)]
    nodes = [helper.make_node("RMSNormalization", ["x", "g"], ["n"], epsilon=1e-6, name="norm"),
             helper.make_node("MatMul", ["n", "wg"], ["gate"], name="gate_proj"),
             helper.make_node("MatMul", ["n", "wu"], ["up"], name="up_proj")]
    if opset >= 28:
        nodes.append(helper.make_node("SwiGLU", ["gate", "up"], ["h"], name="act"))
    else:
        nodes += [helper.make_node("Swish", ["gate"], ["sg"], alpha=1.0, name="act"),
                  helper.make_node("Mul", ["sg", "up"], ["h"])]
    nodes += [helper.make_node("MatMul", ["h", "wd"], ["down"], name="down_proj"),
              helper.make_node("Add", ["x", "down"], ["res"]),
              helper.make_node("CastLike", ["res", "like"], ["y"])]
    return save(path, nodes, [value("x", [1, 8, hidden])], [value("y", [1, 8, hidden])], inits, opset, ir_version=11)


@pytest.mark.parametrize("opset", [24, 28])
def test_rms_normalization_swish_swiglu_and_cast_like_compute_as_their_definitions(tmp_path, opset):
    model = mlp(tmp_path / "m.onnx", opset)
    x = RNG.standard_normal((1, 8, 32)).astype(np.float32)
    got = interpreted(tmp_path / "m.onnx", {"x": x}, tmp_path)["y"]
    if opset <= 24:
        want = onnxruntime_outputs(tmp_path / "m.onnx", {"x": x})["y"]
    else:
        want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 0, r.stderr
    ops = [line.split("=", 1)[1].split("(")[0].strip() for line in r.stdout.splitlines() if line.strip().startswith("%")]
    assert ops == ["Mul", "ReduceMean", "Add", "Sqrt", "Div", "Mul", "MatMul", "MatMul", "Sigmoid", "Mul", "Mul",
                   "MatMul", "Add"], r.stdout


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_llama_style_mlp_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    mlp(tmp_path / "m.onnx", 28)
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal((1, 8, 32)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 8, 32)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz", extra=["--input-shape", "x=1,8,32"])
    assert_same_bits(sim, fq, ["y"])


def test_rms_normalization_over_two_axes_and_of_float16_as_onnxruntime(tmp_path):
    """axis 1 of a rank-3 input (the mean over the last two axes); with a float16 input the
    model computes in float16, which npucc reads as float32: y16 is float32, within float16's
    rounding of onnxruntime's."""
    inits = [const("g", 1 + 0.1 * RNG.standard_normal((4, 6))), const("g16", 1 + 0.1 * RNG.standard_normal(6), np.float16)]
    nodes = [helper.make_node("RMSNormalization", ["x", "g"], ["y"], axis=1),
             helper.make_node("RMSNormalization", ["h", "g16"], ["y16"], epsilon=1e-3)]
    save(tmp_path / "m.onnx", nodes, [value("x", [2, 4, 6]), value("h", [2, 4, 6], TensorProto.FLOAT16)],
         [value("y", [2, 4, 6]), value("y16", [2, 4, 6], TensorProto.FLOAT16)], inits, 23, ir_version=11)
    feeds = {"x": RNG.standard_normal((2, 4, 6)).astype(np.float32),
             "h": RNG.standard_normal((2, 4, 6)).astype(np.float16)}
    got = interpreted(tmp_path / "m.onnx", feeds, tmp_path)
    want = onnxruntime_outputs(tmp_path / "m.onnx", feeds)
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-6, atol=1e-6)
    assert got["y16"].dtype == np.float32
    np.testing.assert_allclose(got["y16"].astype(np.float32), want["y16"].astype(np.float32), rtol=1e-3, atol=1e-3)


def test_image_scaler_is_a_multiply_and_a_per_channel_add(tmp_path):
    nodes = [helper.make_node("ImageScaler", ["x"], ["y"], scale=0.5, bias=[1.0, -2.0, 3.0], name="scaler")]
    save(tmp_path / "m.onnx", nodes, [value("x", [1, 3, 2, 2])], [value("y", [1, 3, 2, 2])], [], 8, ir_version=3)
    x = RNG.standard_normal((1, 3, 2, 2)).astype(np.float32)
    got = interpreted(tmp_path / "m.onnx", {"x": x}, tmp_path)["y"]
    np.testing.assert_array_equal(got, x * np.float32(0.5) + np.array([1, -2, 3], np.float32).reshape(1, 3, 1, 1))


@pytest.mark.parametrize("opset,scales", [(10, [1, 1, 0.6, 0.75]), (10, [1, 1, 0.5, 0.5]), (10, [1, 1, 2, 1.5]),
                                          (9, [1, 1, 2, 3]), (10, [1, 1, 0.5, 2])])
def test_nearest_resize_of_opsets_9_and_10_picks_onnxruntimes_pixels(tmp_path, opset, scales):
    """Upsample (9) and Resize (10) with nearest: floor(o / scale) on an axis they enlarge and,
    as onnxruntime runs them, ceil(o / scale) on one they shrink; shrinking one axis while
    enlarging another is refused by node."""
    op = "Upsample" if opset == 9 else "Resize"
    inits = [numpy_helper.from_array(np.array(scales, np.float32), "scales")]
    graph = helper.make_graph([helper.make_node(op, ["x", "scales"], ["y"], mode="nearest", name="resize")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 7, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), tmp_path / "m.onnx")
    x = np.arange(2 * 7 * 9, dtype=np.float32).reshape(1, 2, 7, 9)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    if min(scales) < 1 < max(scales):
        assert r.returncode == 1 and 'node Resize "resize" (opset 10)' in r.stderr and "shrinks some axes" in r.stderr
        return
    assert r.returncode == 0, r.stderr
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npz")["y"], theirs)


@pytest.mark.parametrize("mode,ratio,message", [
    (None, None, None),                      # no training_mode: inference
    (False, 0.5, None),                      # a constant false
    (True, 0.0, None),                       # training, but nothing dropped
    (True, 0.5, "training_mode is true: Dropout would drop values at random"),
    ("input", 0.5, 'training_mode "t" is only known at run time'),
])
def test_dropout_in_training_mode_is_refused_by_node(tmp_path, mode, ratio, message):
    """Dropout from opset 12 drops values when its training_mode is true: npucc runs models
    as inference does, so a true or run-time training_mode is refused, never ignored."""
    inputs, inits, names = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])], [], ["x", "", ""]
    if ratio is not None:
        inits.append(const("r", ratio))
        names[1] = "r"
    if mode == "input":
        inputs.append(helper.make_tensor_value_info("t", TensorProto.BOOL, []))
        names[2] = "t"
    elif mode is not None:
        inits.append(const("t", mode, np.bool_))
        names[2] = "t"
    while names[-1] == "":
        names.pop()
    save(tmp_path / "m.onnx", [helper.make_node("Dropout", names, ["y"], name="drop")], inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], inits, 13)
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x, **({"t": np.array(True)} if mode == "input" else {}))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    if message is None:
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(tmp_path / "y.npz")["y"], x)
    else:
        assert r.returncode == 1 and 'node Dropout "drop" (opset 13)' in r.stderr and message in r.stderr, r.stderr
        assert not (tmp_path / "y.npz").exists()


def test_mod_of_floats_with_fmod_0_is_numpys_floor_remainder(tmp_path):
    """Opset 28's Mod of floats with fmod 0, A - floor(A / B) · B: B's sign, a zero with B's
    sign, and the special cases as numpy's mod gives them; after a convolution it compiles."""
    a = np.array([5.5, -5.5, 5.5, -5.5, 0.0, -0.0, 0.0, np.inf, 3.0, 3.0, -3.0, np.nan, 2.0, 6.0], np.float32)
    b = np.array([2.0, 2.0, -2.0, -2.0, 3.0, 3.0, -3.0, 2.0, 0.0, np.inf, np.inf, 1.0, np.nan, 3.0], np.float32)
    save(tmp_path / "m.onnx", [helper.make_node("Mod", ["a", "b"], ["y"], fmod=0)],
         [helper.make_tensor_value_info(n, TensorProto.FLOAT, [len(a)]) for n in "ab"],
         [helper.make_tensor_value_info("y", TensorProto.FLOAT, [len(a)])], [], 28)
    np.savez(tmp_path / "x.npz", a=a, b=b)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "y.npz")["y"]
    with np.errstate(invalid="ignore", divide="ignore"):
        want = np.mod(a, b)
    np.testing.assert_array_equal(got.view(np.uint32)[~np.isnan(want)], want.view(np.uint32)[~np.isnan(want)])
    assert np.isnan(got[np.isnan(want)]).all()
    # After a convolution, the bundle's bits are the interpreter's.
    w = numpy_helper.from_array((RNG.standard_normal((4, 3, 3, 3)) / 3).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Mod", ["c", "divisor"], ["y"], fmod=0)]
    save(tmp_path / "c.onnx", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
         [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])],
         [w, numpy_helper.from_array(np.array([[[0.7]], [[-0.4]], [[1.3]], [[-2.0]]], np.float32), "divisor")], 28)
    sim, fq = simulated_and_interpreted_on_normal_values(tmp_path / "c.onnx", [1, 3, 6, 6], tmp_path, "fp16", RNG)
    assert_same_bits(sim, fq, ["y"])


@pytest.mark.parametrize("opset", [9, 10])
def test_arange_before_opset_11_folds_to_a_constant_and_compiles(tmp_path, opset):
    # torch.arange(8) at opsets 9 and 10: NonZero of ones of shape [8] gives [[0..7]], moved
    # to [8, 1] and squeezed; added to the input's last axis as a detector's grid is.
    inits = [const("extent", [8], np.int64)]
    nodes = [helper.make_node("ConstantOfShape", ["extent"], ["ones"],
                              value=helper.make_tensor("v", TensorProto.INT64, [1], [1])),
             helper.make_node("NonZero", ["ones"], ["where"], name="where"),
             helper.make_node("Transpose", ["where"], ["column"], perm=[1, 0]),
             helper.make_node("Squeeze", ["column"], ["steps"], axes=[1]),
             helper.make_node("Cast", ["steps"], ["grid"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["x", "grid"], ["y"])]
    save(tmp_path / "m.onnx", nodes, [value("x", [1, 3, 4, 8])], [value("y", [1, 3, 4, 8])], inits, opset)
    x = RNG.standard_normal((1, 3, 4, 8)).astype(np.float32)
    ours, theirs = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_array_equal(ours["y"], theirs["y"])
    np.testing.assert_array_equal(ours["y"], x + np.arange(8, dtype=np.float32))
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 0, r.stderr
    assert "NonZero" not in r.stdout and "Add(" in r.stdout, r.stdout
    np.savez(tmp_path / "x.npz", x=x)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none", None)
    assert_same_bits(sim, fq, ["y"])


@pytest.mark.parametrize("dtype, values", [
    (np.float32, [[0, 1, np.nan], [-0.0, 2, -np.inf]]),
    (np.int64, [[0, 5, 0], [-1, 0, 7]]),
    (np.bool_, [[True, False, False], [False, True, True]]),
    (np.float32, [[0, 0, 0], [0, 0, 0]]),
])
def test_nonzero_of_computed_values_as_onnxruntime_and_refused_by_the_compiler(tmp_path, dtype, values):
    # A NaN is not zero, -0 is; none at all gives [2, 0]. Its output's extent is known only
    # once the values are, so the NPU's buffers cannot be sized: compiling names the node.
    kind = {np.float32: TensorProto.FLOAT, np.int64: TensorProto.INT64, np.bool_: TensorProto.BOOL}[dtype]
    nodes = [helper.make_node("Identity", ["x"], ["same"]), helper.make_node("NonZero", ["same"], ["y"], name="where")]
    save(tmp_path / "m.onnx", nodes, [helper.make_tensor_value_info("x", kind, [2, 3])],
         [helper.make_tensor_value_info("y", TensorProto.INT64, [2, "k"])], [], 13)
    ours, theirs = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": np.array(values, dtype)}, tmp_path)
    assert ours["y"].dtype == np.int64 and ours["y"].shape == theirs["y"].shape
    np.testing.assert_array_equal(ours["y"], theirs["y"])
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 1
    assert 'node NonZero "where" (opset 13): value "y" has no static type' in r.stderr, r.stderr
    assert "--graph-outputs" in r.stderr and not (tmp_path / "m.npub").exists()



@pytest.mark.parametrize("op,first", [("HardSwish", 14), ("Gelu", 20), ("Erf", 9), ("LayerNormalization", 17)])
def test_an_operator_before_the_opset_that_defines_it_is_refused_by_node(tmp_path, op, first):
    inputs = ["x"] + (["scale"] if op == "LayerNormalization" else [])
    inits = [const("scale", np.ones(4))] if op == "LayerNormalization" else []
    for opset in (first - 1, first):
        graph = helper.make_graph(
            [helper.make_node(op, inputs, ["y"], name="n")], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 8
        path = tmp_path / f"m{opset}.onnx"
        onnx.save(model, path)
        loads = True
        try:
            ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception:
            loads = False
        # onnxruntime's own LayerNormalization loads at any opset, and so does npucc.
        assert loads == (opset == first or op == "LayerNormalization"), (op, opset)
        np.savez(tmp_path / "x.npz", x=RNG.standard_normal((2, 4)).astype(np.float32))
        r = run_npucc("run", path, "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
        if loads:
            assert r.returncode == 0, r.stderr
        else:
            assert r.returncode == 1, r.stderr
            assert (f'node {op} "n": {op} is defined from opset {first}, and the model imports the default domain at '
                    f"opset {opset}") in r.stderr, r.stderr
            assert not (tmp_path / "y.npz").exists()
