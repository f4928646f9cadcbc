"""Bitwise ops on integers: BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot (opset 18) and
BitShift (unsigned from opset 11, signed from 28: arithmetic right shifts, left shifts kept to
the type's width, amounts out of range giving the sign's fill) compute as onnxruntime, or for
the forms it does not run numpy, computes them; a 4-bit weight packed two to a byte and
unpacked by the graph folds, so the model compiles and its bundle runs bit for bit as the
interpreter runs it; on int32 and int64 values known only at run time they run on the vector
unit (`bit_and`, `bit_or`, `bit_xor`, `bit_not`, `shift_left`, `shift_right`) as the
interpreter computes them."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(1818)
TYPES = {"int8": TensorProto.INT8, "int16": TensorProto.INT16, "int32": TensorProto.INT32, "int64": TensorProto.INT64,
         "uint8": TensorProto.UINT8, "uint16": TensorProto.UINT16, "uint32": TensorProto.UINT32,
         "uint64": TensorProto.UINT64}


def run(path, feeds, folder):
    np.savez(folder / "in.npz", **feeds)
    r = run_npucc("run", path, "--inputs", folder / "in.npz", "--outputs", folder / "out.npz")
    assert r.returncode == 0, r.stderr
    return np.load(folder / "out.npz")


def binary_model(path, op, dtype, opset, **attributes):
    kind = TYPES[dtype]
    inputs = [helper.make_tensor_value_info("a", kind, [3, 4]), helper.make_tensor_value_info("b", kind, [4])]
    names = ["a", "b"] if op != "BitwiseNot" else ["a"]
    graph = helper.make_graph([helper.make_node(op, names, ["y"], name="bits", **attributes)], "g", inputs[:len(names)],
                              [helper.make_tensor_value_info("y", kind, [3, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def values(dtype, shape):
    info = np.iinfo(dtype)
    x = RNG.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    x.flat[:2] = [info.min, info.max]
    return x


@pytest.mark.parametrize("dtype", sorted(TYPES))
@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot"])
def test_bitwise_ops_compute_as_onnxruntime(tmp_path, op, dtype):
    binary_model(tmp_path / "m.onnx", op, dtype, 18)
    feeds = {"a": values(dtype, (3, 4)), "b": values(dtype, (4,))}
    if op == "BitwiseNot":
        del feeds["b"]
    got = run(tmp_path / "m.onnx", feeds, tmp_path)["y"]
    want = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", sorted(TYPES))
@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bit_shifts_compute_as_their_definition(tmp_path, direction, dtype):
    """Unsigned shifts against onnxruntime (opset 11); signed ones (opset 28) against numpy,
    amounts from -1 past the width."""
    signed = np.issubdtype(np.dtype(dtype), np.signedinteger)
    binary_model(tmp_path / "m.onnx", "BitShift", dtype, 28 if signed else 11, direction=direction)
    width = np.iinfo(dtype).bits
    a = values(dtype, (3, 4))
    b = np.array([0, 3, width - 1, width] if not signed else [-1, 3, width - 1, width], dtype)
    got = run(tmp_path / "m.onnx", {"a": a, "b": b}, tmp_path)["y"]
    if signed:
        valid = (b >= 0) & (b < width)
        unsigned = np.dtype(f"u{np.dtype(dtype).itemsize}")
        shifted = (np.left_shift(a.view(unsigned), np.where(valid, b, 0).astype(unsigned)).view(dtype)
                   if direction == "LEFT" else np.right_shift(a, np.where(valid, b, 0)))
        fill = np.zeros_like(a) if direction == "LEFT" else np.where(a < 0, -1, 0).astype(dtype)
        want = np.where(valid, shifted, fill)
    else:
        want = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
            None, {"a": a, "b": b})[0]
        # An amount of the whole width gives 0 by the definition (C leaves it undefined).
        want[:, 3] = 0
    np.testing.assert_array_equal(got, want)


def packed_model(path, k=32, n=16):
    """A 4-bit weight [k, n] packed two to a byte along n (low nibble first), unpacked by the
    graph: BitwiseAnd 15 and BitShift 4 right, interleaved, minus 8, times a scale; x · W."""
    codes = RNG.integers(0, 16, (k, n), dtype=np.uint8)
    packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)
    scale = np.float32(0.05)
    nodes = [helper.make_node("BitwiseAnd", ["packed", "mask"], ["low"]),
             helper.make_node("BitShift", ["packed", "four"], ["high"], direction="RIGHT"),
             helper.make_node("Unsqueeze", ["low", "last"], ["low3"]),
             helper.make_node("Unsqueeze", ["high", "last"], ["high3"]),
             helper.make_node("Concat", ["low3", "high3"], ["pairs"], axis=2),
             helper.make_node("Reshape", ["pairs", "shape"], ["unpacked"]),
             helper.make_node("Cast", ["unpacked"], ["as_float"], to=TensorProto.FLOAT),
             helper.make_node("Sub", ["as_float", "eight"], ["centred"]),
             helper.make_node("Mul", ["centred", "scale"], ["w"]),
             helper.make_node("MatMul", ["x", "w"], ["y"], name="linear")]
    inits = [numpy_helper.from_array(packed, "packed"), numpy_helper.from_array(np.array(15, np.uint8), "mask"),
             numpy_helper.from_array(np.array(4, np.uint8), "four"), numpy_helper.from_array(np.array([2]), "last"),
             numpy_helper.from_array(np.array([k, n]), "shape"), numpy_helper.from_array(np.float32(8), "eight"),
             numpy_helper.from_array(scale, "scale")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, n])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return (codes.astype(np.float32) - 8) * scale


def test_a_packed_4_bit_weight_unpacked_by_the_graph_folds_and_compiles(tmp_path):
    w = packed_model(tmp_path / "m.onnx")
    x = RNG.standard_normal((2, 32)).astype(np.float32)
    got = run(tmp_path / "m.onnx", {"x": x}, tmp_path)["y"]
    np.testing.assert_allclose(got, x @ w, rtol=1e-5, atol=1e-5)
    want = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    r = run_npucc("dump-ir", tmp_path / "m.onnx")
    assert r.returncode == 0 and "Bitwise" not in r.stdout and "BitShift" not in r.stdout, r.stdout
    np.savez(tmp_path / "x.npz", x=x)
    np.savez(tmp_path / "calib.npz", x=RNG.standard_normal((4, 2, 32)).astype(np.float32))
    for precision in ["fp16", "nvfp4"]:
        sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "x.npz", tmp_path, precision, "none",
                                            tmp_path / "calib.npz")
        assert_same_bits(sim, fq, ["y"])


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("op,attributes", [("BitwiseAnd", {}), ("BitwiseOr", {}), ("BitwiseXor", {}), ("BitwiseNot", {}),
                                           ("BitShift", {"direction": "LEFT"}), ("BitShift", {"direction": "RIGHT"})])
def test_bitwise_ops_on_run_time_values_run_on_the_npu_as_in_the_interpreter(tmp_path, op, attributes, dtype):
    """On the vector unit's int32 and int64 elements (b broadcast along a's rows); shift
    amounts from -1 past the width, of the extreme values."""
    binary_model(tmp_path / "m.onnx", op, dtype, 28 if op == "BitShift" else 18, **attributes)
    width = np.iinfo(dtype).bits
    feeds = {"a": values(dtype, (3, 4)),
             "b": np.array([-1, 3, width - 1, width], dtype) if op == "BitShift" else values(dtype, (4,))}
    if op == "BitwiseNot":
        del feeds["b"]
    np.savez(tmp_path / "in.npz", **feeds)
    sim, fq = simulated_and_interpreted(tmp_path / "m.onnx", tmp_path / "in.npz", tmp_path, "fp16", "none", None)
    assert sim["y"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(sim["y"], fq["y"])
    assert len(np.unique(fq["y"])) > 3
