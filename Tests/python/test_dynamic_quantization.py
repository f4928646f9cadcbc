"""Models quantized by onnxruntime's quantize_dynamic (DynamicQuantizeLinear, MatMulInteger or
ConvInteger, a Cast and a Mul by the two scales for every MatMul, Gemm and Conv): each
product is read as the float32 layer of its dequantized weight, so npucc runs the model as
onnxruntime runs the float model with those weights (the run-time rounding of activations
to uint8 left to npucc's own quantization, with a warning), compiles it, and the bundle
computes as the fake-quant interpreter. The three ops themselves run as ONNX defines them
where they appear in another form, bit for bit as onnxruntime (MatMulInteger of uint8 codes by
int8 weights exactly, which onnxruntime's AVX2 kernels without VNNI saturate); the backend
refuses them by name."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_same_bits, interpreted_and_onnxruntime, run_npucc, simulated_and_interpreted

RNG = np.random.default_rng(6060)


def float_model(path):
    """x [4, 16] -> MatMul 16 x 32 + bias -> Relu -> Gemm (transB) to 8 -> y; and a 3x3 Conv of
    img [1, 3, 8, 8] to 4 channels -> c."""
    inits = [numpy_helper.from_array(RNG.standard_normal((16, 32)).astype(np.float32), "w1"),
             numpy_helper.from_array(RNG.standard_normal(32).astype(np.float32), "b1"),
             numpy_helper.from_array(RNG.standard_normal((8, 32)).astype(np.float32), "w2"),
             numpy_helper.from_array(RNG.standard_normal(8).astype(np.float32), "b2"),
             numpy_helper.from_array(RNG.standard_normal((4, 3, 3, 3)).astype(np.float32), "wc")]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Add", ["h", "b1"], ["hb"]),
             helper.make_node("Relu", ["hb"], ["r"]), helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1),
             helper.make_node("Conv", ["img", "wc"], ["c"], pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16]),
                                           helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8]),
                               helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def dequantized_reference(quantized, path):
    """The quantized model with each product replaced by the float layer of its dequantized
    weight, written as a plain float model (numpy does the dequantization)."""
    m = onnx.load(quantized)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    producer = {o: n for n in m.graph.node for o in n.output}
    readers = lambda v: [n for n in m.graph.node if v in n.input]
    nodes = []
    for n in m.graph.node:
        if n.op_type not in ("MatMulInteger", "ConvInteger"):
            continue
        x = producer[n.input[0]].input[0]
        b, zero = inits[n.input[1]].astype(np.int64), inits[n.input[3]].astype(np.int64)
        mul = readers(readers(n.output[0])[0].output[0])[0]
        scale_mul = producer[[i for i in mul.input if i in producer and producer[i].op_type == "Mul"][0]]
        scale = inits[[i for i in scale_mul.input if i in inits][0]]
        axis_shape = [-1, 1, 1, 1] if n.op_type == "ConvInteger" else [1, -1]
        w = ((b - zero.reshape(axis_shape if zero.size > 1 else [])).astype(np.float32)
             * scale.reshape(axis_shape if scale.size > 1 else [])).astype(np.float32)
        name = n.output[0] + "_w"
        m.graph.initializer.append(numpy_helper.from_array(w, name))
        nodes.append((mul, helper.make_node("Conv" if n.op_type == "ConvInteger" else "MatMul", [x, name], list(mul.output),
                                            **{a.name: helper.get_attribute_value(a) for a in n.attribute})))
    for mul, replacement in nodes:
        m.graph.node.insert(list(m.graph.node).index(mul), replacement)
        m.graph.node.remove(mul)
    onnx.save(m, path)


@pytest.mark.parametrize("weight_type,per_channel", [("QInt8", False), ("QUInt8", True), ("QInt8", True)])
def test_a_dynamically_quantized_model_runs_as_its_dequantized_float_model(tmp_path, weight_type, per_channel):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    float_model(tmp_path / "f.onnx")
    # uint8 activations by int8 weights: 7-bit weights, else onnxruntime's AVX2 kernels on a CPU
    # without VNNI saturate a pair of products in 16 bits (onnxruntime's own advice for U8S8).
    quantize_dynamic(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), weight_type=QuantType[weight_type],
                     per_channel=per_channel, reduce_range=weight_type == "QInt8")
    ops = {n.op_type for n in onnx.load(tmp_path / "q.onnx").graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"} <= ops
    dequantized_reference(tmp_path / "q.onnx", tmp_path / "d.onnx")
    feeds = {"x": RNG.standard_normal((4, 16)).astype(np.float32),
             "img": RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)}
    got, want = interpreted_and_onnxruntime(tmp_path / "q.onnx", feeds, tmp_path)
    _, reference = interpreted_and_onnxruntime(tmp_path / "d.onnx", feeds, tmp_path)
    for name in ["y", "c"]:
        np.testing.assert_allclose(got[name], reference[name], rtol=1e-5, atol=1e-5 * np.abs(reference[name]).max())
        # onnxruntime also rounds the activations to uint8 codes: close, not equal.
        error = np.abs(got[name] - want[name]).max() / np.abs(want[name]).max()
        assert 0 < error < 0.05, (name, error)
    r = run_npucc("run", tmp_path / "q.onnx", "--inputs", tmp_path / "inputs.npz", "--outputs", tmp_path / "o.npz")
    assert "3 products of dynamic quantization" in r.stderr and "recalibrated" in r.stderr
    np.savez(tmp_path / "calib.npz", **{k: RNG.standard_normal((4, *v.shape)).astype(np.float32) for k, v in feeds.items()})
    sim, fq = simulated_and_interpreted(tmp_path / "q.onnx", tmp_path / "inputs.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y", "c"])


def test_the_ops_in_another_form_run_as_onnxruntime_and_are_refused_by_the_backend(tmp_path):
    """DynamicQuantizeLinear's three outputs, MatMulInteger of its codes by int8 weights with a
    zero point per column (against the exact integer product), and ConvInteger of uint8 codes,
    all graph outputs."""
    inits = [numpy_helper.from_array(RNG.integers(-128, 128, (16, 5)).astype(np.int8), "b"),
             numpy_helper.from_array(RNG.integers(-3, 4, 5).astype(np.int8), "bz"),
             numpy_helper.from_array(RNG.integers(0, 256, (2, 3, 3, 3)).astype(np.uint8), "k"),
             numpy_helper.from_array(np.array(131, np.uint8), "kz")]
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]),
             helper.make_node("MatMulInteger", ["q", "b", "z", "bz"], ["p"], name="product"),
             helper.make_node("DynamicQuantizeLinear", ["img"], ["iq", "is", "iz"]),
             helper.make_node("ConvInteger", ["iq", "k", "iz", "kz"], ["cp"], pads=[1, 1, 1, 1], strides=[2, 2])]
    outputs = [("q", TensorProto.UINT8), ("s", TensorProto.FLOAT), ("z", TensorProto.UINT8), ("p", TensorProto.INT32),
               ("cp", TensorProto.INT32)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 16]),
                                           helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 3, 9, 9])],
                              [helper.make_tensor_value_info(n, t, None) for n, t in outputs], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    feeds = {"x": (RNG.standard_normal((3, 16)) * 3 + 1).astype(np.float32),
             "img": RNG.standard_normal((1, 3, 9, 9)).astype(np.float32)}
    got, want = interpreted_and_onnxruntime(tmp_path / "m.onnx", feeds, tmp_path)
    # The uint8 codes by int8 weights exactly, as ONNX defines MatMulInteger: onnxruntime's
    # AVX2 kernels on a CPU without VNNI saturate a pair of these products in 16 bits.
    b, bz = (numpy_helper.to_array(inits[i]).astype(np.int64) for i in (0, 1))
    want["p"] = ((want["q"].astype(np.int64) - int(want["z"])) @ (b - bz)).astype(np.int32)
    for name, _ in outputs:
        assert got[name].dtype == want[name].dtype, name
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert np.abs(want["p"]).max() > 1000
    r = run_npucc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.npub", "--precision", "fp16")
    assert r.returncode == 1 and "DynamicQuantizeLinear" in r.stderr, r.stderr
    assert not (tmp_path / "m.npub").exists()


def test_an_embedding_table_it_quantized_is_gathered_dequantized(tmp_path):
    """quantize_dynamic stores a Gather's table as uint8 codes, gathered then dequantized (one
    scale), as a transformer's embeddings before their sum: npucc gathers the dequantized
    table, so the model compiles like its float one."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    inits = [numpy_helper.from_array(RNG.standard_normal((50, 16)).astype(np.float32), "table"),
             numpy_helper.from_array(RNG.standard_normal((6, 16)).astype(np.float32), "positions"),
             numpy_helper.from_array(RNG.standard_normal((16, 8)).astype(np.float32), "w")]
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"], name="embed"),
             helper.make_node("Add", ["e", "positions"], ["p"]), helper.make_node("MatMul", ["p", "w"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), tmp_path / "f.onnx")
    quantize_dynamic(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), weight_type=QuantType.QUInt8)
    quantized = onnx.load(tmp_path / "q.onnx")
    gathered = [i.name for i in quantized.graph.initializer if i.data_type == TensorProto.UINT8 and len(i.dims) == 2]
    assert any(n.op_type == "Gather" and n.input[0] in gathered for n in quantized.graph.node)
    assert "DequantizeLinear" in {n.op_type for n in quantized.graph.node}
    dequantized_reference(tmp_path / "q.onnx", tmp_path / "d.onnx")
    feeds = {"ids": np.array([[3, 0, 49, 7, 7, 21]], np.int64)}
    got, _ = interpreted_and_onnxruntime(tmp_path / "q.onnx", feeds, tmp_path)
    _, reference = interpreted_and_onnxruntime(tmp_path / "d.onnx", feeds, tmp_path)
    np.testing.assert_allclose(got["y"], reference["y"], rtol=1e-5, atol=1e-5 * np.abs(reference["y"]).max())
    r = run_npucc("run", tmp_path / "q.onnx", "--inputs", tmp_path / "inputs.npz", "--outputs", tmp_path / "o.npz")
    assert "1 product of dynamic quantization" in r.stderr and "1 8-bit table gathered dequantized" in r.stderr, r.stderr
    assert "recalibrated" in r.stderr and r.stderr.count("warning:") == 1, r.stderr
    np.savez(tmp_path / "calib.npz", ids=RNG.integers(0, 50, (4, 1, 6)).astype(np.int64))
    sim, fq = simulated_and_interpreted(tmp_path / "q.onnx", tmp_path / "inputs.npz", tmp_path, "fp16", "none",
                                        tmp_path / "calib.npz")
    assert_same_bits(sim, fq, ["y"])
