// A quantized layer's weight in the exported graph: fp8 as its E4M3 codes and scales with
// DequantizeLinear (a grouped ConvTranspose's scales, on no one axis, by a Mul after it),
// fp16 as a FLOAT16 initializer cast to float, nvfp4 (for which
// onnxruntime 1.32 has no FLOAT4E2M1 DequantizeLinear) as the float32 values the
// interpreter uses.
import Formats
import IR
import Passes
import Reference

extension QDQGraphBuilder {
    /// The value a layer reads for its weight `name` (the fake-quantized float32 constant)
    /// stored in `format`; `scales` are the fp8 scales (one, or one per output channel
    /// along `axis` of the stored tensor, or with no such axis a grouped ConvTranspose's).
    /// Every route gives the interpreter's float32 weights exactly.
    mutating func storedWeight(
        _ name: String, format: PrecisionFormat, scales: [Float], axis: Int?, layer: Node
    ) throws -> String {
        guard let w = graph.constants[name] else { throw IRError("the weight \"\(name)\" is not a constant", at: layer) }
        switch format {
        case .fp32, .nvfp4:
            return name
        case .fp16:
            let bits = w.floats().map { Float16Codec.encode($0) }
            guard bits.map(Float16Codec.decode).elementsEqual(w.floats(), by: { $0.bitPattern == $1.bitPattern }) else {
                throw IRError("the fp16 weight \"\(name)\" holds values fp16 cannot represent", at: layer)
            }
            let half = constant("\(name)_f16", Tensor(bits, shape: w.shape).retyped(.float16))
            return emit("Cast", [half], "\(name)_float", attributes: ["to": .int(Int(DType.float32.rawValue))])
        case .fp8:
            guard scales.count == 1 || axis != nil else {
                return try groupedFP8Weight(name, w, scales: scales, layer: layer)
            }
            let axis = axis ?? 0
            let extent = scales.count, stride = w.shape[(axis + 1)...].reduce(1, *)
            guard extent == 1 || (axis < w.rank && w.shape[axis] == extent) else {
                throw IRError("the fp8 weight \"\(name)\" \(w.shape) has \(extent) scales, not one per axis \(axis)", at: layer)
            }
            let codes = try e4m3Codes(w, name: name, layer: layer) { scales[extent == 1 ? 0 : ($0 / stride) % extent] }
            let scale = constant(
                "\(name)_scale", scales.count == 1 ? Tensor(scalar: scales[0]) : Tensor(scales, shape: [scales.count]))
            let attributes: [String: Attribute] = scales.count == 1 ? [:] : ["axis": .int(axis)]
            // No zero point: ONNX's fp8 has none, and a per-axis one would need one per channel.
            return emit(
                "DequantizeLinear", [constant("\(name)_e4m3", codes), scale], "\(name)_dequantized",
                attributes: attributes)
        }
    }

    /// A grouped ConvTranspose's fp8 weight [C, M/G, k...], whose output channels' scales
    /// no single axis carries: its E4M3 codes dequantized with scale 1, times a
    /// [C, M/G, 1, ...] tensor of each element's scale (`LayerWeight` places each output
    /// channel's scale as it places the channel's weights). The weight is then no float
    /// initializer, which onnxruntime's QDQ rewrites would requantize (to int8) between the
    /// layer's DequantizeLinear and the next QuantizeLinear.
    private mutating func groupedFP8Weight(_ name: String, _ w: Tensor, scales: [Float], layer: Node) throws -> String {
        guard layer.op == "ConvTranspose", let weight = LayerWeight(layer, graph), weight.name == name,
            scales.count == weight.rows
        else {
            throw IRError("the fp8 weight \"\(name)\" \(w.shape) has \(scales.count) scales on no axis", at: layer)
        }
        let perElement = weight.tensor(from: scales.flatMap { [Float](repeating: $0, count: weight.columns) }).floats()
        let codes = try e4m3Codes(w, name: name, layer: layer) { perElement[$0] }
        // Each (c, m) has one scale across its kernel positions.
        let kernel = w.shape[2...].reduce(1, *)
        let map = stride(from: 0, to: perElement.count, by: kernel).map { perElement[$0] }
        let decoded = emit("DequantizeLinear", [constant("\(name)_e4m3", codes), scalar(1)], "\(name)_codes")
        let shape = Array(w.shape[..<2]) + [Int](repeating: 1, count: w.rank - 2)
        return emit("Mul", [decoded, constant("\(name)_scale", Tensor(map, shape: shape))], "\(name)_dequantized")
    }

    /// The E4M3 codes of `w`, element i under scale `scale(i)`, checked to decode (times
    /// that scale, one float32 product) to `w` exactly.
    private func e4m3Codes(_ w: Tensor, name: String, layer: Node, scale: (Int) -> Float) throws -> Tensor {
        let values = w.floats()
        let e4m3 = MiniFloatFormat.e4m3
        var codes = [UInt8](repeating: 0, count: values.count)
        for i in values.indices {
            let s = scale(i)
            codes[i] = e4m3.encode(values[i] / s, saturating: true)
            guard (e4m3.decode(codes[i]) * s).bitPattern == values[i].bitPattern else {
                throw IRError(
                    "the fp8 weight \"\(name)\" element \(i) (\(values[i])) is not an E4M3 value times its scale \(s)", at: layer)
            }
        }
        return Tensor(codes, shape: w.shape).retyped(.float8e4m3fn)
    }
}

extension Tensor {
    /// The same bytes as another element type of the same width.
    func retyped(_ dtype: DType) -> Tensor { Tensor(dtype: dtype, shape: shape, storage: storage) }
}
