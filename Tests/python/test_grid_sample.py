"""GridSample (torch's grid_sample) in every mode, padding mode and corner alignment, with
grid points outside the image, and AffineGrid (torch's affine_grid): the interpreter
computes them as onnxruntime does, and bundles run them bit for bit as the fake-quant
interpreter runs the model, also where convolutions compute the grid (a flow warp, a
spatial transformer)."""
import itertools

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_compile_refuses, assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(2016)
NAMES = {16: ["bilinear", "nearest", "bicubic"], 20: ["linear", "nearest", "cubic"]}


def grid_sample_model(path, opset, mode, padding, aligned, x_shape=(2, 3, 5, 7), grid_shape=(2, 4, 6, 2)):
    node = helper.make_node("GridSample", ["x", "g"], ["y"], name="sample", mode=mode, padding_mode=padding,
                            align_corners=aligned)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape)),
                                            helper.make_tensor_value_info("g", TensorProto.FLOAT, list(grid_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def sample_inputs():
    """An image and a grid reaching 40% past the image on every side, with the corners, the
    centre and a point several widths out (reflected more than once)."""
    x = RNG.standard_normal((2, 3, 5, 7)).astype(np.float32)
    grid = RNG.uniform(-1.4, 1.4, (2, 4, 6, 2)).astype(np.float32)
    grid[0, 0, :4] = [[1, 1], [-1, -1], [3.7, -2.9], [0, 0]]
    return {"x": x, "g": grid}


@pytest.mark.parametrize("opset,mode,padding,aligned", [
    (opset, mode, padding, aligned) for opset in NAMES for mode, padding, aligned in
    itertools.product(range(3), ["zeros", "border", "reflection"], [0, 1])])
def test_grid_sample_as_onnxruntime(tmp_path, opset, mode, padding, aligned):
    grid_sample_model(tmp_path / "m.onnx", opset, NAMES[opset][mode], padding, aligned)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", sample_inputs(), tmp_path)
    # Weights and sums in onnxruntime's order up to the rounding of a weight's last bit.
    np.testing.assert_allclose(got["y"], want["y"], rtol=0, atol=1e-6 * np.abs(want["y"]).max())
    if mode == 1:
        np.testing.assert_array_equal(got["y"], want["y"])  # nearest reads a pixel, unweighted


@pytest.mark.parametrize("mode,padding", list(itertools.product(["linear", "nearest", "cubic"],
                                                                ["zeros", "border", "reflection"])))
def test_grid_sample_bundle_runs_as_the_interpreter(tmp_path, mode, padding):
    grid_sample_model(tmp_path / "m.onnx", 20, mode, padding, 0)
    np.savez(tmp_path / "x.npz", **sample_inputs())
    np.savez(tmp_path / "calib.npz", **sample_inputs())
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])


def flow_warp_model(path):
    """x [1, 4, 10, 12] -> conv features f; a conv of f gives a flow (tanh, 0.3 of the
    image), added to the identity grid; f warped by it (bilinear, border) -> conv."""
    h, w = 10, 12
    ys, xs = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    base = np.stack([xs, ys], -1)[None].astype(np.float32)
    inits = [numpy_helper.from_array((RNG.standard_normal(s) / 4).astype(np.float32), n) for n, s in
             [("w1", (8, 4, 3, 3)), ("wf", (2, 8, 3, 3)), ("w2", (8, 8, 3, 3))]]
    inits += [numpy_helper.from_array(base, "base"), numpy_helper.from_array(np.float32(0.3), "reach")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["f0"], name="features", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["f0"], ["f"]),
             helper.make_node("Conv", ["f", "wf"], ["flow0"], name="flow", pads=[1, 1, 1, 1]),
             helper.make_node("Tanh", ["flow0"], ["flow1"]),
             helper.make_node("Mul", ["flow1", "reach"], ["flow2"]),
             helper.make_node("Transpose", ["flow2"], ["flow3"], perm=[0, 2, 3, 1]),
             helper.make_node("Add", ["base", "flow3"], ["grid"]),
             helper.make_node("GridSample", ["f", "grid"], ["warped"], name="warp", padding_mode="border"),
             helper.make_node("Conv", ["warped", "w2"], ["y"], name="head", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, h, w])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, h, w])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def affine_grid_model(path, size, aligned, batch):
    graph = helper.make_graph([helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=aligned)], "g",
                              [helper.make_tensor_value_info("theta", TensorProto.FLOAT, [batch, 2, 3])],
                              [helper.make_tensor_value_info("grid", TensorProto.FLOAT, None)],
                              [helper.make_tensor("size", TensorProto.INT64, [4], size)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), path)


@pytest.mark.parametrize("aligned", [0, 1])
@pytest.mark.parametrize("size", [[2, 3, 5, 7], [1, 1, 1, 4], [2, 1, 6, 1]])
def test_affine_grid_as_onnxruntime(tmp_path, size, aligned):
    affine_grid_model(tmp_path / "m.onnx", size, aligned, size[0])
    theta = RNG.standard_normal((size[0], 2, 3)).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"theta": theta}, tmp_path)
    assert got["grid"].shape == (size[0], size[2], size[3], 2)
    if aligned and 1 in size[2:]:
        # One pixel along an aligned axis sits at 0, as torch's affine_grid puts it
        # (onnxruntime puts it at 1, ONNX's reference at -1).
        coordinates = np.linspace(-1, 1, max(size[2:]), dtype=np.float32)
        y, x = (np.zeros(1, np.float32), coordinates) if size[2] == 1 else (coordinates, np.zeros(1, np.float32))
        expected = (theta[:, None, None, :, 0] * x[None, None, :, None] + theta[:, None, None, :, 1] * y[None, :, None, None]
                    + theta[:, None, None, :, 2])
        np.testing.assert_allclose(got["grid"], expected, rtol=0, atol=1e-6)
    else:
        np.testing.assert_allclose(got["grid"], want["grid"], rtol=0, atol=1e-6)


def spatial_transformer_model(path):
    """x [1, 3, 12, 16] -> a localisation net (strided conv, relu, global pool, Gemm to six
    values, scaled and added to the identity matrix) -> AffineGrid of x's shape ->
    GridSample -> conv, as torch exports a spatial transformer at opset 20."""
    inits = [numpy_helper.from_array((RNG.standard_normal(s) / 3).astype(np.float32), n) for n, s in
             [("wl", (8, 3, 3, 3)), ("wg", (6, 8)), ("wc", (4, 3, 3, 3))]]
    inits += [numpy_helper.from_array(np.array([[1, 0, 0], [0, 1, 0]], np.float32), "identity"),
              numpy_helper.from_array(np.float32(0.2), "scale"),
              numpy_helper.from_array(np.array([-1, 2, 3], np.int64), "matrix")]
    nodes = [helper.make_node("Conv", ["x", "wl"], ["l0"], name="localise", strides=[2, 2]),
             helper.make_node("Relu", ["l0"], ["l1"]),
             helper.make_node("GlobalAveragePool", ["l1"], ["l2"]),
             helper.make_node("Flatten", ["l2"], ["l3"]),
             helper.make_node("Gemm", ["l3", "wg"], ["l4"], name="regress", transB=1),
             helper.make_node("Reshape", ["l4", "matrix"], ["l5"]),
             helper.make_node("Mul", ["l5", "scale"], ["l6"]),
             helper.make_node("Add", ["l6", "identity"], ["theta"]),
             helper.make_node("Shape", ["x"], ["size"]),
             helper.make_node("AffineGrid", ["theta", "size"], ["grid"]),
             helper.make_node("GridSample", ["x", "grid"], ["moved"], name="transform"),
             helper.make_node("Conv", ["moved", "wc"], ["y"], name="head")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 12, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 10, 14])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), path)


@pytest.mark.parametrize("precision,sparsity", [("fp16", "none"), ("nvfp4", "2:4")])
@pytest.mark.parametrize("make,shape", [(flow_warp_model, (4, 10, 12)), (spatial_transformer_model, (3, 12, 16))])
def test_a_computed_grid_compiles_and_runs_as_the_interpreter(tmp_path, make, shape, precision, sparsity):
    make(tmp_path / "m.onnx")
    x = RNG.standard_normal((1, *shape)).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    np.testing.assert_allclose(got["y"], want["y"], rtol=0, atol=1e-5 * np.abs(want["y"]).max())
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, *shape)).astype(np.float32))
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, sparsity,
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])


def test_volumes_and_misspelled_modes_are_refused_by_name(tmp_path):
    grid_sample_model(tmp_path / "v.onnx", 20, "linear", "zeros", 0, x_shape=(1, 2, 3, 4, 5), grid_shape=(1, 2, 3, 4, 3))
    assert_compile_refuses(tmp_path / "v.onnx", tmp_path,
                           'node GridSample "sample" (opset 20): X of rank 5: GridSample is supported over two spatial axes')
    grid_sample_model(tmp_path / "m.onnx", 16, "linear", "zeros", 0)
    assert_compile_refuses(tmp_path / "m.onnx", tmp_path,
                           'mode "linear" is not one of "bilinear", "nearest", "bicubic" (opset 16)')
    graph = helper.make_graph([helper.make_node("AffineGrid", ["theta", "size"], ["grid"], name="volume")], "g",
                              [helper.make_tensor_value_info("theta", TensorProto.FLOAT, [1, 3, 4])],
                              [helper.make_tensor_value_info("grid", TensorProto.FLOAT, None)],
                              [helper.make_tensor("size", TensorProto.INT64, [5], [1, 1, 2, 3, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), tmp_path / "a.onnx")
    assert_compile_refuses(tmp_path / "a.onnx", tmp_path, 'node AffineGrid "volume" (opset 20): size has 5 values')
    r = run_npucc("run", tmp_path / "a.onnx", "--inputs", tmp_path / "none.npz", "--outputs", tmp_path / "o.npz")
    assert r.returncode == 1 and "AffineGrid is supported for 2-D images" in r.stderr
