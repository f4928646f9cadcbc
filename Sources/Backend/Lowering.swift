// Lowering a quantized graph to one NPU program: activations placed by the memory plan,
// matrix layers (Conv, Gemm, MatMul) through the tiling plan, pooling on the vector unit,
// views as nothing at all. A node the backend cannot lower fails the compile by name: there
// is no host fallback.
import Formats
import IR
import ISA
import Passes

/// A lowered model: the program, the constant section it reads, and where its inputs and
/// outputs live in DRAM.
public struct LoweredModel: Sendable {
    public struct Placement: Sendable, Equatable, Codable {
        public var name: String
        public var offset: Int
        public var bytes: Int
    }

    public var program: Program
    public var constants: [UInt8]
    public var dramBytes: Int
    public var inputs: [Placement]
    public var outputs: [Placement]
}

public enum Lowering {
    /// Lowers `graph`, whose Conv, Gemm and MatMul weights are packed as `layers` describe.
    public static func lower(_ graph: Graph, layers: [PackedLayer], resources: TileResources) throws -> LoweredModel {
        let memory = try MemoryPlan.plan(graph)
        var constants = ConstantSection()
        var b = ProgramBuilder()
        let packed = Dictionary(uniqueKeysWithValues: layers.map { ($0.output, $0) })
        // Convolution scratch goes after the activations.
        let scratch = UInt64((memory.size + 63) / 64 * 64)
        var scratchBytes = 0
        func address(_ value: String, _ node: Node) throws -> UInt64 {
            guard let o = memory.offset(of: value) else {
                throw IRError("\"\(value)\" is not an activation the memory plan placed (a constant operand is not lowered yet)", at: node)
            }
            return UInt64(o)
        }
        func shape(_ value: String) -> [Int] { graph.type(of: value)?.shape?.dims.compactMap(\.value) ?? [] }

        for node in graph.nodes {
            switch node.op {
            case _ where MemoryPlan.views.contains(node.op):
                continue
            case "Conv", "Gemm", "MatMul":
                guard let output = node.outputs.first, let p = packed[output] else {
                    throw IRError("cannot lower \(node.op) without constant weights yet", at: node)
                }
                let matrix = try matrixLayer(node, p, graph, &constants)
                let x = try address(node.inputs[0], node), y = try address(output, node)
                let xShape = shape(node.inputs[0]), yShape = shape(output)
                if node.op == "Conv" {
                    guard node.int("group", default: 1) == 1, xShape.count == 4, yShape.count == 4 else {
                        throw IRError("cannot lower a grouped or non-2-D convolution yet", at: node)
                    }
                    let kernel = (p.weightShape[2], p.weightShape[3])
                    let pads = node.ints("pads") ?? [0, 0, 0, 0], strides = node.ints("strides") ?? [1, 1]
                    let dilations = node.ints("dilations") ?? [1, 1]
                    guard node.string("auto_pad", default: "NOTSET") == "NOTSET" else {
                        throw IRError("cannot lower auto_pad yet (canonical pads expected)", at: node)
                    }
                    let conv = ConvolutionLayer(
                        batch: xShape[0], channels: xShape[1], height: xShape[2], width: xShape[3], outChannels: yShape[1],
                        outHeight: yShape[2], outWidth: yShape[3], kernel: kernel, strides: (strides[0], strides[1]),
                        dilations: (dilations[0], dilations[1]), pads: (pads[0], pads[1], pads[2], pads[3]),
                        input: x, output: y, matrix: matrix, scratch: scratch)
                    scratchBytes = max(scratchBytes, conv.scratchBytes)
                    let plan = try tiling(yShape[2] * yShape[3], p, matrix, resources, node)
                    try ConvolutionLowering.lower(conv, plan: plan, resources: resources, into: &b)
                } else {
                    var layer = matrix
                    layer.m = xShape.dropLast().reduce(1, *)
                    (layer.k, layer.n) = (p.columns, p.rows)
                    (layer.input, layer.inputRowStride, layer.output, layer.outputStrides) = (x, p.columns, y, (p.rows, 1))
                    try MatrixLowering.lower(layer, plan: try tiling(layer.m, p, matrix, resources, node), resources: resources,
                                             into: &b)
                }
            case "MaxPool", "AveragePool", "GlobalAveragePool":
                try lowerPool(node, try address(node.inputs[0], node), try address(node.outputs[0], node),
                              shape(node.inputs[0]), shape(node.outputs[0]), resources, &constants, &b)
            default:
                throw IRError("cannot lower \(node.op): the NPU backend has no lowering for it yet", at: node)
            }
        }
        try b.emit("halt", [:])
        func placement(_ v: ValueInfo) throws -> LoweredModel.Placement {
            let bytes = shape(v.name).reduce(v.type.dtype.byteSize, *)
            guard let o = memory.offset(of: v.name) else { throw IRError("graph value \"\(v.name)\" has no place in DRAM") }
            return LoweredModel.Placement(name: v.name, offset: o, bytes: bytes)
        }
        return LoweredModel(program: b.program, constants: constants.bytes, dramBytes: Int(scratch) + scratchBytes,
                            inputs: try graph.inputs.map(placement), outputs: try graph.outputs.map(placement))
    }

    /// The matrix part of a layer: weights, bias, activation format and fused activation.
    private static func matrixLayer(_ node: Node, _ p: PackedLayer, _ graph: Graph, _ constants: inout ConstantSection) throws -> MatrixLayer {
        guard let format = PrecisionFormat(rawValue: p.format) else { throw IRError("unknown weight format \(p.format)", at: node) }
        let layout = try WeightLayout(format: format, sparse: p.sparse, rows: p.rows, columns: p.columns, tileRows: p.tileRows,
                                      tileColumns: p.tileColumns)
        guard node.attributes[QuantizationAttributes.activationScale] == nil else {
            throw IRError("cannot lower an activation scale imported from a QDQ model yet", at: node)
        }
        if node.op == "Gemm" {
            guard node.int("transA", default: 0) == 0, node.float("alpha", default: 1) == 1,
                  node.input(2) == nil || node.float("beta", default: 1) == 1 else {
                throw IRError("cannot lower a Gemm with transA, alpha or beta yet", at: node)
            }
        }
        var bias: Int?
        if node.op != "MatMul", let name = node.input(2) {
            guard let t = graph.constants[name], t.dtype == .float32, t.count == p.rows else {
                throw IRError("cannot lower a bias that is not a float32 constant of \(p.rows) values yet", at: node)
            }
            bias = constants.append(t.floats())
        }
        let activation = PrecisionFormat(rawValue: node.string(QuantizationAttributes.activationFormat) ?? "fp32") ?? .fp32
        let amax = node.float(QuantizationAttributes.activationAmax)
        guard activation == .fp16 || activation == .fp32 || amax != nil else {
            throw IRError("\(activation.rawValue) activations need a calibrated range (compile with --calib)", at: node)
        }
        var parameters: [Float] = []
        let fused = node.string(FusedActivationAttributes.activation)
        if fused == "LeakyRelu" { parameters = [node.float(FusedActivationAttributes.alpha, default: 0.01)] }
        if fused == "Clip" {
            parameters = [node.float(FusedActivationAttributes.minimum, default: -.infinity),
                          node.float(FusedActivationAttributes.maximum, default: .infinity)]
        }
        return MatrixLayer(m: 0, k: 0, n: 0, input: 0, inputRowStride: 0, output: 0, outputStrides: (0, 0), weights: layout,
                           weightOffset: p.offset, bias: bias, activationFormat: activation, activationAmax: amax ?? 0,
                           fusedActivation: fused, activationParameters: parameters)
    }

    private static func tiling(_ m: Int, _ p: PackedLayer, _ layer: MatrixLayer, _ resources: TileResources, _ node: Node) throws -> TilingPlan {
        let shape = MatrixShape(m: m, k: p.columns, n: p.rows, weightFormat: layer.weights.format, sparse: p.sparse,
                                activationFormat: layer.activationFormat)
        do { return try MatrixTiling.plan(shape, on: resources) } catch let e as PackingError { throw IRError("\(e)", at: node) }
    }

    /// Pooling per image, as many channels at a time as a tile's SRAM holds in and out.
    private static func lowerPool(_ node: Node, _ x: UInt64, _ y: UInt64, _ xShape: [Int], _ yShape: [Int],
                                  _ resources: TileResources, _ constants: inout ConstantSection, _ b: inout ProgramBuilder) throws {
        guard xShape.count == 4, yShape.count == 4 else { throw IRError("cannot lower pooling that is not 2-D yet", at: node) }
        guard node.outputs.count == 1 || node.outputs[1].isEmpty else { throw IRError("cannot lower MaxPool's Indices", at: node) }
        let (n, c, h, w, oh, ow) = (xShape[0], xShape[1], xShape[2], xShape[3], yShape[2], yShape[3])
        let global = node.op == "GlobalAveragePool"
        let kernel = global ? [h, w] : (node.ints("kernel_shape") ?? [1, 1])
        let strides = global ? [1, 1] : (node.ints("strides") ?? [1, 1])
        let pads = global ? [0, 0, 0, 0] : (node.ints("pads") ?? [0, 0, 0, 0])
        let dilations = global ? [1, 1] : (node.ints("dilations") ?? [1, 1])
        guard node.string("auto_pad", default: "NOTSET") == "NOTSET" else { throw IRError("cannot lower auto_pad yet", at: node) }
        let record = kernel + strides + pads + dilations + [node.int("count_include_pad", default: 0), 0, 0, 0, 0, 0]
        let params = constants.record(record)
        let op = UInt64(InstructionSet.vectorOps.firstIndex(of: node.op == "MaxPool" ? "max_pool" : "average_pool")!)
        let perChannel = 4 * (h * w + oh * ow)
        let chunk = max(1, min(c, resources.sramBytes / perChannel))
        guard perChannel <= resources.sramBytes else {
            throw IRError("one channel (\(h) x \(w)) does not fit a tile's SRAM: spatial tiling of pooling is not lowered yet", at: node)
        }
        for image in 0..<n {
            for c0 in stride(from: 0, to: c, by: chunk) {
                let cs = min(chunk, c - c0)
                let inTile = b.descriptor(try TensorDescriptor(.sram, .f32, address: 0, dims: [cs, h, w]))
                let outTile = b.descriptor(try TensorDescriptor(.sram, .f32, address: UInt64((4 * cs * h * w + 63) / 64 * 64),
                                                                dims: [cs, oh, ow]))
                try b.emit("dma", ["dst": inTile, "src": b.descriptor(try TensorDescriptor(
                    .dram, .f32, address: x + UInt64(4 * (image * c + c0) * h * w), dims: [cs, h, w]))])
                try b.emit("vopp", ["op": op, "dst": outTile, "a": inTile, "b": 0, "params": UInt64(params)])
                try b.emit("dma", ["dst": b.descriptor(try TensorDescriptor(
                    .dram, .f32, address: y + UInt64(4 * (image * c + c0) * oh * ow), dims: [cs, oh, ow])), "src": outTile])
            }
        }
    }
}

/// The constant section: float32 arrays and parameter records, each 64-byte aligned.
struct ConstantSection {
    var bytes: [UInt8] = []

    /// Appends `values`; returns their byte offset.
    mutating func append(_ values: [Float]) -> Int {
        align()
        let at = bytes.count
        for v in values { bytes += withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init) }
        return at
    }

    /// Appends a 16-int32 parameter record; returns its index (byte offset / 4).
    mutating func record(_ values: [Int]) -> Int {
        precondition(values.count == 16)
        align()
        let at = bytes.count
        for v in values { bytes += withUnsafeBytes(of: Int32(v).littleEndian, Array.init) }
        return at / 4
    }

    private mutating func align() { bytes += [UInt8](repeating: 0, count: (64 - bytes.count % 64) % 64) }
}
