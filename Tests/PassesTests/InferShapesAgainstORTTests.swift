// infer-shapes against onnxruntime: each case is one op on concrete inputs; onnxruntime
// runs it (through Python) and the element types and shapes of its results must equal
// what infer-shapes puts in graph.types. Attribute corners: pads, strides, dilations,
// ceil_mode, auto_pad, negative axes and steps, clamping, keep_aspect_ratio_policy.
import Foundation
import IR
import Passes
import TestSupport
import XCTest

final class InferShapesAgainstORTTests: XCTestCase {
    /// An operand of a case: fed at run time, a constant, or omitted ("").
    private enum Operand {
        case dynamic(DType, [Int])
        case constant(Tensor)
        case omitted
    }

    private struct Case {
        var op: String
        var inputs: [Operand]
        var attributes: [String: Attribute] = [:]
        var outputs = 1
    }

    private func x(_ shape: [Int], _ dtype: DType = .float32) -> Operand { .dynamic(dtype, shape) }
    private func ints(_ values: [Int], shape: [Int]? = nil) -> Operand {
        .constant(Tensor(values.map(Int64.init), shape: shape ?? [values.count]))
    }
    private func floats(_ values: [Float], shape: [Int]? = nil) -> Operand {
        .constant(Tensor(values, shape: shape ?? [values.count]))
    }

    private var cases: [Case] {
        [
            Case(
                op: "Conv", inputs: [x([2, 4, 9, 8]), x([6, 2, 3, 2])],
                attributes: [
                    "group": .int(2), "dilations": .ints([2, 1]), "strides": .ints([1, 2]), "pads": .ints([1, 0, 2, 1]),
                ]),
            Case(
                op: "Conv", inputs: [x([1, 1, 7, 6]), x([2, 1, 3, 3])],
                attributes: ["auto_pad": .string("SAME_UPPER"), "strides": .ints([2, 2])]),
            Case(
                op: "Conv", inputs: [x([1, 1, 10]), x([1, 1, 4])],
                attributes: ["auto_pad": .string("SAME_LOWER"), "strides": .ints([3])]),
            Case(
                op: "Conv", inputs: [x([1, 2, 7, 6, 5]), x([3, 2, 2, 2, 2])],
                attributes: ["auto_pad": .string("VALID"), "strides": .ints([2, 2, 2])]),
            Case(op: "Conv", inputs: [x([1, 3, 5, 5]), x([4, 3, 1, 1]), x([4])]),
            Case(
                op: "ConvTranspose", inputs: [x([1, 4, 5, 5]), x([4, 3, 3, 3])],
                attributes: [
                    "strides": .ints([2, 2]), "output_padding": .ints([1, 1]), "pads": .ints([1, 1, 1, 1]), "group": .int(2),
                ]),
            Case(
                op: "ConvTranspose", inputs: [x([1, 2, 4, 5]), x([2, 3, 3, 3])],
                attributes: ["auto_pad": .string("SAME_UPPER"), "strides": .ints([2, 2])]),
            Case(
                op: "ConvTranspose", inputs: [x([1, 2, 5, 5]), x([2, 1, 3, 3])],
                attributes: ["output_shape": .ints([10, 11]), "strides": .ints([2, 2])]),
            Case(op: "ConvTranspose", inputs: [x([1, 1, 4]), x([1, 2, 3]), x([2])], attributes: ["dilations": .ints([2])]),
            Case(
                op: "MaxPool", inputs: [x([1, 1, 7, 8])],
                attributes: [
                    "kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]), "ceil_mode": .int(1),
                ]),
            Case(
                op: "MaxPool", inputs: [x([1, 1, 4])],
                attributes: ["kernel_shape": .ints([2]), "strides": .ints([2]), "pads": .ints([0, 1]), "ceil_mode": .int(1)]),
            Case(
                op: "MaxPool", inputs: [x([1, 1, 6, 6])],
                attributes: ["kernel_shape": .ints([2, 2]), "dilations": .ints([2, 2])]),
            Case(
                op: "MaxPool", inputs: [x([1, 1, 5, 5])],
                attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "auto_pad": .string("SAME_UPPER")],
                outputs: 2),
            Case(
                op: "AveragePool", inputs: [x([1, 2, 6, 6])],
                attributes: [
                    "kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 0, 0]), "ceil_mode": .int(1),
                    "count_include_pad": .int(1),
                ]),
            Case(
                op: "AveragePool", inputs: [x([1, 1, 7])],
                attributes: ["kernel_shape": .ints([3]), "strides": .ints([2]), "auto_pad": .string("VALID")]),
            Case(op: "GlobalAveragePool", inputs: [x([2, 3, 4, 5])]),
            Case(op: "GlobalMaxPool", inputs: [x([2, 3, 4])]),
            Case(op: "Gemm", inputs: [x([4, 3]), x([5, 4]), x([5])], attributes: ["transA": .int(1), "transB": .int(1)]),
            Case(op: "MatMul", inputs: [x([2, 1, 3, 4]), x([7, 4, 5])]),
            Case(op: "MatMul", inputs: [x([4]), x([2, 4, 5])]),
            Case(op: "MatMul", inputs: [x([3, 4]), x([4])]),
            Case(op: "Reshape", inputs: [x([2, 3, 4]), ints([0, -1, 2])]),
            Case(op: "Reshape", inputs: [x([2, 0, 4]), ints([0, 8])], attributes: ["allowzero": .int(1)]),
            Case(op: "Flatten", inputs: [x([2, 3, 4])], attributes: ["axis": .int(-1)]),
            Case(op: "Flatten", inputs: [x([2, 3, 4])], attributes: ["axis": .int(0)]),
            Case(op: "Transpose", inputs: [x([2, 3, 4])]),
            Case(op: "Transpose", inputs: [x([2, 3, 4])], attributes: ["perm": .ints([1, 0, 2])]),
            Case(op: "Squeeze", inputs: [x([1, 3, 1, 2]), ints([-2])]),
            Case(op: "Squeeze", inputs: [x([1, 3, 1, 2])]),
            Case(op: "Unsqueeze", inputs: [x([3, 4]), ints([0, -1])]),
            Case(op: "Expand", inputs: [x([3, 1]), ints([2, 1, 4])]),
            Case(op: "Tile", inputs: [x([2, 3]), ints([2, 1])]),
            Case(op: "Concat", inputs: [x([2, 3]), x([2, 1]), x([2, 4])], attributes: ["axis": .int(-1)]),
            Case(op: "Split", inputs: [x([2, 10]), ints([2, 3, 5])], attributes: ["axis": .int(1)], outputs: 3),
            Case(op: "Split", inputs: [x([2, 10])], attributes: ["axis": .int(1), "num_outputs": .int(3)], outputs: 3),
            Case(op: "Slice", inputs: [x([5, 6, 7]), ints([4, -1]), ints([0, -100]), ints([0, 2]), ints([-2, -3])]),
            Case(op: "Slice", inputs: [x([5, 6]), ints([1]), ints([Int(Int64.max)]), ints([1])]),
            Case(op: "Slice", inputs: [x([5, 6]), ints([-3, 10]), ints([-1, 2])]),
            Case(op: "Gather", inputs: [x([5, 6, 7]), ints([0, 1, 2, 3], shape: [2, 2])], attributes: ["axis": .int(1)]),
            Case(op: "Gather", inputs: [x([5, 6]), .constant(Tensor(scalar: Int64(-1)))]),
            Case(op: "Pad", inputs: [x([4, 5]), ints([1, -1, 2, -2])]),
            Case(op: "Pad", inputs: [x([4, 5]), ints([2, 3]), .omitted, ints([-1])]),
            Case(op: "Resize", inputs: [x([1, 3, 5, 7]), .omitted, floats([1, 1, 2, 1.5])]),
            Case(
                op: "Resize", inputs: [x([1, 3, 5, 7]), .omitted, floats([1, 1, 0.6, 0.3])],
                attributes: ["mode": .string("linear")]),
            Case(
                op: "Resize", inputs: [x([1, 3, 20, 40]), .omitted, .omitted, ints([10, 10])],
                attributes: ["axes": .ints([2, 3]), "keep_aspect_ratio_policy": .string("not_larger")]),
            Case(
                op: "Resize", inputs: [x([1, 3, 20, 40]), .omitted, .omitted, ints([10, 10])],
                attributes: ["axes": .ints([2, 3]), "keep_aspect_ratio_policy": .string("not_smaller")]),
            Case(op: "Resize", inputs: [x([1, 3, 5, 7]), .omitted, .omitted, ints([1, 3, 8, 2])]),
            Case(op: "ReduceMean", inputs: [x([2, 3, 4]), ints([0, -1])], attributes: ["keepdims": .int(0)]),
            Case(op: "ReduceSum", inputs: [x([2, 3, 4])]),
            Case(op: "ReduceMax", inputs: [x([2, 3, 4])], attributes: ["noop_with_empty_axes": .int(1)]),
            Case(op: "ReduceProd", inputs: [x([2, 3, 4]), ints([1])]),
            Case(op: "ArgMax", inputs: [x([2, 3])], attributes: ["axis": .int(1), "keepdims": .int(0)]),
            Case(op: "ArgMin", inputs: [x([2, 3])]),
            Case(op: "Shape", inputs: [x([2, 3, 4])], attributes: ["start": .int(-2)]),
            Case(op: "Shape", inputs: [x([2, 3, 4])], attributes: ["end": .int(1)]),
            Case(op: "Size", inputs: [x([2, 3, 4])]),
            Case(
                op: "Range",
                inputs: [
                    .constant(Tensor(scalar: Float(1))), .constant(Tensor(scalar: Float(2))),
                    .constant(Tensor(scalar: Float(0.3))),
                ]),
            Case(
                op: "Range",
                inputs: [
                    .constant(Tensor(scalar: Int64(10))), .constant(Tensor(scalar: Int64(1))),
                    .constant(Tensor(scalar: Int64(-4))),
                ]),
            Case(op: "ConstantOfShape", inputs: [ints([2, 3])], attributes: ["value": .tensor(Tensor([Int64(7)], shape: [1]))]),
            Case(op: "LayerNormalization", inputs: [x([2, 3, 4]), x([3, 4])], attributes: ["axis": .int(1)], outputs: 3),
            Case(op: "BatchNormalization", inputs: [x([2, 3, 4, 4]), x([3]), x([3]), x([3]), x([3])]),
            Case(op: "InstanceNormalization", inputs: [x([2, 3, 5]), x([3]), x([3])]),
            Case(op: "LRN", inputs: [x([1, 4, 5, 5])], attributes: ["size": .int(3)]),
            Case(op: "Where", inputs: [x([3, 1], .bool), x([1, 4]), x([])]),
            Case(op: "Equal", inputs: [x([2, 3]), x([3])]),
            Case(op: "Greater", inputs: [x([2, 1]), x([1, 5])]),
            Case(op: "Cast", inputs: [x([2, 3])], attributes: ["to": .int(Int(DType.int64.rawValue))]),
            Case(op: "Softmax", inputs: [x([2, 3, 4])], attributes: ["axis": .int(1)]),
            Case(op: "LogSoftmax", inputs: [x([2, 3, 4])]),
            Case(op: "PRelu", inputs: [x([2, 3, 4, 4]), x([3, 1, 1])]),
            Case(op: "Clip", inputs: [x([2, 3]), .constant(Tensor(scalar: Float(0))), .constant(Tensor(scalar: Float(1)))]),
            Case(op: "Dropout", inputs: [x([2, 3])], outputs: 2),
            Case(op: "Mean", inputs: [x([2, 1]), x([3]), x([1, 1])]),
            Case(op: "Add", inputs: [x([2, 1, 4]), x([3, 1])]),
            Case(op: "Gelu", inputs: [x([2, 3])], attributes: ["approximate": .string("tanh")]),
            Case(op: "HardSwish", inputs: [x([2, 3])]),
            Case(
                op: "QuantizeLinear",
                inputs: [x([2, 3, 4]), floats([0.1, 0.2, 0.3]), .constant(Tensor([Int8(0), 1, 2], shape: [3]))],
                attributes: ["axis": .int(1)]),
            Case(op: "QuantizeLinear", inputs: [x([2, 3]), floats([0.5], shape: [])]),
            Case(
                op: "DequantizeLinear",
                inputs: [
                    x([2, 3, 4], .uint8), floats([0.1, 0.2, 0.3, 0.4]),
                    .constant(Tensor([UInt8](repeating: 9, count: 4), shape: [4])),
                ],
                attributes: ["axis": .int(-1)]),
            Case(op: "DequantizeLinear", inputs: [x([5], .int32), floats([0.5], shape: [])]),
        ]
    }

    func testInferredTypesEqualOnnxruntimeResults() throws {
        let cases = self.cases
        let run = try runPython(script: Self.script, stdin: try encode(cases))
        XCTAssertEqual(run.status, 0, run.stderr)
        let results = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(results.count, cases.count)
        var compared = 0
        for (c, result) in zip(cases, results) {
            let what = "\(c.op) \(c.attributes.keys.sorted())"
            guard let outputs = result["outputs"] as? [[String: Any]] else {
                XCTFail("\(what): onnxruntime failed: \(result["error"] ?? "?")")
                continue
            }
            let expected = outputs.map { o -> TensorType? in
                guard let code = o["type"] as? Int, let dtype = DType(rawValue: Int32(code)), let shape = o["shape"] as? [Int]
                else {
                    return nil
                }
                return TensorType(dtype, shape)
            }
            XCTAssertEqual(try inferred(c), expected, what)
            compared += 1
        }
        XCTAssertEqual(compared, cases.count)
    }

    /// The types infer-shapes gives the case's outputs.
    private func inferred(_ c: Case) throws -> [TensorType?] {
        var b = GraphBuilder()
        var names: [String] = []
        for (k, operand) in c.inputs.enumerated() {
            switch operand {
            case .dynamic(let dtype, let shape): names.append(b.input("i\(k)", dtype, shape.map(Dim.known)))
            case .constant(let tensor): names.append(b.constant("i\(k)", tensor))
            case .omitted: names.append("")
            }
        }
        let outputs = (0..<c.outputs).map { "o\($0)" }
        b.node(c.op, names, c.attributes, outputs: outputs, name: "n")
        for o in outputs { b.output(o) }
        var graph = b.graph
        try Pipeline([InferShapes()]).run(&graph, PassContext())
        return outputs.map { graph.types[$0] }
    }

    /// The cases as JSON for the script: ONNX element type codes, shapes, constant data.
    private func encode(_ cases: [Case]) throws -> String {
        func tensor(_ t: Tensor) -> [String: Any] {
            [
                "type": Int(t.dtype.rawValue), "shape": t.shape,
                "values": t.dtype.isInteger ? t.int64s().map { $0 as Any } : t.doubles(),
            ]
        }
        let list: [[String: Any]] = cases.map { c in
            let inputs: [[String: Any]] = c.inputs.map { operand in
                switch operand {
                case .dynamic(let dtype, let shape): return ["kind": "dynamic", "type": Int(dtype.rawValue), "shape": shape]
                case .constant(let t): return ["kind": "constant"].merging(tensor(t)) { a, _ in a }
                case .omitted: return ["kind": "omitted"]
                }
            }
            let attributes: [[String: Any]] = c.attributes.sorted { $0.key < $1.key }.map { name, value in
                switch value {
                case .int(let v): return ["name": name, "value": v]
                case .float(let v): return ["name": name, "value": Double(v), "float": true]
                case .string(let v): return ["name": name, "value": v]
                case .ints(let v): return ["name": name, "value": v]
                case .tensor(let t): return ["name": name, "tensor": tensor(t)]
                default: return ["name": name]
                }
            }
            return ["op": c.op, "inputs": inputs, "attributes": attributes, "outputs": c.outputs]
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: list), as: UTF8.self)
    }

    private static let script = """
        import json, sys
        import numpy as np, onnx, onnxruntime as ort
        from onnx import helper, numpy_helper

        def array(t):
            dtype = helper.tensor_dtype_to_np_dtype(t['type'])
            return np.array(t['values'], dtype=dtype).reshape(t['shape'])

        rng = np.random.default_rng(0)
        results = []
        for c in json.loads(sys.stdin.read()):
            names, inputs, inits, feeds = [], [], [], {}
            for k, x in enumerate(c['inputs']):
                if x['kind'] == 'omitted':
                    names.append('')
                    continue
                name = 'i%d' % k
                names.append(name)
                if x['kind'] == 'constant':
                    inits.append(numpy_helper.from_array(array(x), name))
                else:
                    inputs.append(helper.make_tensor_value_info(name, x['type'], x['shape']))
                    dtype = helper.tensor_dtype_to_np_dtype(x['type'])
                    feeds[name] = (rng.random(x['shape']) > 0.5) if dtype == np.bool_ else rng.random(x['shape']).astype(dtype)
            attrs = {}
            for a in c['attributes']:
                if 'tensor' in a:
                    attrs[a['name']] = numpy_helper.from_array(array(a['tensor']))
                else:
                    attrs[a['name']] = float(a['value']) if a.get('float') else a['value']
            outs = ['o%d' % k for k in range(c['outputs'])]
            node = helper.make_node(c['op'], names, outs, **attrs)
            graph = helper.make_graph([node], 'case', inputs, [helper.make_empty_tensor_value_info(o) for o in outs], inits)
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 21)])
            model.ir_version = 10
            try:
                session = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
                values = session.run(None, feeds)
                results.append({'outputs': [{'type': int(helper.np_dtype_to_tensor_dtype(v.dtype)), 'shape': list(v.shape)}
                                            for v in values]})
            except Exception as e:
                results.append({'error': str(e)})
        print(json.dumps(results))
        """
}
