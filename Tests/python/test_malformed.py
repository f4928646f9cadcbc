"""Bad input through the CLI: each case exits 1 with one `npucc: error: FILE: ...` line
naming the file, within a time limit, and leaves no output file behind."""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT, run_npucc

SAMPLES = ROOT / "samples"
DIGITS = (SAMPLES / "digits_cnn.onnx").read_bytes()


def expect_error(path, *phrases, extra=(), inputs=None, tmp_path=None):
    out = tmp_path / "out.npz"
    args = ["run", path, "--inputs", inputs or SAMPLES / "digits_test.npz", "--outputs", out, *extra]
    r = run_npucc(*args, timeout=10)
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("npucc: error: "), r.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    assert not out.exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".out.npz")]
    return lines[0]


@pytest.mark.parametrize("cut", sorted({0, 1, 2, 10, 100, len(DIGITS) - 1} | set(range(7, len(DIGITS), len(DIGITS) // 40))))
def test_truncated_model(tmp_path, cut):
    path = tmp_path / "model.onnx"
    path.write_bytes(DIGITS[:cut])
    expect_error(path, str(path), tmp_path=tmp_path)


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes(tmp_path, seed):
    path = tmp_path / "model.onnx"
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, 16 << seed, dtype=np.uint8).tobytes())
    expect_error(path, str(path), tmp_path=tmp_path)


@pytest.mark.parametrize("blob,phrase", [(b"\x38\x01", "wire type 0"), (b"\x0b\x00", "wire type 3"),
                                         (b"\x0e\x00", "wire type 6"), (b"\x3a\x05\x0a", "truncated")])
def test_wrong_wire_types(tmp_path, blob, phrase):
    path = tmp_path / "model.onnx"
    path.write_bytes(blob)
    expect_error(path, phrase, tmp_path=tmp_path)


def model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


X = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])
Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)


def save(tmp_path, m):
    path = tmp_path / "model.onnx"
    path.write_bytes(m.SerializeToString())
    return path


def test_negative_and_overflowing_dims(tmp_path):
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[-3, 4])
    expect_error(save(tmp_path, model([helper.make_node("Add", ["input", "w"], ["y"])], [X], [Y], [t])),
                 "negative dimension -3", "initializer \"w\"", tmp_path=tmp_path)
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2 ** 40, 2 ** 40])
    expect_error(save(tmp_path, model([helper.make_node("Add", ["input", "w"], ["y"])], [X], [Y], [t])),
                 "too large", tmp_path=tmp_path)
    bad = helper.make_tensor_value_info("input", TensorProto.FLOAT, [-1, 1, 8, 8])
    expect_error(save(tmp_path, model([helper.make_node("Relu", ["input"], ["y"])], [bad], [Y])),
                 "negative dimension", "graph input \"input\"", tmp_path=tmp_path)


def test_missing_initializer_cycle_and_undefined_output(tmp_path):
    expect_error(save(tmp_path, model([helper.make_node("Add", ["input", "w"], ["y"], name="add")], [X], [Y])),
                 "\"w\"", "Add \"add\"", tmp_path=tmp_path)
    cycle = [helper.make_node("Add", ["input", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second"), helper.make_node("Relu", ["a"], ["y"])]
    expect_error(save(tmp_path, model(cycle, [X], [Y])), "cycle", tmp_path=tmp_path)
    expect_error(save(tmp_path, model([helper.make_node("Relu", ["input"], ["z"])], [X], [Y])),
                 "graph output \"y\"", tmp_path=tmp_path)
    expect_error(save(tmp_path, model([helper.make_node("Relu", ["input"], ["y"])], [X, X], [Y])),
                 'value "input" is defined twice: the graph lists it as an input twice', tmp_path=tmp_path)


def test_unsupported_op_and_domain(tmp_path):
    expect_error(save(tmp_path, model([helper.make_node("FooBar", ["input"], ["y"], name="foo")], [X], [Y])),
                 "FooBar", "\"foo\"", "opset 13", tmp_path=tmp_path)
    m = model([helper.make_node("Relu", ["input"], ["y"], domain="com.example")], [X], [Y])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    expect_error(save(tmp_path, m), "com.example", tmp_path=tmp_path)


def test_control_flow_names_the_node_and_opset(tmp_path):
    body = helper.make_graph([helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Neg", ["v_in"], ["v_out"])],
                             "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                                      helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
                                      helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None)],
                             [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None)])
    trips = [numpy_helper.from_array(np.array(3, np.int64), "m"), numpy_helper.from_array(np.array(True), "c")]
    relu = helper.make_node("Relu", ["input"], ["y"], name="steps", body=body)
    expect_error(save(tmp_path, model([relu], [X], [Y], trips)), 'node Relu "steps" (opset 13): attribute "body" holds a '
                 "subgraph, which only Loop, Scan and If may hold", tmp_path=tmp_path)


def external(tmp_path, location):
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[8])
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", location
    return save(tmp_path, model([helper.make_node("Add", ["input", "w"], ["y"])], [X], [Y], [t]))


def test_external_data_escaping_the_folder(tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-secret.bin"
    outside.write_bytes(b"\0" * 32)
    expect_error(external(tmp_path, f"../{outside.name}"), 'has a ".." component', tmp_path=tmp_path)
    expect_error(external(tmp_path, str(outside)), "is absolute", tmp_path=tmp_path)
    (tmp_path / "link.bin").symlink_to(outside)
    expect_error(external(tmp_path, "link.bin"), "resolves outside", tmp_path=tmp_path)
    expect_error(external(tmp_path, "missing.bin"), "cannot open", tmp_path=tmp_path)
    (tmp_path / "folder.bin").mkdir()
    expect_error(external(tmp_path, "folder.bin"), 'external data file "folder.bin" is not a regular file',
                 tmp_path=tmp_path)
    (tmp_path / "short.bin").write_bytes(b"\0" * 4)
    expect_error(external(tmp_path, "short.bin"), "too short", tmp_path=tmp_path)


def test_bad_inputs_npz(tmp_path):
    np.savez(tmp_path / "wrong_name.npz", image=np.zeros((1, 1, 8, 8), np.float32))
    expect_error(SAMPLES / "digits_cnn.onnx", "no array for graph input \"input\"",
                 inputs=tmp_path / "wrong_name.npz", tmp_path=tmp_path)
    np.savez(tmp_path / "wrong_shape.npz", input=np.zeros((1, 1, 9, 8), np.float32))
    expect_error(SAMPLES / "digits_cnn.onnx", "input \"input\"", "[1, 1, 9, 8]",
                 inputs=tmp_path / "wrong_shape.npz", tmp_path=tmp_path)
    np.savez(tmp_path / "wrong_type.npz", input=np.zeros((1, 1, 8, 8), np.float64))
    expect_error(SAMPLES / "digits_cnn.onnx", f'{tmp_path / "wrong_type.npz"}: input "input" has type f64, the model '
                 "expects f32", inputs=tmp_path / "wrong_type.npz", tmp_path=tmp_path)
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04garbage")
    line = expect_error(SAMPLES / "digits_cnn.onnx", "garbage.npz", inputs=tmp_path / "garbage.npz", tmp_path=tmp_path)
    assert line == f"npucc: error: {tmp_path / 'garbage.npz'}: not an .npz (zip) archive", line
    expect_error(SAMPLES / "digits_cnn.onnx", "missing.npz", inputs=tmp_path / "missing.npz", tmp_path=tmp_path)
    # A folder once had the zip reader look for the archive's end forever.
    (tmp_path / "folder.npz").mkdir()
    expect_error(SAMPLES / "digits_cnn.onnx", "folder.npz: not a regular file", inputs=tmp_path / "folder.npz",
                 tmp_path=tmp_path)
    # np.savez stores its entries: a flipped byte of an array's data fails the entry's CRC-32.
    np.savez(tmp_path / "flipped.npz", input=np.ones((1, 1, 8, 8), np.float32))
    data = bytearray((tmp_path / "flipped.npz").read_bytes())
    data[data.index(b"\x00\x00\x80\x3f") + 2] ^= 0x10
    (tmp_path / "flipped.npz").write_bytes(bytes(data))
    expect_error(SAMPLES / "digits_cnn.onnx", 'array "input": the entry\'s bytes do not match its CRC-32',
                 inputs=tmp_path / "flipped.npz", tmp_path=tmp_path)


def test_output_into_missing_folder_leaves_nothing(tmp_path):
    r = run_npucc("run", SAMPLES / "digits_cnn.onnx", "--inputs", SAMPLES / "digits_test.npz",
                  "--outputs", tmp_path / "nowhere" / "out.npz")
    assert r.returncode == 1 and r.stderr.startswith("npucc: error: ")
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("node,inputs,inits,phrase", [
    (helper.make_node("Concat", ["s", "s"], ["y"], axis=0), [], [np.array(1.0, np.float32)],
     "input 0 is a scalar: Concat joins tensors of rank 1 or more"),
    (helper.make_node("Split", ["s"], ["y", "z"], axis=0), [], [np.array(1.0, np.float32)],
     "its input is a scalar: Split cuts tensors of rank 1 or more"),
    (helper.make_node("Resize", ["input", "", "s"], ["y"]), ["input"], [np.array([1, 1, -1, 1], np.float32)],
     "scales [1.0, 1.0, -1.0, 1.0] holds -1.0: scales must be positive"),
    (helper.make_node("Conv", ["input", "s"], ["y"], pads=[2 ** 31] * 4), ["input"], [np.ones((1, 1, 3, 3), np.float32)],
     "more than 2^40 bytes"),
])
def test_shapes_out_of_range_are_refused_by_node(tmp_path, node, inputs, inits, phrase):
    """Operands the operator cannot take, which once crashed shape inference or the kernels."""
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])
    weights = [numpy_helper.from_array(v, "s") for v in inits]
    outputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in node.output]
    graph = helper.make_graph([node], "g", [x], outputs, weights)
    path = tmp_path / "model.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    np.savez(tmp_path / "x.npz", input=np.ones((1, 1, 8, 8), np.float32))
    expect_error(path, f'node {node.op_type} (output "{node.output[0]}")', phrase, inputs=tmp_path / "x.npz",
                 tmp_path=tmp_path)


def nested_sequence_type(depth):
    """The bytes of a TypeProto of `depth` sequences of sequences of float tensors."""
    def field(number, payload):
        return bytes(_varint((number << 3) | 2)) + bytes(_varint(len(payload))) + payload
    t = field(1, b"\x08\x01")  # tensor_type { elem_type: FLOAT }
    for _ in range(depth):
        t = field(4, field(1, t))  # sequence_type { elem_type: t }
    return t


@pytest.mark.parametrize("depth,phrase", [(100, None), (20000, "messages nested more than 256 deep")])
def test_messages_nested_beyond_reason_are_refused_not_overflowing_the_stack(tmp_path, depth, phrase):
    """A graph input typed as sequences nested 20,000 deep (a few hundred kilobytes) once
    overflowed the stack of the protobuf decoder; 100 deep is decoded (and refused as the
    type it is)."""
    m = model([helper.make_node("Relu", ["input"], ["y"])], [X], [Y])
    m.graph.input.add().name = "deep"
    # The input's ValueInfo (graph field 11) gains its type (field 2), spliced in as bytes.
    kind = nested_sequence_type(depth)
    value = b"\x0a\x04deep" + b"\x12" + bytes(_varint(len(kind))) + kind
    graph = m.graph.SerializeToString().replace(b"\x5a\x06\x0a\x04deep", b"\x5a" + bytes(_varint(len(value))) + value)
    m.ClearField("graph")
    data = m.SerializeToString() + b"\x3a" + bytes(_varint(len(graph))) + graph
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    expect_error(path, str(path), phrase or 'graph input "deep" is a sequence', tmp_path=tmp_path)


def _varint(v):
    out = bytearray()
    while True:
        out.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
        v >>= 7
        if not v:
            return out
