"""DeformConv (opset 19), imported as its bilinear look-ups and a 1x1 convolution of the
samples: `npucc run` gives onnxruntime's outputs over random offsets reaching past the
image's edges, with groups, offset groups, strides, dilations, pads, a mask and a bias; the
bundle computes the fake-quant interpreter's bits at every precision, its product one layer;
offsets of another shape and a kernel_shape other than the weight's are refused by node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(0)


def model(path, x_shape, w, kernel, group, offset_group, strides, dilations, pads, masked, biased, out):
    names = ["x", "w", "offset", "b" if biased else "", "mask" if masked else ""]
    while names[-1] == "":
        names.pop()
    inputs = [h.make_tensor_value_info("x", T.FLOAT, list(x_shape)),
              h.make_tensor_value_info("offset", T.FLOAT, [x_shape[0], offset_group * kernel[0] * kernel[1] * 2, *out])]
    if masked:
        inputs.append(h.make_tensor_value_info("mask", T.FLOAT, [x_shape[0], offset_group * kernel[0] * kernel[1], *out]))
    inits = [nh.from_array(w, "w")]
    if biased:
        inits.append(nh.from_array(RNG.standard_normal(w.shape[0]).astype(np.float32), "b"))
    node = h.make_node("DeformConv", names, ["y"], name="deform", group=group, offset_group=offset_group,
                       strides=strides, dilations=dilations, pads=pads, kernel_shape=kernel)
    m = h.make_model(h.make_graph([node], "g", inputs, [h.make_tensor_value_info("y", T.FLOAT, None)], inits),
                     opset_imports=[h.make_opsetid("", 19)])
    onnx.save(m, str(path))


@pytest.mark.parametrize("group,offset_group", [(1, 1), (2, 1), (1, 2), (2, 4)])
@pytest.mark.parametrize("strides,dilations,pads", [([1, 1], [1, 1], [1, 1, 1, 1]), ([2, 1], [1, 2], [0, 2, 1, 0])])
@pytest.mark.parametrize("masked,biased", [(False, False), (True, True)])
def test_deform_conv_computes_what_onnxruntime_computes(tmp_path, group, offset_group, strides, dilations, pads,
                                                         masked, biased):
    x_shape, kernel, m = (2, 8, 7, 9), (3, 3), 6
    w = RNG.standard_normal((m, 8 // group, *kernel)).astype(np.float32)
    out = [(x_shape[2 + a] + pads[a] + pads[a + 2] - (kernel[a] - 1) * dilations[a] - 1) // strides[a] + 1
           for a in range(2)]
    model(tmp_path / "d.onnx", x_shape, w, kernel, group, offset_group, strides, dilations, pads, masked, biased, out)
    feeds = {"x": RNG.standard_normal(x_shape).astype(np.float32),
             # Offsets of up to 3 pixels: taps land between pixels and past every edge.
             "offset": RNG.uniform(-3, 3, (2, offset_group * 18, *out)).astype(np.float32)}
    if masked:
        feeds["mask"] = RNG.uniform(0, 1, (2, offset_group * 9, *out)).astype(np.float32)
    got, want = (outputs["y"] for outputs in interpreted_and_onnxruntime(tmp_path / "d.onnx", feeds, tmp_path))
    assert got.shape == want.shape
    # The same samples and products, summed in another order (onnxruntime's MLAS fuses them):
    # a few float32 units of the 72-term sums (about 4e-6 at most here).
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("precision,sparsity", [("fp16", "none"), ("fp8", "none"), ("nvfp4", "none"), ("nvfp4", "2:4")])
def test_the_npu_computes_it_bit_for_bit_as_the_interpreter(tmp_path, precision, sparsity):
    # Groups and offset groups, a stride and a dilation, a mask and a bias; offsets past every
    # edge, and one NaN offset (its sample 0).
    x_shape, kernel, m, out = (1, 8, 9, 11), (3, 3), 16, [5, 9]
    w = RNG.standard_normal((m, 4, *kernel)).astype(np.float32)
    model(tmp_path / "d.onnx", x_shape, w, kernel, 2, 2, [2, 1], [1, 2], [1, 1, 1, 1], True, True, out)
    def inputs(batch):
        offset = RNG.uniform(-3, 3, (*batch, 1, 36, *out)).astype(np.float32)
        return {"x": RNG.standard_normal((*batch, *x_shape)).astype(np.float32), "offset": offset,
                "mask": RNG.uniform(0, 1, (*batch, 1, 18, *out)).astype(np.float32)}
    given = inputs(())
    given["offset"][0, 5, 2, 3] = np.nan
    np.savez(tmp_path / "x.npz", **given)
    np.savez(tmp_path / "calib.npz", **inputs((4,)))
    sim, fq = simulated_and_interpreted(tmp_path / "d.onnx", tmp_path / "x.npz", tmp_path, precision, sparsity,
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
    assert np.isfinite(fq["y"]).all()
    # The product of the samples and the weights is one layer, named as the node.
    r = run_npucc("inspect", tmp_path / "m.npub")
    assert r.returncode == 0 and "deform" in r.stdout and precision in r.stdout


def test_an_offset_of_another_shape_is_refused_by_node(tmp_path):
    w = RNG.standard_normal((4, 2, 3, 3)).astype(np.float32)
    model(tmp_path / "d.onnx", (1, 2, 5, 5), w, (3, 3), 1, 1, [1, 1], [1, 1], [1, 1, 1, 1], False, False, [4, 5])
    r = run_npucc("compile", tmp_path / "d.onnx", "-o", tmp_path / "d.npub")
    assert r.returncode == 1 and not (tmp_path / "d.npub").exists()
    assert 'node DeformConv "deform" (opset 19): offset [1,18,4,5] is not [1,18,5,5]' in r.stderr, r.stderr


def test_a_kernel_shape_other_than_the_weights_is_refused_by_node(tmp_path):
    w = RNG.standard_normal((4, 2, 2, 2)).astype(np.float32)
    model(tmp_path / "d.onnx", (1, 2, 5, 5), w, (3, 3), 1, 1, [1, 1], [1, 1], [1, 1, 1, 1], False, False, [5, 5])
    np.savez(tmp_path / "in.npz", x=np.zeros((1, 2, 5, 5), np.float32), offset=np.zeros((1, 18, 5, 5), np.float32))
    r = run_npucc("run", tmp_path / "d.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1 and not (tmp_path / "out.npz").exists()
    assert ('node DeformConv "deform" (opset 19): kernel_shape [3,3] disagrees with the weight\'s spatial dims [2,2]'
            in r.stderr), r.stderr
