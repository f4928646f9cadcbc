"""Writes the ONNX files the importer tests read (Tests/ONNXImportTests), with the values
each should decode to, computed by numpy.

usage: make_import_cases.py OUT_DIR     writes OUT_DIR/*.onnx and OUT_DIR/expected.json
"""
import json
import os
import sys

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
expected = {}
rng = np.random.default_rng(7)


def save(model, name, check=True):
    if check:
        onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, name))


def identity_model(inits, opset=17, ir=8, inputs_from_inits=False):
    nodes = [helper.make_node("Identity", [t.name], [t.name + "_out"]) for t in inits]
    outputs = [helper.make_tensor_value_info(t.name + "_out", t.data_type, list(t.dims)) for t in inits]
    inputs = [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits] if inputs_from_inits else []
    g = helper.make_graph(nodes, "g", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    return m


# Every numeric dtype, in raw_data and in the typed fields.
DTYPES = {
    "float32": (np.float32, TensorProto.FLOAT), "float16": (np.float16, TensorProto.FLOAT16),
    "bfloat16": (ml_dtypes.bfloat16, TensorProto.BFLOAT16), "float64": (np.float64, TensorProto.DOUBLE),
    "int8": (np.int8, TensorProto.INT8), "int16": (np.int16, TensorProto.INT16),
    "int32": (np.int32, TensorProto.INT32), "int64": (np.int64, TensorProto.INT64),
    "uint8": (np.uint8, TensorProto.UINT8), "uint16": (np.uint16, TensorProto.UINT16),
    "uint32": (np.uint32, TensorProto.UINT32), "uint64": (np.uint64, TensorProto.UINT64),
    "bool": (np.bool_, TensorProto.BOOL),
    "float8e4m3fn": (ml_dtypes.float8_e4m3fn, TensorProto.FLOAT8E4M3FN),
    "float8e5m2": (ml_dtypes.float8_e5m2, TensorProto.FLOAT8E5M2),
}
FP8 = (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2)
inits = []
for name, (np_type, code) in DTYPES.items():
    if np_type == np.bool_:
        values = rng.integers(0, 2, (2, 3)).astype(np.bool_)
    elif np.issubdtype(np.dtype(np_type), np.integer):
        info = np.iinfo(np_type)
        values = np.array([[info.min, info.max, 0], [1, 7, info.max // 3]], dtype=np_type)
    elif np_type in FP8:
        largest = float(ml_dtypes.finfo(np_type).max)
        values = np.array([[-0.0, 1.5, -2.25], [largest, 1e-3, np.inf if np_type == ml_dtypes.float8_e5m2 else -largest]]).astype(np_type)
    else:
        values = np.array([[-0.0, 1.5, -2.25], [65504 if np_type == np.float16 else 3e38, 1e-3, np.inf]]).astype(np_type)
    raw = helper.make_tensor(f"{name}_raw", code, values.shape, values.tobytes(), raw=True)
    if np_type in (np.float16, ml_dtypes.bfloat16) + FP8:
        # The spec stores 16-bit and 8-bit floats as their bit patterns in int32_data, one per value.
        bits = np.uint8 if np_type in FP8 else np.uint16
        typed = TensorProto(name=f"{name}_typed", data_type=code, dims=values.shape)
        typed.int32_data.extend(values.view(bits).flatten().astype(np.int32).tolist())
    else:
        typed = helper.make_tensor(f"{name}_typed", code, values.shape, values.flatten().tolist())
    inits += [raw, typed]
    as_double = values.astype(np.float64).flatten().tolist()
    expected[f"{name}_raw"] = expected[f"{name}_typed"] = {"dtype": name, "shape": list(values.shape),
                                                           "values": [repr(v) for v in as_double]}
save(identity_model(inits), "dtypes.onnx")

# Initializers that are also graph inputs (IR version 3, opset 6).
w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
g = helper.make_graph([helper.make_node("MatMul", ["x", "wt"], ["y"]),
                       helper.make_node("Transpose", ["w"], ["wt"])], "g",
                      [x, helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 3])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], [w])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 6)])
m.ir_version = 3
save(m, "initializer_inputs.onnx", check=False)  # nodes deliberately out of order

# External data: one good file, and locations that escape the model's folder.
def external_model(location, offset=0, length=None):
    t = TensorProto()
    t.name, t.data_type = "big", TensorProto.FLOAT
    t.dims.extend([4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in [("location", location), ("offset", str(offset))] + ([("length", str(length))] if length is not None else []):
        e = t.external_data.add()
        e.key, e.value = k, v
    g = helper.make_graph([helper.make_node("Identity", ["big"], ["y"])], "g", [],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [t])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

os.makedirs(os.path.join(out, "weights"), exist_ok=True)
with open(os.path.join(out, "weights", "data.bin"), "wb") as f:
    f.write(b"\0" * 8 + np.array([1.0, -2.0, 3.5, 4.25], dtype=np.float32).tobytes())
expected["external"] = {"dtype": "float32", "shape": [4], "values": ["1.0", "-2.0", "3.5", "4.25"]}
save(external_model("weights/data.bin", offset=8, length=16), "external_ok.onnx", check=False)
save(external_model("../secret.bin"), "external_dotdot.onnx", check=False)
save(external_model("/etc/passwd"), "external_absolute.onnx", check=False)
save(external_model("weights/data.bin", offset=8, length=12), "external_length.onnx", check=False)
save(external_model("weights/data.bin", offset=16), "external_short.onnx", check=False)
save(external_model("weights/missing.bin"), "external_missing.onnx", check=False)
link = os.path.join(out, "weights", "link.bin")
if os.path.lexists(link):
    os.remove(link)
os.symlink("/etc/hostname", link)
save(external_model("weights/link.bin"), "external_symlink.onnx", check=False)

# Constant nodes in every form.
g = helper.make_graph([
    helper.make_node("Constant", [], ["c_tensor"], value=numpy_helper.from_array(np.array([1.5, 2.5], np.float32))),
    helper.make_node("Constant", [], ["c_float"], value_float=0.25),
    helper.make_node("Constant", [], ["c_floats"], value_floats=[1.0, 2.0]),
    helper.make_node("Constant", [], ["c_int"], value_int=7),
    helper.make_node("Constant", [], ["c_ints"], value_ints=[3, -4]),
    helper.make_node("Concat", ["c_tensor", "c_floats"], ["y"], axis=0),
], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "constants.onnx")

# Attribute-era forms that later opsets moved to inputs.
def one_node(op, opset, in_shape, out_shape, check=True, **attrs):
    g = helper.make_graph([helper.make_node(op, ["x"], ["y"], **attrs)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])

save(one_node("Slice", 9, [4, 6], [2, 3], starts=[1, 2], ends=[3, 5], axes=[0, 1]), "slice_v9.onnx")
save(one_node("Pad", 6, [2, 3], [4, 3], pads=[1, 0, 1, 0], value=1.5), "pad_v6.onnx")
save(one_node("Clip", 6, [5], [5], min=-1.0, max=2.0), "clip_v6.onnx")
save(one_node("Squeeze", 11, [1, 3, 1], [3], axes=[0, 2]), "squeeze_v11.onnx")
save(one_node("Softmax", 11, [2, 3, 4], [2, 3, 4], axis=1), "softmax_v11.onnx")
save(one_node("Softmax", 11, [2, 3, 4], [2, 3, 4], axis=2), "softmax_v11_last.onnx")
save(one_node("Upsample", 7, [1, 1, 2, 2], [1, 1, 4, 4], scales=[1.0, 1.0, 2.0, 2.0], mode="nearest"), "upsample_v7.onnx")

# Legacy broadcasting (opset 6): B of shape [3] added along axis 1 of A [2, 3, 4].
b = numpy_helper.from_array(np.array([1, 2, 3], np.float32), "b")
g = helper.make_graph([helper.make_node("Add", ["x", "b"], ["y"], broadcast=1, axis=1)], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 4])], [b])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 6)])
m.ir_version = 3
save(m, "add_broadcast_v6.onnx", check=False)

# QuantizeLinear / DequantizeLinear at opset 10 have no axis: one scale for the tensor.
def qdq_v10(scale):
    inits = [numpy_helper.from_array(np.array(scale, np.float32), "s"), numpy_helper.from_array(np.array(3, np.uint8), "z")]
    if np.ndim(scale):
        inits[1] = numpy_helper.from_array(np.full(len(scale), 3, np.uint8), "z")
    g = helper.make_graph([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="quant"),
                           helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dequant")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 10)])

save(qdq_v10(0.5), "qdq_v10.onnx")
save(qdq_v10([0.5, 0.25, 1.0]), "qdq_v10_vector_scale.onnx", check=False)

# Unsupported things.
save(one_node("FooBar", 13, [2], [2], check=False), "unsupported_op.onnx", check=False)
g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], domain="com.example")], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)]),
     "unsupported_domain.onnx", check=False)
save(one_node("Relu", 29, [2], [2]), "opset29.onnx", check=False)

# An If whose condition import computes: Greater of two constants takes the then branch.
branch = lambda op: helper.make_graph([helper.make_node(op, ["x"], [op.lower()])], op.lower(), [],
                                      [helper.make_tensor_value_info(op.lower(), TensorProto.FLOAT, [2])])
g = helper.make_graph(
    [helper.make_node("Constant", [], ["a"], value=helper.make_tensor("a", TensorProto.FLOAT, [], [3.0])),
     helper.make_node("Constant", [], ["b"], value=helper.make_tensor("b", TensorProto.FLOAT, [], [2.0])),
     helper.make_node("Greater", ["a", "b"], ["cond"]),
     helper.make_node("If", ["cond"], ["y"], then_branch=branch("Relu"), else_branch=branch("Neg"))],
    "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "computed_if.onnx")

# A symbolic input for --input-shape.
save(one_node("Relu", 17, ["batch", 3, "h", "w"], ["batch", 3, "h", "w"]), "symbolic.onnx")

with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
