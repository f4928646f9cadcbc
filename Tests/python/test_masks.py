"""Comparisons, the logic of masks and Where, as exporters write them (opset 16 and 13): the
NPU holds a bool tensor as float32 1 and +0, and the bundle runs bit for bit as the fake-quant
interpreter runs the model, at fp16, nvfp4 and nvfp4 with 2:4, on inputs holding NaN,
infinities and zeros of both signs; the interpreter's results equal onnxruntime's (up to the
sign of a selected zero); a bool
graph output is refused by name."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import special_inputs, assert_compile_refuses, run_npucc, simulated_and_interpreted

SHAPE = (1, 3, 5, 6)
OUTPUTS = ["pick", "clamp", "both", "either", "neither", "ge_pick", "le_pick", "eq_pick", "row_pick"]


def masks_model(path, opset, conv=True):
    """Conv 3 -> 3 channels (pads 1) gives c; masks of c against x, a constant and a broadcast
    row, combined, and each chosen between by Where."""
    rng = np.random.default_rng(11)
    inits = [numpy_helper.from_array((rng.standard_normal((3, 3, 3, 3)) / 5).astype(np.float32), "w"),
             numpy_helper.from_array(np.array(0.25, np.float32), "quarter"),
             numpy_helper.from_array(np.array(-1.0, np.float32), "minus_one"),
             numpy_helper.from_array(rng.standard_normal((1, 1, 1, 6)).astype(np.float32), "row"),
             numpy_helper.from_array(np.array([[[[True, False, True, True, False, False]]]]), "row_mask")]
    c = "c" if conv else "x"
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv")] if conv else []
    nodes += [helper.make_node("Greater", [c, "x"], ["gt"], name="gt"),
              helper.make_node("Where", ["gt", c, "x"], ["pick"], name="pick"),
              helper.make_node("Less", [c, "quarter"], ["lt"], name="lt"),
              helper.make_node("Where", ["lt", c, "quarter"], ["clamp"], name="clamp"),
              helper.make_node("And", ["gt", "lt"], ["and"], name="and"),
              helper.make_node("Or", ["gt", "lt"], ["or"], name="or"),
              helper.make_node("Not", ["or"], ["nor"], name="nor"),
              helper.make_node("Where", ["and", "x", "minus_one"], ["both"], name="both"),
              helper.make_node("Where", ["or", c, "row"], ["either"], name="either"),
              helper.make_node("Where", ["nor", c, "minus_one"], ["neither"], name="neither"),
              helper.make_node("Equal", [c, "x"], ["eq"], name="eq"),
              helper.make_node("Where", ["eq", "row", c], ["eq_pick"], name="eq_pick"),
              helper.make_node("Where", ["row_mask", c, "x"], ["row_pick"], name="row_pick")]
    if opset >= 12:
        nodes += [helper.make_node("GreaterOrEqual", [c, "row"], ["ge"], name="ge"),
                  helper.make_node("Where", ["ge", c, "row"], ["ge_pick"], name="ge_pick"),
                  helper.make_node("LessOrEqual", ["x", c], ["le"], name="le"),
                  helper.make_node("Where", ["le", "x", c], ["le_pick"], name="le_pick")]
    outputs = OUTPUTS if opset >= 12 else [o for o in OUTPUTS if o not in ("ge_pick", "le_pick")]
    graph = helper.make_graph(nodes, "masks", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, SHAPE) for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return outputs


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return special_inputs(tmp_path_factory.mktemp("masks"), SHAPE, 12, 2,
                          [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, 0.25])


@pytest.mark.parametrize("opset", [13, 16])
def test_the_interpreter_computes_the_masks_as_onnxruntime_does(data, tmp_path, opset):
    outputs = masks_model(tmp_path / "alone.onnx", opset, conv=False)
    r = run_npucc("run", tmp_path / "alone.onnx", "--inputs", data / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    session = ort.InferenceSession(str(tmp_path / "alone.onnx"), providers=["CPUExecutionProvider"])
    got = np.load(tmp_path / "ref.npz")
    for name, value in zip(outputs, session.run(None, {"x": np.load(data / "x.npz")["x"]})):
        # Values, NaN where NaN: onnxruntime's Where gives +0 where it selects a -0, the
        # interpreter (and the NPU) the -0 it selected, as ONNX defines Where.
        np.testing.assert_array_equal(got[name], value, err_msg=name)


@pytest.mark.parametrize("opset,precision,sparsity", [(16, "fp16", "none"), (13, "nvfp4", "none"),
                                                      (16, "nvfp4", "2:4")])
def test_the_masks_run_on_the_simulator_as_the_interpreter_runs_them(data, tmp_path, opset, precision, sparsity):
    outputs = masks_model(tmp_path / "m.onnx", opset)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", data / "x.npz", tmp_path, precision, sparsity,
                                        data / "calib.npz")
    for name in outputs:
        np.testing.assert_array_equal(sim[name].view(np.uint32), fq[name].view(np.uint32), err_msg=name)
    # Each Where took from both branches somewhere.
    c_side = fq["pick"] != np.load(data / "x.npz")["x"]
    assert c_side.any() and (~c_side).any()


def test_a_bool_graph_output_is_refused_by_name(tmp_path):
    graph = helper.make_graph([helper.make_node("Greater", ["x", "y"], ["m"], name="mask")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4]),
                               helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("m", TensorProto.BOOL, [2, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    assert_compile_refuses(tmp_path / "m.onnx", tmp_path,
                           'graph output "m" is bool: bundles give float32, int64 and int32 tensors only')


def casts_model(path, index_type):
    """An attention-mask pattern as exporters write it: an integer mask input cast to float,
    1 - mask times -10000 added to x; a comparison's mask cast to float; x cast to bool
    (x != 0, NaN true) and back."""
    nodes = [helper.make_node("Cast", ["m"], ["mf"], to=TensorProto.FLOAT, name="mask_float"),
             helper.make_node("Sub", ["one", "mf"], ["inv"], name="invert"),
             helper.make_node("Mul", ["inv", "big"], ["bias"], name="scale"),
             helper.make_node("Add", ["x", "bias"], ["masked"], name="masked"),
             helper.make_node("Greater", ["x", "zero"], ["pos"], name="pos"),
             helper.make_node("Cast", ["pos"], ["posf"], to=TensorProto.FLOAT, name="pos_float"),
             helper.make_node("Cast", ["x"], ["xb"], to=TensorProto.BOOL, name="nonzero"),
             helper.make_node("Cast", ["xb"], ["xbf"], to=TensorProto.FLOAT, name="nonzero_float")]
    inits = [numpy_helper.from_array(np.array(1.0, np.float32), "one"),
             numpy_helper.from_array(np.array(-10000.0, np.float32), "big"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    graph = helper.make_graph(nodes, "casts", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8]),
                                               helper.make_tensor_value_info("m", index_type, [2, 8])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, [2, 8])
                               for o in ["masked", "posf", "xbf", "mf"]], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.mark.parametrize("index_type,dtype", [(TensorProto.INT64, np.int64), (TensorProto.INT32, np.int32)])
def test_integer_and_mask_casts_run_on_the_simulator_as_the_interpreter_and_onnxruntime(tmp_path, index_type, dtype):
    casts_model(tmp_path / "m.onnx", index_type)
    x = np.random.default_rng(21).standard_normal((2, 8)).astype(np.float32)
    x.flat[:4] = [np.nan, 0.0, -0.0, np.inf]
    # Mask values as a tokenizer gives them, and integers float32 must round (2^24 + 1).
    m = np.array([[1, 1, 1, 0, 0, 1, 0, 1], [0, 1, 2, -3, 16777217, -16777217, 7, 1]], dtype)
    np.savez(tmp_path / "in.npz", x=x, m=m)
    np.savez(tmp_path / "calib.npz", x=x[None], m=m[None])
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    sim, ref = np.load(tmp_path / "sim.npz"), np.load(tmp_path / "ref.npz")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for name, value in zip(["masked", "posf", "xbf", "mf"], session.run(None, {"x": x, "m": m})):
        np.testing.assert_array_equal(sim[name].view(np.uint32), ref[name].view(np.uint32), err_msg=name)
        np.testing.assert_array_equal(ref[name], value, err_msg=name)
    assert ref["mf"][1, 4] == np.float32(16777216.0) and ref["xbf"][0, 0] == 1 and ref["xbf"][0, 1] == 0


def causal_model(path, s=6, d=16):
    """Causal self-attention whose mask is -inf above the diagonal, as torch's
    generate_square_subsequent_mask writes it: the masked scores hold -inf."""
    rng = np.random.default_rng(61)
    mask = np.triu(np.full((s, s), -np.inf, np.float32), 1)
    inits = [numpy_helper.from_array((rng.standard_normal((d, d)) / 4).astype(np.float32), n) for n in ["wq", "wk", "wv"]]
    inits.append(numpy_helper.from_array(mask, "mask"))
    nodes = [helper.make_node("MatMul", ["x", w], [w[1]], name=w) for w in ["wq", "wk", "wv"]]
    nodes += [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
              helper.make_node("MatMul", ["q", "kt"], ["scores"]),
              helper.make_node("Add", ["scores", "mask"], ["masked"]),
              helper.make_node("Softmax", ["masked"], ["p"], axis=-1),
              helper.make_node("MatMul", ["p", "v"], ["y"])]
    graph = helper.make_graph(nodes, "causal", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, s, d])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, s, d])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.mark.parametrize("precision", ["fp8", "nvfp4"])
def test_calibration_leaves_a_masks_infinities_out_of_the_ranges(tmp_path, precision):
    """The masked scores' -inf once crashed calibration; now the ranges are the finite
    values', and the bundle runs bit for bit as the interpreter runs the model."""
    causal_model(tmp_path / "m.onnx")
    rng = np.random.default_rng(62)
    np.savez(tmp_path / "x.npz", x=rng.standard_normal((1, 6, 16)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 1, 6, 16)).astype(np.float32))
    r = run_npucc("calibrate", tmp_path / "m.onnx", "--calib", tmp_path / "calib.npz", "--method", "minmax")
    assert r.returncode == 0, r.stderr
    masked = next(line for line in r.stdout.splitlines() if line.split()[:1] == ["masked"])
    assert "inf" not in masked, masked
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert np.isfinite(fq["y"]).all()
    np.testing.assert_array_equal(sim["y"].view(np.uint32), fq["y"].view(np.uint32))
