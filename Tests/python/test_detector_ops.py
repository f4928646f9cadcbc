"""NonMaxSuppression, Compress and RoiAlign, a detector's post-processing and its second
stage's pooling, in the interpreter: `npucc run` gives onnxruntime's selected boxes and slices
exactly, over random boxes in both formats with tied scores and overlaps at the threshold, and
its pooled regions; a whole exported detector then runs end to end, at any precision, while
`compile` stops before the NMS by name and compiles the network up to it with
--graph-outputs. A second stage given its regions compiles when its RoiAlign samples a
fixed number of points a bin (imported as look-ups and arithmetic), bit for bit as the
fake-quant interpreter runs it. Fast R-CNN's MaxRoiPool pools as onnxruntime pools, and
compile refuses it by node."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(0)


def save(path, nodes, inputs, outputs, inits=(), opset=13):
    model = h.make_model(h.make_graph(nodes, "g", inputs, outputs, list(inits)), opset_imports=[h.make_opsetid("", opset)])
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))


def refused(tmp_path, model, message):
    """`npucc run` of `model` on in.npz fails with `message` last, naming the node, and
    writes no output."""
    r = run_npucc("run", model, "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1
    assert r.stderr.strip().endswith(message), r.stderr
    assert not (tmp_path / "out.npz").exists()


def random_boxes(batches, count, centered):
    """Boxes on a coarse grid, so that many overlap exactly at simple ratios (1/2, 1/3)."""
    if centered:
        centers = RNG.integers(0, 8, (batches, count, 2)).astype(np.float32)
        sizes = RNG.integers(1, 5, (batches, count, 2)).astype(np.float32)
        return np.concatenate([centers, sizes], axis=2)
    corners = RNG.integers(0, 10, (batches, count, 4)).astype(np.float32)
    return corners  # either diagonal pair, in either order


@pytest.mark.parametrize("centered", [0, 1])
@pytest.mark.parametrize("iou", [0.0, 0.5, 1 / 3, 1.0])
@pytest.mark.parametrize("thresholded", [False, True])
def test_nms_selects_the_boxes_onnxruntime_selects(tmp_path, centered, iou, thresholded):
    batches, classes, count = 2, 3, 40
    names = ["boxes", "scores", "limit", "iou"] + (["threshold"] if thresholded else [])
    inits = [nh.from_array(np.array([7], np.int64), "limit"), nh.from_array(np.array([iou], np.float32), "iou")]
    if thresholded:
        inits.append(nh.from_array(np.array([0.25], np.float32), "threshold"))
    save(tmp_path / "nms.onnx",
         [h.make_node("NonMaxSuppression", names, ["selected"], center_point_box=centered)],
         [h.make_tensor_value_info("boxes", T.FLOAT, [batches, count, 4]),
          h.make_tensor_value_info("scores", T.FLOAT, [batches, classes, count])],
         [h.make_tensor_value_info("selected", T.INT64, [None, 3])], inits, opset=11)
    for _ in range(3):
        # Scores in eighths: ties, and scores equal to the threshold.
        scores = (RNG.integers(0, 9, (batches, classes, count)) / 8).astype(np.float32)
        feeds = {"boxes": random_boxes(batches, count, centered), "scores": scores}
        got, want = interpreted_and_onnxruntime(tmp_path / "nms.onnx", feeds, tmp_path)
        assert got["selected"].dtype == np.int64 and got["selected"].tolist() == want["selected"].tolist()
        assert len(want["selected"]) > 0


def test_nms_without_its_optional_inputs_keeps_no_box_and_without_thresholds_every_score(tmp_path):
    boxes = random_boxes(1, 12, False)
    scores = RNG.standard_normal((1, 2, 12)).astype(np.float32)
    inputs = [h.make_tensor_value_info("boxes", T.FLOAT, [1, 12, 4]),
              h.make_tensor_value_info("scores", T.FLOAT, [1, 2, 12])]
    output = [h.make_tensor_value_info("selected", T.INT64, [None, 3])]
    save(tmp_path / "none.onnx", [h.make_node("NonMaxSuppression", ["boxes", "scores"], ["selected"])], inputs, output)
    got, want = interpreted_and_onnxruntime(tmp_path / "none.onnx", {"boxes": boxes, "scores": scores}, tmp_path)
    assert got["selected"].shape == want["selected"].shape == (0, 3)
    # A limit, no IoU threshold (0: any overlap suppresses) and no score threshold (negative
    # scores kept too).
    save(tmp_path / "limit.onnx", [h.make_node("NonMaxSuppression", ["boxes", "scores", "limit"], ["selected"])],
         inputs, output, [nh.from_array(np.array([12], np.int64), "limit")])
    got, want = interpreted_and_onnxruntime(tmp_path / "limit.onnx", {"boxes": boxes, "scores": scores}, tmp_path)
    assert got["selected"].tolist() == want["selected"].tolist()
    assert (scores[0, want["selected"][:, 1], want["selected"][:, 2]] < 0).any()


def test_nms_refuses_an_iou_threshold_outside_0_to_1_by_node(tmp_path):
    save(tmp_path / "bad.onnx",
         [h.make_node("NonMaxSuppression", ["boxes", "scores", "limit", "iou"], ["selected"], name="nms")],
         [h.make_tensor_value_info("boxes", T.FLOAT, [1, 4, 4]), h.make_tensor_value_info("scores", T.FLOAT, [1, 1, 4])],
         [h.make_tensor_value_info("selected", T.INT64, [None, 3])],
         [nh.from_array(np.array([3], np.int64), "limit"), nh.from_array(np.array([1.5], np.float32), "iou")])
    np.savez(tmp_path / "in.npz", boxes=random_boxes(1, 4, False), scores=np.ones((1, 1, 4), np.float32))
    refused(tmp_path, tmp_path / "bad.onnx",
            'node NonMaxSuppression "nms" (opset 13): iou_threshold 1.5 is not between 0 and 1')


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_compress_keeps_the_slices_onnxruntime_keeps(tmp_path, axis, dtype):
    x = (RNG.standard_normal((3, 5, 4)) * 10).astype(dtype)
    extent = x.size if axis is None else x.shape[axis]
    attributes = {} if axis is None else {"axis": axis}
    save(tmp_path / "c.onnx", [h.make_node("Compress", ["x", "condition"], ["y"], **attributes)],
         [h.make_tensor_value_info("x", onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), list(x.shape)),
          h.make_tensor_value_info("condition", T.BOOL, [None])],
         [h.make_tensor_value_info("y", onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)),
                                   [None] * (1 if axis is None else x.ndim))])
    # The whole axis, a shorter condition, and a longer one whose values past the axis are false.
    for length in [extent, extent - 2, extent + 3]:
        condition = RNG.random(length) < 0.5
        condition[extent:] = False
        got, want = interpreted_and_onnxruntime(tmp_path / "c.onnx", {"x": x, "condition": condition}, tmp_path)
        assert got["y"].dtype == want["y"].dtype and got["y"].shape == want["y"].shape
        assert got["y"].tobytes() == want["y"].tobytes()


def test_compress_refuses_a_condition_true_past_the_axis_by_node(tmp_path):
    save(tmp_path / "c.onnx", [h.make_node("Compress", ["x", "condition"], ["y"], axis=1, name="keep")],
         [h.make_tensor_value_info("x", T.FLOAT, [2, 3]), h.make_tensor_value_info("condition", T.BOOL, [None])],
         [h.make_tensor_value_info("y", T.FLOAT, [2, None])])
    np.savez(tmp_path / "in.npz", x=np.ones((2, 3), np.float32), condition=np.array([1, 0, 0, 1], bool))
    refused(tmp_path, tmp_path / "c.onnx",
            'node Compress "keep" (opset 13): condition is true at 3, past the 3 slices along axis 1 of the input')


def detector(path):
    """A convolutional head giving 64 centre-format boxes and two classes' scores, then
    NonMaxSuppression and the Gather of the first kept box's coordinates."""
    w = (RNG.standard_normal((6, 3, 3, 3)) * 0.5).astype(np.float32)
    nodes = [
        h.make_node("Conv", ["x", "w"], ["features"], pads=[1, 1, 1, 1], name="head"),
        h.make_node("Split", ["features", "split"], ["box_map", "score_map"], axis=1),
        h.make_node("Reshape", ["box_map", "box_shape"], ["box_rows"]),
        h.make_node("Transpose", ["box_rows"], ["boxes"], perm=[0, 2, 1]),
        h.make_node("Reshape", ["score_map", "score_shape"], ["logits"]),
        h.make_node("Sigmoid", ["logits"], ["scores"]),
        h.make_node("NonMaxSuppression", ["boxes", "scores", "limit", "iou", "threshold"], ["selected"], name="nms",
                    center_point_box=1),
    ]
    inits = [nh.from_array(w, "w"), nh.from_array(np.array([4, 2], np.int64), "split"),
             nh.from_array(np.array([1, 4, 64], np.int64), "box_shape"),
             nh.from_array(np.array([1, 2, 64], np.int64), "score_shape"),
             nh.from_array(np.array([5], np.int64), "limit"), nh.from_array(np.array([0.3], np.float32), "iou"),
             nh.from_array(np.array([0.2], np.float32), "threshold")]
    save(path, nodes, [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 8, 8])],
         [h.make_tensor_value_info("selected", T.INT64, [None, 3])], inits)


def test_a_detector_runs_whole_and_compiles_up_to_its_nms(tmp_path):
    detector(tmp_path / "det.onnx")
    x = RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)
    got, want = interpreted_and_onnxruntime(tmp_path / "det.onnx", {"x": x}, tmp_path)
    assert got["selected"].tolist() == want["selected"].tolist() and len(want["selected"]) > 2

    # At fp8, the interpreter's NMS keeps what onnxruntime's keeps of the same rounded boxes
    # and scores (the model cut before the NMS, run by npucc with the same flags).
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 3, 8, 8)).astype(np.float32))
    fp8 = ["--precision", "fp8", "--calib", tmp_path / "calib.npz"]
    r = run_npucc("run", tmp_path / "det.onnx", "--inputs", tmp_path / "inputs.npz", "--outputs", tmp_path / "q.npz",
                  *fp8)
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", tmp_path / "det.onnx", "--inputs", tmp_path / "inputs.npz", "--outputs", tmp_path / "bs.npz", *fp8,
                  "--graph-outputs", "boxes,scores")
    assert r.returncode == 0, r.stderr
    rounded = dict(np.load(tmp_path / "bs.npz"))
    assert not np.array_equal(rounded["scores"], want_scores(tmp_path, x))
    nms = h.make_model(h.make_graph(
        [h.make_node("NonMaxSuppression", ["boxes", "scores", "limit", "iou", "threshold"], ["selected"],
                     center_point_box=1)], "nms",
        [h.make_tensor_value_info("boxes", T.FLOAT, [1, 64, 4]), h.make_tensor_value_info("scores", T.FLOAT, [1, 2, 64])],
        [h.make_tensor_value_info("selected", T.INT64, [None, 3])],
        [nh.from_array(np.array([5], np.int64), "limit"), nh.from_array(np.array([0.3], np.float32), "iou"),
         nh.from_array(np.array([0.2], np.float32), "threshold")]), opset_imports=[h.make_opsetid("", 13)])
    kept = ort.InferenceSession(nms.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, rounded)[0]
    assert np.load(tmp_path / "q.npz")["selected"].tolist() == kept.tolist()

    # compile stops at the NMS by node, and compiles what comes before it.
    r = run_npucc("compile", tmp_path / "det.onnx", "-o", tmp_path / "det.npub", *fp8)
    assert r.returncode == 1 and not (tmp_path / "det.npub").exists()
    assert r.stderr.strip() == (
        f'npucc: error: {tmp_path / "det.onnx"}: node NonMaxSuppression "nms" (opset 13): value "selected" has no '
        "static type: how many boxes it keeps depends on the values it reads; the NPU's buffers are sized at compile "
        'time; to compile the model up to the values before it (it reads "boxes", "scores"), name them with '
        "--graph-outputs")
    r = run_npucc("compile", tmp_path / "det.onnx", "-o", tmp_path / "det.npub", *fp8, "--graph-outputs", "boxes,scores")
    assert r.returncode == 0, r.stderr


def want_scores(tmp_path, x):
    """onnxruntime's float32 scores of the detector."""
    model = onnx.load(str(tmp_path / "det.onnx"))
    model.graph.output.append(h.make_tensor_value_info("scores", T.FLOAT, [1, 2, 64]))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["scores"], {"x": x})[0]


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("transform,opset", [("half_pixel", 16), ("output_half_pixel", 16), (None, 10)])
@pytest.mark.parametrize("ratio,scale,size", [(0, 1.0, (3, 3)), (2, 0.5, (2, 4))])
def test_roialign_pools_the_regions_as_onnxruntime(tmp_path, mode, transform, opset, ratio, scale, size):
    """Regions inside the image, across its edges, beyond it, thinner than a pixel and larger
    than the image, on two images; opset 10's form has no half-pixel offset."""
    x = RNG.standard_normal((2, 3, 9, 11)).astype(np.float32)
    corners = RNG.uniform(-4, 24, (12, 2, 2)).astype(np.float32)
    rois = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    rois[0] = [2.0, 3.0, 2.2, 3.1]
    rois[1] = [-30, -30, 60, 60]
    indices = RNG.integers(0, 2, 12).astype(np.int64)
    attributes = {"mode": mode, "output_height": size[0], "output_width": size[1], "sampling_ratio": ratio,
                  "spatial_scale": scale}
    if transform:
        attributes["coordinate_transformation_mode"] = transform
    save(tmp_path / "roi.onnx", [h.make_node("RoiAlign", ["x", "rois", "indices"], ["y"], **attributes)],
         [h.make_tensor_value_info("x", T.FLOAT, list(x.shape)), h.make_tensor_value_info("rois", T.FLOAT, [12, 4]),
          h.make_tensor_value_info("indices", T.INT64, [12])],
         [h.make_tensor_value_info("y", T.FLOAT, [12, 3, *size])], opset=opset)
    got, want = interpreted_and_onnxruntime(tmp_path / "roi.onnx", {"x": x, "rois": rois, "indices": indices}, tmp_path)
    # Computed in onnxruntime's order, sample by sample: the same bits.
    np.testing.assert_array_equal(got["y"], want["y"])
    assert np.abs(want["y"]).max() > 0.1


def test_roialign_refuses_a_region_of_an_image_x_does_not_have_by_node(tmp_path):
    save(tmp_path / "roi.onnx", [h.make_node("RoiAlign", ["x", "rois", "indices"], ["y"], name="pool")],
         [h.make_tensor_value_info("x", T.FLOAT, [1, 2, 4, 4]), h.make_tensor_value_info("rois", T.FLOAT, [1, 4]),
          h.make_tensor_value_info("indices", T.INT64, [1])],
         [h.make_tensor_value_info("y", T.FLOAT, [1, 2, 1, 1])], opset=16)
    np.savez(tmp_path / "in.npz", x=np.ones((1, 2, 4, 4), np.float32), rois=np.array([[0, 0, 2, 2]], np.float32),
             indices=np.array([1], np.int64))
    refused(tmp_path, tmp_path / "roi.onnx",
            'node RoiAlign "pool" (opset 16): batch_indices[0] is 1, outside the 1 images of X')


def test_compile_refuses_an_adaptive_roialign_by_node(tmp_path):
    save(tmp_path / "roi.onnx", [h.make_node("RoiAlign", ["x", "rois", "indices"], ["y"], name="pool")],
         [h.make_tensor_value_info("x", T.FLOAT, [1, 2, 4, 4]), h.make_tensor_value_info("rois", T.FLOAT, [3, 4]),
          h.make_tensor_value_info("indices", T.INT64, [3])],
         [h.make_tensor_value_info("y", T.FLOAT, [3, 2, 1, 1])], opset=16)
    r = run_npucc("compile", tmp_path / "roi.onnx", "-o", tmp_path / "roi.npub")
    assert r.returncode == 1 and not (tmp_path / "roi.npub").exists()
    assert ('node RoiAlign "pool" (opset 16): cannot lower RoiAlign with sampling_ratio 0: how many samples a bin '
            'takes depends on its region\'s size') in r.stderr, r.stderr


def second_stage(path, mode, opset):
    """A two-stage detector's box head, given its regions: RoiAlign (sampling_ratio 2, as
    torchvision's MultiScaleRoIAlign) of a feature map, Flatten, two Gemms."""
    nodes = [h.make_node("RoiAlign", ["x", "rois", "indices"], ["p"], name="pool", mode=mode, output_height=3,
                         output_width=3, sampling_ratio=2, spatial_scale=0.5),
             h.make_node("Flatten", ["p"], ["f"]), h.make_node("Gemm", ["f", "w1", "b1"], ["g"], name="fc1", transB=1),
             h.make_node("Relu", ["g"], ["a"]), h.make_node("Gemm", ["a", "w2", "b2"], ["y"], name="fc2", transB=1)]
    inits = [nh.from_array((RNG.standard_normal((32, 72)) / 8).astype(np.float32), "w1"),
             nh.from_array((RNG.standard_normal((5, 32)) / 4).astype(np.float32), "w2"),
             nh.from_array(np.full(32, 0.1, np.float32), "b1"), nh.from_array(np.zeros(5, np.float32), "b2")]
    save(path, nodes, [h.make_tensor_value_info("x", T.FLOAT, [2, 8, 12, 14]),
                       h.make_tensor_value_info("rois", T.FLOAT, [10, 4]), h.make_tensor_value_info("indices", T.INT64, [10])],
         [h.make_tensor_value_info("y", T.FLOAT, [10, 5])], inits, opset=opset)


def regions(batch=()):
    corners = RNG.uniform(-4, 30, (*batch, 10, 2, 2)).astype(np.float32)
    return {"x": RNG.standard_normal((*batch, 2, 8, 12, 14)).astype(np.float32),
            "rois": np.concatenate([corners.min(axis=-2), corners.max(axis=-2)], axis=-1),
            "indices": RNG.integers(0, 2, (*batch, 10)).astype(np.int64)}


@pytest.mark.parametrize("mode,opset", [("avg", 16), ("max", 16), ("avg", 10)])
@pytest.mark.parametrize("precision", ["fp16", "nvfp4"])
def test_a_second_stage_with_a_fixed_sampling_ratio_compiles_to_the_interpreters_bits(tmp_path, mode, opset,
                                                                                       precision):
    second_stage(tmp_path / "head.onnx", mode, opset)
    np.savez(tmp_path / "in.npz", **regions())
    np.savez(tmp_path / "calib.npz", **regions((4,)))
    sim, fq = simulated_and_interpreted(tmp_path / "head.onnx", tmp_path / "in.npz", tmp_path, precision, "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
    assert np.abs(fq["y"]).max() > 0.1
    # A region of an image X does not have is refused by the bundle too, naming the node.
    for bad in [2, -1]:
        given = regions()
        given["indices"][3] = bad
        np.savez(tmp_path / "bad.npz", **given)
        r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "bad.npz", "--outputs", tmp_path / "out.npz")
        assert r.returncode == 1 and "RoiAlign" in r.stderr and "out of range" in r.stderr, r.stderr
        assert not (tmp_path / "out.npz").exists()


def roi_pool_model(path):
    save(path, [h.make_node("MaxRoiPool", ["x", "rois"], ["y"], name="pool", pooled_shape=[3, 2], spatial_scale=0.5)],
         [h.make_tensor_value_info("x", T.FLOAT, [2, 3, 9, 11]), h.make_tensor_value_info("rois", T.FLOAT, [12, 5])],
         [h.make_tensor_value_info("y", T.FLOAT, [12, 3, 3, 2])])


def test_max_roi_pool_pools_the_regions_as_onnxruntime(tmp_path):
    """Fast R-CNN's pooling: regions inside the image, across its edges, beyond it (empty
    bins give 0), one pixel and larger than the image, on two images; corners at half
    pixels, which round away from zero."""
    roi_pool_model(tmp_path / "pool.onnx")
    corners = RNG.uniform(-8, 40, (12, 2, 2)).astype(np.float32)
    rois = np.concatenate([RNG.integers(0, 2, (12, 1)).astype(np.float32), corners.min(axis=1), corners.max(axis=1)],
                          axis=1)
    rois[0, 1:] = [3, 5, 3, 5]
    rois[1, 1:] = [-60, -60, 90, 90]
    rois[2, 1:] = [40, 40, 60, 60]
    rois[3, 1:] = [1, 3, 7, 9]  # times 0.5: 0.5 and 4.5 round up
    got, want = interpreted_and_onnxruntime(tmp_path / "pool.onnx",
                                            {"x": RNG.standard_normal((2, 3, 9, 11)).astype(np.float32), "rois": rois},
                                            tmp_path)
    np.testing.assert_array_equal(got["y"], want["y"])
    assert (want["y"][2] == 0).all() and (want["y"] < 0).any()
    # The bins' extents depend on the regions: compile refuses it by node, saying why.
    r = run_npucc("compile", tmp_path / "pool.onnx", "-o", tmp_path / "pool.npub")
    assert r.returncode == 1 and not (tmp_path / "pool.npub").exists()
    assert 'node MaxRoiPool "pool" (opset 13): cannot lower MaxRoiPool: how many pixels each bin takes' in r.stderr


def test_max_roi_pool_refuses_a_region_of_an_image_x_does_not_have_by_node(tmp_path):
    roi_pool_model(tmp_path / "pool.onnx")
    rois = np.tile(np.array([[0, 1, 1, 4, 4]], np.float32), (12, 1))
    rois[5, 0] = 2
    np.savez(tmp_path / "in.npz", x=np.ones((2, 3, 9, 11), np.float32), rois=rois)
    refused(tmp_path, tmp_path / "pool.onnx",
            'node MaxRoiPool "pool" (opset 13): rois[5]\'s batch index 2.0 is not one of the 2 images of X')


@pytest.mark.parametrize("roi,message", [
    ([np.nan, 0, 2, 2], "rois[0] [nan, 0.0, 2.0, 2.0] makes nan samples a side of a bin; at most 65536 are taken"),
    ([0, 0, 1e30, 2], "rois[0] [0.0, 0.0, 1e+30, 2.0] makes 1e+30 samples a side of a bin; at most 65536 are taken"),
    ([0, 0, 4000, 3000], "rois[0] [0.0, 0.0, 4000.0, 3000.0] makes 12000000 samples; at most 4194304 are taken")])
def test_roialign_refuses_regions_it_cannot_sample_by_node(tmp_path, roi, message):
    save(tmp_path / "roi.onnx", [h.make_node("RoiAlign", ["x", "rois", "indices"], ["y"], name="pool")],
         [h.make_tensor_value_info("x", T.FLOAT, [1, 2, 4, 4]), h.make_tensor_value_info("rois", T.FLOAT, [1, 4]),
          h.make_tensor_value_info("indices", T.INT64, [1])],
         [h.make_tensor_value_info("y", T.FLOAT, [1, 2, 1, 1])], opset=16)
    np.savez(tmp_path / "in.npz", x=np.ones((1, 2, 4, 4), np.float32), rois=np.array([roi], np.float32),
             indices=np.array([0], np.int64))
    refused(tmp_path, tmp_path / "roi.onnx", f'node RoiAlign "pool" (opset 16): {message}')


def test_nms_never_keeps_a_box_scored_nan(tmp_path):
    save(tmp_path / "nms.onnx", [h.make_node("NonMaxSuppression", ["boxes", "scores", "limit"], ["selected"])],
         [h.make_tensor_value_info("boxes", T.FLOAT, [1, 4, 4]), h.make_tensor_value_info("scores", T.FLOAT, [1, 1, 4])],
         [h.make_tensor_value_info("selected", T.INT64, [None, 3])], [nh.from_array(np.array([4], np.int64), "limit")])
    boxes = np.array([[[0, 0, 1, 1], [0, 2, 1, 3], [0, 4, 1, 5], [0, 6, 1, 7]]], np.float32)
    np.savez(tmp_path / "in.npz", boxes=boxes, scores=np.array([[[0.5, np.nan, 0.9, 0.1]]], np.float32))
    r = run_npucc("run", tmp_path / "nms.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "out.npz")["selected"].tolist() == [[0, 0, 2], [0, 0, 0], [0, 0, 3]]
