// dynamic-quantization: onnxruntime's quantize_dynamic writes each MatMul and Conv as
// DynamicQuantizeLinear(x) -> (codes, scale, zero point), MatMulInteger or ConvInteger of
// the codes and the layer's int8 or uint8 weight codes, a Cast to float32 and a Mul by the
// activation's scale times the weight's (a Mul of its own). That is the float layer of the
// dequantized weight, (codes − zero point) · scale, applied to x quantized to uint8 at run
// time. npucc chooses each layer's formats itself: the layer becomes the float32 MatMul or
// Conv of x and the dequantized weight, and its activation is calibrated like a float
// model's (as import-qdq does for integer pairs). Its embedding tables, uint8 codes gathered
// and then dequantized with one scale, become the gather of the dequantized table.
import IR

/// Rewrites each Mul that closes that pattern (the Cast's output times a Mul of the
/// DynamicQuantizeLinear's scale and a constant float32 weight scale, one value or one per
/// output column or channel) into MatMul(x, W) or Conv(x, W) (ConvInteger's attributes),
/// W = (B − b_zero_point) · scale as DequantizeLinear computes it, a constant. The product
/// must read the DynamicQuantizeLinear's zero point as a_zero_point and a constant weight
/// and b_zero_point. Also rewrites DequantizeLinear(Gather(T, ids)) of a constant int8 or
/// uint8 table T with one scale and zero point into Gather((T − zero) · scale, ids). With one
/// warning for the pass.
///
/// Requires: a verified graph. Guarantees: each rewritten Mul's output is the float32 product
/// of x and the dequantized weight; it differs from the original by the rounding of x to
/// uint8 codes, which npucc's own quantization replaces.
/// Leaves alone: products of other forms (the interpreter runs DynamicQuantizeLinear,
/// MatMulInteger and ConvInteger as ONNX defines them; the backend refuses them by name).
public struct DynamicQuantization: Pass {
    public let tag = "dynamic-quantization"
    public let summary = "Read onnxruntime's dynamic int8 products as float32 layers of the dequantized weights"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        let users = graph.users(), producers = graph.producers()
        func only(_ value: String, _ op: String) -> Int? {
            guard let readers = users[value], readers.count == 1, graph.nodes[readers[0]].op == op else { return nil }
            return readers[0]
        }
        for product in graph.nodes where ["MatMulInteger", "ConvInteger"].contains(product.op) {
            guard let codes = product.input(0), let q = producers[codes], graph.nodes[q].op == "DynamicQuantizeLinear",
                case let dynamic = graph.nodes[q], dynamic.outputs.count == 3, dynamic.outputs[0] == codes,
                product.input(2) == dynamic.outputs[2], let x = dynamic.input(0),
                let b = graph.constants[product.inputs[1]], b.dtype == .int8 || b.dtype == .uint8,
                let out = product.outputs.first, let c = only(out, "Cast"),
                graph.nodes[c].int("to", default: 0) == Int(DType.float32.rawValue),
                let u = only(graph.nodes[c].outputs[0], "Mul"), case let mul = graph.nodes[u],
                let factor = mul.inputs.first(where: { $0 != graph.nodes[c].outputs[0] }),
                let f = producers[factor], graph.nodes[f].op == "Mul", graph.nodes[f].inputs.contains(dynamic.outputs[1]),
                let scaleName = graph.nodes[f].inputs.first(where: { $0 != dynamic.outputs[1] }),
                let scale = graph.constants[scaleName], scale.dtype == .float32
            else { continue }
            // b_zero_point, when given, must be a constant too.
            let zeroName = product.input(3), zero = zeroName.flatMap { graph.constants[$0] }
            guard zeroName == nil || zero != nil,
                let weight = Self.dequantized(b, zero: zero, scale: scale, convolution: product.op == "ConvInteger")
            else { continue }
            let w = graph.addConstant("\(product.inputs[1])_dequantized", weight)
            graph.nodes[u] = Node(
                op: product.op == "ConvInteger" ? "Conv" : "MatMul", name: mul.name.isEmpty ? product.name : mul.name,
                inputs: [x, w], outputs: mul.outputs, attributes: product.attributes)
            stats.add(product.op)
        }
        // Its embedding tables: DequantizeLinear(Gather(codes, ids)) with one scale is
        // Gather(the dequantized table, ids).
        for (i, dq) in graph.nodes.enumerated() where dq.op == "DequantizeLinear" {
            guard let looked = dq.input(0), let g = producers[looked], graph.nodes[g].op == "Gather",
                case let gather = graph.nodes[g], users[looked]?.count == 1, let table = graph.constants[gather.inputs[0]],
                table.dtype == .int8 || table.dtype == .uint8, let scale = dq.input(1).flatMap({ graph.constants[$0] }),
                scale.dtype == .float32, scale.count == 1
            else { continue }
            let zeroName = dq.input(2), zero = zeroName.flatMap { graph.constants[$0] }
            guard zeroName == nil || zero?.count == 1,
                let values = Self.dequantized(table, zero: zero, scale: scale, convolution: false)
            else { continue }
            let w = graph.addConstant("\(gather.inputs[0])_dequantized", values)
            graph.nodes[i] = Node(
                op: "Gather", name: gather.name, inputs: [w, gather.inputs[1]], outputs: dq.outputs,
                attributes: gather.attributes)
            stats.add("tables")
        }
        let count = stats["MatMulInteger"] + stats["ConvInteger"], tables = stats["tables"]
        var read: [String] = []
        if count > 0 {
            read.append(
                "\(count) product\(count == 1 ? "" : "s") of dynamic quantization (DynamicQuantizeLinear, "
                    + "MatMulInteger, ConvInteger) read as float32 layers")
        }
        if tables > 0 { read.append("\(tables) 8-bit table\(tables == 1 ? "" : "s") gathered dequantized") }
        if !read.isEmpty {
            stats.warn(
                read.joined(separator: " and ") + ": their 8-bit weights dequantized, their activations "
                    + "(quantized at run time) recalibrated")
        }
        return stats
    }

    /// (b − zero) · scale in float32, the zero point and scale one value or one per output
    /// (a kernel's first axis, a matrix's last); nil for other shapes.
    static func dequantized(_ b: Tensor, zero: Tensor?, scale: Tensor, convolution: Bool) -> Tensor? {
        let outputs = convolution ? b.shape.first ?? 1 : b.shape.last ?? 1
        let zeros = zero?.int64s() ?? [0], scales = scale.floats()
        guard b.rank >= 2, [1, outputs].contains(zeros.count), [1, outputs].contains(scales.count) else { return nil }
        let codes = b.int64s(), inner = convolution ? b.count / max(outputs, 1) : 1
        let values = codes.indices.map { i -> Float in
            let o = convolution ? i / inner : i % outputs
            return Float(codes[i] - zeros[zeros.count == 1 ? 0 : o]) * scales[scales.count == 1 ? 0 : o]
        }
        return Tensor(values, shape: b.shape)
    }
}
