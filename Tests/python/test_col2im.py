"""Col2Im (opset 18, torch.nn.Fold as VOLO's outlook attention folds its windows back), imported
as the sum of each kernel offset's grid of blocks spread by the strides and moved to its place
on the padded image: with strides, pads, dilations and overlapping blocks it computes as
onnxruntime computes it, and after a convolution it compiles and its bundle runs bit for bit
as the interpreter runs it; an image_shape known only at run time and three spatial axes are
refused by node."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted_on_normal_values

RNG = np.random.default_rng(1818)
CASES = {
    "plain": dict(image=[5, 5], block=[2, 2]),
    "overlapping_3x3": dict(image=[6, 7], block=[3, 3]),
    "strides": dict(image=[9, 8], block=[3, 2], strides=[2, 3]),
    "pads_and_dilations": dict(image=[6, 6], block=[2, 3], pads=[1, 0, 2, 1], dilations=[2, 1]),
    "volo_fold": dict(image=[8, 8], block=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
}


def blocks(image, block, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1)):
    padded = [image[0] + pads[0] + pads[2], image[1] + pads[1] + pads[3]]
    return [(padded[d] - dilations[d] * (block[d] - 1) - 1) // strides[d] + 1 for d in range(2)]


def col2im_model(path, image, block, channels=2, conv=False, given=False, **attributes):
    lh, lw = blocks(image, block, **{k: v for k, v in attributes.items()})
    columns = channels * block[0] * block[1]
    inits = [numpy_helper.from_array(np.array(block, np.int64), "block")]
    inputs = []
    if given:
        inputs.append(helper.make_tensor_value_info("image", TensorProto.INT64, [2]))
    else:
        inits.append(numpy_helper.from_array(np.array(image, np.int64), "image"))
    nodes = []
    if conv:
        # A 1x1 convolution makes the columns from [1, 3, Lh, Lw], then the rows become blocks.
        inits += [numpy_helper.from_array((RNG.standard_normal((columns, 3, 1, 1)) / 2).astype(np.float32), "w"),
                  numpy_helper.from_array(np.array([1, columns, lh * lw]), "as_columns")]
        nodes += [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                  helper.make_node("Reshape", ["c", "as_columns"], ["cols"])]
        inputs.insert(0, helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, lh, lw]))
    else:
        inputs.insert(0, helper.make_tensor_value_info("cols", TensorProto.FLOAT, [1, columns, lh * lw]))
    nodes.append(helper.make_node("Col2Im", ["cols", "image", "block"], ["y"], name="fold", **attributes))
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return [1, columns, lh * lw] if not conv else [1, 3, lh, lw]


@pytest.mark.parametrize("case", sorted(CASES))
def test_col2im_computes_as_onnxruntime(tmp_path, case):
    c = dict(CASES[case])
    shape = col2im_model(tmp_path / "m.onnx", c.pop("image"), c.pop("block"), **c)
    feeds = {"cols": RNG.standard_normal(shape).astype(np.float32)}
    np.savez(tmp_path / "in.npz", **feeds)
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "out.npz")["y"]
    want = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert got.shape == want.shape == (1, 2) + tuple(CASES[case]["image"])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", ["strides", "volo_fold"])
@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_col2im_after_a_convolution_runs_on_the_simulator_as_the_interpreter_runs_it(tmp_path, case, precision):
    c = dict(CASES[case])
    shape = col2im_model(tmp_path / "m.onnx", c.pop("image"), c.pop("block"), channels=16, conv=True, **c)
    sim, fq = simulated_and_interpreted_on_normal_values(tmp_path / "m.onnx", shape, tmp_path, precision, RNG)
    assert_same_bits(sim, fq, ["y"])


def test_an_image_shape_known_at_run_time_and_three_spatial_axes_are_refused_by_node(tmp_path):
    col2im_model(tmp_path / "m.onnx", [5, 5], [2, 2], given=True)
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 1 and 'node Col2Im "fold" (opset 18)' in r.stderr, r.stderr
    assert "needs image_shape and block_shape known when the model is read" in r.stderr
    nodes = [helper.make_node("Col2Im", ["cols", "image", "block"], ["y"], name="fold")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("cols", TensorProto.FLOAT, [1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.array([3, 3, 3]), "image"),
                               numpy_helper.from_array(np.array([2, 2, 2]), "block")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "v.onnx")
    r = run_npucc("dump-ir", tmp_path / "v.onnx")
    assert r.returncode == 1 and "Col2Im is supported over two spatial axes only" in r.stderr, r.stderr
