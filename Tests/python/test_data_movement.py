"""Ops that only move data (Pad in every mode, Split, Expand, Tile, Gather with constant
indices, Cast float to float) as exporters write them at opsets 11, 13, 17, 18 and 19, after a
convolution: the bundle runs bit for bit as the fake-quant interpreter runs the model, at fp16,
nvfp4 and nvfp4 with 2:4; the interpreter's ops equal onnxruntime's exactly. DepthToSpace and
SpaceToDepth (imported as Reshape, Transpose, Reshape), Trilu (of float32, int64 and bool) and
a Concat with constant inputs likewise. Gather of computed indices is
test_gather.py's."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_npucc, simulated_and_interpreted

SHAPE = (1, 3, 5, 6)


def movement_model(path, opset, conv=True):
    """Conv 3 -> 6 channels (pads 1, so c is [1, 6, 5, 6]), then every data-movement op on c,
    each into a graph output."""
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array((rng.standard_normal((6, 3, 3, 3)) / 5).astype(np.float32), "w")]

    def const(name, values, dtype=np.int64):
        inits.append(numpy_helper.from_array(np.asarray(values, dtype), name))
        return name

    c = "c" if conv else "x"
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv")] if conv else []
    outputs = []

    def add(op, inputs, out_names=None, **attributes):
        names = out_names or [f"{op.lower()}{len(outputs)}"]
        nodes.append(helper.make_node(op, inputs, names, name=names[0], **attributes))
        outputs.extend(names)

    channels = 6 if conv else 3
    # Pad: constant value, cropping with a negative pad, edge and reflect.
    add("Pad", [c, const("pads_c", [0, 0, 1, 2, 0, 1, 2, 1]), const("value", 0.5, np.float32)])
    add("Pad", [c, const("pads_crop", [0, -1, 1, 0, 0, 0, -2, 3])])
    add("Pad", [c, const("pads_edge", [0, 0, 2, 1, 0, 0, 1, 3])], mode="edge")
    add("Pad", [c, const("pads_reflect", [0, 0, 3, 2, 0, 0, 2, 4])], mode="reflect")
    if opset >= 18:
        add("Pad", [c, const("pads_axes", [1, 2, 3, 1]), "", const("axes", [-1, 2])], mode="reflect")
    if opset >= 19:
        add("Pad", [c, const("pads_wrap", [0, 1, 4, 2, 0, 2, 3, 5])], mode="wrap")
    # Split along channels (sizes as an attribute before opset 13, an input from 13, a count from 18).
    parts = [f"part{i}" for i in range(2)]
    if opset < 13:
        add("Split", [c], parts, axis=1, split=[channels - 2, 2])
    elif opset < 18:
        add("Split", [c, const("split", [channels - 2, 2])], parts, axis=1)
    else:
        add("Split", [c], parts, axis=-1, num_outputs=2)
    add("Expand", [c, const("expand", [2, 1, 5, 6])])
    add("Tile", [c, const("repeats", [1, 2, 1, 3])])
    # Gather: scattered indices with repeats and a negative one, a range, a scalar, 2-D indices.
    add("Gather", [c, const("scattered", [channels - 1, 0, 0, -2])], axis=1)
    add("Gather", [c, const("range", [1, 2, 3])], axis=3)
    add("Gather", [c, const("scalar", 2)], axis=-2)
    add("Gather", [c, const("square", [[4, 3], [3, 0]])], axis=-1)
    add("Cast", [c], to=TensorProto.FLOAT)
    graph = helper.make_graph(nodes, "movement", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    # The outputs' types as onnx infers them (an exporter writes them so).
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return outputs


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("movement")
    rng = np.random.default_rng(7)
    np.savez(folder / "x.npz", x=rng.standard_normal(SHAPE).astype(np.float32))
    np.savez(folder / "calib.npz", x=rng.standard_normal((4,) + SHAPE[1:]).astype(np.float32))
    return folder


@pytest.mark.parametrize("opset", [11, 13, 17, 18, 19])
def test_the_interpreter_moves_data_as_onnxruntime_does(data, tmp_path, opset):
    outputs = movement_model(tmp_path / "alone.onnx", opset, conv=False)
    r = run_npucc("run", tmp_path / "alone.onnx", "--inputs", data / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    session = ort.InferenceSession(str(tmp_path / "alone.onnx"), providers=["CPUExecutionProvider"])
    want = session.run(None, {"x": np.load(data / "x.npz")["x"]})
    got = np.load(tmp_path / "ref.npz")
    for name, value in zip(outputs, want):
        np.testing.assert_array_equal(got[name], value, err_msg=name)


@pytest.mark.parametrize("opset,precision,sparsity", [(11, "fp16", "none"), (13, "fp16", "none"), (13, "nvfp4", "none"),
                                                      (17, "nvfp4", "2:4"), (18, "fp16", "none"), (19, "nvfp4", "none")])
def test_data_movement_runs_on_the_simulator_as_the_interpreter_runs_it(data, tmp_path, opset, precision, sparsity):
    outputs = movement_model(tmp_path / "m.onnx", opset)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", data / "x.npz", tmp_path, precision, sparsity,
                                        data / "calib.npz")
    for name in outputs:
        assert sim[name].shape == fq[name].shape, name
        np.testing.assert_array_equal(sim[name], fq[name], err_msg=name)



def block_model(path, opset, conv=True):
    """Conv 3 -> 8 channels over [n, 3, 8, 6] (pads 1; without `conv`, an [n, 8, 8, 6] input),
    then DepthToSpace in both modes and SpaceToDepth, each into a graph output; n symbolic."""
    rng = np.random.default_rng(11)
    w = numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) / 5).astype(np.float32), "w")
    c = "c" if conv else "x"
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv")] if conv else []
    nodes += [helper.make_node("DepthToSpace", [c], ["dcr"], blocksize=2, name="dcr"),
              helper.make_node("SpaceToDepth", [c], ["s2d"], blocksize=2, name="s2d")]
    if opset >= 11:
        nodes.append(helper.make_node("DepthToSpace", [c], ["crd"], blocksize=2, mode="CRD", name="crd"))
    outputs = [n.output[0] for n in nodes if n.op_type != "Conv"]
    graph = helper.make_graph(nodes, "blocks",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3 if conv else 8, 8, 6])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                              [w] if conv else [])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return outputs


@pytest.mark.parametrize("opset", [9, 13])
def test_depth_to_space_and_space_to_depth_move_blocks_as_onnxruntime_does(tmp_path, opset):
    """Imported as Reshape, Transpose, Reshape: with the batch symbolic the interpreter equals
    onnxruntime exactly (two images); compiled after a convolution, the bundle equals the
    interpreter."""
    outputs = block_model(tmp_path / "alone.onnx", opset, conv=False)
    rng = np.random.default_rng(12)
    np.savez(tmp_path / "x.npz", x=rng.standard_normal((2, 8, 8, 6)).astype(np.float32))
    r = run_npucc("run", tmp_path / "alone.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    want = ort.InferenceSession(str(tmp_path / "alone.onnx")).run(None, {"x": np.load(tmp_path / "x.npz")["x"]})
    got = np.load(tmp_path / "ref.npz")
    for name, value in zip(outputs, want):
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    assert got["dcr"].shape == (2, 2, 16, 12) and got["s2d"].shape == (2, 32, 4, 3)
    block_model(tmp_path / "m.onnx", opset)
    np.savez(tmp_path / "one.npz", x=rng.standard_normal((1, 3, 8, 6)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 1, 3, 8, 6)).astype(np.float32))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "one.npz", tmp_path, precision, "none",
                                            tmp_path / "calib.npz", extra=("--input-shape", "x=1,3,8,6"))
        for name in outputs:
            np.testing.assert_array_equal(sim[name], fq[name], err_msg=name)


def test_blocks_that_do_not_divide_the_input_are_refused_by_node(tmp_path):
    block_model(tmp_path / "m.onnx", 13)
    r = run_npucc("dump-ir", tmp_path / "m.onnx", "--input-shape", "x=1,3,8,6")
    assert r.returncode == 0, r.stderr
    assert "= DepthToSpace(" not in r.stdout and "= Transpose(" in r.stdout
    model = onnx.load(tmp_path / "m.onnx")
    model.graph.node[2].attribute[0].i = 3  # SpaceToDepth by 3 of 8 x 6
    onnx.save(model, tmp_path / "bad.onnx")
    r = run_npucc("dump-ir", tmp_path / "bad.onnx", "--input-shape", "x=1,3,8,6")
    assert r.returncode == 1 and 'node Reshape "s2d/SpaceToDepth_split"' in r.stderr, r.stderr


def test_a_concat_with_constant_inputs_copies_them_from_the_constants(tmp_path):
    """A class token before a transformer's patch tokens (the token a constant Expand made
    for the known batch), and a constant slab between two activations: compiled, the bundle
    equals the interpreter, whose outputs hold the constants where they belong."""
    rng = np.random.default_rng(13)
    w = numpy_helper.from_array((rng.standard_normal((4, 3, 2, 2)) / 3).astype(np.float32), "w")
    token = numpy_helper.from_array(rng.standard_normal((1, 1, 4)).astype(np.float32), "token")
    slab = numpy_helper.from_array(rng.standard_normal((1, 2, 4)).astype(np.float32), "slab")
    batch = numpy_helper.from_array(np.array([1, 1, 4], np.int64), "batch")
    flat = numpy_helper.from_array(np.array([1, 4, 9], np.int64), "flat")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], strides=[2, 2], name="patches"),
             helper.make_node("Reshape", ["c", "flat"], ["f"]), helper.make_node("Transpose", ["f"], ["t"], perm=[0, 2, 1]),
             helper.make_node("Expand", ["token", "batch"], ["cls"]),
             helper.make_node("Concat", ["cls", "t"], ["tokens"], axis=1, name="with_token"),
             helper.make_node("Concat", ["t", "slab", "t"], ["sandwich"], axis=1, name="sandwich")]
    graph = helper.make_graph(nodes, "token", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ["tokens", "sandwich"]],
                              [w, token, slab, batch, flat])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    np.savez(tmp_path / "x.npz", x=rng.standard_normal((1, 3, 6, 6)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 1, 3, 6, 6)).astype(np.float32))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                            tmp_path / "calib.npz")
        for name in ["tokens", "sandwich"]:
            np.testing.assert_array_equal(sim[name], fq[name], err_msg=name)
        np.testing.assert_array_equal(fq["tokens"][:, :1], numpy_helper.to_array(token))
        np.testing.assert_array_equal(fq["sandwich"][:, 9:11], numpy_helper.to_array(slab))
        np.testing.assert_array_equal(fq["tokens"][:, 1:], fq["sandwich"][:, :9])


TRIANGLES = [(1, None), (0, None), (1, 2), (0, -1), (1, -3), (0, 9), (1, 7)]  # (upper, k)


def trilu_model(path, conv=True, element=TensorProto.FLOAT):
    """Trilu of the Conv's output c ([1, 4, 5, 6]; or of the input x) for every (upper, k) of
    TRIANGLES, each into a graph output."""
    rng = np.random.default_rng(14)
    inits = [numpy_helper.from_array(np.array(k, np.int64), f"k{i}") for i, (_, k) in enumerate(TRIANGLES) if k is not None]
    c = "c" if conv else "x"
    nodes = []
    if conv:
        inits.append(numpy_helper.from_array((rng.standard_normal((4, 3, 3, 3)) / 3).astype(np.float32), "w"))
        nodes.append(helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"))
    outputs = []
    for i, (upper, k) in enumerate(TRIANGLES):
        outputs.append(f"t{i}")
        nodes.append(helper.make_node("Trilu", [c] + ([f"k{i}"] if k is not None else []), [f"t{i}"], upper=upper,
                                      name=f"t{i}"))
    graph = helper.make_graph(nodes, "trilu", [helper.make_tensor_value_info("x", element, [1, 3 if conv else 4, 5, 6])],
                              [helper.make_tensor_value_info(o, element, None) for o in outputs], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), path)
    return outputs


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_trilu_keeps_the_triangles_onnxruntime_keeps(tmp_path, dtype):
    element = {np.float32: TensorProto.FLOAT, np.int64: TensorProto.INT64, np.bool_: TensorProto.BOOL}[dtype]
    outputs = trilu_model(tmp_path / "alone.onnx", conv=False, element=element)
    rng = np.random.default_rng(15)
    x = rng.standard_normal((1, 4, 5, 6))
    x = (x > 0) if dtype == np.bool_ else (x * 100).astype(dtype)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_npucc("run", tmp_path / "alone.onnx", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "ref.npz")
    assert r.returncode == 0, r.stderr
    want = ort.InferenceSession(str(tmp_path / "alone.onnx")).run(None, {"x": x})
    got = np.load(tmp_path / "ref.npz")
    for name, value in zip(outputs, want):
        np.testing.assert_array_equal(got[name], value, err_msg=name)


@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_trilu_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, precision):
    outputs = trilu_model(tmp_path / "m.onnx")
    rng = np.random.default_rng(16)
    np.savez(tmp_path / "x.npz", x=rng.standard_normal((1, 3, 5, 6)).astype(np.float32))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((4, 1, 3, 5, 6)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    for name in outputs:
        np.testing.assert_array_equal(sim[name], fq[name], err_msg=name)
    assert (fq["t5"] != 0).all() and (fq["t6"] == 0).all()  # every column kept; none kept
