"""MaxPool's Indices and MaxUnpool: indices flattened over the whole input (row-major, or
column-major with storage_order 1), windows with pads, strides, dilations and ties, 1-D and
3-D pools, MaxUnpool with and without output_shape, and a SegNet-style encoder-decoder in
both forms PyTorch exports (MaxUnpool, and the dynamo exporter's ScatterND of the Indices),
each as onnxruntime computes it in the interpreter and as the interpreter computes it on the
NPU (the Indices from `vopp max_pool_index`, the unpooling a `scatter`); bad indices are
refused by node in the interpreter and by instruction in the simulator."""
import json
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(2024)
F, I64 = TensorProto.FLOAT, TensorProto.INT64


def save(path, nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


# Pools over one and two spatial axes: pads, strides, dilations, ceil_mode, column-major indices.
POOLS = [
    ([2, 3, 9, 8], {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ([1, 2, 7, 7], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ([1, 2, 8, 9], {"kernel_shape": [3, 2], "strides": [1, 2], "dilations": [2, 1]}),
    ([1, 2, 7, 6], {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    ([2, 3, 6, 5], {"kernel_shape": [2, 3], "strides": [2, 1], "storage_order": 1}),
    ([2, 3, 11], {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}),
]


@pytest.mark.parametrize("shape,attributes", POOLS + [
    ([1, 2, 4, 6, 5], {"kernel_shape": [2, 2, 2], "strides": [2, 2, 2]}),
])
def test_max_pool_indices_are_onnxruntimes(tmp_path, shape, attributes):
    node = helper.make_node("MaxPool", ["x"], ["y", "i"], name="pool", **attributes)
    save(tmp_path / "m.onnx", [node], [helper.make_tensor_value_info("x", F, shape)],
         [helper.make_tensor_value_info("y", F, None), helper.make_tensor_value_info("i", I64, None)])
    x = RNG.standard_normal(shape).astype(np.float32)
    x.flat[::7] = 0.5  # ties: the first of equal maxima
    ours, theirs = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    assert ours["i"].dtype == np.int64
    np.testing.assert_array_equal(ours["i"], theirs["i"])
    assert_same_bits(ours, theirs, ["y"])


def simulated_and_interpreted_at_fp16(model, inputs, folder, sram=None):
    """`simulated_and_interpreted` at fp16, the bundle compiled for the default target or,
    given `sram`, for one with that many bytes of tile SRAM (so that a pool takes its planes
    in pieces of rows and a scatter its tuples in many blocks)."""
    if sram is None:
        return simulated_and_interpreted(model, inputs, folder, "fp16", "none", None)
    target = json.loads(run_npucc("target", "--json").stdout)
    for m in target["memories"]:
        if m["name"] == "sram":
            m["size_bytes"] = sram
    (folder / "t.json").write_text(json.dumps(target))
    r = run_npucc("compile", model, "-o", folder / "m.npub", "--precision", "fp16", "--target", folder / "t.json")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", folder / "m.npub", "--inputs", inputs, "--outputs", folder / "sim.npz")
    assert r.returncode == 0, r.stderr
    r = run_npucc("run", model, "--inputs", inputs, "--outputs", folder / "fq.npz", "--precision", "fp16")
    assert r.returncode == 0, r.stderr
    return np.load(folder / "sim.npz"), np.load(folder / "fq.npz")


@pytest.mark.parametrize("small", [False, True], ids=["sram", "small_sram"])
@pytest.mark.parametrize("shape,attributes", POOLS)
def test_the_npu_finds_the_indices_the_interpreter_finds(tmp_path, shape, attributes, small):
    if small:  # planes three times as tall and wide
        shape = shape[:2] + [3 * d for d in shape[2:]]
    node = helper.make_node("MaxPool", ["x"], ["y", "i"], name="pool", **attributes)
    save(tmp_path / "m.onnx", [node], [helper.make_tensor_value_info("x", F, shape)],
         [helper.make_tensor_value_info("y", F, None), helper.make_tensor_value_info("i", I64, None)])
    x = RNG.standard_normal(shape).astype(np.float32)
    x.flat[::7] = 0.5  # ties: the first of equal maxima
    x.flat[3::11] = np.nan  # a NaN wins, the last of a window's
    x.flat[5::13] = -np.inf
    x[(0, 0) + (slice(0, 4),) * (len(shape) - 2)] = -np.inf  # a window of -inf: its first position
    np.savez(tmp_path / "x.npz", x=x)
    sim, fq = simulated_and_interpreted_at_fp16(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, 1024 if small else None)
    assert sim["i"].dtype == np.int64
    np.testing.assert_array_equal(sim["i"], fq["i"])
    if small and len(shape) == 4:  # a plane's output rows in more than one piece
        pieces = run_npucc("disasm", tmp_path / "m.npub").stdout.count("op=max_pool_index")
        assert pieces > shape[0] * shape[1]
    assert_same_bits(sim, fq, ["y"])
    assert np.isnan(fq["y"]).any() and len(np.unique(fq["i"])) > 1


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_a_pools_steps_of_rows_fit_the_sram_wherever_they_start(tmp_path, op):
    """With 1 KiB of tile SRAM a [19, 12] plane is pooled a few output rows at a time. The
    first step's windows start in the top pad and read fewer input rows than the later ones
    (a kernel of 3 rows 2 apart, a stride of 3): the steps are sized by the most rows any of
    them reads, so each fits, with MaxPool's Indices beside its values."""
    attributes = {"kernel_shape": [3, 2], "strides": [3, 1], "pads": [2, 0, 2, 0]}
    if op == "MaxPool":
        attributes["dilations"] = [2, 1]
    outputs = ["y", "i"] if op == "MaxPool" else ["y"]
    node = helper.make_node(op, ["x"], outputs, name="pool", **attributes)
    save(tmp_path / "m.onnx", [node], [helper.make_tensor_value_info("x", F, [1, 4, 19, 12])],
         [helper.make_tensor_value_info(o, I64 if o == "i" else F, None) for o in outputs])
    np.savez(tmp_path / "x.npz", x=RNG.standard_normal([1, 4, 19, 12]).astype(np.float32))
    sim, fq = simulated_and_interpreted_at_fp16(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, 1024)
    assert_same_bits(sim, fq, outputs)
    assert run_npucc("disasm", tmp_path / "m.npub").stdout.count("op=" + op.lower().replace("pool", "_pool")) > 4


def unpool_model(path, output_shape=None):
    inputs = ["y", "i"] + (["shape"] if output_shape is not None else [])
    node = helper.make_node("MaxUnpool", inputs, ["z"], name="unpool", kernel_shape=[2, 2], strides=[2, 2])
    initializers = [numpy_helper.from_array(np.array(output_shape, np.int64), "shape")] if output_shape else []
    save(path, [node], [helper.make_tensor_value_info("y", F, [1, 2, 2, 3]),
                        helper.make_tensor_value_info("i", I64, [1, 2, 2, 3])],
         [helper.make_tensor_value_info("z", F, None)], initializers)


@pytest.mark.parametrize("output_shape", [None, [1, 2, 5, 7]])
def test_max_unpool_writes_each_value_where_its_index_points(tmp_path, output_shape):
    # The indices a MaxPool of a [1, 2, 4, 6] input (or, with the output shape, of a
    # [1, 2, 5, 7] one) gives, one per window, and values to put there.
    h, w = (5, 7) if output_shape else (4, 6)
    indices = np.array([[[[(2 * r + (c % 2)) * w + 2 * c + (r % 2) + p * h * w for c in range(3)]
                          for r in range(2)] for p in range(2)]], np.int64)
    y = RNG.standard_normal([1, 2, 2, 3]).astype(np.float32)
    unpool_model(tmp_path / "m.onnx", output_shape)
    ours, theirs = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"y": y, "i": indices}, tmp_path)
    assert ours["z"].shape == (1, 2, h, w)
    assert_same_bits(ours, theirs, ["z"])
    assert np.count_nonzero(ours["z"]) == y.size


def test_the_npu_unpools_as_the_interpreter_the_later_of_two_values_at_one_place_staying(tmp_path):
    unpool_model(tmp_path / "m.onnx", [1, 2, 5, 7])
    indices = RNG.integers(0, 70, [1, 2, 2, 3]).astype(np.int64)
    indices.flat[4] = indices.flat[9]  # two values to one place
    y = RNG.standard_normal([1, 2, 2, 3]).astype(np.float32)
    np.savez(tmp_path / "in.npz", y=y, i=indices)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "in.npz", tmp_path, "fp16", "none", None)
    assert_same_bits(sim, fq, ["z"])
    assert fq["z"].flat[indices.flat[9]] == y.flat[9]
    # Out of range: the simulator refuses the scatter by instruction, and writes nothing.
    np.savez(tmp_path / "bad.npz", y=y, i=np.full([1, 2, 2, 3], 70, np.int64))
    r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "bad.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1
    assert 'MaxUnpool "unpool"' in r.stderr and "(scatter): index 70 (idx element 0) is out of range" in r.stderr, r.stderr
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("small", [False, True], ids=["sram", "small_sram"])
def test_a_max_pools_indices_are_unpooled_plane_by_plane_over_the_tiles(tmp_path, small):
    """Indices a MaxPool wrote over an input of the unpooled shape lie each in its own
    plane: the planes' zeros and scatters run apart on many tiles (each plane's table its
    own, its indices made relative to it), in a fraction of the cycles one scatter of every
    value takes. Overlapping windows send two values to one place, which the later one keeps:
    the values unpooled are a running sum along each row, so the two differ."""
    shape, planes = [2, 6, 23, 21], 12
    nodes = [
        helper.make_node("MaxPool", ["x"], ["y", "i"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("CumSum", ["y", "axis"], ["v"], name="sum"),
        helper.make_node("Shape", ["x"], ["size"], name="size"),
        helper.make_node("MaxUnpool", ["v", "i", "size"], ["z"], name="unpool", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
    ]
    save(tmp_path / "m.onnx", nodes, [helper.make_tensor_value_info("x", F, shape)],
         [helper.make_tensor_value_info("z", F, None)],
         [numpy_helper.from_array(np.array(-1, np.int64), "axis")])
    x = RNG.standard_normal(shape).astype(np.float32)
    x[..., 1::2, 1::2] = 4.0  # one maximum that neighbouring windows share
    np.savez(tmp_path / "x.npz", x=x)
    sim, fq = simulated_and_interpreted_at_fp16(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, 1024 if small else None)
    assert_same_bits(sim, fq, ["z"])
    assert np.count_nonzero(fq["z"]) < np.prod(shape) // 4  # places shared by windows hold one value
    program = run_npucc("disasm", tmp_path / "m.npub").stdout
    descriptors = dict(line.split(": ", 1) for line in program.splitlines() if re.match(r"d\d+: ", line))
    scatters = [dict(f.split("=") for f in line.split(" ", 1)[1].split(", "))
                for line in program.splitlines() if line.startswith("scatter ")]
    assert len({s["dst"] for s in scatters}) == planes
    tiles = {descriptors[s["idx"]].split()[1] for s in scatters}
    assert len(tiles) >= planes
    if small:  # 1 KiB of SRAM: a plane's 132 indices in several blocks, one after another
        assert len(scatters) > planes
    # The zeros come from the tiles too, a plane each beside the other planes' scatters (a burst
    # of them filled in each tile's SRAM and copied over its plane), not from one fill of the
    # whole output on one DMA engine before any scatter.
    fills = [dict(f.split("=") for f in line.split(" ", 1)[1].split(", "))
             for line in program.splitlines() if line.startswith("fill ")]
    assert fills and all(descriptors[f["dst"]].startswith("sram ") for f in fills)
    target = ["--target", tmp_path / "t.json"] if small else []
    profile = json.loads(run_npucc("profile", tmp_path / "m.npub", "--json", *target).stdout)
    (unpool,) = [layer for layer in profile["layers"] if layer["op"] == "MaxUnpool"]
    assert unpool["cycles"] < np.prod(shape) // 4


def scatter_model(path, tuples):
    node = helper.make_node("ScatterND", ["d", "i", "u"], ["o"], name="scatter")
    save(path, [node], [helper.make_tensor_value_info("d", F, [4, 5, 3]),
                        helper.make_tensor_value_info("i", I64, [tuples, 2, 2]),
                        helper.make_tensor_value_info("u", F, [tuples, 2, 3])],
         [helper.make_tensor_value_info("o", F, [4, 5, 3])], opset=16)


@pytest.mark.parametrize("small", [False, True], ids=["sram", "small_sram"])
def test_a_scatter_of_computed_index_tuples_runs_on_the_npu_as_in_the_interpreter(tmp_path, small):
    scatter_model(tmp_path / "m.onnx", 12)
    # Negative indices count from the end; places written twice keep the later row.
    tuples = np.stack([RNG.integers(-4, 4, [12, 2]), RNG.integers(-5, 5, [12, 2])], axis=-1).astype(np.int64)
    tuples[0, 0], tuples[5, 1], tuples[11, 0] = [1, 2], [1, -3], [-3, 2]
    inputs = {"d": RNG.standard_normal([4, 5, 3]).astype(np.float32), "i": tuples,
              "u": RNG.standard_normal([12, 2, 3]).astype(np.float32)}
    np.savez(tmp_path / "in.npz", **inputs)
    sim, fq = simulated_and_interpreted_at_fp16(tmp_path / "m.onnx", tmp_path / "in.npz", tmp_path, 1024 if small else None)
    assert_same_bits(sim, fq, ["o"])
    expected = inputs["d"].copy()
    for t, row in zip(tuples.reshape(-1, 2), inputs["u"].reshape(-1, 3)):
        expected[tuple(t)] = row
    np.testing.assert_array_equal(fq["o"], expected)
    if small:
        scatters = run_npucc("disasm", tmp_path / "m.npub").stdout.count("scatter dst=")
        assert scatters > 1
    # An index outside its axis, whose tuple would still name a place of the output when
    # flattened ((0, 5) is place 5 of 20), is refused as the interpreter refuses it.
    for bad, message in [(5, "index 5 is out of range for axis 1 of size 5"), (-6, "index -6 is out of range for axis 1")]:
        tuples[2, 0] = [0, bad]
        np.savez(tmp_path / "bad.npz", **{**inputs, "i": tuples})
        r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "bad.npz", "--outputs", tmp_path / "out.npz")
        assert r.returncode == 1 and message in r.stderr, r.stderr
        r = run_npucc("run", tmp_path / "m.npub", "--inputs", tmp_path / "bad.npz", "--outputs", tmp_path / "out.npz")
        assert r.returncode == 1
        assert 'ScatterND "scatter"' in r.stderr and "(scatter): index 20 (idx element" in r.stderr, r.stderr
        assert not (tmp_path / "out.npz").exists()


def test_an_index_outside_the_output_or_an_output_shape_of_another_rank_is_refused_by_node(tmp_path):
    unpool_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", y=np.ones([1, 2, 2, 3], np.float32), i=np.full([1, 2, 2, 3], 48, np.int64))
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1
    assert 'MaxUnpool "unpool"' in r.stderr and "index 48 is outside the output of 48 elements" in r.stderr
    assert not (tmp_path / "out.npz").exists()
    unpool_model(tmp_path / "m.onnx", output_shape=[1, 2, 48])
    r = run_npucc("run", tmp_path / "m.onnx", "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 1
    assert 'MaxUnpool "unpool"' in r.stderr and "[1, 2, 48] is not a shape of rank 4" in r.stderr, r.stderr
    assert not (tmp_path / "out.npz").exists()


def segnet(path, dynamo):
    """Conv, Relu, MaxPool with Indices, a Conv on the pooled map, its unpooling at the
    Indices into the pool's input shape, a last Conv: with MaxUnpool, or as torch's dynamo
    exporter writes max_unpool2d (the Indices made per plane by subtracting a kernel-1 pool's
    first index, scattered with ScatterND into a flat zero plane per channel)."""
    w1 = RNG.standard_normal([8, 3, 3, 3]).astype(np.float32) * 0.3
    w2 = RNG.standard_normal([8, 8, 3, 3]).astype(np.float32) * 0.2
    w3 = RNG.standard_normal([4, 8, 3, 3]).astype(np.float32) * 0.2
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", **conv),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p", "idx"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p", "w2"], ["c2"], name="conv2", **conv),
    ]
    initializers = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
                    numpy_helper.from_array(w3, "w3")]
    if not dynamo:
        nodes += [helper.make_node("Shape", ["r1"], ["size"], name="size"),
                  helper.make_node("MaxUnpool", ["c2", "idx", "size"], ["u"], name="unpool",
                                   kernel_shape=[2, 2], strides=[2, 2])]
    else:
        def const(name, values):
            initializers.append(numpy_helper.from_array(np.array(values, np.int64), name))
        const("start", [0, 0]), const("end", [1, 1]), const("spatial", [2, 3]), const("flat", [1, 8, -1])
        const("last", [-1]), const("plane", [1, 8, 16 * 16]), const("image", [1, 8, 16, 16])
        # ScatterND's index tuples (0, channel, place) into [1, 8, 256]: [1, 8, 64, 3].
        channel = np.broadcast_to(np.arange(8, dtype=np.int64).reshape(1, 8, 1, 1), [1, 8, 64, 1])
        initializers.append(numpy_helper.from_array(np.zeros([1, 8, 64, 1], np.int64), "batch"))
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(channel), "channel"))
        nodes += [
            helper.make_node("MaxPool", ["r1"], ["same", "base"], name="base", kernel_shape=[1, 1]),
            helper.make_node("Slice", ["base", "start", "end", "spatial"], ["first"], name="first"),
            helper.make_node("Sub", ["idx", "first"], ["local"], name="local"),
            helper.make_node("Reshape", ["local", "flat"], ["where"], name="where"),
            helper.make_node("Unsqueeze", ["where", "last"], ["place"], name="place"),
            helper.make_node("Concat", ["batch", "channel", "place"], ["tuples"], name="tuples", axis=-1),
            helper.make_node("ConstantOfShape", ["plane"], ["zeros"], name="zeros",
                             value=numpy_helper.from_array(np.zeros(1, np.float32))),
            helper.make_node("Reshape", ["c2", "flat"], ["updates"], name="updates"),
            helper.make_node("ScatterND", ["zeros", "tuples", "updates"], ["scattered"], name="scatter"),
            helper.make_node("Reshape", ["scattered", "image"], ["u"], name="unflat"),
        ]
    nodes.append(helper.make_node("Conv", ["u", "w3"], ["out"], name="conv3", **conv))
    save(path, nodes, [helper.make_tensor_value_info("x", F, [1, 3, 16, 16])],
         [helper.make_tensor_value_info("out", F, None)], initializers)


@pytest.mark.parametrize("dynamo", [False, True], ids=["max_unpool", "scatter_nd"])
def test_a_segnet_decoder_runs_as_in_onnxruntime_and_on_the_npu_as_in_the_interpreter(tmp_path, dynamo):
    segnet(tmp_path / "m.onnx", dynamo)
    x = RNG.standard_normal([1, 3, 16, 16]).astype(np.float32)
    ours, theirs = interpreted_and_onnxruntime(tmp_path / "m.onnx", {"x": x}, tmp_path)
    scale = float(np.abs(theirs["out"]).max())
    assert np.abs(ours["out"] - theirs["out"]).max() <= 1e-5 * scale
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal([4, 1, 3, 16, 16]).astype(np.float32))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                            tmp_path / "calib.npz")
        assert_same_bits(sim, fq, ["out"])
    # At fp16 the whole network is within fp16's rounding of onnxruntime's fp32.
    sim, _ = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, "fp16", "none", None)
    assert np.abs(sim["out"] - theirs["out"]).max() <= 1e-2 * scale
