"""Operands whose element type ONNX's operator definitions forbid (a Reshape shape in int32,
float Gather indices, integer BatchNormalization parameters, Slice bounds of two integer
types, float16 beside float32 where an op takes one type, ...) are refused at import by node, naming the input and the type ONNX defines; each
such model is one onnxruntime refuses to load too, so nothing it runs is refused. The same
operands in their defined types import and run."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_npucc

X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 4, 4])
Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)


def model(nodes, inits, outputs=(Y,), opset=17):
    graph = helper.make_graph(nodes, "g", [X], list(outputs), initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def const(name, values, dtype):
    return numpy_helper.from_array(np.array(values, dtype), name)


def node(op, inputs, **attributes):
    return helper.make_node(op, ["x", *inputs], ["y"], name="n", **attributes)


def batch_norm(dtype, opset):
    params = [const(name, np.ones(4), dtype) for name in ["scale", "b", "mean", "var"]]
    return model([node("BatchNormalization", ["scale", "b", "mean", "var"])], params, opset=opset)


# (model, op, the phrase of the error, with the valid twin of the model when the types change alone)
CASES = {
    "reshape shape int32": (model([node("Reshape", ["s"])], [const("s", [1, 64], np.int32)]),
                            "Reshape", "input 1 (shape) is i32; ONNX defines it as i64"),
    "reshape shape float": (model([node("Reshape", ["s"])], [const("s", [1, 64], np.float32)]),
                            "Reshape", "input 1 (shape) is f32; ONNX defines it as i64"),
    "expand shape int32": (model([node("Expand", ["s"])], [const("s", [2, 4, 4, 4], np.int32)]),
                           "Expand", "input 1 (shape) is i32; ONNX defines it as i64"),
    "tile repeats int32": (model([node("Tile", ["r"])], [const("r", [1, 1, 1, 2], np.int32)]),
                           "Tile", "input 1 (repeats) is i32; ONNX defines it as i64"),
    "pad pads int32": (model([node("Pad", ["p"])], [const("p", np.zeros(8), np.int32)]),
                       "Pad", "input 1 (pads) is i32; ONNX defines it as i64"),
    "unsqueeze axes int32": (model([node("Unsqueeze", ["a"])], [const("a", [0], np.int32)]),
                             "Unsqueeze", "input 1 (axes) is i32; ONNX defines it as i64"),
    "topk K int32": (model([helper.make_node("TopK", ["x", "k"], ["y", "i"], name="n")], [const("k", [2], np.int32)],
                           outputs=(Y, helper.make_tensor_value_info("i", TensorProto.INT64, None))),
                     "TopK", "input 1 (K) is i32; ONNX defines it as i64"),
    "gather float indices": (model([node("Gather", ["i"], axis=1)], [const("i", [0, 1], np.float32)]),
                             "Gather", "input 1 (indices) is f32; ONNX defines it as i32 or i64"),
    "slice bounds of two types": (
        model([node("Slice", ["s", "e"])], [const("s", [0], np.int32), const("e", [2], np.int64)]),
        "Slice", "input 2 (ends) is i64 but input 1 (starts) is i32; ONNX defines them as one type"),
    "resize int64 scales": (model([node("Resize", ["", "s"])], [const("s", [1, 1, 2, 2], np.int64)]),
                            "Resize", "input 2 (scales) is i64; ONNX defines it as f32"),
    "clip bound of another type": (model([node("Clip", ["lo"])], [const("lo", 0, np.float64)]),
                                   "Clip", "input 1 (min) is f64 but input 0 (input) is f32; ONNX defines them as one type"),
    "conv bias of another type": (
        model([node("Conv", ["w", "b"])], [const("w", np.ones((2, 4, 1, 1)), np.float32), const("b", [0, 0], np.float64)]),
        "Conv", "input 2 (B) is f64 but input 0 (X) is f32; ONNX defines them as one type"),
    "conv bias float16 in a float32 model": (
        model([node("Conv", ["w", "b"])], [const("w", np.ones((2, 4, 1, 1)), np.float32), const("b", [0, 0], np.float16)]),
        "Conv", "input 2 (B) is f16 but input 0 (X) is f32; ONNX defines them as one type"),
    "batchnorm integer parameters": (batch_norm(np.int64, 17), "BatchNormalization",
                                     "input 1 (scale) is i64; ONNX defines it as f16, bf16, f32 or f64"),
    "batchnorm f64 parameters before opset 15": (
        batch_norm(np.float64, 14), "BatchNormalization",
        "input 1 (scale) is f64 but input 0 (X) is f32; ONNX defines them as one type"),
    # A model computing in float16 is read in float32; its types are checked as declared.
    "add of a float16 constant to a float32 input": (
        model([node("Add", ["c"])], [const("c", np.ones(4), np.float16)]),
        "Add", "input 1 (B) is f16 but input 0 (A) is f32; ONNX defines them as one type"),
    "mul of a cast to float16 by a float32 weight": (
        model([helper.make_node("Cast", ["x"], ["h"], to=TensorProto.FLOAT16),
               helper.make_node("Mul", ["h", "w"], ["y"], name="n")], [const("w", np.ones(4), np.float32)]),
        "Mul", "input 1 (B) is f32 but input 0 (A) is f16; ONNX defines them as one type"),
    "matmul of float32 by float16": (
        model([node("MatMul", ["w"])], [const("w", np.ones((4, 4)), np.float16)]),
        "MatMul", "input 1 (B) is f16 but input 0 (A) is f32; ONNX defines them as one type"),
    "add of a float16 value computed from a cast to a float32 weight": (
        model([helper.make_node("Cast", ["x"], ["h"], to=TensorProto.FLOAT16), helper.make_node("Relu", ["h"], ["r"]),
               helper.make_node("Transpose", ["r"], ["t"], perm=[0, 1, 3, 2]),
               helper.make_node("Add", ["t", "w"], ["y"], name="n")], [const("w", np.ones(4), np.float32)]),
        "Add", "input 1 (B) is f32 but input 0 (A) is f16; ONNX defines them as one type"),
    "where of two types": (
        model([helper.make_node("Where", ["m", "x", "c"], ["y"], name="n")],
              [const("m", [True, False, True, False], np.bool_), const("c", np.zeros(4), np.float16)]),
        "Where", "input 2 (Y) is f16 but input 1 (X) is f32; ONNX defines them as one type"),
    "concat of float32 and float16": (
        model([node("Concat", ["x", "c"], axis=1)], [const("c", np.zeros((1, 4, 4, 4)), np.float16)]),
        "Concat", "input 2 (inputs) is f16 but input 0 is f32; ONNX defines all its inputs as one type"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_operand_of_a_type_onnx_forbids_is_refused_by_node(tmp_path, case):
    m, op, phrase = CASES[case]
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    with pytest.raises(Exception):
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for command in [["compile", path, "-o", tmp_path / "m.npub"], ["export", path, "-o", tmp_path / "q.onnx", "--qdq",
                                                                  "--precision", "fp16"]]:
        r = run_npucc(*command)
        assert r.returncode == 1, r.stderr
        line = r.stderr.strip()
        assert line.startswith(f'npucc: error: {path}: node {op} "n" (opset ') and line.endswith(phrase), line
    assert not (tmp_path / "m.npub").exists() and not (tmp_path / "q.onnx").exists()


VALID = {
    "reshape shape int64": model([node("Reshape", ["s"])], [const("s", [1, 64], np.int64)]),
    "gather int32 indices": model([node("Gather", ["i"], axis=1)], [const("i", [0, 3], np.int32)]),
    "slice bounds all int32": model([node("Slice", ["s", "e", "a"])],
                                    [const("s", [1], np.int32), const("e", [3], np.int32), const("a", [1], np.int32)]),
    "batchnorm f64 parameters from opset 15": batch_norm(np.float64, 15),
}


@pytest.mark.parametrize("case", sorted(VALID))
def test_operands_of_the_types_onnx_defines_import_and_run_as_onnxruntime_does(tmp_path, case):
    path = tmp_path / "m.onnx"
    onnx.save(VALID[case], path)
    x = np.random.default_rng(0).standard_normal((1, 4, 4, 4)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    r = run_npucc("run", path, "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "out.npz")["y"]
    try:
        want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    except Exception:
        # onnxruntime has no kernel for BatchNormalization's mixed types; the definition allows them.
        assert case == "batchnorm f64 parameters from opset 15"
        want = (x - 1) / np.sqrt(1 + 1e-5) + 1
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_float32_model_that_computes_a_step_in_float16_imports_and_runs(tmp_path):
    # Cast to float16, a Relu and a Transpose, add a float16 constant, cast back and add a
    # float32 input: one type per op, as ONNX defines.
    nodes = [helper.make_node("Cast", ["x"], ["h"], to=TensorProto.FLOAT16), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Transpose", ["r"], ["p"], perm=[0, 1, 3, 2]),
             helper.make_node("Add", ["p", "c"], ["s"]), helper.make_node("Concat", ["s", "h"], ["t"], axis=1),
             helper.make_node("Cast", ["t"], ["f"], to=TensorProto.FLOAT), helper.make_node("Add", ["f", "f"], ["y"])]
    path = tmp_path / "m.onnx"
    onnx.save(model(nodes, [const("c", np.full(4, 0.5), np.float16)]), path)
    x = np.random.default_rng(1).standard_normal((1, 4, 4, 4)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    r = run_npucc("run", path, "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    # npucc computes the float16 steps in float32: within float16's rounding of onnxruntime's.
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["y"], want, rtol=2.0 ** -10, atol=2.0 ** -14)
